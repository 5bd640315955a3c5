//! The intent -> event / reply table, row by row, and how a number's consent
//! becomes its standing.

use std::sync::Arc;

use super::*;
use crate::config::Config;
use crate::domain::{ConsentEvent, NewEvent, Scope};
use crate::policy::{Policy, RulePack};

fn at() -> Timestamp {
    "2026-06-02T15:00:00Z".parse().unwrap()
}

#[test]
fn each_intent_and_standing_records_and_replies_as_the_table_says() {
    use Intent::*;
    use Standing::*;
    let policy = Policy::compile(&Config::demo(), Arc::new(RulePack::builtin().unwrap())).unwrap();
    let t = &policy.tenants["northside"].replies(None);
    let (stop, start, help) = (t.opt_out.as_str(), t.opt_in.as_str(), t.help.as_str());
    let revoke = Some(Action::Revoke);
    let grant = Some(Action::Grant(Level::Express));
    // (intent, standing, recorded, reply, reply when recorded before)
    type Row<'a> = (Intent, Standing, Option<Action>, &'a str, &'a str);
    let rows: &[Row] = &[
        (OptOut, Unknown, revoke, stop, stop),
        (OptOut, OnRecord, revoke, stop, stop),
        (OptOut, OptedOut, revoke, stop, stop),
        (OptOut, FullyOptedOut, revoke, "", stop),
        (OptIn, Unknown, grant, start, start),
        (OptIn, OnRecord, None, start, start),
        (OptIn, OptedOut, grant, start, start),
        (OptIn, FullyOptedOut, grant, start, start),
        (Help, Unknown, None, help, help),
        (Help, FullyOptedOut, None, help, help),
        (WrongNumber, Unknown, Some(Action::WrongNumber), stop, stop),
        (WrongNumber, OnRecord, Some(Action::WrongNumber), stop, stop),
        (WrongNumber, FullyOptedOut, Some(Action::WrongNumber), "", stop),
        (Review, Unknown, Some(Action::ReviewHold), "", ""),
        (Review, OnRecord, Some(Action::ReviewHold), "", ""),
        (Review, OptedOut, Some(Action::ReviewHold), "", ""),
        (Review, FullyOptedOut, None, "", ""),
        (Message, OnRecord, None, "", ""),
        (Message, FullyOptedOut, None, "", ""),
    ];
    for &(intent, standing, recorded, reply, again) in rows {
        let o = outcome(intent, standing, t, at());
        assert_eq!(o.record.map(|c| c.action), recorded, "{intent:?} {standing:?}");
        assert_eq!((o.reply, o.reply_if_recorded_before), (reply, again), "{intent:?} {standing:?}");
        if let Some(c) = o.record {
            assert_eq!((c.source, c.occurred_at), (Source::Keyword, at()), "{intent:?} {standing:?}");
        }
    }
}

/// A number's consent after these events: (action, the scope's campaign).
fn consent_of(events: &[(Action, &str)]) -> ContactConsent {
    let mut c = ContactConsent::default();
    for (i, &(action, campaign)) in events.iter().enumerate() {
        let seq = i as u64 + 1;
        c.apply(&ConsentEvent {
            sequence: seq,
            recorded_at: at(),
            event: NewEvent {
                scope: Scope { campaign_id: campaign.into(), sender: String::new() },
                ..NewEvent::for_test("northside", &format!("e{seq}"), "+13125550199", action)
            },
        });
    }
    c
}

#[test]
fn standing_follows_the_latest_word_for_the_sender() {
    use Action::Revoke;
    const GRANT: Action = Action::Grant(Level::Express);
    // (events, standing for casework's sender)
    type Row<'a> = (&'a [(Action, &'a str)], Standing);
    let rows: &[Row] = &[
        (&[], Standing::Unknown),
        (&[(GRANT, "")], Standing::OnRecord),
        (&[(GRANT, "fundraising")], Standing::OnRecord),
        (&[(Revoke, "fundraising")], Standing::OnRecord),
        (&[(GRANT, ""), (Revoke, "casework")], Standing::OptedOut),
        (&[(Revoke, "casework"), (GRANT, "casework")], Standing::OnRecord),
        (&[(GRANT, ""), (Revoke, "")], Standing::FullyOptedOut),
        (&[(Revoke, "")], Standing::FullyOptedOut),
    ];
    for (events, expected) in rows {
        let standing = Standing::of(&consent_of(events), "casework", "+13125550100");
        assert_eq!(standing, *expected, "{events:?}");
        assert_eq!(standing.opted_out(), matches!(expected, Standing::OptedOut | Standing::FullyOptedOut));
    }
}
