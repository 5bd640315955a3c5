use super::*;

#[test]
fn example_file_loads_as_is() {
    let c = Config::demo();
    let t = &c.tenants["northside"];
    assert_eq!(t.policy.conversation_window.0.as_secs(), 24 * 3600);
    assert_eq!(t.policy.disclosure_interval.0.as_secs(), 30 * 86400);
    assert_eq!(t.policy.quiet_hours.start, TimeOfDay { minutes: 8 * 60 });
    assert_eq!(t.campaigns.len(), 2);
    assert_eq!(t.campaigns[1].senders[0].0.as_str(), "+13125550101");
    assert!(!c.auth.require_token);
    assert_eq!(c.auth.tokens["ops-dev-token"], "*");
}

#[test]
fn decision_log_retention_defaults_to_five_years_and_may_be_off() {
    let days = |n: u64| Some(HumanDuration(std::time::Duration::from_secs(n * 86_400)));
    assert_eq!(Config::demo().ledger.decision_log_retention, days(1827));
    assert_eq!(LedgerConfig::default().decision_log_retention, days(1827));
    let with = |r: &str| format!("{DEMO_TOML}\n[ledger]\ndecision_log_retention = \"{r}\"\n");
    let c = Config::parse(&with("400d"), "t.toml").unwrap();
    assert_eq!(c.ledger.decision_log_retention, days(400));
    assert_eq!(Config::parse(&with("off"), "t.toml").unwrap().ledger.decision_log_retention, None);
    let e = Config::parse(&with("10m"), "t.toml").expect_err("under an hour").to_string();
    assert!(e.contains("ledger.decision_log_retention") && e.contains("1h"), "{e}");
    let e = Config::parse(&with("forever"), "t.toml").expect_err("not a duration").to_string();
    assert!(e.contains("decision_log_retention") && e.contains("bad duration"), "{e}");
}

#[test]
fn idempotency_window_defaults_to_a_day_and_may_not_be_shorter() {
    let hours = |n: u64| HumanDuration(std::time::Duration::from_secs(n * 3600));
    assert_eq!(Config::demo().ledger.idempotency_window, hours(24));
    let with = |w: &str| format!("{DEMO_TOML}\n[ledger]\nidempotency_window = \"{w}\"\n");
    assert_eq!(Config::parse(&with("72h"), "t.toml").unwrap().ledger.idempotency_window, hours(72));
    let e = Config::parse(&with("23h"), "t.toml").expect_err("under a day").to_string();
    let line = with("23h").lines().position(|l| l.starts_with("idempotency_window")).unwrap() + 1;
    assert!(
        e.contains(&format!("t.toml:{line}")) && e.contains("ledger.idempotency_window") && e.contains("24h"),
        "{e}"
    );
}

/// Replaces `from` in the example with `to`, parses, returns the error text.
fn error_after(from: &str, to: &str) -> String {
    assert!(DEMO_TOML.contains(from), "example no longer contains {from:?}");
    let text = DEMO_TOML.replacen(from, to, 1);
    Config::parse(&text, "t.toml").expect_err("must be rejected").to_string()
}

#[test]
fn rejections_name_the_key_and_where() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("state_rules = true", "state_rules = true\nquiet_hourz = 1", &["t.toml:", "quiet_hourz"]),
        ("conversation_window = \"24h\"", "conversation_window = \"24 hours-ish\"", &["t.toml:", "bad duration"]),
        ("disclosure_interval = \"30d\"", "disclosure_interval = 30", &["t.toml:", "disclosure_interval"]),
        ("\"+13125550101\"", "\"312-555-0101\"", &["t.toml:", "sender", "E.164"]),
        ("\"+13125550101\"", "\"+13125550100\"", &["campaigns[1].senders[0]", "already registered"]),
        ("default_tenant = \"northside\"", "default_tenant = \"southside\"", &["auth.default_tenant"]),
        ("= \"northside\", \"ops", "= \"nowhere\", \"ops", &["auth.tokens", "nowhere"]),
        ("id = \"fundraising\"", "id = \"casework\"", &["campaigns[1].id", "twice"]),
        ("use_case = \"CHARITY\"", "use_case = \"CHARTY\"", &["use_case", "CHARTY"]),
        ("category = \"promotional\"", "category = \"spam\"", &["t.toml:", "spam"]),
        ("start = \"08:00\"", "start = \"8am\"", &["t.toml:", "bad time"]),
        ("start = \"08:00\"", "start = \"22:00\"", &["quiet_hours", "before end"]),
        ("listen = \"127.0.0.1:50051\"", "listen = \"localhost\"", &["t.toml:", "listen"]),
        ("link_domains = [\"northside.example.org\"]", "link_domains = [\"not a domain\"]", &["link_domains[0]"]),
        ("[tenants.northside]", "[tenants.North_Side]", &["tenants.North_Side"]),
        ("[tenants.northside.replies.es]", "[tenants.northside.replies.spanish]", &["replies.spanish", "BCP 47"]),
        ("reply_language = \"en\"", "reply_language = \"english!\"", &["reply_language", "BCP 47"]),
        ("help_reply = \"Northside Family Services: para ayuda llame al 312-555-0100. Responda STOP para no recibir más mensajes.\"", "help_reply = \" \"", &["replies.es.help_reply", "must not be empty"]),
        ("review_hold = \"24h\"", "review_hold = \"a day\"", &["t.toml:", "bad duration"]),
        ("sampling_ratio = 1.0", "sampling_ratio = 2.0", &["telemetry.sampling_ratio", "between 0 and 1"]),
        ("log_format = \"pretty\"", "log_format = \"xml\"", &["t.toml:", "log_format"]),
        ("[server]", "[server]\nmax_connections = 0", &["server.max_connections", "at least 1"]),
        ("[server]", "[server]\nmax_concurrent_streams = 0", &["server.max_concurrent_streams"]),
        ("[server]", "[server]\nkeepalive_interval = \"100ms\"", &["server.keepalive_interval", "at least 1s"]),
        ("[server]", "[server]\nkeepalive_timeout = \"0s\"", &["server.keepalive_timeout", "at least 1s"]),
    ];
    for (from, to, wants) in cases {
        let err = error_after(from, to);
        for want in *wants {
            assert!(err.contains(want), "replacing {from:?} by {to:?}: {err:?} lacks {want:?}");
        }
    }
}

#[test]
fn toml_errors_carry_the_line() {
    let err = error_after("state_rules = true", "state_rules = true\nbogus = 1");
    let line = DEMO_TOML.lines().position(|l| l.contains("state_rules = true")).unwrap() + 2;
    assert!(err.starts_with(&format!("t.toml:{line}:")), "{err}");
}

#[test]
fn a_control_character_in_a_comment_is_explained() {
    let err = error_after("OpenTelemetry Collector", "Open\u{7f}elemetry Collector");
    let line = DEMO_TOML.lines().position(|l| l.contains("OpenTelemetry Collector")).unwrap() + 1;
    assert!(err.starts_with(&format!("t.toml:{line}:")) && err.contains("control"), "{err}");
}

#[test]
fn minimal_config_gets_defaults() {
    let text = r#"
        [auth]
        tokens = { "secret-token-1" = "acme" }
        [tenants.acme]
        brand = "Acme"
        help_reply = "Acme: help at 312-555-0100."
        opt_out_reply = "Acme: unsubscribed."
        opt_in_reply = "Acme: resubscribed."
        [tenants.acme.policy]
        conversation_window = "24h"
        disclosure_interval = "30d"
        opt_out_notice = "Reply STOP to opt out."
        quiet_hours = { start = "08:00", end = "21:00" }
    "#;
    let c = Config::parse(text, "min.toml").unwrap();
    assert!(c.auth.require_token);
    assert_eq!(c.ledger.durability, Durability::Group);
    assert_eq!(c.server.listen.port(), 50051);
}

mod properties {
    use super::*;
    use proptest::prelude::*;
    use std::sync::{Arc, LazyLock};

    static PACK: LazyLock<Arc<crate::policy::RulePack>> =
        LazyLock::new(|| Arc::new(crate::policy::RulePack::builtin().expect("built-in rule pack")));

    /// One edit to the example file.
    #[derive(Debug, Clone)]
    enum Edit {
        DeleteLine(usize),
        DuplicateLine(usize),
        /// Replace the char at (a position scaled to the text) with this one.
        Flip(usize, char),
        /// Insert a string at a scaled position.
        Insert(usize, String),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            any::<usize>().prop_map(Edit::DeleteLine),
            any::<usize>().prop_map(Edit::DuplicateLine),
            (
                any::<usize>(),
                prop_oneof![Just('"'), Just('['), Just(']'), Just('='), Just('\n'), Just('0'), any::<char>()]
            )
                .prop_map(|(at, c)| Edit::Flip(at, c)),
            (any::<usize>(), "(\"|\\[|\\]|=|\\n|#|'|\\{|\\}|[a-z_]{1,8}|[0-9]{1,20}|\\PC){1,4}")
                .prop_map(|(at, s)| Edit::Insert(at, s)),
        ]
    }

    fn apply(text: &str, edits: &[Edit]) -> String {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        for e in edits {
            match e {
                Edit::DeleteLine(i) if !lines.is_empty() => {
                    lines.remove(i % lines.len());
                }
                Edit::DuplicateLine(i) if !lines.is_empty() => {
                    let l = lines[i % lines.len()].clone();
                    lines.insert(i % lines.len(), l);
                }
                Edit::Flip(at, _) | Edit::Insert(at, _) if !lines.is_empty() => {
                    let n = lines.len();
                    let line = &mut lines[at % n];
                    let chars: Vec<char> = line.chars().collect();
                    let pos = (at / 7) % (chars.len() + 1);
                    let mut out: String = chars[..pos].iter().collect();
                    match e {
                        Edit::Flip(_, c) => {
                            out.push(*c);
                            out.extend(chars.iter().skip(pos + 1));
                        }
                        Edit::Insert(_, s) => {
                            out.push_str(s);
                            out.extend(chars.iter().skip(pos));
                        }
                        _ => unreachable!("matched above"),
                    }
                    *line = out;
                }
                _ => {}
            }
        }
        lines.join("\n")
    }

    /// Parsing gives a config the server can compile, or an error that says
    /// where; compiling a parsed config never panics either.
    fn check(text: &str) -> Result<(), TestCaseError> {
        match Config::parse(text, "t.toml") {
            Ok(c) => {
                prop_assert_eq!(c.version.len(), 12);
                let _ = crate::policy::Policy::compile(&c, Arc::clone(&PACK));
            }
            Err(e) => {
                prop_assert!(e.origin.starts_with("t.toml"), "{e}");
                prop_assert!(!e.message.is_empty(), "{e}");
                if let Some(line) = e.origin.strip_prefix("t.toml:").and_then(|r| r.split(':').next()) {
                    let line: usize = line.parse().expect("a line number");
                    prop_assert!(line >= 1 && line <= text.lines().count() + 1, "{e}");
                }
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(384))]

        #[test]
        fn parse_never_panics_on_arbitrary_text(s in any::<String>(), tomlish in "([a-z_.]{1,12} = (\"[^\"]{0,12}\"|[0-9]{1,25}|true|\\[\\]|\\{ \\})\n|\\[[a-z_.]{1,20}\\]\n|\\[\\[[a-z_.]{1,20}\\]\\]\n){0,12}") {
            check(&s)?;
            check(&tomlish)?;
        }

        #[test]
        fn mutations_of_the_example_never_panic(edits in proptest::collection::vec(edit(), 1..6)) {
            check(&apply(DEMO_TOML, &edits))?;
        }
    }
}

#[test]
fn every_problem_of_a_file_is_reported_at_once() {
    let text = DEMO_TOML
        .replacen("use_case = \"CHARITY\"", "use_case = \"CHARTY\"", 1)
        .replacen("start = \"08:00\"", "start = \"22:00\"", 1)
        .replacen("sampling_ratio = 1.0", "sampling_ratio = 2.0", 1)
        .replacen("default_tenant = \"northside\"", "default_tenant = \"southside\"", 1);
    let err = Config::parse(&text, "t.toml").expect_err("four problems");
    let lines: Vec<String> = err.to_string().lines().map(String::from).collect();
    for want in ["use_case", "quiet_hours", "telemetry.sampling_ratio", "auth.default_tenant"] {
        assert_eq!(lines.iter().filter(|l| l.contains(want)).count(), 1, "{want} once in {lines:#?}");
    }
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert!(lines.iter().all(|l| l.starts_with("t.toml: `")), "each line names the file and key: {lines:#?}");
}
