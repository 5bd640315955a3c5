//! The policy in force for the signed-in tenant, as a compliance officer
//! signs it off: version, windows and intervals, disclosure wording and
//! replies, campaigns with their senders and content flags, and the state
//! rules of the rule pack that apply when `state_rules` is on.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::rules::window_text;
use super::{api_error, page, Console};
use crate::app::tenant_of;

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

pub async fn show(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let (s, tenant) = match c.tenant(&headers) {
        Ok(st) => st,
        Err(r) => return r,
    };
    let policy = match c.app.policy_for(&tenant) {
        Ok(p) => p,
        Err(e) => return api_error(e),
    };
    let Ok(tp) = tenant_of(&policy, &tenant) else {
        return api_error(crate::error::ApiError::NotFound("tenant".into()));
    };
    let body = html! {
        dl {
            dt { "Policy version" } dd { code { (policy.version) } }
            dt { "Brand" } dd { (tp.brand) }
            dt { "Quiet hours (recipient local time)" } dd { (window_text(&tp.quiet_hours.window)) }
            dt { "Quiet hours for conversational replies" } dd { (yes(tp.quiet_hours_conversational)) }
            dt { "State rules (windows and caps)" } dd { (yes(tp.state_rules)) " — " a href="/rules/quiet_hours.state.*" { "windows" } ", " a href="/rules/frequency_cap.state.*" { "caps" } }
            dt { "Conversation window" } dd { (format!("{:#}", tp.conversation_window)) }
            dt { "Opt-out notice repeated after" } dd { (format!("{:#}", tp.disclosure_interval)) }
            dt { "Review hold lasts" } dd { (format!("{:#}", tp.review_hold)) }
            dt { "Opt-out notice" } dd { (tp.opt_out_notice) }
            dt { "Opt-out confirmation (sent once)" } dd { (tp.opt_out_reply) }
            dt { "Opt-in confirmation" } dd { (tp.opt_in_reply) }
            dt { "Help reply" } dd { (tp.help_reply) }
            dt { "Reply language" } dd { (tp.reply_language) @for r in &tp.other_replies { ", " (r.language) } }
        }
        h2 { "Campaigns" }
        div.table-wrap { table {
            thead { tr { th { "Campaign" } th { "Use case" } th { "Category" } th { "Senders" } th { "Links" } th { "Phone numbers" } th { "Allowed content" } } }
            tbody { @for cp in &tp.campaigns {
                tr {
                    td data-label="Campaign" { (cp.id) }
                    td data-label="Use case" { (cp.use_case) @if cp.time_critical { " (time-critical)" } }
                    td data-label="Category" { (format!("{:?}", cp.category).to_lowercase()) }
                    td data-label="Senders" { (cp.senders.join(", ")) }
                    td data-label="Links" { (yes(cp.embedded_links)) @if !cp.link_domains.is_empty() { ": " (cp.link_domains.join(", ")) } }
                    td data-label="Phone numbers" { (yes(cp.embedded_phone)) }
                    td data-label="Allowed content" { (cp.allowed_content.join(", ")) }
                }
            } }
        } }
    };
    page::page("Policy in force", &c.frame(&s), body).into_response()
}
