//! The ordered decision pipeline (DESIGN.md; compliance-rules §9). Pure: the
//! same inputs always give the same decision. The first hard stop wins.

use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::content::{CampaignContent, Finding};
use super::decision::{Change, ChangeKind, Decision, Outcome, Reason, ReasonCode, Recipient};
use super::schedule;
use super::{Campaign, Policy, TenantPolicy};
use crate::domain::ContactHistory;
use crate::domain::{Category, ContactConsent, Status};
use crate::phone::PhoneNumber;

/// Who started the exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Unspecified,
    Person,
    Automated,
}

/// One outbound message to decide, already parsed and validated.
#[derive(Clone, Debug)]
pub struct Message<'a> {
    /// Sending number, E.164.
    pub from: &'a str,
    pub to: &'a PhoneNumber,
    pub body: &'a str,
    pub origin: Origin,
    /// Declared category; None = derive it.
    pub category: Option<Category>,
    /// Declared campaign; empty = the sender's campaign.
    pub campaign_id: &'a str,
    /// The instant every time rule is evaluated at.
    pub send_at: Timestamp,
    /// Two-letter state of residence, when the caller knows it.
    pub recipient_state: Option<&'a str>,
    /// IANA zone the caller knows the recipient is in.
    pub recipient_zone: Option<(&'a str, &'a TimeZone)>,
}

fn deny(mut d: Decision, reasons: Vec<Reason>) -> Decision {
    d.outcome = Outcome::Deny;
    d.reasons = reasons;
    d
}

fn category_name(c: Category) -> &'static str {
    match c {
        Category::Conversational => "conversational",
        Category::Informational => "informational",
        Category::Promotional => "promotional",
    }
}

/// Decides one message for `tenant`, given the recipient's consent and history.
pub fn decide(
    policy: &Policy,
    tenant: &TenantPolicy,
    msg: &Message,
    consent: &ContactConsent,
    history: &ContactHistory,
) -> Decision {
    let pack = &policy.pack;
    let area = msg.to.npa().and_then(|n| pack.area_codes.get(n));
    let mut states: Vec<String> = area.map(|a| a.states.clone()).unwrap_or_default();
    if let Some(s) = msg.recipient_state {
        if !states.iter().any(|x| x == s) {
            states.push(s.to_string());
        }
    }
    let zones: Vec<(&str, &TimeZone)> = match (msg.recipient_zone, area) {
        (Some(z), _) => vec![z],
        (None, Some(a)) if !a.zones.is_empty() => a.zones.iter().map(|(n, z)| (n.as_str(), z)).collect(),
        _ => pack.fallback_zones.iter().map(|(n, z)| (n.as_str(), z)).collect(),
    };
    let region = area.map(|a| a.regions.join(",")).unwrap_or_default();
    let d = Decision {
        outcome: Outcome::Allow,
        body: msg.body.to_string(),
        changes: Vec::new(),
        reasons: Vec::new(),
        defer_until: None,
        category: None,
        campaign_id: String::new(),
        recipient: Recipient {
            e164: msg.to.as_str().to_string(),
            region: region.clone(),
            time_zones: zones.iter().map(|(n, _)| n.to_string()).collect(),
            states: states.clone(),
        },
        discloses: false,
    };

    // 1. Region.
    let supported = area.is_some_and(|a| a.regions.iter().any(|r| pack.supported_regions.contains(r)));
    if !supported {
        let shown = if region.is_empty() { "unknown" } else { region.as_str() };
        let r = Reason::new(
            ReasonCode::UnsupportedRegion,
            "region.unsupported",
            format!("no rule pack for the recipient's region ({shown})"),
        );
        return deny(d, vec![r]);
    }

    // 2. Sender and campaign.
    let Some(campaign) = tenant.campaign_for(msg.from, msg.campaign_id) else {
        let why = if msg.campaign_id.is_empty() {
            format!("{} is not a sender number of any campaign of this tenant", msg.from)
        } else {
            format!("{} is not registered to campaign {:?}", msg.from, msg.campaign_id)
        };
        return deny(d, vec![Reason::new(ReasonCode::SenderNotRegistered, "sender.registered", why)]);
    };
    let mut d = d;
    d.campaign_id = campaign.id.clone();

    // 3. Opt-out suppression: the person's latest word for this campaign and sender.
    if let Some(s) = consent.opt_out_for_send(&campaign.id, msg.from) {
        {
            let r = Reason::new(
                ReasonCode::OptedOut,
                "consent.opted_out",
                format!("the recipient opted out on {}", s.since.strftime("%Y-%m-%d %H:%M UTC")),
            )
            .citing(&s.event_id);
            return deny(d, vec![r]);
        }
    }

    // 4. Category.
    let window_open = history.last_inbound_at.is_some_and(|t| {
        t <= msg.send_at && t.checked_add(tenant.conversation_window).is_ok_and(|end| msg.send_at < end)
    });
    let category = match msg.category {
        Some(c) => c,
        None if window_open && msg.origin != Origin::Automated => Category::Conversational,
        None => campaign.category,
    };
    d.category = Some(category);
    let words = pack.content.words(msg.body);
    if let Some(r) = category_violation(policy, campaign, category, &words) {
        return deny(d, vec![r]);
    }

    // 5. Consent for the category.
    if let Some(r) = consent_violation(tenant, campaign, category, msg.from, window_open, consent) {
        return deny(d, vec![r]);
    }

    // 6. Content.
    let content = CampaignContent {
        embedded_links: campaign.embedded_links,
        link_domains: &campaign.link_domains,
        embedded_phone: campaign.embedded_phone,
        allowed_categories: &campaign.allowed_content,
        allowed_phone_numbers: &tenant.own_numbers,
    };
    let findings = pack.content.inspect_words(msg.body, &words, &content);
    if !findings.is_empty() {
        return deny(d, findings.into_iter().map(|f| finding_reason(f, campaign)).collect());
    }

    // 7-8. Quiet hours and frequency caps.
    let exempt = campaign.time_critical || (category == Category::Conversational && !tenant.quiet_hours_conversational);
    let mut windows = Vec::new();
    if !exempt {
        windows.push(tenant.quiet_hours.clone());
    }
    let mut caps = Vec::new();
    if tenant.state_rules {
        for st in &states {
            let Some(rule) = pack.states.get(st) else { continue };
            if !rule.categories.contains(&category) {
                continue;
            }
            if let (Some(w), false) = (&rule.window, exempt) {
                windows.push(w.clone());
            }
            if let Some(c) = &rule.cap {
                caps.push(c);
            }
        }
    }
    let sends: Vec<Timestamp> =
        history.sends.iter().filter(|s| s.campaign_id == campaign.id && s.category == category).map(|s| s.at).collect();
    let tzs: Vec<TimeZone> = zones.iter().map(|(_, z)| (*z).clone()).collect();
    if let Err(def) = schedule::check(msg.send_at, &tzs, &windows, &caps, &sends, pack.defer_horizon) {
        return match def.until {
            Some(t) => Decision { outcome: Outcome::Defer, defer_until: Some(t), reasons: def.reasons, ..d },
            None => {
                let mut reasons = def.reasons;
                reasons.push(Reason::new(
                    ReasonCode::QuietHours,
                    "quiet_hours.no_window",
                    "no instant within the defer horizon satisfies every candidate time zone and rule",
                ));
                deny(d, reasons)
            }
        };
    }

    // 9. Required changes: brand and opt-out notice on the first business-started
    // message, and again once the disclosure interval has passed.
    let business_started = category != Category::Conversational;
    let carries = pack.inbound.carries_opt_out_instruction(msg.body);
    d.discloses = carries;
    if business_started && !carries {
        let due = match history.last_disclosure_at {
            None => Some("first business-started message to this recipient".to_string()),
            // A notice recorded for a later instant (a scheduled send) does not count now.
            Some(t) if t > msg.send_at || msg.send_at.duration_since(t) >= tenant.disclosure_interval => {
                Some(format!("the last opt-out notice went out on {}", t.strftime("%Y-%m-%d")))
            }
            Some(_) => None,
        };
        if let Some(why) = due {
            add_disclosure(&mut d, tenant, &why);
        }
    }
    d
}

fn category_violation(
    policy: &Policy,
    campaign: &Campaign,
    category: Category,
    words: &crate::policy::content::Words,
) -> Option<Reason> {
    if campaign.category == Category::Promotional {
        return None;
    }
    if category == Category::Promotional {
        return Some(Reason::new(
            ReasonCode::CategoryNotAllowed,
            "category.campaign",
            format!(
                "campaign {} is registered for {} messages, not promotional",
                campaign.id,
                category_name(campaign.category)
            ),
        ));
    }
    policy.pack.content.promotional_phrase(words).map(|p| {
        Reason::new(
            ReasonCode::CategoryNotAllowed,
            "category.promotional_content",
            format!(
                "the body reads as promotional ({p:?}) but campaign {} is not registered for promotional messages",
                campaign.id
            ),
        )
    })
}

fn consent_violation(
    tenant: &TenantPolicy,
    campaign: &Campaign,
    category: Category,
    from: &str,
    window_open: bool,
    consent: &ContactConsent,
) -> Option<Reason> {
    if category == Category::Conversational {
        return (!window_open).then(|| {
            Reason::new(
                ReasonCode::ConsentRequired,
                "consent.conversation_window",
                format!(
                    "the recipient has not texted within the conversation window ({}h); a business-started message needs express consent",
                    tenant.conversation_window.as_hours()
                ),
            )
        });
    }
    let name = category_name(category);
    let grants =
        || consent.scopes.iter().filter(|s| s.status == Status::Granted && s.scope.covers_send(&campaign.id, from));
    if grants().any(|s| s.permits(category)) {
        return None;
    }
    let needed = match category.required_level() {
        crate::domain::Level::ExpressWritten => "express written",
        _ => "express",
    };
    match grants().max_by_key(|s| s.sequence) {
        Some(g) => Some(
            Reason::new(
                ReasonCode::ConsentInsufficient,
                format!("consent.level.{name}"),
                format!(
                    "the consent on record ({}) does not cover {name} messages, which need {needed} consent",
                    // A granted scope always has a level.
                    g.level.map_or_else(|| "none".to_string(), |l| format!("{l:?}"))
                ),
            )
            .citing(&g.event_id),
        ),
        None => Some(Reason::new(
            ReasonCode::ConsentRequired,
            format!("consent.required.{name}"),
            format!(
                "no consent on record for {name} messages on campaign {}; record {needed} consent first",
                campaign.id
            ),
        )),
    }
}

fn finding_reason(f: Finding, campaign: &Campaign) -> Reason {
    match f {
        Finding::PublicShortener { host } => Reason::new(
            ReasonCode::PublicUrlShortener,
            "content.shortener",
            format!("public URL shortener {host} is filtered by carriers; link to your own domain"),
        ),
        Finding::UndeclaredLink { host } => Reason::new(
            ReasonCode::UndeclaredLink,
            "content.link.undeclared",
            format!("link to {host}, but campaign {} is not registered for links", campaign.id),
        ),
        Finding::LinkDomainNotAllowed { host } => Reason::new(
            ReasonCode::UndeclaredLink,
            "content.link.domain",
            format!("link domain {host} is not on campaign {}'s list", campaign.id),
        ),
        Finding::UndeclaredPhone { digits } => Reason::new(
            ReasonCode::UndeclaredPhone,
            "content.phone",
            format!(
                "phone number {} in the body, but campaign {} is not registered for phone numbers",
                mask(&digits),
                campaign.id
            ),
        ),
        Finding::ProhibitedCategory { category, matched } => Reason::new(
            ReasonCode::ProhibitedContent,
            format!("content.category.{category}"),
            format!("{category} content ({matched:?}) is not allowed on campaign {}", campaign.id),
        ),
    }
}

/// Shows only the last four digits of a number found in a body.
fn mask(e164: &str) -> String {
    let tail = e164.len().saturating_sub(4);
    format!("…{}", &e164[tail..])
}

fn add_disclosure(d: &mut Decision, tenant: &TenantPolicy, why: &str) {
    let lower = d.body.to_lowercase();
    if !lower.contains(&tenant.brand.to_lowercase()) {
        let prefix = format!("{}: ", tenant.brand);
        d.body.insert_str(0, &prefix);
        d.changes.push(Change { kind: ChangeKind::BrandPrefix, rule_id: "disclosure.brand".into(), text: prefix });
    }
    let notice = tenant.opt_out_notice.trim();
    let sep = if d.body.ends_with(|c: char| c.is_whitespace()) { "" } else { " " };
    d.body.push_str(sep);
    d.body.push_str(notice);
    d.changes.push(Change {
        kind: ChangeKind::OptOutNotice,
        rule_id: "disclosure.opt_out_notice".into(),
        text: notice.to_string(),
    });
    d.reasons.push(Reason::new(
        ReasonCode::DisclosureAdded,
        "disclosure.opt_out_notice",
        format!("opt-out notice added: {why}"),
    ));
    d.outcome = Outcome::AllowWithChanges;
    d.discloses = true;
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
