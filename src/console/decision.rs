//! One logged decision: its inputs (the body as its keyed digest only), the
//! outcome, and every reason with the rule it cites (linked to the rule's
//! page) and the consent event it rests on.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;

use super::page::{self, enum_name, when};
use super::{api_error, Console};
use crate::api::{check, pb};

#[derive(Deserialize)]
pub struct Wanted {
    #[serde(default)]
    id: String,
}

pub async fn show(State(c): State<Arc<Console>>, headers: HeaderMap, Query(q): Query<Wanted>) -> Response {
    let (s, tenant) = match c.tenant(&headers) {
        Ok(st) => st,
        Err(r) => return r,
    };
    let req = pb::GetDecisionRequest { decision_id: q.id.trim().to_string(), ..Default::default() };
    let d = match check::get_decision(&c.app, tenant, req).await {
        Ok(d) => d,
        Err(e) => return api_error(e),
    };
    page::page(&format!("Decision {}", d.decision_id), &c.frame(&s), decision(&d)).into_response()
}

fn decision(d: &pb::DecisionRecord) -> Markup {
    let req = d.request.clone().unwrap_or_default();
    let resp = d.response.clone().unwrap_or_default();
    let outcome = enum_name(resp.decision().as_str_name(), "DECISION_");
    let origin = enum_name(req.origin().as_str_name(), "ORIGIN_");
    html! {
        dl {
            dt { "Decided" } dd { (when(d.decided_at.as_ref())) }
            dt { "Outcome" } dd class=(outcome.split(' ').next().unwrap_or_default()) { (outcome) }
            @if resp.defer_until.is_some() { dt { "Deferred until" } dd { (when(resp.defer_until.as_ref())) } }
            dt { "Category" } dd { (enum_name(resp.category().as_str_name(), "CATEGORY_")) }
            dt { "Policy version" } dd { code { (resp.policy_version) } }
        }
        h2 { "Reasons" }
        (reasons_table(&resp.reasons))
        h2 { "Inputs" }
        dl {
            dt { "To" } dd { (req.to) }
            dt { "From" } dd { (req.from) }
            dt { "Campaign" } dd { (req.campaign_id) }
            dt { "Origin" } dd { (origin) }
            dt { "Declared category" } dd { (enum_name(req.category().as_str_name(), "CATEGORY_")) }
            dt { "Send at" } dd { (when(req.send_at.as_ref())) }
            @if !req.recipient_state.is_empty() { dt { "Recipient state" } dd { (req.recipient_state) } }
            @if !req.recipient_time_zone.is_empty() { dt { "Recipient time zone" } dd { (req.recipient_time_zone) } }
            @if !req.client_ref.is_empty() { dt { "Client reference" } dd { (req.client_ref) } }
            dt { "Body" } dd { "not kept; digest " code { (req.body) } }
        }
        @if !resp.changes.is_empty() {
            h2 { "Changes made" }
            ul { @for ch in &resp.changes {
                li { (enum_name(ch.kind().as_str_name(), "CHANGE_")) " (" a href={ "/rules/" (ch.rule_id) } { (ch.rule_id) } "): " (ch.text) }
            } }
        }
    }
}

/// A decision's reasons: code, rule (linked), message, cited consent event.
pub fn reasons_table(reasons: &[pb::Reason]) -> Markup {
    html! {
        @if reasons.is_empty() { p { "No reason: allowed as asked." } }
        @else {
            div.table-wrap { table.reasons {
                thead { tr { th { "Reason" } th { "Rule" } th { "Message" } th { "Consent event cited" } } }
                tbody { @for r in reasons {
                    tr {
                        td data-label="Reason" { (enum_name(r.code().as_str_name(), "REASON_")) }
                        td data-label="Rule" { a.rule href={ "/rules/" (r.rule_id) } { (r.rule_id) } }
                        td data-label="Message" { (r.message) }
                        td data-label="Consent event cited" { code { (r.consent_event_id) } }
                    }
                } }
            } }
        }
    }
}
