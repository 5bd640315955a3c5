//! `textgate verify` in cluster mode: a stopped store against the consent
//! stream it applied.
//!
//! Every instance applies the consent stream in order, so its ledger must be
//! exactly the stream's events up to the position it recorded as applied:
//! per tenant, the first message with an event id is the tenant's next
//! sequence here, with the same content; a later message with an id already
//! seen (a retry after the log's duplicate window, a republished ledger) is
//! a duplicate and stores nothing. The caller feeds the stream's messages up
//! to [`LogCheck::applied`] to [`LogCheck::check`] in order, then
//! [`LogCheck::finish`] reports local events the stream never carried.
//!
//! Memory stays flat: the idempotency tree says whether an id was seen, and
//! only one cursor per tenant is kept. Reports name tenants, positions,
//! sequences and event ids, never phone numbers.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use jiff::Timestamp;

use super::committer::APPLIED_KEY;
use super::trees::Trees;
use super::verify::Problem;
use super::{keys, offline, records, ConsentError};
use crate::domain::NewEvent;

/// Problems beyond this many are counted, not listed.
const MAX_LISTED: usize = 1000;

/// What comparing a store with the consent stream found.
#[derive(Clone, Debug, Default)]
pub struct LogReport {
    /// The last stream position the store applied.
    pub applied: u64,
    /// The stream's last position when the check started.
    pub stream_last: u64,
    /// Stream messages compared with the store.
    pub compared: u64,
    /// Of those, messages whose event id an earlier message carried.
    pub duplicates: u64,
    pub problems: Vec<Problem>,
    pub problem_count: u64,
}

impl LogReport {
    pub fn is_clean(&self) -> bool {
        self.problem_count == 0
    }

    /// Positions the stream holds that the store has not applied yet (an
    /// instance applies them when it starts; not a problem).
    pub fn behind(&self) -> u64 {
        self.stream_last.saturating_sub(self.applied)
    }

    fn problem(&mut self, tenant: &str, detail: impl Into<String>) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED {
            self.problems.push(Problem { tree: "stream", tenant: tenant.to_string(), detail: detail.into() });
        }
    }
}

impl fmt::Display for LogReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "applied={} stream_last={} compared={} duplicates={} behind={} problems={}",
            self.applied,
            self.stream_last,
            self.compared,
            self.duplicates,
            self.behind(),
            self.problem_count
        )
    }
}

/// A store opened for comparison with the stream.
pub struct LogCheck {
    _db: sled::Db,
    trees: Trees,
    /// Per tenant: the next local sequence the stream must name.
    next: HashMap<String, u64>,
    report: LogReport,
}

impl LogCheck {
    /// Opens the stopped store in `dir`; `stream_last` is the consent
    /// stream's last position now.
    pub fn open(dir: &Path, stream_last: u64) -> Result<LogCheck, ConsentError> {
        let db = offline::open_existing(dir)?;
        offline::check_complete(&db)?;
        let trees = offline::trees(&db)?;
        let applied = trees.position(APPLIED_KEY)?;
        let mut report = LogReport { applied, stream_last, ..LogReport::default() };
        if applied > stream_last {
            report.problem(
                "",
                format!(
                    "the stream ends at {stream_last} but this store applied up to {applied}: the stream lost \
                     events (an instance started on this store republishes its ledger)"
                ),
            );
        }
        Ok(LogCheck { _db: db, trees, next: HashMap::new(), report })
    }

    /// The positions to feed to [`check`](Self::check): 1 up to this one.
    /// 0 when there is nothing to compare (nothing applied, or a stream
    /// that lost what was applied: positions no longer line up).
    pub fn compare_up_to(&self) -> u64 {
        if self.report.applied > self.report.stream_last {
            0
        } else {
            self.report.applied
        }
    }

    /// Compares the stream's message at `position` (decoded) with the store.
    pub fn check(&mut self, position: u64, event: &NewEvent, recorded_at: Timestamp) -> Result<(), ConsentError> {
        self.report.compared += 1;
        let tenant = event.tenant_id.as_str();
        let next = *self.next.get(tenant).unwrap_or(&1);
        let id = &event.event_id;
        let Some(seq) = self.trees.idempotency.get(keys::idempotency(tenant, id))? else {
            self.report.problem(tenant, format!("position {position}: event id {id:?} is not in this store"));
            return Ok(());
        };
        let seq = keys::event_seq(&seq).ok_or_else(|| ConsentError::corrupt("idempotency value"))?;
        if seq < next {
            self.report.duplicates += 1;
            return Ok(());
        }
        if seq > next {
            self.report.problem(
                tenant,
                format!("position {position}: event id {id:?} is sequence {seq} here, expected {next}"),
            );
        }
        self.next.insert(tenant.to_string(), seq + 1);
        let stored = match self.trees.events.get(keys::event(tenant, seq))? {
            Some(v) => records::decode_event(&v)?,
            None => {
                self.report.problem(tenant, format!("position {position}: event {seq} ({id:?}) is missing"));
                return Ok(());
            }
        };
        if stored.event != *event || stored.recorded_at != recorded_at {
            let what = differences(&stored.event, event, stored.recorded_at != recorded_at);
            self.report.problem(tenant, format!("position {position}: event {seq} ({id:?}) differs in {what}"));
        }
        Ok(())
    }

    /// Notes a stream message up to the applied position that is not a
    /// consent event this version reads.
    pub fn unreadable(&mut self, position: u64, why: &str) {
        self.report.compared += 1;
        self.report.problem("", format!("position {position}: {why}"));
    }

    /// Ends the comparison: every local event the stream did not name is a
    /// problem (an event the stream never carried, or lost).
    pub fn finish(mut self) -> Result<LogReport, ConsentError> {
        if self.compare_up_to() == 0 && self.report.applied > 0 {
            return Ok(self.report);
        }
        let mut tenant = String::new();
        let mut extra: Option<(u64, u64)> = None;
        for kv in self.trees.events.iter() {
            let (k, _) = kv?;
            let Some((key_tenant, seq)) = keys::parse_event(&k) else { continue };
            if key_tenant != tenant {
                self.flush_extra(&tenant, extra.take());
                tenant = key_tenant.to_string();
            }
            if seq >= *self.next.get(&tenant).unwrap_or(&1) {
                extra = Some(extra.map_or((seq, seq), |(first, _)| (first, seq)));
            }
        }
        self.flush_extra(&tenant, extra);
        Ok(self.report)
    }

    fn flush_extra(&mut self, tenant: &str, extra: Option<(u64, u64)>) {
        if let Some((first, last)) = extra {
            self.report.problem(
                tenant,
                format!(
                    "events {first}..={last} are not on the stream up to position {} (recorded before cluster \
                     mode, or lost by the stream)",
                    self.report.applied
                ),
            );
        }
    }
}

/// Which fields of two versions of an event differ (names only: no values,
/// which could hold a phone number).
fn differences(a: &NewEvent, b: &NewEvent, recorded_at: bool) -> String {
    let fields = [
        ("phone", a.phone != b.phone),
        ("action", a.action != b.action),
        ("scope", a.scope != b.scope),
        ("source", a.source != b.source),
        ("occurred_at", a.occurred_at != b.occurred_at),
        ("evidence", a.evidence != b.evidence),
        ("categories", a.categories != b.categories),
        ("inbound_text", a.inbound_text != b.inbound_text),
        ("recorded_at", recorded_at),
    ];
    let names: Vec<_> = fields.iter().filter(|(_, differs)| *differs).map(|(name, _)| *name).collect();
    names.join(", ")
}
