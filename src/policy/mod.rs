//! The pure decision engine. Nothing here does I/O or reads the clock: it gets
//! the compiled policy, the recipient's stored state, the request and the
//! instant, and returns a [`Decision`].
//!
//! - [`rulepack`]: the embedded US rule pack (keywords, content lists, states).
//! - [`decide`](mod@decide): the ordered pipeline (DESIGN.md "Decision pipeline").
//! - [`schedule`]: quiet hours + caps -> the earliest compliant instant.
//! - [`inbound`], [`content`], [`quiet_hours`]: rule families (`inbound` matches
//!   through the private `inbound_text` and `inbound_pattern`).
//! - [`inbound_outcome`]: what a classified inbound text records and replies.

pub mod catalogue;
pub mod content;
pub mod decide;
pub mod decision;
pub mod inbound;
pub mod inbound_outcome;
mod inbound_pattern;
mod inbound_text;
pub mod quiet_hours;
pub mod rulepack;
pub mod schedule;

use std::collections::HashMap;
use std::sync::Arc;

use jiff::civil::Time;
use jiff::SignedDuration;

pub use decide::{decide, Message, Origin};
pub use decision::{Change, ChangeKind, Decision, Outcome, Reason, ReasonCode, Recipient};
use quiet_hours::{LocalWindow, NamedWindow, WeeklyWindow};
pub use rulepack::RulePack;

use crate::config::{Config, TenantConfig, TimeOfDay};
use crate::domain::Category;

/// One campaign, ready for decisions.
#[derive(Clone, Debug)]
pub struct Campaign {
    pub id: String,
    pub use_case: String,
    pub category: Category,
    pub senders: Vec<String>,
    pub time_critical: bool,
    pub embedded_links: bool,
    pub link_domains: Vec<String>,
    pub embedded_phone: bool,
    pub allowed_content: Vec<String>,
}

/// One language's replies, the tenant's defaults filled in where the
/// configuration left one out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replies {
    /// BCP 47 tag, as configured.
    pub language: String,
    pub help: String,
    pub opt_out: String,
    pub opt_in: String,
}

/// One tenant's policy, compiled from its configuration.
#[derive(Clone, Debug)]
pub struct TenantPolicy {
    pub id: String,
    pub brand: String,
    pub help_reply: String,
    pub opt_out_reply: String,
    pub opt_in_reply: String,
    /// The language of the replies above.
    pub reply_language: String,
    /// Replies in other languages (`replies.<tag>` in the configuration).
    pub other_replies: Vec<Replies>,
    pub opt_out_notice: String,
    pub conversation_window: SignedDuration,
    pub disclosure_interval: SignedDuration,
    /// How long an unresolved review hold lasts.
    pub review_hold: SignedDuration,
    /// Consent older than this needs an RND answer in the current cycle.
    pub rnd_check_after: SignedDuration,
    /// Without one: DENY rather than a warning.
    pub rnd_check_required: bool,
    pub quiet_hours: NamedWindow,
    pub quiet_hours_conversational: bool,
    pub state_rules: bool,
    pub campaigns: Vec<Campaign>,
    /// Numbers a body may mention without `embedded_phone`: the tenant's own.
    pub own_numbers: Vec<String>,
}

impl TenantPolicy {
    /// The replies in `language` (a BCP 47 tag; its primary language
    /// subtag is what is compared), else the default ones.
    pub fn replies(&self, language: Option<&str>) -> Replies {
        let primary = |tag: &str| tag.split('-').next().unwrap_or_default().to_ascii_lowercase();
        let want = language.map(primary);
        let other = self.other_replies.iter().find(|r| want.as_deref() == Some(primary(&r.language).as_str()));
        other.cloned().unwrap_or_else(|| Replies {
            language: self.reply_language.clone(),
            help: self.help_reply.clone(),
            opt_out: self.opt_out_reply.clone(),
            opt_in: self.opt_in_reply.clone(),
        })
    }

    /// The campaign a send from `sender` belongs to (or the named one, when
    /// `campaign_id` is set and registers that sender).
    pub fn campaign_for(&self, sender: &str, campaign_id: &str) -> Option<&Campaign> {
        self.campaigns
            .iter()
            .find(|c| (campaign_id.is_empty() || c.id == campaign_id) && c.senders.iter().any(|s| s == sender))
    }
}

/// The whole compiled policy: the rule pack plus every tenant.
pub struct Policy {
    /// Identifies the configuration that produced a decision.
    pub version: String,
    pub pack: Arc<RulePack>,
    pub tenants: HashMap<String, TenantPolicy>,
}

fn local(t: TimeOfDay) -> Time {
    if t.minutes >= 24 * 60 {
        return Time::MAX;
    }
    Time::new((t.minutes / 60) as i8, (t.minutes % 60) as i8, 0, 0).unwrap_or(Time::MIN)
}

fn duration(d: std::time::Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}

impl Policy {
    /// Compiles a validated configuration against the rule pack.
    pub fn compile(config: &Config, pack: Arc<RulePack>) -> Result<Policy, String> {
        let mut tenants = HashMap::new();
        for (id, t) in &config.tenants {
            tenants.insert(id.clone(), tenant(id, t, &pack)?);
        }
        Ok(Policy { version: config.version.clone(), pack, tenants })
    }
}

fn tenant(id: &str, t: &TenantConfig, pack: &RulePack) -> Result<TenantPolicy, String> {
    let p = &t.policy;
    let mut own_numbers: Vec<String> =
        t.campaigns.iter().flat_map(|c| c.senders.iter().map(|s| s.0.as_str().to_string())).collect();
    let other_replies: Vec<Replies> = t
        .replies
        .iter()
        .map(|(language, r)| Replies {
            language: language.clone(),
            help: r.help_reply.clone().unwrap_or_else(|| t.help_reply.clone()),
            opt_out: r.opt_out_reply.clone().unwrap_or_else(|| t.opt_out_reply.clone()),
            opt_in: r.opt_in_reply.clone().unwrap_or_else(|| t.opt_in_reply.clone()),
        })
        .collect();
    for help in std::iter::once(&t.help_reply).chain(other_replies.iter().map(|r| &r.help)) {
        own_numbers.extend(pack.content.phones(help).into_iter().map(|p| p.e164));
    }
    let mut campaigns = Vec::new();
    for (i, c) in t.campaigns.iter().enumerate() {
        for (j, cat) in c.allowed_content.iter().enumerate() {
            if !pack.content.has_category(cat) {
                return Err(format!("`tenants.{id}.campaigns[{i}].allowed_content[{j}]`: no content category {cat:?}"));
            }
        }
        campaigns.push(Campaign {
            id: c.id.clone(),
            use_case: c.use_case.clone(),
            category: c.category,
            senders: c.senders.iter().map(|s| s.0.as_str().to_string()).collect(),
            time_critical: pack.time_critical_use_cases.contains(&c.use_case),
            embedded_links: c.embedded_links,
            link_domains: c.link_domains.clone(),
            embedded_phone: c.embedded_phone,
            allowed_content: c.allowed_content.clone(),
        });
    }
    let window = LocalWindow { start: local(p.quiet_hours.start), end: local(p.quiet_hours.end) };
    Ok(TenantPolicy {
        id: id.to_string(),
        brand: t.brand.clone(),
        help_reply: t.help_reply.clone(),
        opt_out_reply: t.opt_out_reply.clone(),
        opt_in_reply: t.opt_in_reply.clone(),
        reply_language: t.reply_language.clone(),
        other_replies,
        opt_out_notice: p.opt_out_notice.clone(),
        conversation_window: duration(p.conversation_window.0),
        disclosure_interval: duration(p.disclosure_interval.0),
        review_hold: duration(p.review_hold.0),
        rnd_check_after: duration(p.rnd_check_after.0),
        rnd_check_required: p.rnd_check_required,
        quiet_hours: NamedWindow { rule_id: "quiet_hours.tenant".into(), window: WeeklyWindow::every_day(window) },
        quiet_hours_conversational: p.quiet_hours_conversational,
        state_rules: p.state_rules,
        campaigns,
        own_numbers,
    })
}
