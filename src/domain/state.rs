//! Current consent of one phone number, derived from its events.
//!
//! The state is a pure fold over the ledger (`apply`), so `rebuild` and a
//! replay check can recompute it and compare.

use jiff::Timestamp;

use super::event::{Action, Category, ConsentEvent, Level, RndAnswer, Scope, Source, MATCHED_EXTRA_KEY};

/// Granted or revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Granted,
    Revoked,
}

/// The consent in force for one scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeState {
    pub scope: Scope,
    pub status: Status,
    /// The level granted; for a revoked scope, the level of the grant it
    /// revoked (None when there was none): an opt-in keyword restores exactly
    /// that.
    pub level: Option<Level>,
    /// Empty = every category the level permits.
    pub categories: Vec<Category>,
    pub event_id: String,
    pub sequence: u64,
    pub since: Timestamp,
    /// For a revoked scope: the revocation was an opt-out keyword, so an
    /// opt-in keyword may lift it. Revocations through other channels stay.
    pub keyword_revoke: bool,
}

impl ScopeState {
    /// Whether this grant covers `category` at the level the category needs.
    pub fn permits(&self, category: Category) -> bool {
        self.status == Status::Granted
            && self.level >= Some(category.required_level())
            && (self.categories.is_empty() || self.categories.contains(&category))
    }
}

/// A ledger event that marks the whole number rather than one scope: a
/// wrong-number report or a review hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    pub event_id: String,
    pub sequence: u64,
    /// When the person wrote it (the event's `occurred_at`).
    pub since: Timestamp,
    /// The normalized phrase that decided it ("" when an agent recorded it).
    pub matched: String,
}

impl Marker {
    fn of(ev: &ConsentEvent) -> Marker {
        let e = &ev.event;
        Marker {
            event_id: e.event_id.clone(),
            sequence: ev.sequence,
            since: e.occurred_at,
            matched: e.evidence.extra.get(MATCHED_EXTRA_KEY).cloned().unwrap_or_default(),
        }
    }
}

/// The latest Reassigned Numbers Database answer for a number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RndCheck {
    pub event_id: String,
    pub sequence: u64,
    /// When the database was queried (the event's `occurred_at`).
    pub queried_at: Timestamp,
    pub answer: RndAnswer,
}

/// All scoped consent of one phone number within one tenant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContactConsent {
    pub scopes: Vec<ScopeState>,
    /// The latest wrong-number report: no grant collected at or before it
    /// counts, whenever it is recorded.
    pub reassigned: Option<Marker>,
    /// An unresolved review hold (its expiry is tenant policy, so the
    /// decision checks the time).
    pub review_hold: Option<Marker>,
    /// The RND YES with the latest disconnect date: no grant collected
    /// before its `since` (that date) counts, whenever it is recorded.
    pub rnd_void: Option<Marker>,
    /// The latest RND answer by query time (the monthly check, §7.3).
    pub rnd_checked: Option<RndCheck>,
}

impl ContactConsent {
    /// Folds one event into the state. Deterministic: replaying the ledger in
    /// sequence order always yields the stored state.
    ///
    /// - REVOKE at scope S marks every state inside S revoked (keeping the
    ///   revoked level) and records S itself as revoked.
    /// - GRANT at scope S sets S granted. An opt-in keyword (source KEYWORD)
    ///   first restores the grants inside S that an opt-out revoked, at their
    ///   own level and scope; only when there is none does it grant S at the
    ///   event's level. A grant collected at or before a wrong-number report
    ///   is void, whenever it is recorded.
    /// - WRONG NUMBER drops every scope collected at or before it (the
    ///   previous owner's grants and revocations) and revokes the whole
    ///   tenant; nothing it dropped can be restored.
    /// - REVIEW HOLD marks the number; a grant or revocation said at or after
    ///   the held text resolves it.
    /// - RND notes the answer; a YES drops every grant collected before its
    ///   disconnect date (the previous owner's), voids such grants recorded
    ///   later, and keeps earlier revocations without a level to restore. It
    ///   revokes nothing: the number's present owner never opted out.
    pub fn apply(&mut self, ev: &ConsentEvent) {
        let e = &ev.event;
        let applied = match e.action {
            Action::ReviewHold => {
                self.review_hold = Some(Marker::of(ev));
                return;
            }
            Action::Rnd(answer) => {
                self.rnd(ev, answer);
                return;
            }
            Action::WrongNumber => {
                self.wrong_number(ev);
                true
            }
            Action::Revoke => {
                self.revoke(ev);
                true
            }
            Action::Grant(level) => self.grant(ev, level),
        };
        if applied && self.review_hold.as_ref().is_some_and(|h| h.since <= e.occurred_at) {
            self.review_hold = None;
        }
        self.sort();
    }

    fn entry(ev: &ConsentEvent, status: Status, level: Option<Level>, keyword_revoke: bool) -> ScopeState {
        let e = &ev.event;
        ScopeState {
            scope: e.scope.clone(),
            status,
            level,
            categories: e.categories.clone(),
            event_id: e.event_id.clone(),
            sequence: ev.sequence,
            since: e.occurred_at,
            keyword_revoke,
        }
    }

    fn stamp(s: &mut ScopeState, ev: &ConsentEvent) {
        s.event_id.clone_from(&ev.event.event_id);
        s.sequence = ev.sequence;
        s.since = ev.event.occurred_at;
    }

    fn revoke(&mut self, ev: &ConsentEvent) {
        let e = &ev.event;
        let keyword = e.source == Source::Keyword;
        // Scopes already revoked keep the revocation that came first.
        for s in self.scopes.iter_mut().filter(|s| e.scope.contains(&s.scope) && s.status == Status::Granted) {
            s.status = Status::Revoked;
            s.keyword_revoke = keyword;
            Self::stamp(s, ev);
        }
        if !self.scopes.iter().any(|s| s.scope == e.scope) {
            self.scopes.push(Self::entry(ev, Status::Revoked, None, keyword));
        }
    }

    fn wrong_number(&mut self, ev: &ConsentEvent) {
        let at = ev.event.occurred_at;
        if self.reassigned.as_ref().is_none_or(|r| r.since < at) {
            self.reassigned = Some(Marker::of(ev));
        }
        // Only what was collected after the report (a report imported late)
        // belongs to the number's present owner.
        self.scopes.retain(|s| s.since > at);
        if !self.scopes.iter().any(|s| s.scope == Scope::default()) {
            let mut whole = Self::entry(ev, Status::Revoked, None, false);
            whole.scope = Scope::default();
            whole.categories.clear();
            self.scopes.push(whole);
        }
    }

    fn rnd(&mut self, ev: &ConsentEvent, answer: RndAnswer) {
        let e = &ev.event;
        if self.rnd_checked.as_ref().is_none_or(|c| c.queried_at <= e.occurred_at) {
            self.rnd_checked = Some(RndCheck {
                event_id: e.event_id.clone(),
                sequence: ev.sequence,
                queried_at: e.occurred_at,
                answer,
            });
        }
        let Some(before) = e.rnd_void_before() else { return };
        if self.rnd_void.as_ref().is_none_or(|v| v.since < before) {
            self.rnd_void = Some(Marker { since: before, ..Marker::of(ev) });
        }
        // The previous owner's grants go; its revocations stay (an opt-out
        // is never dropped on a database's word) but restore nothing.
        self.scopes.retain(|s| s.status == Status::Revoked || s.since >= before);
        for s in self.scopes.iter_mut().filter(|s| s.since < before) {
            s.level = None;
        }
        self.sort();
    }

    /// Applies a grant; false when it is void (stale or the previous owner's).
    fn grant(&mut self, ev: &ConsentEvent, level: Level) -> bool {
        let e = &ev.event;
        if self.reassigned.as_ref().is_some_and(|r| e.occurred_at <= r.since) {
            return false;
        }
        if self.rnd_void.as_ref().is_some_and(|v| e.occurred_at < v.since) {
            return false;
        }
        // A grant dated before a revocation that covers it (a late import
        // of an old form) does not undo the later opt-out.
        let stale = self
            .scopes
            .iter()
            .any(|s| s.status == Status::Revoked && s.scope.contains(&e.scope) && s.since > e.occurred_at);
        if stale && e.source != Source::Keyword {
            return false;
        }
        if e.source == Source::Keyword {
            // An opt-in keyword lifts only what opt-out keywords revoked.
            let lifted = |s: &ScopeState| e.scope.contains(&s.scope) && s.status == Status::Revoked && s.keyword_revoke;
            if self.scopes.iter().any(|s| lifted(s) && s.level.is_some()) {
                self.scopes.retain(|s| !(lifted(s) && s.level.is_none()));
                for s in self.scopes.iter_mut().filter(|s| lifted(s)) {
                    s.status = Status::Granted;
                    s.keyword_revoke = false;
                    Self::stamp(s, ev);
                }
                return true;
            }
        }
        let new = Self::entry(ev, Status::Granted, Some(level), false);
        match self.scopes.iter_mut().find(|s| s.scope == e.scope) {
            Some(s) => *s = new,
            None => self.scopes.push(new),
        }
        true
    }

    fn sort(&mut self) {
        self.scopes.sort_by(|a, b| a.scope.cmp(&b.scope));
    }

    /// The most recent state (by ledger sequence) among the scopes that cover a
    /// send on `campaign_id` from `sender`: the latest word of the person wins.
    pub fn latest_for_send(&self, campaign_id: &str, sender: &str) -> Option<&ScopeState> {
        self.scopes.iter().filter(|s| s.scope.covers_send(campaign_id, sender)).max_by_key(|s| s.sequence)
    }

    /// The revocation that suppresses a send on `campaign_id` from `sender`:
    /// any covering revoked scope, unless a later grant at least as narrow as
    /// it (and covering the send) lifted it.
    pub fn opt_out_for_send(&self, campaign_id: &str, sender: &str) -> Option<&ScopeState> {
        let covering = || self.scopes.iter().filter(|s| s.scope.covers_send(campaign_id, sender));
        covering().filter(|r| r.status == Status::Revoked).find(|r| {
            !covering().any(|g| g.status == Status::Granted && g.sequence > r.sequence && r.scope.contains(&g.scope))
        })
    }

    /// Whether nothing is granted and the whole tenant is revoked: a further
    /// opt-out changes nothing and gets no second confirmation.
    pub fn fully_revoked(&self) -> bool {
        self.scopes.iter().all(|s| s.status == Status::Revoked)
            && self.scopes.iter().any(|s| s.scope == Scope::default())
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
