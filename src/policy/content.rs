//! Outbound message-body inspection against a campaign's registered content.
//!
//! US A2P 10DLC carriers filter a message when its body does something the
//! campaign did not declare at registration: links (or any public URL
//! shortener), phone numbers, or SHAFT-style content categories (sex, hate,
//! alcohol, firearms, tobacco, plus cannabis, high-risk lending, gambling).
//! This module finds those things before the message is sent, so textgate
//! can refuse it with a precise reason instead of letting the carrier drop it.
//!
//! All word lists are data ([`ContentData`], loaded from the TOML rulepack)
//! compiled once into [`ContentRules`]; a call allocates only its results and
//! never panics, whatever the body holds.

use serde::Deserialize;
use std::ops::Range;

#[path = "content_scan.rs"]
mod scan;
pub(crate) use scan::{FxMap, FxSet, Words};
use scan::{PhraseSet, EXCEPTION};
#[cfg(test)]
#[path = "content_tests.rs"]
mod tests;

/// The content rulepack as written in TOML. Unknown keys are rejected so a
/// typo in a policy file fails the load instead of silently matching nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentData {
    /// TLDs (lowercase, no dot) that make a bare `name.tld` a link.
    pub tlds: Vec<String>,
    /// Public URL-shortener hosts; a subdomain of one counts too.
    pub url_shorteners: Vec<String>,
    /// Phrases that make a body promotional (marketing or donation ask).
    pub promotional_phrases: Vec<String>,
    /// Benign phrases containing a promotional word ("Sale Street").
    #[serde(default)]
    pub promotional_exceptions: Vec<String>,
    /// Benign phrases containing a category trigger ("quit vaping").
    #[serde(default)]
    pub category_exceptions: Vec<String>,
    /// Content categories a campaign must declare to send.
    pub categories: Vec<CategoryData>,
}

/// One content category: an id (as used in `allowed_categories`) and its
/// trigger words/phrases.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryData {
    /// Lowercase id such as `alcohol`.
    pub id: String,
    /// Whole-word, case-insensitive trigger phrases.
    pub phrases: Vec<String>,
}

/// What a campaign registered about its content; borrowed from the caller's
/// campaign record so a check copies nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct CampaignContent<'a> {
    /// The campaign declared that its messages contain links.
    pub embedded_links: bool,
    /// If non-empty, links must point at one of these domains or a subdomain.
    pub link_domains: &'a [String],
    /// The campaign declared that its messages contain phone numbers.
    pub embedded_phone: bool,
    /// Category ids the campaign may send (e.g. `["alcohol"]` when age-gated).
    pub allowed_categories: &'a [String],
    /// Numbers that may always appear (help line, the campaign's senders), in
    /// any written form; compared as E.164.
    pub allowed_phone_numbers: &'a [String],
}

/// One reason a body does not match its campaign's registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A public URL shortener: carriers filter these even on link campaigns.
    PublicShortener { host: String },
    /// A link in a campaign registered without embedded links.
    UndeclaredLink { host: String },
    /// A link to a host that is neither one of the campaign's link domains
    /// nor a subdomain of one.
    LinkDomainNotAllowed { host: String },
    /// A phone number (E.164) in a campaign registered without embedded
    /// phone numbers, and not one of its allowed numbers.
    UndeclaredPhone { digits: String },
    /// A trigger phrase of a category the campaign may not send.
    ProhibitedCategory { category: String, matched: String },
}

/// A link found in a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Lowercase host, without port or trailing dot.
    pub host: String,
    /// Byte range of the whole link (scheme and path included) in the body.
    pub range: Range<usize>,
}

/// A NANP phone number found in a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    /// E.164 form, `+1XXXXXXXXXX`.
    pub e164: String,
    /// Byte range of the number as written in the body.
    pub range: Range<usize>,
}

/// Compiled rulepack. Build once with [`ContentRules::new`], share freely.
#[derive(Debug, Clone)]
pub struct ContentRules {
    tlds: FxSet<String>,
    shorteners: FxSet<String>,
    category_ids: Vec<String>,
    categories: PhraseSet,
    promotional: PhraseSet,
}

impl ContentRules {
    /// Validates and compiles the rulepack; the error names the bad entry.
    pub fn new(data: &ContentData) -> Result<Self, String> {
        let mut tlds = FxSet::default();
        for t in &data.tlds {
            let t = t.trim().trim_start_matches('.').to_ascii_lowercase();
            if !(2..=24).contains(&t.len()) || !t.bytes().all(|c| c.is_ascii_lowercase()) {
                return Err(format!("tlds: {t:?} is not 2-24 letters"));
            }
            tlds.insert(t);
        }
        let mut shorteners = FxSet::default();
        for s in &data.url_shorteners {
            let s = s.trim().trim_end_matches('.').to_ascii_lowercase();
            let labels_ok =
                s.split('.').all(|l| !l.is_empty() && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'));
            if !s.contains('.') || !labels_ok {
                return Err(format!("url_shorteners: {s:?} is not a host name"));
            }
            shorteners.insert(s);
        }
        let mut categories = PhraseSet::default();
        let mut category_ids: Vec<String> = Vec::new();
        for c in &data.categories {
            let id = c.id.trim().to_ascii_lowercase();
            let id_ok = id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if id.is_empty() || !id_ok || category_ids.contains(&id) {
                return Err(format!("categories: id {id:?} is empty, invalid or repeated"));
            }
            let group =
                u16::try_from(category_ids.len()).ok().filter(|g| *g != EXCEPTION).ok_or("categories: too many")?;
            for p in &c.phrases {
                categories.insert(p, group).map_err(|e| format!("category {id}: {e}"))?;
            }
            category_ids.push(id);
        }
        for p in &data.category_exceptions {
            categories.insert(p, EXCEPTION).map_err(|e| format!("category_exceptions: {e}"))?;
        }
        let mut promotional = PhraseSet::default();
        for p in &data.promotional_phrases {
            promotional.insert(p, 0).map_err(|e| format!("promotional_phrases: {e}"))?;
        }
        for p in &data.promotional_exceptions {
            promotional.insert(p, EXCEPTION).map_err(|e| format!("promotional_exceptions: {e}"))?;
        }
        Ok(Self { tlds, shorteners, category_ids, categories, promotional })
    }

    /// Whether `id` names a content category of the rule pack.
    pub fn has_category(&self, id: &str) -> bool {
        self.category_ids.iter().any(|c| c.eq_ignore_ascii_case(id))
    }

    /// Every problem with `body` for `campaign`, in body order. Empty means
    /// the content matches the registration. A shortener is reported even on
    /// a link campaign (carriers block them regardless), and together with
    /// the link's declaration finding if it has one.
    pub fn inspect(&self, body: &str, campaign: &CampaignContent<'_>) -> Vec<Finding> {
        self.inspect_words(body, &scan::words(body), campaign)
    }

    /// [`Self::inspect`] with the body's words already decoded ([`Self::words`]).
    pub(crate) fn inspect_words(&self, body: &str, words: &Words, campaign: &CampaignContent<'_>) -> Vec<Finding> {
        let mut found: Vec<(usize, Finding)> = Vec::new();
        let links = self.links(body);
        for link in &links {
            let at = link.range.start;
            if self.is_shortener(&link.host) {
                found.push((at, Finding::PublicShortener { host: link.host.clone() }));
            }
            if !campaign.embedded_links {
                found.push((at, Finding::UndeclaredLink { host: link.host.clone() }));
            } else if !campaign.link_domains.is_empty()
                && !campaign.link_domains.iter().any(|d| domain_matches(&link.host, d))
            {
                found.push((at, Finding::LinkDomainNotAllowed { host: link.host.clone() }));
            }
        }
        if !campaign.embedded_phone {
            for p in scan::scan_phones(body) {
                let in_link = links.iter().any(|l| l.range.start < p.range.end && p.range.start < l.range.end);
                let allowed = campaign.allowed_phone_numbers.iter().any(|a| nanp_digits(a) == Some(p.digits));
                if !in_link && !allowed {
                    found.push((p.range.start, Finding::UndeclaredPhone { digits: e164(&p.digits) }));
                }
            }
        }
        self.categories.find(words, |group, phrase, at| {
            let id = self.category_ids.get(usize::from(group)).map_or("", String::as_str);
            let allowed = campaign.allowed_categories.iter().any(|a| a.trim().eq_ignore_ascii_case(id));
            if !allowed {
                let f = Finding::ProhibitedCategory { category: id.to_owned(), matched: phrase.to_owned() };
                found.push((at, f));
            }
            true
        });
        found.sort_by_key(|(at, _)| *at); // stable: same-link findings keep their order
        found.into_iter().map(|(_, f)| f).collect()
    }

    /// The first promotional phrase (as written in the rulepack) in `body`,
    /// so a transactional/informational campaign can be stopped from sending
    /// marketing or donation asks. Exceptions such as "Sale Street" never count.
    pub fn is_promotional(&self, body: &str) -> Option<String> {
        self.promotional_phrase(&scan::words(body))
    }

    /// The words of `body`, decoded once for every phrase list that reads it.
    pub(crate) fn words(&self, body: &str) -> Words {
        scan::words(body)
    }

    /// [`Self::is_promotional`] over the body's decoded words.
    pub(crate) fn promotional_phrase(&self, words: &Words) -> Option<String> {
        let mut hit = None;
        self.promotional.find(words, |_, phrase, _| {
            hit = Some(phrase.to_owned());
            false
        });
        hit
    }

    /// Every link in `body`, in order: `http(s)://` URLs, `www.` hosts, and
    /// bare hosts whose TLD is in the rulepack (or that are shorteners).
    /// E-mail addresses are not links.
    pub fn links(&self, body: &str) -> Vec<Link> {
        scan::scan_links(body, |t| self.tlds.contains(t), |h| self.is_shortener(h))
            .into_iter()
            .map(|l| Link { host: l.host, range: l.range })
            .collect()
    }

    /// Every NANP phone number in `body`, in order, as E.164.
    pub fn phones(&self, body: &str) -> Vec<Phone> {
        scan::scan_phones(body).into_iter().map(|p| Phone { e164: e164(&p.digits), range: p.range }).collect()
    }

    /// Whether a lowercase host is a listed shortener or a subdomain of one.
    fn is_shortener(&self, host: &str) -> bool {
        let mut rest = host;
        loop {
            if self.shorteners.contains(rest) {
                return true;
            }
            match rest.split_once('.') {
                Some((_, parent)) => rest = parent,
                None => return false,
            }
        }
    }
}

/// `host` equals `domain` or is a subdomain of it ("give.x.org" under
/// "x.org", never "evilx.org"). `domain` may carry case, `*.` or dots.
fn domain_matches(host: &str, domain: &str) -> bool {
    let d = domain.trim().trim_start_matches("*.").trim_matches('.').as_bytes();
    let h = host.as_bytes();
    if d.is_empty() || h.len() < d.len() {
        return false;
    }
    let cut = h.len() - d.len();
    h.get(cut..).is_some_and(|tail| tail.eq_ignore_ascii_case(d)) && (cut == 0 || h.get(cut - 1) == Some(&b'.'))
}

/// Ten national digits of a NANP number written in any form, or `None`.
fn nanp_digits(written: &str) -> Option<[u8; 10]> {
    let mut d = [0u8; 11];
    let mut n = 0;
    for c in written.bytes().filter(u8::is_ascii_digit) {
        *d.get_mut(n)? = c;
        n += 1;
    }
    let national = match n {
        10 => d.get(..10)?,
        11 if d[0] == b'1' => d.get(1..11)?,
        _ => return None,
    };
    national.try_into().ok()
}

fn e164(d: &[u8; 10]) -> String {
    let mut s = String::with_capacity(12);
    s.push_str("+1");
    s.extend(d.iter().map(|&c| char::from(c)));
    s
}
