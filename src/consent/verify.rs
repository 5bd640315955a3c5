//! `textgate verify`: checks that the ledger is whole and that every tree
//! derived from it agrees with it.
//!
//! - `events`: per tenant, sequences 1..n without gaps; each key matches the
//!   stored event (tenant, sequence); every record decodes; no event id twice.
//! - `idempotency`: every entry names an existing event with that event id,
//!   and every event has its entry.
//! - `by_phone`: exactly one entry per event, naming the event's number.
//! - `consent`: the stored state of every number equals the replay (fold) of
//!   its events in ledger order, and no state exists without events.
//!
//! Reports name tenants, sequences and event ids, never whole phone numbers.
//! Memory grows with the number of distinct numbers (one folded state each).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use super::offline::masked;
use super::trees::Trees;
use super::{keys, offline, records, ConsentError};
use crate::domain::{ConsentEvent, ContactConsent};

/// Problems beyond this many are counted, not listed.
const MAX_LISTED: usize = 1000;

/// One disagreement found by [`verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The tree where it shows: `events`, `idempotency`, `by_phone`,
    /// `consent`; `stream` for a disagreement with the consent stream.
    pub tree: &'static str,
    /// Empty for a problem of the whole store.
    pub tenant: String,
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.tenant.is_empty() {
            write!(f, "{}: {}", self.tree, self.detail)
        } else {
            write!(f, "{}: tenant {:?}: {}", self.tree, self.tenant, self.detail)
        }
    }
}

/// What `verify` found.
#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    pub tenants: usize,
    pub events: u64,
    /// Distinct (tenant, number) pairs with events.
    pub phones: u64,
    /// The first problems found (at most 1000).
    pub problems: Vec<Problem>,
    /// Every problem found, listed or not.
    pub problem_count: u64,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.problem_count == 0
    }

    fn problem(&mut self, tree: &'static str, tenant: &str, detail: impl Into<String>) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED {
            self.problems.push(Problem { tree, tenant: tenant.to_string(), detail: detail.into() });
        }
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tenants={} events={} phones={} problems={}",
            self.tenants, self.events, self.phones, self.problem_count
        )
    }
}

/// Verifies the store in `dir`, which no server may be using.
pub fn verify_dir(dir: &Path) -> Result<VerifyReport, ConsentError> {
    let db = offline::open_existing(dir)?;
    verify(&offline::trees(&db)?)
}

/// Verifies open ledger trees. Only meaningful while nothing writes to them.
pub fn verify(t: &Trees) -> Result<VerifyReport, ConsentError> {
    let mut r = VerifyReport::default();
    let folded = check_events(t, &mut r)?;
    check_idempotency(t, &mut r)?;
    check_by_phone(t, &mut r)?;
    check_consent(t, folded, &mut r)?;
    check_usage(t, &mut r)?;
    Ok(r)
}

/// Folded consent per (tenant, phone), from the events tree.
type Folded = HashMap<(String, String), ContactConsent>;

fn check_events(t: &Trees, r: &mut VerifyReport) -> Result<Folded, ConsentError> {
    let mut folded = Folded::new();
    let mut ids: HashMap<(String, String), u64> = HashMap::new();
    let mut tenant = String::new();
    let mut next = 1u64;
    for kv in t.events.iter() {
        let (k, v) = kv?;
        let Some((key_tenant, seq)) = keys::parse_event(&k) else {
            r.problem("events", "?", format!("a key that is not tenant/sequence ({} bytes)", k.len()));
            continue;
        };
        if key_tenant != tenant || r.tenants == 0 {
            tenant = key_tenant.to_string();
            r.tenants += 1;
            next = 1;
        }
        if seq != next {
            let what =
                if seq > next { format!("sequences {next}..{} are missing", seq - 1) } else { "out of order".into() };
            r.problem("events", &tenant, format!("{what} (found {seq})"));
        }
        next = seq.saturating_add(1);
        r.events += 1;
        let ev = match records::decode_event(&v) {
            Ok(ev) => ev,
            Err(e) => {
                r.problem("events", &tenant, format!("event {seq} does not decode: {}", e.root_cause()));
                continue;
            }
        };
        if ev.sequence != seq || ev.event.tenant_id.as_str() != tenant {
            r.problem(
                "events",
                &tenant,
                format!("key {seq} holds event {} of tenant {:?}", ev.sequence, ev.event.tenant_id),
            );
        }
        // The idempotency entry names the first event with an id; a later one
        // with the same id is reported here, once.
        let first = *ids.entry((tenant.clone(), ev.event.event_id.clone())).or_insert(seq);
        if first != seq {
            r.problem("events", &tenant, format!("event id {:?} stored twice: {first} and {seq}", ev.event.event_id));
        }
        match t.idempotency.get(keys::idempotency(&tenant, &ev.event.event_id))? {
            None => r.problem("idempotency", &tenant, format!("no entry for event {seq} ({:?})", ev.event.event_id)),
            Some(s) if keys::event_seq(&s) == Some(first) || first != seq => {}
            Some(s) => r.problem(
                "idempotency",
                &tenant,
                format!("{:?} names {:?}, the event is {seq}", ev.event.event_id, keys::event_seq(&s)),
            ),
        }
        if !t.by_phone.contains_key(keys::by_phone(&tenant, ev.event.phone.as_str(), seq))? {
            r.problem("by_phone", &tenant, format!("no entry for event {seq}"));
        }
        folded.entry((tenant.clone(), ev.event.phone.as_str().to_string())).or_default().apply(&ev);
    }
    r.phones = folded.len() as u64;
    Ok(folded)
}

/// The event stored at (tenant, seq), if it exists and decodes.
fn event_at(t: &Trees, tenant: &str, seq: u64) -> Result<Option<ConsentEvent>, ConsentError> {
    Ok(t.events.get(keys::event(tenant, seq))?.and_then(|v| records::decode_event(&v).ok()))
}

fn check_idempotency(t: &Trees, r: &mut VerifyReport) -> Result<(), ConsentError> {
    for kv in t.idempotency.iter() {
        let (k, v) = kv?;
        let Some((tenant, id)) = keys::split_tenant(&k) else {
            r.problem("idempotency", "?", "a key without a tenant");
            continue;
        };
        let id = String::from_utf8_lossy(id);
        let Some(seq) = (v.len() == 8).then(|| keys::event_seq(&v)).flatten() else {
            r.problem("idempotency", tenant, format!("{id:?} holds {} bytes, not a sequence", v.len()));
            continue;
        };
        match event_at(t, tenant, seq)? {
            None => r.problem("idempotency", tenant, format!("{id:?} names event {seq}, which does not exist")),
            Some(ev) if ev.event.event_id != id => r.problem(
                "idempotency",
                tenant,
                format!("{id:?} names event {seq}, whose id is {:?}", ev.event.event_id),
            ),
            Some(_) => {}
        }
    }
    Ok(())
}

fn check_by_phone(t: &Trees, r: &mut VerifyReport) -> Result<(), ConsentError> {
    for kv in t.by_phone.iter() {
        let (k, _) = kv?;
        let Some((tenant, phone, seq)) = keys::parse_by_phone(&k) else {
            r.problem("by_phone", "?", format!("a key that is not tenant/phone/sequence ({} bytes)", k.len()));
            continue;
        };
        match event_at(t, tenant, seq)? {
            None => r.problem(
                "by_phone",
                tenant,
                format!("entry {} names event {seq}, which does not exist", masked(phone)),
            ),
            Some(ev) if ev.event.phone.as_str() != phone => {
                r.problem("by_phone", tenant, format!("entry {} names event {seq} of another number", masked(phone)))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn check_consent(t: &Trees, mut folded: Folded, r: &mut VerifyReport) -> Result<(), ConsentError> {
    for kv in t.consent.iter() {
        let (k, v) = kv?;
        let Some((tenant, phone)) = keys::split_tenant(&k) else {
            r.problem("consent", "?", "a key without a tenant");
            continue;
        };
        let phone = String::from_utf8_lossy(phone).into_owned();
        let stored = match records::decode_consent(&v) {
            Ok(c) => c,
            Err(e) => {
                r.problem(
                    "consent",
                    tenant,
                    format!("state of {} does not decode: {}", masked(&phone), e.root_cause()),
                );
                continue;
            }
        };
        match folded.remove(&(tenant.to_string(), phone.clone())) {
            None => r.problem("consent", tenant, format!("state of {} without any event", masked(&phone))),
            Some(replayed) if replayed != stored => r.problem(
                "consent",
                tenant,
                format!(
                    "state of {} differs from the replay of its events: {}",
                    masked(&phone),
                    differ(&stored, &replayed)
                ),
            ),
            Some(_) => {}
        }
    }
    let mut missing: Vec<_> = folded.into_keys().collect();
    missing.sort();
    for (tenant, phone) in missing {
        r.problem("consent", &tenant, format!("no state for {}, which has events", masked(&phone)));
    }
    Ok(())
}

/// The usage kept for the quotas against a recount of the trees.
fn check_usage(t: &Trees, r: &mut VerifyReport) -> Result<(), ConsentError> {
    if !super::usage::counted(t)? {
        return Ok(());
    }
    let (stored, counted) = (super::usage::all(t)?, super::usage::recount(t)?);
    for tenant in stored.keys().chain(counted.keys()).collect::<std::collections::BTreeSet<_>>() {
        let (s, c) =
            (stored.get(tenant).copied().unwrap_or_default(), counted.get(tenant).copied().unwrap_or_default());
        if s != c {
            r.problem("usage", tenant, format!("kept {s:?}, counted {c:?}"));
        }
    }
    Ok(())
}

/// Which scopes and markers differ, by the events that set them (no numbers).
fn differ(stored: &ContactConsent, replayed: &ContactConsent) -> String {
    let show = |c: &ContactConsent| {
        let scopes = c.scopes.iter().map(|s| format!("{:?}@{}", s.status, s.sequence));
        let marks = [("Reassigned", &c.reassigned), ("ReviewHold", &c.review_hold)];
        let marks = marks.into_iter().filter_map(|(k, m)| m.as_ref().map(|m| format!("{k}@{}", m.sequence)));
        scopes.chain(marks).collect::<Vec<_>>().join(",")
    };
    format!("stored [{}], replayed [{}]", show(stored), show(replayed))
}
