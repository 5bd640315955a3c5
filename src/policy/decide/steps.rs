//! Steps 1 to 6 of the pipeline, one function each, numbered as in the
//! README's "How a decision is made" table: may this sender text this person
//! in this category, and does the body hold only what the campaign declared.
//! A step returns `Step`: `Ok` to go on (with what it found), or the
//! `Stop` that ends the decision.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::{Message, Origin, Step, Stop};
use crate::domain::{Category, ContactConsent, Level, Status};
use crate::phone::area_codes::AreaCode;
use crate::phone::UsState;
use crate::policy::content::{CampaignContent, ContentRules, Finding, Words};
use crate::policy::decision::{Reason, ReasonCode};
use crate::policy::{Campaign, RulePack, TenantPolicy};

/// Where the recipient may be: the number's area code plus what the caller knows.
#[derive(Debug)]
pub(super) struct Place<'a> {
    pub area: Option<&'a AreaCode>,
    /// The area code's regions, comma-separated ("" when unknown).
    pub region: String,
    /// The area code's states, plus the caller's `recipient_state`.
    pub states: Vec<UsState>,
    /// Candidate zones: the caller's, else the area code's, else the fallback.
    pub zones: Vec<(&'a str, &'a TimeZone)>,
}

impl Place<'_> {
    pub fn time_zones(&self) -> Vec<TimeZone> {
        self.zones.iter().map(|(_, z)| (*z).clone()).collect()
    }
}

/// Where `msg` goes, as far as the rule pack and the caller tell.
pub(super) fn locate<'a>(pack: &'a RulePack, msg: &Message<'a>) -> Place<'a> {
    let area = msg.to.npa().and_then(|n| pack.area_codes.get(n));
    let mut states: Vec<UsState> = area.map(|a| a.states.clone()).unwrap_or_default();
    if let Some(s) = msg.recipient_state {
        if !states.contains(&s) {
            states.push(s);
        }
    }
    let zones = match (msg.recipient_zone, area) {
        (Some(z), _) => vec![z],
        (None, Some(a)) if !a.zones.is_empty() => a.zones.iter().map(|(n, z)| (n.as_str(), z)).collect(),
        _ => pack.fallback_zones.iter().map(|(n, z)| (n.as_str(), z)).collect(),
    };
    let region = area.map(|a| a.regions.join(",")).unwrap_or_default();
    Place { area, region, states, zones }
}

fn deny(code: ReasonCode, rule_id: impl Into<String>, message: impl Into<String>) -> Stop {
    Stop::Deny(vec![Reason::new(code, rule_id, message)])
}

/// Step 1: the recipient's region has a rule pack.
pub(super) fn region(pack: &RulePack, place: &Place) -> Step {
    if place.area.is_some_and(|a| a.regions.iter().any(|r| pack.supported_regions.contains(r))) {
        return Ok(());
    }
    let shown = if place.region.is_empty() { "unknown" } else { place.region.as_str() };
    Err(deny(
        ReasonCode::UnsupportedRegion,
        "region.unsupported",
        format!("no rule pack for the recipient's region ({shown})"),
    ))
}

/// A sending number and the campaign it sends for.
#[derive(Debug)]
pub(super) struct Sender<'a> {
    pub number: &'a str,
    pub campaign: &'a Campaign,
}

/// Step 2: `from` is a sender number of the (named, else its own) campaign.
pub(super) fn sender<'a>(tenant: &'a TenantPolicy, msg: &Message<'a>) -> Step<Sender<'a>> {
    if let Some(campaign) = tenant.campaign_for(msg.from, msg.campaign_id) {
        return Ok(Sender { number: msg.from, campaign });
    }
    let why = if msg.campaign_id.is_empty() {
        format!("{} is not a sender number of any campaign of this tenant", msg.from)
    } else {
        format!("{} is not registered to campaign {:?}", msg.from, msg.campaign_id)
    };
    Err(deny(ReasonCode::SenderNotRegistered, "sender.registered", why))
}

/// Step 3: the person's latest word for this campaign and sender is not a
/// revocation. A wrong-number report is one, and says so: the consent given
/// before it was someone else's.
pub(super) fn opt_out(consent: &ContactConsent, sender: &Sender) -> Step {
    let Some(s) = consent.opt_out_for_send(&sender.campaign.id, sender.number) else { return Ok(()) };
    let when = s.since.strftime("%Y-%m-%d %H:%M UTC");
    let r = if consent.reassigned.as_ref().is_some_and(|m| m.event_id == s.event_id) {
        Reason::new(
            ReasonCode::OptedOut,
            "inbound.wrong_number",
            format!(
                "the number was reported as a wrong number on {when} (possible reassignment); consent given before then is void"
            ),
        )
    } else {
        Reason::new(ReasonCode::OptedOut, "consent.opted_out", format!("the recipient opted out on {when}"))
    };
    Err(Stop::Deny(vec![r.citing(&s.event_id)]))
}

/// Step 4c: an unresolved review hold (an ambiguous inbound text) stops every
/// send but a person's conversational reply, until `hold_for` after the text.
pub(super) fn review_hold(
    consent: &ContactConsent,
    msg: &Message,
    category: Category,
    hold_for: SignedDuration,
) -> Step {
    let Some(h) = &consent.review_hold else { return Ok(()) };
    let until = h.since.checked_add(hold_for).unwrap_or(Timestamp::MAX);
    let held = h.since <= msg.send_at && msg.send_at < until;
    if !held || (msg.origin == Origin::Person && category == Category::Conversational) {
        return Ok(());
    }
    let r = Reason::new(
        ReasonCode::ReviewHold,
        "inbound.review_hold",
        format!(
            "the recipient's text of {} awaits an agent's review; until one records a grant or revocation, or {}, only a person's reply in the conversation may be sent",
            h.since.strftime("%Y-%m-%d %H:%M UTC"),
            until.strftime("%Y-%m-%d %H:%M UTC"),
        ),
    );
    Err(Stop::Deny(vec![r.citing(&h.event_id)]))
}

/// Whether the recipient texted within the tenant's conversation window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Conversation {
    Open,
    Closed,
}

impl Conversation {
    /// Open when the last inbound text is at or before `at` and less than `window` before it.
    pub fn at(last_inbound: Option<Timestamp>, window: SignedDuration, at: Timestamp) -> Conversation {
        let open = last_inbound.is_some_and(|t| t <= at && t.checked_add(window).is_ok_and(|end| at < end));
        if open {
            Conversation::Open
        } else {
            Conversation::Closed
        }
    }
}

/// Step 4a: the category: declared, else a reply in an open conversation that a
/// person (not automation) sends, else the campaign's.
pub(super) fn category_for(msg: &Message, campaign: &Campaign, conversation: Conversation) -> Category {
    match msg.category {
        Some(c) => c,
        None if conversation == Conversation::Open && msg.origin != Origin::Automated => Category::Conversational,
        None => campaign.category,
    }
}

/// Step 4b: a campaign not registered for promotional messages sends none, declared
/// or read from the body.
pub(super) fn category_allowed(content: &ContentRules, campaign: &Campaign, category: Category, words: &Words) -> Step {
    if campaign.category == Category::Promotional {
        return Ok(());
    }
    if category == Category::Promotional {
        return Err(deny(
            ReasonCode::CategoryNotAllowed,
            "category.campaign",
            format!(
                "campaign {} is registered for {} messages, not promotional",
                campaign.id,
                category_name(campaign.category)
            ),
        ));
    }
    let Some(p) = content.promotional_phrase(words) else { return Ok(()) };
    Err(deny(
        ReasonCode::CategoryNotAllowed,
        "category.promotional_content",
        format!(
            "the body reads as promotional ({p:?}) but campaign {} is not registered for promotional messages",
            campaign.id
        ),
    ))
}

/// Step 5: consent for the category: a conversational reply needs the open window;
/// the others a grant for this sender at the category's level.
pub(super) fn consent(
    consent: &ContactConsent,
    sender: &Sender,
    category: Category,
    conversation: Conversation,
    window: SignedDuration,
) -> Step {
    if category == Category::Conversational {
        if conversation == Conversation::Open {
            return Ok(());
        }
        return Err(deny(
            ReasonCode::ConsentRequired,
            "consent.conversation_window",
            format!(
                "the recipient has not texted within the conversation window ({}h); a business-started message needs express consent",
                window.as_hours()
            ),
        ));
    }
    let campaign = &sender.campaign.id;
    let grants = || {
        consent.scopes.iter().filter(|s| s.status == Status::Granted && s.scope.covers_send(campaign, sender.number))
    };
    if grants().any(|s| s.permits(category)) {
        return Ok(());
    }
    let name = category_name(category);
    let needed = match category.required_level() {
        Level::ExpressWritten => "express written",
        _ => "express",
    };
    let reason = match grants().max_by_key(|s| s.sequence) {
        Some(g) => Reason::new(
            ReasonCode::ConsentInsufficient,
            format!("consent.level.{name}"),
            format!(
                "the consent on record ({}) does not cover {name} messages, which need {needed} consent",
                // A granted scope always has a level.
                g.level.map_or_else(|| "none".to_string(), |l| format!("{l:?}"))
            ),
        )
        .citing(&g.event_id),
        None => super::reassigned::void_reason(consent, name).unwrap_or_else(|| {
            Reason::new(
                ReasonCode::ConsentRequired,
                format!("consent.required.{name}"),
                format!(
                    "no consent on record for {name} messages on campaign {campaign}; record {needed} consent first"
                ),
            )
        }),
    };
    Err(Stop::Deny(vec![reason]))
}

/// Step 6: content: links, phone numbers and restricted categories the campaign did
/// not declare. Every finding is a reason.
pub(super) fn content(
    rules: &ContentRules,
    tenant: &TenantPolicy,
    campaign: &Campaign,
    body: &str,
    words: &Words,
) -> Step {
    let declared = CampaignContent {
        embedded_links: campaign.embedded_links,
        link_domains: &campaign.link_domains,
        embedded_phone: campaign.embedded_phone,
        allowed_categories: &campaign.allowed_content,
        allowed_phone_numbers: &tenant.own_numbers,
    };
    let findings = rules.inspect_words(body, words, &declared);
    if findings.is_empty() {
        return Ok(());
    }
    Err(Stop::Deny(findings.into_iter().map(|f| finding_reason(f, campaign)).collect()))
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

fn category_name(c: Category) -> &'static str {
    match c {
        Category::Conversational => "conversational",
        Category::Informational => "informational",
        Category::Promotional => "promotional",
    }
}

#[cfg(test)]
#[path = "steps_tests.rs"]
mod tests;
