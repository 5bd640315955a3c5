//! CheckMessage and GetDecision (CheckMessages, its stream, is `checks`).

use jiff::tz::{TimeZone, TimeZoneDatabase};
use prost::Message as _;
use tracing::field::Empty;
use tracing::{Instrument, Span};

use super::convert::{self, enum_field, phone};
use super::{idempotency, limits, pb};
use crate::app::{tenant_of, App};
use crate::consent::ConsentError;
use crate::domain::{Category, ContactConsent, ContactHistory, SentMessage, TenantId};
use crate::error::ApiError;
use crate::phone::{PhoneNumber, UsState};
use crate::policy::{decide, ChangeKind, Decision, Message, Origin, Outcome, Policy, ReasonCode, TenantPolicy};
use crate::replication::Token;
use crate::telemetry;

/// Decides one message; unless dry_run, records an allowed send and logs the
/// decision. Runs in a `check` span that carries the tenant, the policy
/// version, the recipient's hash and the outcome, with the stages
/// (`validate`, `consent.lookup`, `decide`, `ledger.write`) inside it.
pub async fn check(
    app: &App,
    tenant: TenantId,
    req: pb::CheckMessageRequest,
) -> Result<pb::CheckMessageResponse, ApiError> {
    let span = tracing::debug_span!(
        "check",
        tenant = %tenant,
        policy_version = Empty,
        phone_hash = Empty,
        dry_run = req.dry_run,
        outcome = Empty,
        reason_codes = Empty,
    );
    check_in(app, tenant, req, &span).instrument(span.clone()).await
}

async fn check_in(
    app: &App,
    tenant: TenantId,
    req: pb::CheckMessageRequest,
    span: &Span,
) -> Result<pb::CheckMessageResponse, ApiError> {
    let policy = app.policy_for(&tenant)?;
    span.record("policy_version", policy.version.as_str());
    let tp = tenant_of(&policy, &tenant)?;
    let now = app.clock.now();
    let v = tracing::debug_span!("validate").in_scope(|| validate(&req, now))?;
    app.read_after(&tenant, &req.consistency_token).await?;
    let to = &v.to;
    app.phone_hash.record(span, to.as_str());
    // A keyed call takes its key's lock before the recipient's: a second
    // call with the key waits here, then finds the first one's answer.
    let keyed = (!req.idempotency_key.is_empty()).then(|| idempotency::digest(&app.ledger, &tenant, &req, &v.from, to));
    let _key_lock = match keyed {
        Some(_) => Some(app.key_locks.lock(&tenant, &req.idempotency_key).await),
        None => None,
    };
    if let Some(digest) = &keyed {
        if let Some(resp) = idempotency::replay(app, &tenant, &req, digest, now)? {
            tracing::debug!(decision_id = %resp.decision_id, "replayed for its idempotency_key");
            return Ok(resp);
        }
    }
    let msg = Message {
        from: v.from.as_str(),
        to,
        body: &req.body,
        origin: v.origin,
        category: v.category,
        campaign_id: &req.campaign_id,
        send_at: v.send_at,
        recipient_state: v.state,
        recipient_zone: v.zone.as_ref().map(|z| (req.recipient_time_zone.as_str(), z)),
    };
    let _lock = if req.dry_run { None } else { Some(app.lock_recipient(&tenant, to).await) };
    let (consent, history) = tracing::debug_span!("consent.lookup").in_scope(|| -> Result<_, ApiError> {
        Ok((app.ledger.consent(&tenant, to)?.unwrap_or_default(), app.ledger.contact(&tenant, to)?))
    })?;
    let stage = tracing::debug_span!("decide", outcome = Empty, reason_codes = Empty, rule_ids = Empty);
    let decision = stage.in_scope(|| decide(&policy, tp, &msg, &consent, &history));
    telemetry::record_decision(&stage, &decision);
    telemetry::record_decision(span, &decision);
    count(app, &tenant, &decision, req.dry_run);
    drop(stage);
    let decided = Decided { tenant: &tenant, policy: &policy, tp, to, send_at: v.send_at, now, keyed };
    record(app, decided, decision, &consent, history, req)
}

/// A decision's context, for [`record`].
struct Decided<'a> {
    tenant: &'a TenantId,
    policy: &'a Policy,
    tp: &'a TenantPolicy,
    to: &'a PhoneNumber,
    send_at: jiff::Timestamp,
    now: jiff::Timestamp,
    /// The request's digest, when it carries an idempotency key.
    keyed: Option<[u8; 32]>,
}

/// Unless a dry run: notes an allowed send in the recipient's contact
/// history and logs the decision (and, for a keyed call, stores the answer
/// with the send in one write). Then answers.
fn record(
    app: &App,
    d: Decided<'_>,
    decision: Decision,
    consent: &ContactConsent,
    mut history: ContactHistory,
    req: pb::CheckMessageRequest,
) -> Result<pb::CheckMessageResponse, ApiError> {
    let (tenant, to, now) = (d.tenant, d.to, d.now);
    let write = if req.dry_run { Span::none() } else { tracing::debug_span!("ledger.write") };
    let sent = matches!(decision.outcome, Outcome::Allow | Outcome::AllowWithChanges);
    let mut noted = None;
    if sent && !req.dry_run {
        if let Some(category) = decision.category {
            let note = SentMessage { campaign_id: decision.campaign_id.clone(), category, at: d.send_at };
            history.note_send(note.clone(), decision.discloses, &d.policy.pack.retention, now);
            if d.keyed.is_none() {
                write.in_scope(|| app.ledger.put_contact(tenant, to, &history)).or_else(unrecorded)?;
            }
            noted = Some((note, decision.discloses));
        }
    }
    let view = convert::view_to_pb(to, consent, history.conversation(d.tp.conversation_window), d.tp.review_hold);
    let mut resp = response(&decision, &d.policy.version, view, &req);
    let key = d.keyed.map(|digest| (digest, req.idempotency_key.clone(), req.body.clone()));
    resp.decision_id = if req.dry_run {
        new_decision_id(now)
    } else {
        // Stored without its id (GetDecision puts it back), bodies as their
        // keyed digest. The answer is lent to the record, not cloned.
        let hashed = app.ledger.body_digest(tenant, &resp.body);
        let body = std::mem::replace(&mut resp.body, hashed);
        let mut record = pb::DecisionRecord {
            decision_id: String::new(),
            decided_at: Some(convert::timestamp(now)),
            request: Some(pb::CheckMessageRequest { body: app.ledger.body_digest(tenant, &req.body), ..req }),
            response: Some(resp),
        };
        let logged = write.in_scope(|| app.ledger.log_decision_for(tenant, to, now, &record.encode_to_vec()));
        resp = record.response.take().expect("set above");
        resp.body = body;
        match logged {
            Ok(id) => id,
            Err(e) => unrecorded(e).map(|()| new_decision_id(now))?,
        }
    };
    if let Some((digest, key, body)) = key {
        let contact = noted.is_some().then_some((to, &history));
        write
            .in_scope(|| match idempotency::stored(&resp, &body, digest, now) {
                Some(stored) => app.ledger.remember_check(tenant, &key, &stored, contact),
                // Not replayable: the send still counts.
                None => contact.map_or(Ok(()), |(to, h)| app.ledger.put_contact(tenant, to, h)),
            })
            .or_else(unrecorded)?;
    }
    if let (Some((note, disclosed)), Some(replication)) = (noted, &app.replication) {
        // Cluster mode: the other instances count this send too; the token
        // lets a read elsewhere wait until they do.
        replication.share_send(tenant, to, &note, disclosed, &resp.decision_id);
        resp.consistency_token = format!("{}.{}", replication.applied(), resp.decision_id);
    }
    tracing::debug!(decision_id = %resp.decision_id, "decided");
    Ok(resp)
}

/// Counts a decision in `textgate_decisions_total`, unless it is a dry run:
/// that decides nothing that is sent, and counting it would skew the deny
/// ratio the alerts watch (a UI previewing many drafts).
fn count(app: &App, tenant: &TenantId, decision: &Decision, dry_run: bool) {
    if !dry_run {
        app.metrics.decision(tenant.as_str(), decision.outcome, decision.reasons.first().map(|r| r.code));
    }
}

/// Contact history and the decision log are not consent: when the store
/// cannot take them (a full or failing disk), the decision still stands and
/// is answered; caps may undercount until the store writes again. Logged on
/// the first and every 10,000th miss, so a full disk is not also flooded.
fn unrecorded(e: ConsentError) -> Result<(), ApiError> {
    static MISSED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    match e {
        corrupt @ ConsentError::Corrupt { .. } => Err(corrupt.into()),
        cause => {
            let missed = MISSED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if missed.is_multiple_of(10_000) {
                let cause = &cause as &dyn std::error::Error;
                tracing::warn!(error = cause, missed = missed + 1, "send not recorded; answering the decision anyway");
            }
            Ok(())
        }
    }
}

/// A CheckMessage request's fields, parsed and checked.
struct Valid {
    from: PhoneNumber,
    to: PhoneNumber,
    origin: Origin,
    category: Option<Category>,
    send_at: jiff::Timestamp,
    state: Option<UsState>,
    zone: Option<TimeZone>,
}

/// Normalizes the numbers and checks every field, naming the first bad one.
fn validate(req: &pb::CheckMessageRequest, now: jiff::Timestamp) -> Result<Valid, ApiError> {
    let from = phone("from", &req.from)?;
    let to = phone("to", &req.to)?;
    if req.body.is_empty() {
        return Err(ApiError::invalid("body", "required"));
    }
    limits::text("body", &req.body, limits::MAX_BODY)?;
    let origin = match enum_field::<pb::Origin>(req.origin, "origin")? {
        pb::Origin::Unspecified => Origin::Unspecified,
        pb::Origin::Person => Origin::Person,
        pb::Origin::Automated => Origin::Automated,
    };
    let category = convert::category_from_pb(enum_field(req.category, "category")?);
    limits::text("campaign_id", &req.campaign_id, limits::MAX_ID)?;
    let send_at = convert::instant(req.send_at.as_ref(), "send_at")?.unwrap_or(now);
    if !req.client_ref.is_empty() {
        limits::text("client_ref", &req.client_ref, limits::MAX_ID)?;
    }
    if !req.consistency_token.is_empty() && Token::parse(&req.consistency_token).is_none() {
        return Err(ApiError::invalid("consistency_token", "not a token returned by this service"));
    }
    let state = match req.recipient_state.as_str() {
        "" => None,
        s => Some(s.parse::<UsState>().map_err(|e| ApiError::invalid("recipient_state", e.to_string()))?),
    };
    idempotency::validate(req)?;
    let zone: Option<TimeZone> = match req.recipient_time_zone.as_str() {
        "" => None,
        z if z.len() <= 64 => Some(TimeZoneDatabase::bundled().get(z).map_err(|_| {
            ApiError::invalid("recipient_time_zone", "not an IANA time zone such as \"America/Chicago\"")
        })?),
        _ => return Err(ApiError::invalid("recipient_time_zone", "too long")),
    };
    Ok(Valid { from, to, origin, category, send_at, state, zone })
}

/// A dry run's id (never logged): microseconds since the epoch plus 32
/// random bits. Logged decisions take theirs from the decision log.
fn new_decision_id(now: jiff::Timestamp) -> String {
    format!("d-{:014x}{:08x}", now.as_microsecond().max(0), rand::random::<u32>())
}

/// The answer, without its decision id.
fn response(
    d: &Decision,
    version: &str,
    consent: pb::ConsentView,
    req: &pb::CheckMessageRequest,
) -> pb::CheckMessageResponse {
    pb::CheckMessageResponse {
        decision: match d.outcome {
            Outcome::Allow => pb::Decision::Allow,
            Outcome::AllowWithChanges => pb::Decision::AllowWithChanges,
            Outcome::Defer => pb::Decision::Defer,
            Outcome::Deny => pb::Decision::Deny,
        } as i32,
        body: d.body.clone(),
        changes: d
            .changes
            .iter()
            .map(|c| pb::Change {
                kind: match c.kind {
                    ChangeKind::BrandPrefix => pb::ChangeKind::ChangeBrandPrefix,
                    ChangeKind::OptOutNotice => pb::ChangeKind::ChangeOptOutNotice,
                } as i32,
                rule_id: c.rule_id.clone(),
                text: c.text.clone(),
            })
            .collect(),
        reasons: d
            .reasons
            .iter()
            .map(|r| pb::Reason {
                code: reason_code(r.code) as i32,
                rule_id: r.rule_id.clone(),
                message: r.message.clone(),
                consent_event_id: r.consent_event_id.clone(),
            })
            .collect(),
        defer_until: d.defer_until.map(convert::timestamp),
        decision_id: String::new(),
        policy_version: version.to_string(),
        category: d.category.map_or(pb::MessageCategory::CategoryUnspecified, convert::category_to_pb) as i32,
        consent: Some(consent),
        recipient: Some(pb::RecipientInfo {
            e164: d.recipient.e164.clone(),
            region: d.recipient.region.clone(),
            time_zones: d.recipient.time_zones.clone(),
            states: d.recipient.states.iter().map(|s| s.as_str().to_string()).collect(),
        }),
        client_ref: req.client_ref.clone(),
        dry_run: req.dry_run,
        consistency_token: String::new(),
    }
}

fn reason_code(c: ReasonCode) -> pb::ReasonCode {
    use pb::ReasonCode as P;
    match c {
        ReasonCode::OptedOut => P::ReasonOptedOut,
        ReasonCode::ConsentRequired => P::ReasonConsentRequired,
        ReasonCode::ConsentInsufficient => P::ReasonConsentInsufficient,
        ReasonCode::QuietHours => P::ReasonQuietHours,
        ReasonCode::FrequencyCap => P::ReasonFrequencyCap,
        ReasonCode::ProhibitedContent => P::ReasonProhibitedContent,
        ReasonCode::PublicUrlShortener => P::ReasonPublicUrlShortener,
        ReasonCode::UndeclaredLink => P::ReasonUndeclaredLink,
        ReasonCode::UndeclaredPhone => P::ReasonUndeclaredPhone,
        ReasonCode::SenderNotRegistered => P::ReasonSenderNotRegistered,
        ReasonCode::UnsupportedRegion => P::ReasonUnsupportedRegion,
        ReasonCode::CategoryNotAllowed => P::ReasonCategoryNotAllowed,
        ReasonCode::DisclosureAdded => P::ReasonDisclosureAdded,
        ReasonCode::ReviewHold => P::ReasonReviewHold,
        ReasonCode::ReassignedNumber => P::ReasonReassignedNumber,
        ReasonCode::RndCheckDue => P::ReasonRndCheckDue,
    }
}

/// A logged decision by id.
pub async fn get_decision(
    app: &App,
    tenant: TenantId,
    req: pb::GetDecisionRequest,
) -> Result<pb::DecisionRecord, ApiError> {
    app.policy_for(&tenant)?;
    limits::id("decision_id", &req.decision_id)?;
    let mut found = app.ledger.decision(&tenant, &req.decision_id)?;
    if let (None, Some(replication)) = (&found, &app.replication) {
        // Cluster mode: logged by another instance, perhaps.
        found = replication.find_decision(&tenant, &req.decision_id).await;
    }
    let bytes = found.ok_or_else(|| {
        ApiError::NotFound(
            "decision_id: no such decision (dry runs are not logged, nor decisions past the log's retention)".into(),
        )
    })?;
    let mut record = pb::DecisionRecord::decode(bytes.as_slice())
        .map_err(|e| ApiError::Internal(format!("decision record: {e}")))?;
    record.decision_id.clone_from(&req.decision_id);
    if let Some(resp) = record.response.as_mut() {
        resp.decision_id.clone_from(&req.decision_id);
    }
    Ok(record)
}
