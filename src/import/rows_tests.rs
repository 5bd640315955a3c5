use super::*;
use crate::api::pb::{ConsentAction as A, ConsentLevel as L, ConsentSource as S, MessageCategory as C};

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn header_problems_name_the_column() {
    let cases: &[(&[&str], Option<&str>)] = &[
        (&["event_id", "phone", "action"], None),
        (&[" Event_ID ", "PHONE", "action", "extra.crm_id"], None),
        (&["event_id", "phone"], Some("required column \"action\"")),
        (&["event_id", "phone", "action", "phnoe"], Some("unknown column \"phnoe\"")),
        (&["event_id", "phone", "action", "phone"], Some("\"phone\" appears twice")),
        (&["event_id", "phone", "action", "extra."], Some("unknown column")),
    ];
    for (header, want) in cases {
        match (Columns::from_header(&strings(header)), want) {
            (Ok(_), None) => {}
            (Err(e), Some(w)) => assert!(e.field == "header" && e.reason.contains(w), "{header:?}: {e:?}"),
            (got, _) => panic!("{header:?}: {got:?}"),
        }
    }
}

#[test]
fn csv_rows_become_requests_or_name_the_field() {
    let header = strings(&[
        "event_id",
        "phone",
        "action",
        "level",
        "source",
        "occurred_at",
        "campaign_id",
        "categories",
        "possible_reassignment",
        "collected_by",
        "extra.crm_id",
    ]);
    let columns = Columns::from_header(&header).unwrap();
    let row = |fields: &[&str]| columns.request(strings(fields));

    let req = row(&[
        "e1",
        "+13125550111",
        "GRANT",
        "express_written",
        "web_form",
        "2024-05-01T09:30:00-05:00",
        "casework",
        "informational; promotional;",
        "",
        "form",
        "c-9",
    ])
    .unwrap();
    assert_eq!((req.event_id.as_str(), req.phone.as_str()), ("e1", "+13125550111"));
    assert_eq!((req.action, req.level, req.source), (A::Grant as i32, L::ExpressWritten as i32, S::WebForm as i32));
    assert_eq!(req.occurred_at.unwrap().seconds, 1_714_573_800);
    assert_eq!(req.categories, vec![C::CategoryInformational as i32, C::CategoryPromotional as i32]);
    assert_eq!(req.scope.unwrap().campaign_id, "casework");
    let evidence = req.evidence.unwrap();
    assert_eq!((evidence.collected_by.as_str(), evidence.extra["crm_id"].as_str()), ("form", "c-9"));

    // A do-not-contact row: a revocation, everything else left out.
    let dnc = row(&["dnc-1", "3125550112", "consent_action_revoke", "", "", "", "", "", "yes", "", ""]).unwrap();
    assert_eq!((dnc.action, dnc.source, dnc.possible_reassignment), (A::Revoke as i32, 0, true));
    assert!(dnc.occurred_at.is_none() && dnc.evidence.unwrap().extra.is_empty());

    let bad: &[(&[&str], &str, &str)] = &[
        (&["e", "p", "grnt", "", "", "", "", "", "", "", ""], "action", "\"grnt\" is not one of grant, revoke"),
        (&["e", "p", "grant", "high", "", "", "", "", "", "", ""], "level", "not one of implied"),
        (&["e", "p", "grant", "", "email", "", "", "", "", "", ""], "source", "not one of keyword"),
        (&["e", "p", "grant", "", "", "2024-05-01", "", "", "", "", ""], "occurred_at", "RFC 3339"),
        (&["e", "p", "grant", "", "", "", "", "sales", "", "", ""], "categories[0]", "not one of"),
        (&["e", "p", "grant", "", "", "", "", "", "maybe", "", ""], "possible_reassignment", "true or false"),
        (&["e", "p", "grant"], "row", "3 fields where the header names 11"),
    ];
    for (fields, field, reason) in bad {
        let e = row(fields).unwrap_err();
        assert!(e.field == *field && e.reason.contains(reason), "{fields:?}: {e:?}");
    }
}

#[test]
fn jsonl_rows_become_requests_or_name_the_field() {
    let line = r#"{"event_id":"j1","phone":"+13125550111","action":"grant","level":"EXPRESS","source":"CONSENT_SOURCE_VERBAL",
        "occurred_at":"2024-05-01T14:30:00Z","scope":{"campaign_id":"casework","sender":"+13125550100"},
        "categories":["informational"],"evidence":{"collected_by":"agent-7","extra":{"call":"c1"}},"tenant_id":"northside"}"#
        .replace('\n', "");
    let req = super::super::jsonl::request(&line).unwrap();
    assert_eq!((req.action, req.level, req.source), (A::Grant as i32, L::Express as i32, S::Verbal as i32));
    assert_eq!(req.scope.unwrap().sender, "+13125550100");
    assert_eq!(req.evidence.unwrap().extra["call"], "c1");
    assert_eq!((req.tenant_id.as_str(), req.categories.len()), ("northside", 1));

    let bad = [
        (r#"{"event_id":"j","phone":"p","action":"grant","levle":"express"}"#, "levle", "unknown field"),
        (r#"{"event_id":"j","scope":{"campain_id":"x"}}"#, "scope.campain_id", "unknown field"),
        (r#"{"event_id":7}"#, "event_id", "must be a string"),
        (r#"{"possible_reassignment":"yes"}"#, "possible_reassignment", "true or false"),
        (r#"{"categories":"informational"}"#, "categories", "list"),
        (r#"{"evidence":{"extra":{"k":1}}}"#, "evidence.extra[k]", "must be a string"),
        (r#"["not","an","object"]"#, "row", "not a JSON object"),
        (r#"{"event_id":"j","#, "row", "not a JSON object"),
    ];
    for (line, field, reason) in bad {
        let e = super::super::jsonl::request(line).unwrap_err();
        assert!(e.field == field && e.reason.contains(reason), "{line}: {e:?}");
    }
}

#[test]
fn files_yield_rows_with_their_lines() {
    use super::super::file::Rows;
    use super::super::Format;
    let csv = b"\xEF\xBB\xBFevent_id,phone,action\r\n\r\ne1,+13125550111,grant\r\n\"e\n2\",+13125550112,revoke\r\ne3,x,nope\r\n";
    let mut rows = Rows::new(Format::Csv, &csv[..]);
    let mut got = Vec::new();
    while let Some(r) = rows.next_row().unwrap() {
        got.push((r.line, r.request.map(|q| q.event_id).map_err(|e| e.field)));
    }
    assert_eq!(got, vec![(3, Ok("e1".into())), (4, Ok("e\n2".into())), (6, Err("action".into()))]);

    let jsonl = b"\xEF\xBB\xBF{\"event_id\":\"a\"}\r\n\n  \n{\"event_id\":\"b\"}\n{oops\n";
    let mut rows = Rows::new(Format::Jsonl, &jsonl[..]);
    let mut got = Vec::new();
    while let Some(r) = rows.next_row().unwrap() {
        got.push((r.line, r.request.map(|q| q.event_id).map_err(|e| e.field)));
    }
    assert_eq!(got, vec![(1, Ok("a".into())), (4, Ok("b".into())), (5, Err("row".into()))]);

    let bad_header = Rows::new(Format::Csv, &b"event_id,phone\n"[..]).next_row().err().unwrap();
    assert!(bad_header.contains("line 1") && bad_header.contains("action"), "{bad_header}");
}
