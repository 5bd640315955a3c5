//! Tests for `content.rs`, run against the shipped rulepack so the data and
//! the scanner are checked together.

use super::*;
use proptest::prelude::*;

const RULEPACK: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/policy/rules/content.toml"));

fn rules() -> &'static ContentRules {
    static RULES: std::sync::OnceLock<ContentRules> = std::sync::OnceLock::new();
    RULES.get_or_init(|| {
        let data: ContentData = toml::from_str(RULEPACK).expect("rulepack parses");
        ContentRules::new(&data).expect("rulepack compiles")
    })
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// A plain informational campaign: no links, no phones, no categories.
fn plain() -> CampaignContent<'static> {
    CampaignContent::default()
}

fn hosts(r: &ContentRules, body: &str) -> Vec<String> {
    r.links(body).into_iter().map(|l| l.host).collect()
}

#[test]
fn link_detection_table() {
    let r = rules();
    let cases: &[(&str, &[&str])] = &[
        ("Apply at https://northside.example.org/forms?id=3 today", &["northside.example.org"]),
        ("HTTP://Example.ORG:8080/x", &["example.org"]),
        ("http://user:pw@bit.ly/x", &["bit.ly"]),
        ("short: bit.ly/abc", &["bit.ly"]),
        ("SHOUTING BIT.LY/X NOW", &["bit.ly"]),
        ("mixed Bit.Ly works because it is a shortener", &["bit.ly"]),
        ("go to www.example.org", &["www.example.org"]),
        ("www.example.internal also", &["www.example.internal"]),
        ("forms at northside.example.org/forms.", &["northside.example.org"]),
        ("see example.com.", &["example.com"]),
        ("(see example.com), then", &["example.com"]),
        ("dlvr.it/x has no listed tld but is a shortener", &["dlvr.it"]),
        ("two: a.com and https://b.org/p", &["a.com", "b.org"]),
        ("Title-case TLD with a path: Example.Org/forms", &["example.org"]),
        ("write to info@bit.ly", &[]),
        ("e.g. bring ID, i.e. a license", &[]),
        ("at 9 a.m. or 3.5 hours", &[]),
        ("Mr. Smith will call", &[]),
        ("see you at the end.Thanks", &[]),
        ("we meet tomorrow.In the lobby", &[]),
        ("email jane.doe@example.org for help", &[]),
        ("fill form.pdf and v2.0 and 1.800.555.0100", &[]),
        ("http:// alone", &[]),
        ("café.com is part of a word", &[]),
    ];
    for (body, want) in cases {
        assert_eq!(hosts(r, body), strings(want), "body: {body:?}");
    }
}

#[test]
fn link_ranges_cover_scheme_and_path_but_not_punctuation() {
    let r = rules();
    let body = "Go to https://x.org/a/b. Or bit.ly/z!";
    let got: Vec<&str> = r.links(body).iter().map(|l| &body[l.range.clone()]).collect();
    assert_eq!(got, ["https://x.org/a/b", "bit.ly/z"]);
}

#[test]
fn link_findings_table() {
    let r = rules();
    let domains = strings(&["northside.example.org", "*.Clinic.Example.com."]);
    let links_ok = CampaignContent { embedded_links: true, link_domains: &domains, ..plain() };
    let any_link = CampaignContent { embedded_links: true, ..plain() };
    let undeclared = |h: &str| Finding::UndeclaredLink { host: h.into() };
    let not_allowed = |h: &str| Finding::LinkDomainNotAllowed { host: h.into() };
    let short = |h: &str| Finding::PublicShortener { host: h.into() };
    let cases: Vec<(&str, CampaignContent, Vec<Finding>)> = vec![
        ("see northside.example.org", plain(), vec![undeclared("northside.example.org")]),
        ("see northside.example.org", links_ok, vec![]),
        ("give.northside.example.org/now", links_ok, vec![]),
        ("https://portal.clinic.example.com/x", links_ok, vec![]),
        ("evilnorthside.example.org", links_ok, vec![not_allowed("evilnorthside.example.org")]),
        ("northside.example.org.evil.com", links_ok, vec![not_allowed("northside.example.org.evil.com")]),
        ("example.org", links_ok, vec![not_allowed("example.org")]),
        ("anything.example.net", any_link, vec![]),
        ("bit.ly/x", any_link, vec![short("bit.ly")]),
        ("bit.ly/x", plain(), vec![short("bit.ly"), undeclared("bit.ly")]),
        ("bit.ly/x", links_ok, vec![short("bit.ly"), not_allowed("bit.ly")]),
        ("https://m.tinyurl.com/q", any_link, vec![short("m.tinyurl.com")]),
        ("notbit.ly is not bit.ly's subdomain", any_link, vec![short("bit.ly")]),
    ];
    for (body, campaign, want) in cases {
        assert_eq!(r.inspect(body, &campaign), want, "body: {body:?}");
    }
}

#[test]
fn phone_detection_table() {
    let r = rules();
    let cases: &[(&str, &[&str])] = &[
        ("Call 312-555-0199 today", &["+13125550199"]),
        ("Call (312) 555-0199.", &["+13125550199"]),
        ("Call (312)555-0199", &["+13125550199"]),
        ("Call 312.555.0199", &["+13125550199"]),
        ("Call +1 312 555 0199", &["+13125550199"]),
        ("Call +13125550199", &["+13125550199"]),
        ("Call 3125550199", &["+13125550199"]),
        ("Call 1-800-555-0100 or 1 (800) 555-0101", &["+18005550100", "+18005550101"]),
        ("tel:+1-312-555-0199", &["+13125550199"]),
        ("zip 60601 or 60601-1234", &[]),
        ("at 10:30 on 12/05/2026", &[]),
        ("balance $1,250.00 and $3125550199", &[]),
        ("case #A-12345 or #3125550199 or ID A3125550199", &[]),
        ("account 312555019912", &[]),
        ("bad area 123-555-0199 and bad exchange 312-155-0199", &[]),
        ("+44 20 7946 0958 is not NANP", &[]),
        ("local 555-0199 has no area code", &[]),
        ("ref 2024-555-0199", &[]),
    ];
    for (body, want) in cases {
        let got: Vec<String> = r.phones(body).into_iter().map(|p| p.e164).collect();
        assert_eq!(got, strings(want), "body: {body:?}");
    }
}

#[test]
fn phone_findings_table() {
    let r = rules();
    let allowed = strings(&["+1 (312) 555-0100", "18005550100"]);
    let with_allowed = CampaignContent { allowed_phone_numbers: &allowed, ..plain() };
    let declared = CampaignContent { embedded_phone: true, ..plain() };
    let phone = |d: &str| Finding::UndeclaredPhone { digits: d.into() };
    let cases: Vec<(&str, CampaignContent, Vec<Finding>)> = vec![
        ("Call 312-555-0199", plain(), vec![phone("+13125550199")]),
        ("Call 312-555-0199", declared, vec![]),
        ("Help: 312.555.0100 or 1-800-555-0100", with_allowed, vec![]),
        ("Help: 312.555.0100 or 312-555-0199", with_allowed, vec![phone("+13125550199")]),
        ("Your appt is 12/05/2026 at 10:30, zip 60601", plain(), vec![]),
    ];
    for (body, campaign, want) in cases {
        assert_eq!(r.inspect(body, &campaign), want, "body: {body:?}");
    }
    // Digits inside a link are the link's business, not a phone number.
    let links = CampaignContent { embedded_links: true, ..plain() };
    assert_eq!(r.inspect("https://x.org/call?n=3125550199", &links), vec![]);
}

#[test]
fn category_findings_table() {
    let r = rules();
    let alcohol = strings(&["Alcohol"]);
    let age_gated = CampaignContent { allowed_categories: &alcohol, ..plain() };
    let cat = |c: &str, m: &str| Finding::ProhibitedCategory { category: c.into(), matched: m.into() };
    let cases: Vec<(&str, CampaignContent, Vec<Finding>)> = vec![
        (
            "Need a PAYDAY-LOAN? Get a cash\nadvance",
            plain(),
            vec![cat("lending", "payday loan"), cat("lending", "cash advance")],
        ),
        (
            "Happy Hour tonight: $5 margaritas",
            plain(),
            vec![cat("alcohol", "happy hour"), cat("alcohol", "margaritas")],
        ),
        ("Happy Hour tonight", age_gated, vec![]),
        (
            "Visit our weed dispensary for CBD",
            plain(),
            vec![cat("cannabis", "weed dispensary"), cat("cannabis", "cbd")],
        ),
        ("New vapes in stock", plain(), vec![cat("tobacco", "vapes")]),
        ("AR-15 and ammo", plain(), vec![cat("firearms", "ar 15"), cat("firearms", "ammo")]),
        (
            "Free spins at our online casino",
            plain(),
            vec![cat("gambling", "free spins"), cat("gambling", "online casino")],
        ),
        ("hot singles near you", plain(), vec![cat("sex", "hot singles")]),
        ("Sieg Heil!", plain(), vec![cat("hate", "sieg heil")]),
        // Ordinary clinic / caseworker / non-profit texts.
        ("A volunteer escorts you in; parlay your skills", plain(), vec![]),
        ("Your flu shot is due. Pot luck Friday!", plain(), vec![]),
        ("The session has begun; bring gardening gloves to pull weeds", plain(), vec![]),
        ("No alcohol, beer or wine 24h before your procedure", plain(), vec![]),
        ("Join our quit vaping group; free nicotine patches", plain(), vec![]),
        ("Ask about safe firearm storage and gun locks", plain(), vec![]),
        ("We offer root beer floats and time slots for the housing lottery", plain(), vec![]),
        ("Your sexual health screening is Monday", plain(), vec![]),
        ("Screening for cannabis use disorder is free", plain(), vec![]),
    ];
    for (body, campaign, want) in cases {
        assert_eq!(r.inspect(body, &campaign), want, "body: {body:?}");
    }
}

#[test]
fn findings_are_in_body_order() {
    let r = rules();
    let got = r.inspect("Cash advance at 312-555-0199 or bit.ly/x. Vape shop!", &plain());
    let want = vec![
        Finding::ProhibitedCategory { category: "lending".into(), matched: "cash advance".into() },
        Finding::UndeclaredPhone { digits: "+13125550199".into() },
        Finding::PublicShortener { host: "bit.ly".into() },
        Finding::UndeclaredLink { host: "bit.ly".into() },
        Finding::ProhibitedCategory { category: "tobacco".into(), matched: "vape shop".into() },
    ];
    assert_eq!(got, want);
}

#[test]
fn promotional_table() {
    let r = rules();
    let cases: &[(&str, Option<&str>)] = &[
        ("Get 20% off this week", Some("% off")),
        ("20 PERCENT OFF", Some("percent off")),
        ("Sale ends Sunday", Some("sale")),
        ("Use promo code SPRING", Some("promo code")),
        ("Limited-time offer!", Some("limited time offer")),
        ("Please donate to our winter drive", Some("donate")),
        ("Make a gift by Friday", Some("make a gift")),
        ("Our annual fundraiser is Saturday", Some("fundraiser")),
        // Decided: a street named Sale, and legal/payment terms, are not promotions.
        ("Your appointment is on Sale Street", None),
        ("Meet at 12 Sale St. at 10:30", None),
        ("Bring the bill of sale to the DMV", None),
        ("You qualify for a sliding fee discount", None),
        ("Your appointment is Tuesday at 10:30", None),
        ("Wholesale and salesperson are other words", None),
        ("We are off today; 50% of seats left", None),
    ];
    for (body, want) in cases {
        assert_eq!(r.is_promotional(body).as_deref(), *want, "body: {body:?}");
    }
}

#[test]
fn normalization_handles_apostrophes_case_and_long_words() {
    let r = rules();
    assert_eq!(r.is_promotional("DONATE’S"), None); // "donates" is another word
    assert_eq!(r.is_promotional(&"x".repeat(500)), None);
    assert_eq!(r.is_promotional("ＤＯＮＡＴＥ today"), Some("donate".into()));
    assert_eq!(r.is_promotional("50％ ｏｆｆ"), Some("% off".into()));
    assert_eq!(r.is_promotional("DoNaTe"), Some("donate".into()));
}

#[test]
fn rulepack_validation_errors() {
    let base: ContentData = toml::from_str(RULEPACK).unwrap();
    let mut bad_tld = base.clone();
    bad_tld.tlds.push("c0m".into());
    assert!(ContentRules::new(&bad_tld).is_err());
    let mut bad_short = base.clone();
    bad_short.url_shorteners.push("localhost".into());
    assert!(ContentRules::new(&bad_short).is_err());
    let mut dup_id = base.clone();
    dup_id.categories.push(CategoryData { id: "SEX".into(), phrases: vec![] });
    assert!(ContentRules::new(&dup_id).is_err());
    let mut empty = base.clone();
    empty.promotional_phrases.push(" -- ".into());
    assert!(ContentRules::new(&empty).is_err());
    let mut clash = base.clone();
    clash.category_exceptions.push("Payday Loan".into());
    assert!(ContentRules::new(&clash).is_err());
    let mut long = base;
    long.promotional_phrases.push("y".repeat(scan::MAX_WORD + 1));
    assert!(ContentRules::new(&long).is_err());
    let unknown = format!("{RULEPACK}\nextra_key = []\n");
    assert!(toml::from_str::<ContentData>(&unknown).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics_on_any_string(s in any::<String>()) {
        let r = rules();
        let lists = strings(&["x.org", "", "*."]);
        let c = CampaignContent { embedded_links: true, link_domains: &lists, allowed_phone_numbers: &lists, ..plain() };
        let _ = r.inspect(&s, &c);
        let _ = r.inspect(&s, &plain());
        let _ = r.is_promotional(&s);
        for l in r.links(&s) {
            prop_assert!(s.get(l.range.clone()).is_some());
        }
    }

    #[test]
    fn never_panics_with_multibyte_at_every_boundary(
        base in "[a-zA-Z0-9.:/@#$%()+ '-]{0,40}",
        ins in prop::sample::select(vec!["é", "’", "€", "𝔘", "\u{0301}", "ǅ", "İ", "ﬃ", "\u{00a0}"]),
    ) {
        let r = rules();
        for at in 0..=base.len() {
            let s = format!("{}{}{}", &base[..at], ins, &base[at..]);
            let _ = r.inspect(&s, &plain());
            let _ = r.is_promotional(&s);
            let _ = r.phones(&s);
        }
    }
}
