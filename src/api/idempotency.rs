//! CheckMessage idempotency keys: a non-dry-run check retried with the same
//! `idempotency_key` gets its first answer back (same decision_id) and its
//! send counts once. The answer is stored per tenant and key by the ledger
//! (`consent::check_keys`) with a digest of the request's decision-relevant
//! fields, so the same key with another request is refused rather than
//! answered with a decision about a different message.

use prost::Message as _;

use super::{limits, pb};
use crate::app::App;
use crate::consent::{Ledger, StoredCheck};
use crate::domain::TenantId;
use crate::error::ApiError;
use crate::phone::PhoneNumber;

/// The request field.
const FIELD: &str = "idempotency_key";

/// Keys pruned per pass of [`prune`]; the rest wait for the next minute.
const PRUNE_BATCH: usize = 10_000;

/// Checks `idempotency_key` when set: 1-128 bytes without spaces or
/// control characters, and never on a dry run (which records nothing, so
/// there would be nothing to replay).
pub(super) fn validate(req: &pb::CheckMessageRequest) -> Result<(), ApiError> {
    if req.idempotency_key.is_empty() {
        return Ok(());
    }
    limits::id(FIELD, &req.idempotency_key)?;
    if req.dry_run {
        return Err(ApiError::invalid(FIELD, "not allowed with dry_run (a dry run records nothing to replay)"));
    }
    Ok(())
}

/// A keyed digest (HMAC under the tenant's request key, see
/// `ServerKey::request_digest`) of the fields a decision rests on, each
/// length-prefixed: the normalized numbers, body, origin, category, campaign,
/// send_at as sent (absent stays absent), state and zone. Not the client_ref
/// or the consistency_token, which a retry may change. Keyed, so the stored
/// digest cannot be used to confirm a guess at the numbers and the body.
pub(super) fn digest(
    ledger: &Ledger,
    tenant: &TenantId,
    req: &pb::CheckMessageRequest,
    from: &PhoneNumber,
    to: &PhoneNumber,
) -> [u8; 32] {
    let send_at = req.send_at.as_ref().map(|t| format!("{}.{}", t.seconds, t.nanos)).unwrap_or_default();
    let (origin, category) = (req.origin.to_string(), req.category.to_string());
    let fields = [
        from.as_str(),
        to.as_str(),
        &req.body,
        &origin,
        &category,
        &req.campaign_id,
        &send_at,
        &req.recipient_state,
        &req.recipient_time_zone,
    ];
    ledger.request_digest(tenant, &fields)
}

/// The stored answer to replay for a keyed request, or None when it must be
/// decided: no answer stored, stored longer ago than the window, or a
/// DEFER whose defer_until has come. The same key with a different request
/// is refused.
pub(super) fn replay(
    app: &App,
    tenant: &TenantId,
    req: &pb::CheckMessageRequest,
    digest: &[u8; 32],
    now: jiff::Timestamp,
) -> Result<Option<pb::CheckMessageResponse>, ApiError> {
    let Some(stored) = app.ledger.check_key(tenant, &req.idempotency_key)? else { return Ok(None) };
    let window = app.config.load().ledger.idempotency_window.0;
    let age = now.as_microsecond().saturating_sub(stored.at_us);
    if age >= i64::try_from(window.as_micros()).unwrap_or(i64::MAX) {
        return Ok(None);
    }
    if &stored.digest != digest {
        return Err(ApiError::KeyReused { field: FIELD });
    }
    let mut resp = pb::CheckMessageResponse::decode(stored.answer.as_slice())
        .map_err(|e| ApiError::Internal(format!("stored check answer: {e}")))?;
    let came = resp.defer_until.as_ref().is_some_and(|t| t.seconds.saturating_mul(1_000_000) <= now.as_microsecond());
    if resp.decision == pb::Decision::Defer as i32 && came {
        return Ok(None);
    }
    resp.body = [stored.head.as_str(), &req.body, &stored.tail].concat();
    resp.client_ref.clone_from(&req.client_ref);
    if let Some(replication) = &app.replication {
        // Cluster mode: a token that names the send (when there was one).
        if resp.decision == pb::Decision::Allow as i32 || resp.decision == pb::Decision::AllowWithChanges as i32 {
            resp.consistency_token = format!("{}.{}", replication.applied(), resp.decision_id);
        }
    }
    app.metrics.idempotent_replay(tenant.as_str());
    Ok(Some(resp))
}

/// What to store for an answer: the answer without its body, client_ref
/// and consistency token, and the text the answer put before and after the
/// request's body. None when the answer's body does not hold the request's
/// (never today: every change adds text around it), so no body is stored.
pub(super) fn stored(
    resp: &pb::CheckMessageResponse,
    request_body: &str,
    digest: [u8; 32],
    now: jiff::Timestamp,
) -> Option<StoredCheck> {
    let at = resp.body.find(request_body)?;
    let (head, tail) = (&resp.body[..at], &resp.body[at + request_body.len()..]);
    let answer = pb::CheckMessageResponse {
        body: String::new(),
        client_ref: String::new(),
        consistency_token: String::new(),
        ..resp.clone()
    };
    Some(StoredCheck {
        digest,
        at_us: now.as_microsecond(),
        answer: answer.encode_to_vec(),
        head: head.to_string(),
        tail: tail.to_string(),
    })
}

/// Every minute, drops keys older than `ledger.idempotency_window` (as of
/// the app's clock), at most [`PRUNE_BATCH`] a pass. Runs until aborted.
pub async fn prune(app: std::sync::Arc<App>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tick.tick().await;
        let window = app.config.load().ledger.idempotency_window.0;
        let cut = app.clock.now().as_microsecond().saturating_sub(i64::try_from(window.as_micros()).unwrap_or(0));
        let ledger = std::sync::Arc::clone(&app.ledger);
        match tokio::task::spawn_blocking(move || ledger.prune_check_keys(cut, PRUNE_BATCH)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = &e as &dyn std::error::Error, "pruning idempotency keys"),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyed(key: &str, dry_run: bool) -> pb::CheckMessageRequest {
        pb::CheckMessageRequest { idempotency_key: key.into(), dry_run, ..Default::default() }
    }

    #[test]
    fn keys_are_checked_and_refused_on_dry_runs() {
        let long = "k".repeat(129);
        let bad = [("a b", "spaces"), ("a\u{1}b", "control"), (long.as_str(), "longer than 128")];
        for (key, why) in bad {
            let e = validate(&keyed(key, false)).unwrap_err().to_string();
            assert!(e.starts_with("idempotency_key: ") && e.contains(why), "{key:?}: {e}");
        }
        let e = validate(&keyed("order-1", true)).unwrap_err().to_string();
        assert!(e.starts_with("idempotency_key: ") && e.contains("dry_run"), "{e}");
        for ok in ["", "order-1", &"k".repeat(128), "é"] {
            assert!(validate(&keyed(ok, false)).is_ok(), "{ok:?}");
        }
        assert!(validate(&keyed("", true)).is_ok(), "a dry run without a key is fine");
    }

    #[tokio::test]
    async fn the_digest_covers_what_the_decision_rests_on_and_nothing_else() {
        let (from, to) = (PhoneNumber::parse("+13125550100").unwrap(), PhoneNumber::parse("+13125550101").unwrap());
        let base = pb::CheckMessageRequest { body: "hi".into(), ..Default::default() };
        let ledger = Ledger::temporary(&crate::consent::LedgerOptions::default()).unwrap();
        let north = TenantId::new("northside");
        let d = |r: &pb::CheckMessageRequest| digest(&ledger, &north, r, &from, &to);
        let same = pb::CheckMessageRequest { client_ref: "x".into(), consistency_token: "1".into(), ..base.clone() };
        assert_eq!(d(&base), d(&same));
        let changed = [
            pb::CheckMessageRequest { body: "hi!".into(), ..base.clone() },
            pb::CheckMessageRequest { origin: 1, ..base.clone() },
            pb::CheckMessageRequest { category: 1, ..base.clone() },
            pb::CheckMessageRequest { campaign_id: "c".into(), ..base.clone() },
            pb::CheckMessageRequest { send_at: Some(prost_types::Timestamp { seconds: 1, nanos: 0 }), ..base.clone() },
            pb::CheckMessageRequest { recipient_state: "FL".into(), ..base.clone() },
            pb::CheckMessageRequest { recipient_time_zone: "America/Chicago".into(), ..base.clone() },
            // Length prefixes: moving text between fields changes the digest.
            pb::CheckMessageRequest { body: "h".into(), campaign_id: "i".into(), ..base.clone() },
        ];
        for c in &changed {
            assert_ne!(d(&base), d(c), "{c:?}");
        }
        assert_ne!(d(&base), digest(&ledger, &north, &base, &to, &from), "the numbers count");
        let south = TenantId::new("southside");
        assert_ne!(d(&base), digest(&ledger, &south, &base, &from, &to), "keyed per tenant");
    }

    #[test]
    fn a_stored_answer_keeps_no_body_and_rebuilds_it_around_the_request() {
        let resp = pb::CheckMessageResponse {
            body: "Acme: hi there Reply STOP to opt out.".into(),
            client_ref: "r".into(),
            decision_id: "d-1".into(),
            ..Default::default()
        };
        let s = stored(&resp, "hi there", [7; 32], jiff::Timestamp::UNIX_EPOCH).unwrap();
        assert_eq!((s.head.as_str(), s.tail.as_str()), ("Acme: ", " Reply STOP to opt out."));
        let answer = pb::CheckMessageResponse::decode(s.answer.as_slice()).unwrap();
        assert_eq!((answer.body.as_str(), answer.client_ref.as_str(), answer.decision_id.as_str()), ("", "", "d-1"));
        assert!(stored(&resp, "not in it", [7; 32], jiff::Timestamp::UNIX_EPOCH).is_none());
    }
}
