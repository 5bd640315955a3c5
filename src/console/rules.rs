//! The rule catalogue: every rule id a decision can cite, what it does, its
//! step, outcome and source in the compliance reference
//! (`policy::catalogue`), with the values the rule pack in force gives it
//! (state windows and caps, content categories).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

use super::page;
use super::{refuse, Console};
use crate::policy::catalogue::{self, RuleDoc};
use crate::policy::quiet_hours::WeeklyWindow;
use crate::policy::RulePack;

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// A weekly window as words: "every day 08:00–20:00" or one entry per day.
pub fn window_text(w: &WeeklyWindow) -> String {
    let day = |d: &Option<crate::policy::quiet_hours::LocalWindow>| match d {
        Some(l) => format!("{}–{}", l.start.strftime("%H:%M"), l.end.strftime("%H:%M")),
        None => "closed".into(),
    };
    let mut text = if w.days.iter().all(|d| d == &w.days[0]) {
        format!("every day {}", day(&w.days[0]))
    } else {
        DAYS.iter().zip(&w.days).map(|(n, d)| format!("{n} {}", day(d))).collect::<Vec<_>>().join(", ")
    };
    if !w.excluded_dates.is_empty() {
        text.push_str(&format!("; not on {} holidays", w.excluded_dates.len()));
    }
    text
}

/// What the rule pack in force says for `id` (a state's window or cap).
fn pack_values(pack: &RulePack, id: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut states: Vec<_> = pack.states.iter().collect();
    states.sort_by_key(|(s, _)| s.to_string());
    for (state, rule) in states {
        let cats = rule.categories.iter().map(|c| format!("{c:?}").to_lowercase()).collect::<Vec<_>>().join(", ");
        if let Some(w) = rule.window.as_ref().filter(|w| id == w.rule_id || id == "quiet_hours.state.*") {
            out.push(format!("{}: {} ({cats}) — {}", state, window_text(&w.window), w.rule_id));
        }
        if let Some(cap) = rule.cap.as_ref().filter(|c| id == c.rule_id || id == "frequency_cap.state.*") {
            out.push(format!("{}: at most {} per {} per campaign ({cats}) — {}", state, cap.max, cap.per, cap.rule_id));
        }
    }
    out
}

fn doc(d: &RuleDoc, id: &str, pack: &RulePack) -> Markup {
    let values = pack_values(pack, id);
    html! {
        dl {
            dt { "Rule" } dd { code { (id) } @if d.id != id { " (family " code { (d.id) } ")" } }
            dt { "Pipeline step" } dd { (d.step) }
            dt { "Outcome" } dd { (d.outcome) }
            dt { "Reason code" } dd { (d.reason) }
            dt { "What it does" } dd { (d.what) }
            dt { "Source in the compliance reference" } dd { (d.source) }
        }
        @if !values.is_empty() {
            h2 { "In the rule pack in force" }
            ul { @for v in &values { li { (v) } } }
        }
    }
}

pub async fn catalogue(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let (s, _) = match c.tenant(&headers) {
        Ok(st) => st,
        Err(r) => return r,
    };
    let body = html! {
        p { "Every rule a decision's reasons can cite, in the order the decision pipeline applies them (the first hard stop wins)." }
        div.table-wrap { table {
            thead { tr { th { "Step" } th { "Rule" } th { "Outcome" } th { "What it does" } } }
            tbody { @for d in catalogue::catalogue() {
                tr {
                    td data-label="Step" { (d.step) }
                    td data-label="Rule" { a href={ "/rules/" (d.id) } { (d.id) } }
                    td data-label="Outcome" { (d.outcome) }
                    td data-label="What it does" { (d.what) }
                }
            } }
        } }
    };
    page::page("Rule catalogue", &c.frame(&s), body).into_response()
}

pub async fn rule(State(c): State<Arc<Console>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let (s, _) = match c.tenant(&headers) {
        Ok(st) => st,
        Err(r) => return r,
    };
    match catalogue::lookup(&id) {
        Some(d) => page::page(&format!("Rule {id}"), &c.frame(&s), doc(&d, &id, &c.app.pack)).into_response(),
        None => refuse(StatusCode::NOT_FOUND, "No such rule in the catalogue."),
    }
}
