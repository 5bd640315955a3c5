//! The home page (lookup forms) and a number's consent timeline: every
//! ledger event, the state per scope, the conversation window, review holds
//! and wrong-number markers, inbound keywords, and the recent decisions for
//! the number with the rules and events they cite. Bodies are never shown.

use std::sync::Arc;

use axum::extract::{Form, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;

use super::decision::reasons_table;
use super::page::{self, csrf_field, enum_name, notice, scope, when};
use super::{api_error, Console};
use crate::api::pb;
use crate::api::{check, consent, convert};
use crate::domain::TenantId;
use crate::error::ApiError;

/// Events shown for one number at most (the export has them all).
const MAX_EVENTS: usize = 1000;
/// Decisions shown for one number: the latest.
const RECENT_DECISIONS: usize = 25;

pub async fn home(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let (s, _) = match c.tenant(&headers) {
        Ok(st) => st,
        Err(r) => return r,
    };
    let csrf = c.sessions.csrf(&s);
    let today = c.app.clock.now().strftime("%Y-%m-%d").to_string();
    let body = html! {
        h2 { "Look up a number" }
        form.card method="post" action="/number" {
            (csrf_field(&csrf))
            label for="phone" { "Phone number" input #phone type="tel" name="phone" required autocomplete="off" placeholder="+1 312 555 0123"; }
            button type="submit" { "Show consent timeline" }
        }
        h2 { "Open a decision" }
        form.card method="get" action="/decision" {
            label for="decision-id" { "Decision id" input #decision-id type="text" name="id" required autocomplete="off"; }
            button type="submit" { "Open decision" }
        }
        h2 { "Export the ledger" }
        form.card #export-form method="post" action="/export" {
            (csrf_field(&csrf))
            label for="from" { "From (UTC)" input #from type="date" name="from" required value="2000-01-01"; }
            label for="to" { "To (UTC, inclusive)" input #to type="date" name="to" required value=(today); }
            label for="format" { "Format"
                select #format name="format" { option value="csv" { "CSV" } option value="jsonl" { "JSON Lines" } }
            }
            button type="submit" { "Download" }
        }
    };
    page::page("Compliance console", &c.frame(&s), body).into_response()
}

#[derive(Deserialize)]
pub struct Lookup {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    phone: String,
}

/// What the console knows of one number, read as the gRPC API reads it.
struct NumberFile {
    view: pb::ConsentView,
    events: Vec<pb::ConsentEvent>,
    decisions: Vec<pb::DecisionRecord>,
}

async fn read(c: &Console, tenant: &TenantId, phone: &str) -> Result<NumberFile, ApiError> {
    let req = pb::GetConsentRequest { phone: phone.to_string(), ..Default::default() };
    let view = consent::get(&c.app, tenant.clone(), req).await?;
    let number = convert::phone("phone", phone)?;
    let events = c
        .app
        .ledger
        .events(tenant, Some(&number), 0)
        .take(MAX_EVENTS)
        .map(|e| e.map(|e| convert::event_to_pb(&e)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut decisions = Vec::new();
    for id in c.app.ledger.decisions_for(tenant, &number, RECENT_DECISIONS)? {
        let req = pb::GetDecisionRequest { decision_id: id, ..Default::default() };
        match check::get_decision(&c.app, tenant.clone(), req).await {
            Ok(d) => decisions.push(d),
            // Past the decision log's retention.
            Err(ApiError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(NumberFile { view, events, decisions })
}

/// A posted number form: its session (form token checked), tenant and the number's file.
async fn posted_number(
    c: &Console,
    headers: &HeaderMap,
    f: &Lookup,
) -> Result<(super::Session, TenantId, NumberFile), Response> {
    let (s, tenant) = c.posted(headers, &f.csrf)?;
    let file = read(c, &tenant, &f.phone).await.map_err(api_error)?;
    Ok((s, tenant, file))
}

pub async fn lookup(State(c): State<Arc<Console>>, headers: HeaderMap, Form(f): Form<Lookup>) -> Response {
    let (s, _tenant, file) = match posted_number(&c, &headers, &f).await {
        Ok(got) => got,
        Err(r) => return r,
    };
    let csrf = c.sessions.csrf(&s);
    let body = html! {
        (state_section(&file.view))
        form.card method="post" action="/number/record" {
            (csrf_field(&csrf))
            input type="hidden" name="phone" value=(file.view.phone);
            button type="submit" { "Printable consent record" }
        }
        (timeline(&file.events))
        (decisions_section(&file.decisions))
    };
    page::page(&format!("Consent for {}", file.view.phone), &c.frame(&s), body).into_response()
}

/// The printable record a lawyer asks for: state, every event with its
/// evidence, and the decisions that honoured it.
pub async fn record(State(c): State<Arc<Console>>, headers: HeaderMap, Form(f): Form<Lookup>) -> Response {
    let (s, tenant, file) = match posted_number(&c, &headers, &f).await {
        Ok(got) => got,
        Err(r) => return r,
    };
    let printed = c.app.clock.now().strftime("%Y-%m-%d %H:%M:%S UTC").to_string();
    let policy = c.app.policy.load().version.clone();
    let body = html! {
        dl {
            dt { "Tenant" } dd { (tenant.as_str()) }
            dt { "Number" } dd { (file.view.phone) }
            dt { "Printed" } dd { (printed) }
            dt { "Policy version in force" } dd { code { (policy) } }
        }
        (state_section(&file.view))
        (timeline(&file.events))
        (decisions_section(&file.decisions))
        p { "Message bodies are not kept: each decision record holds a keyed digest of its body only." }
    };
    page::page(&format!("Consent record: {}", file.view.phone), &c.frame(&s), body).into_response()
}

fn state_section(v: &pb::ConsentView) -> Markup {
    html! {
        h2 { "Current state" }
        @if v.scopes.is_empty() { (notice("info", "No consent on record for this number.")) }
        @else {
            div.table-wrap { table {
                thead { tr { th { "Scope" } th { "Status" } th { "Level" } th { "Since" } th { "Set by event" } } }
                tbody { @for sc in &v.scopes {
                    @let status = enum_name(sc.status().as_str_name(), "CONSENT_STATUS_");
                    tr {
                        td data-label="Scope" { (scope(sc.scope.as_ref())) }
                        td data-label="Status" class=(status) { (status) }
                        td data-label="Level" { (enum_name(sc.level().as_str_name(), "CONSENT_LEVEL_")) }
                        td data-label="Since" { (when(sc.since.as_ref())) }
                        td data-label="Set by event" { code { (sc.event_id) } }
                    }
                } }
            } }
        }
        dl {
            dt { "Last text from the number" } dd { (when(v.last_inbound_at.as_ref())) }
            dt { "Conversation window open until" } dd { (when(v.conversation_open_until.as_ref())) }
            dt { "Review hold" } dd { (marker(v.review_hold.as_ref(), "none")) }
            dt { "Wrong-number report" } dd { (marker(v.reassignment.as_ref(), "none")) }
        }
    }
}

fn marker(m: Option<&pb::NumberMarker>, none: &str) -> Markup {
    match m {
        None => html! { (none) },
        Some(m) => html! {
            "since " (when(m.since.as_ref()))
            @if m.until.is_some() { ", until " (when(m.until.as_ref())) }
            " (event " code { (m.event_id) } ")"
            @if !m.matched.is_empty() { " on “" (m.matched) "”" }
        },
    }
}

fn timeline(events: &[pb::ConsentEvent]) -> Markup {
    html! {
        h2 { "Timeline (" (events.len()) " events)" }
        div.table-wrap { table #timeline {
            thead { tr {
                th { "Seq" } th { "Occurred" } th { "Action" } th { "Level" } th { "Scope" } th { "Source" } th { "Evidence" } th { "Event id" }
            } }
            tbody { @for e in events {
                @let action = if e.possible_reassignment { "wrong number".to_string() } else { enum_name(e.action().as_str_name(), "CONSENT_ACTION_") };
                tr {
                    td data-label="Seq" { (e.sequence) }
                    td data-label="Occurred" { (when(e.occurred_at.as_ref())) }
                    td data-label="Action" class=(action.split(' ').next().unwrap_or_default()) { (action) }
                    td data-label="Level" { (enum_name(e.level().as_str_name(), "CONSENT_LEVEL_")) }
                    td data-label="Scope" { (scope(e.scope.as_ref())) }
                    td data-label="Source" { (enum_name(e.source().as_str_name(), "CONSENT_SOURCE_")) }
                    td data-label="Evidence" { (evidence(e)) }
                    td data-label="Event id" { code { (e.event_id) } }
                }
            } }
        } }
    }
}

fn evidence(e: &pb::ConsentEvent) -> Markup {
    let ev = e.evidence.clone().unwrap_or_default();
    let rows = [
        ("Keyword text", &e.inbound_text),
        ("Collected by", &ev.collected_by),
        ("How", &ev.method_detail),
        ("Disclosure shown", &ev.disclosure_text),
        ("IP address", &ev.ip_address),
        ("Document", &ev.document_ref),
    ];
    html! {
        @for (k, v) in rows { @if !v.is_empty() { div { strong { (k) ": " } (v) } } }
        @for (k, v) in &ev.extra { div { strong { (k) ": " } (v) } }
        div { strong { "Recorded: " } (when(e.recorded_at.as_ref())) }
    }
}

fn decisions_section(decisions: &[pb::DecisionRecord]) -> Markup {
    html! {
        h2 { "Recent decisions (" (decisions.len()) ")" }
        @if decisions.is_empty() { (notice("info", "No logged decision for this number.")) }
        @for d in decisions {
            @let resp = d.response.clone().unwrap_or_default();
            @let outcome = enum_name(resp.decision().as_str_name(), "DECISION_");
            section.decision {
                h3 {
                    a href={ "/decision?id=" (d.decision_id) } { (when(d.decided_at.as_ref())) }
                    " — " span class=(outcome.split(' ').next().unwrap_or_default()) { (outcome) }
                }
                (reasons_table(&resp.reasons))
            }
        }
    }
}
