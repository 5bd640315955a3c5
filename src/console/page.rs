//! The console's page frame, its style sheet and the formatting every page
//! shares. Markup is maud: escaped by default, no template files, no build
//! step; the pages work without JavaScript.

use maud::{html, Markup, DOCTYPE};

use super::session::Session;

/// The one style sheet (served at `/style.css`; the CSP allows nothing inline).
pub const CSS: &str = include_str!("console.css");

/// What the frame shows of the signed-in session.
pub struct Frame<'a> {
    pub session: Option<&'a Session>,
    /// The form token for the sign-out button.
    pub csrf: Option<String>,
}

/// A whole page: header with the tenant and sign-out, then `body`.
pub fn page(title: &str, frame: &Frame<'_>, body: Markup) -> Markup {
    let tenant = frame.session.and_then(|s| s.tenant.as_ref()).map(|t| t.as_str().to_string());
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · textgate console" }
                link rel="stylesheet" href="/style.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    nav aria-label="Console" {
                        a.brand href="/" { "textgate console" }
                        @if let Some(t) = &tenant {
                            a href="/rules" { "Rules" }
                            a href="/policy" { "Policy" }
                            a href="/reports" { "Reports" }
                            span.tenant { "Tenant: " strong { (t) } }
                        }
                        @if let Some(csrf) = &frame.csrf {
                            form.inline method="post" action="/sign-out" {
                                input type="hidden" name="csrf" value=(csrf);
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main #main { h1 { (title) } (body) }
            }
        }
    }
}

/// A proto enum's name as people read it: `CONSENT_ACTION_REVOKE` ->
/// `revoke`; "—" for UNSPECIFIED (a revocation has no level).
pub fn enum_name(full: &str, prefix: &str) -> String {
    match super::export::wire_name(full, prefix) {
        name if name.is_empty() => "—".into(),
        name => name,
    }
}

/// A wire timestamp in UTC, to the second; "—" when absent.
pub fn when(ts: Option<&prost_types::Timestamp>) -> String {
    ts.and_then(|t| jiff::Timestamp::new(t.seconds, t.nanos).ok())
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "—".into())
}

/// A scope as words: "every campaign, every sender" when empty.
pub fn scope(s: Option<&crate::api::pb::ConsentScope>) -> String {
    let s = s.cloned().unwrap_or_default();
    let campaign =
        if s.campaign_id.is_empty() { "every campaign".into() } else { format!("campaign {}", s.campaign_id) };
    let sender = if s.sender.is_empty() { "every sender".into() } else { format!("sender {}", s.sender) };
    format!("{campaign}, {sender}")
}

/// `n` things in words: "1 grant", "2 grants".
pub fn counted(n: impl Into<u64>, one: &str, many: &str) -> String {
    match n.into() {
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}

/// A short message in a page (errors, empty results).
pub fn notice(kind: &str, text: &str) -> Markup {
    html! { p.notice.(kind) role=(if kind == "error" { "alert" } else { "status" }) { (text) } }
}

/// A hidden form-token field.
pub fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}
