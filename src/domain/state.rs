//! Current consent of one phone number, derived from its events.
//!
//! The state is a pure fold over the ledger (`apply`), so `rebuild` and a
//! replay check can recompute it and compare.

use jiff::Timestamp;

use super::event::{Action, Category, ConsentEvent, Level, Scope, Source};

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

/// All scoped consent of one phone number within one tenant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContactConsent {
    pub scopes: Vec<ScopeState>,
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
    ///   event's level.
    pub fn apply(&mut self, ev: &ConsentEvent) {
        let e = &ev.event;
        let stamp = |s: &mut ScopeState| {
            s.event_id.clone_from(&e.event_id);
            s.sequence = ev.sequence;
            s.since = e.occurred_at;
        };
        let entry = |status, level, keyword_revoke| ScopeState {
            scope: e.scope.clone(),
            status,
            level,
            categories: e.categories.clone(),
            event_id: e.event_id.clone(),
            sequence: ev.sequence,
            since: e.occurred_at,
            keyword_revoke,
        };
        match e.action {
            Action::Revoke => {
                let keyword = e.source == Source::Keyword;
                // Scopes already revoked keep the revocation that came first.
                for s in self.scopes.iter_mut().filter(|s| e.scope.contains(&s.scope) && s.status == Status::Granted) {
                    s.status = Status::Revoked;
                    s.keyword_revoke = keyword;
                    stamp(s);
                }
                if !self.scopes.iter().any(|s| s.scope == e.scope) {
                    self.scopes.push(entry(Status::Revoked, None, keyword));
                }
            }
            Action::Grant(level) => {
                // A grant dated before a revocation that covers it (a late import
                // of an old form) does not undo the later opt-out.
                let stale = self
                    .scopes
                    .iter()
                    .any(|s| s.status == Status::Revoked && s.scope.contains(&e.scope) && s.since > e.occurred_at);
                if stale && e.source != Source::Keyword {
                    return;
                }
                if e.source == Source::Keyword {
                    // An opt-in keyword lifts only what opt-out keywords revoked.
                    let lifted =
                        |s: &ScopeState| e.scope.contains(&s.scope) && s.status == Status::Revoked && s.keyword_revoke;
                    if self.scopes.iter().any(|s| lifted(s) && s.level.is_some()) {
                        self.scopes.retain(|s| !(lifted(s) && s.level.is_none()));
                        for s in self.scopes.iter_mut().filter(|s| lifted(s)) {
                            s.status = Status::Granted;
                            s.keyword_revoke = false;
                            stamp(s);
                        }
                        self.sort();
                        return;
                    }
                }
                let new = entry(Status::Granted, Some(level), false);
                match self.scopes.iter_mut().find(|s| s.scope == e.scope) {
                    Some(s) => *s = new,
                    None => self.scopes.push(new),
                }
            }
        }
        self.sort();
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
mod tests {
    use super::*;
    use crate::domain::{Evidence, NewEvent, TenantId};

    fn ev(seq: u64, action: Action, campaign: &str, source: Source) -> ConsentEvent {
        ConsentEvent {
            sequence: seq,
            recorded_at: Timestamp::UNIX_EPOCH,
            event: NewEvent {
                tenant_id: TenantId::new("t"),
                event_id: format!("e{seq}"),
                phone: crate::phone::PhoneNumber::parse("+13125550199").unwrap(),
                action,
                scope: Scope { campaign_id: campaign.into(), sender: String::new() },
                source,
                occurred_at: Timestamp::UNIX_EPOCH,
                evidence: Evidence::default(),
                categories: vec![],
                inbound_text: String::new(),
            },
        }
    }

    fn fold(events: &[ConsentEvent]) -> ContactConsent {
        let mut c = ContactConsent::default();
        events.iter().for_each(|e| c.apply(e));
        c
    }

    #[test]
    fn revoke_covers_narrower_grants_and_latest_wins() {
        let c = fold(&[
            ev(1, Action::Grant(Level::Express), "casework", Source::Verbal),
            ev(2, Action::Revoke, "", Source::Keyword),
        ]);
        let s = c.latest_for_send("casework", "+13125550100").unwrap();
        assert_eq!((s.status, s.event_id.as_str()), (Status::Revoked, "e2"));
        assert!(c.fully_revoked());

        // A fresh explicit grant for one campaign lifts the opt-out for it only.
        let mut c = c;
        c.apply(&ev(3, Action::Grant(Level::Express), "casework", Source::WebForm));
        assert!(c.latest_for_send("casework", "x").unwrap().permits(Category::Informational));
        assert_eq!(c.latest_for_send("fundraising", "x").unwrap().status, Status::Revoked);
    }

    #[test]
    fn opt_in_keyword_restores_revoked_grants_at_their_level() {
        let c = fold(&[
            ev(1, Action::Grant(Level::ExpressWritten), "fundraising", Source::WebForm),
            ev(2, Action::Revoke, "", Source::Keyword),
            ev(3, Action::Grant(Level::Express), "", Source::Keyword),
        ]);
        assert_eq!(c.scopes.len(), 1, "{c:?}");
        let s = c.latest_for_send("fundraising", "x").unwrap();
        assert_eq!((s.status, s.level, s.event_id.as_str()), (Status::Granted, Some(Level::ExpressWritten), "e3"));
        assert!(c.latest_for_send("casework", "x").is_none());
    }

    #[test]
    fn opt_in_keyword_with_nothing_to_restore_grants_express() {
        let c = fold(&[
            ev(1, Action::Revoke, "", Source::Keyword),
            ev(2, Action::Grant(Level::Express), "", Source::Keyword),
        ]);
        let s = c.latest_for_send("casework", "x").unwrap();
        assert_eq!((s.status, s.level), (Status::Granted, Some(Level::Express)));
        assert!(!s.permits(Category::Promotional));
    }

    #[test]
    fn categories_limit_a_grant() {
        let mut e = ev(1, Action::Grant(Level::ExpressWritten), "", Source::WebForm);
        e.event.categories = vec![Category::Informational];
        let c = fold(&[e]);
        let s = c.latest_for_send("any", "x").unwrap();
        assert!(s.permits(Category::Informational));
        assert!(!s.permits(Category::Promotional));
    }

    #[test]
    fn opt_in_keyword_does_not_lift_revocations_made_elsewhere() {
        let mut r = ev(2, Action::Revoke, "fundraising", Source::Api);
        r.event.event_id = "agent".into();
        let c = fold(&[
            ev(1, Action::Grant(Level::ExpressWritten), "", Source::WebForm),
            r,
            ev(3, Action::Revoke, "", Source::Keyword),
            ev(4, Action::Grant(Level::Express), "", Source::Keyword),
        ]);
        assert!(c.opt_out_for_send("casework", "x").is_none(), "{c:?}");
        assert!(c.opt_out_for_send("fundraising", "x").is_some(), "the agent's revoke stays: {c:?}");
    }

    #[test]
    fn a_backdated_grant_does_not_undo_a_later_opt_out() {
        let mut revoke = ev(1, Action::Revoke, "", Source::Keyword);
        revoke.event.occurred_at = Timestamp::from_second(1_000).unwrap();
        let mut old = ev(2, Action::Grant(Level::Express), "", Source::Import);
        old.event.occurred_at = Timestamp::from_second(10).unwrap();
        let c = fold(&[revoke, old]);
        assert!(c.opt_out_for_send("casework", "x").is_some());
    }

    #[test]
    fn a_revoke_on_another_dimension_is_not_lifted_by_a_campaign_grant() {
        let mut r = ev(1, Action::Revoke, "", Source::Api);
        r.event.scope.sender = "+13125550100".into();
        let c = fold(&[r, ev(2, Action::Grant(Level::Express), "casework", Source::WebForm)]);
        assert!(c.opt_out_for_send("casework", "+13125550100").is_some());
        assert!(c.opt_out_for_send("casework", "+13125550102").is_none());
    }
}
