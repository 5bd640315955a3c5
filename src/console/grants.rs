//! The consent grants of a range of days by source and collector (the
//! evidence's `collected_by`), counted, and the grants of one such group.
//!
//! Bounded: at most [`MAX_GROUPS`] groups are counted (the first met in
//! ledger order; the page says when there are more) and a group's listing
//! shows at most [`MAX_ROWS`] grants. Both CSV downloads stream every grant
//! they cover, in the export's columns.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use tokio_stream::StreamExt;

use super::export::{self, csv_row, CSV_COLUMNS};
use super::page::{self, counted, enum_name, notice, scope, when};
use super::reports::{asked, range_form, unreadable, Days, Wanted, MAX_ROWS};
use super::{api_error, refuse, Console};
use crate::api::pb;

/// Groups a grants page counts at most.
pub const MAX_GROUPS: usize = 1000;

/// A grant group: its source (the proto name) and collector.
type Group = (pb::ConsentSource, String);

fn is_grant(e: &pb::ConsentEvent) -> bool {
    e.action() == pb::ConsentAction::Grant
}

fn group_of(e: &pb::ConsentEvent) -> Group {
    (e.source(), e.evidence.as_ref().map(|ev| ev.collected_by.clone()).unwrap_or_default())
}

/// The link to one group's grants.
fn group_link(days: &Days, (source, collected_by): &Group, format: &str) -> String {
    let format = if format.is_empty() { String::new() } else { format!("&format={format}") };
    format!(
        "/reports/grants/list?{}&source={}&collected_by={}{format}",
        days.query(),
        source.as_str_name(),
        url_encoded(collected_by)
    )
}

/// `text` as a URL query value: unreserved characters as they are, every
/// other byte percent-encoded.
fn url_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A CSV download of the grants `keep` admits, in the export's columns.
fn grants_csv(c: &Console, tenant: crate::domain::TenantId, days: &Days, keep: Option<Group>) -> Response {
    let events = match export::events_in(c, tenant.clone(), days.bounds) {
        Ok(events) => events,
        Err(e) => return api_error(e),
    };
    let rows = events
        .filter(move |item| {
            item.as_ref().map_or(true, |e| is_grant(e) && keep.as_ref().is_none_or(|g| *g == group_of(e)))
        })
        .map(|item| item.map(|e| csv_row(&e)));
    let name = format!("grants-{}-{}-{}.csv", tenant.as_str(), days.from, days.to);
    export::download("text/csv; charset=utf-8", name, Some(format!("{CSV_COLUMNS}\n")), rows)
}

/// `/reports/grants?from&to[&format=csv]`: the groups and their counts.
pub async fn by_source(State(c): State<Arc<Console>>, headers: HeaderMap, Query(q): Query<Wanted>) -> Response {
    let (s, tenant, days, csv) = match asked(&c, &headers, &q) {
        Ok(got) => got,
        Err(r) => return r,
    };
    if csv {
        return grants_csv(&c, tenant, &days, None);
    }
    let events = match export::events_in(&c, tenant, days.bounds) {
        Ok(events) => events,
        Err(e) => return api_error(e),
    };
    let mut events = std::pin::pin!(events);
    let mut groups: BTreeMap<Group, u64> = BTreeMap::new();
    let mut uncounted = 0u64;
    while let Some(item) = events.next().await {
        let e = match item {
            Ok(e) if is_grant(&e) => e,
            Ok(_) => continue,
            Err(status) => return unreadable(status),
        };
        let group = group_of(&e);
        let room = groups.len() < MAX_GROUPS;
        match groups.get_mut(&group) {
            Some(n) => *n += 1,
            None if room => _ = groups.insert(group, 1),
            None => uncounted += 1,
        }
    }
    let body = groups_page(&days, &groups, uncounted);
    page::page("Consent grants by source and collector", &c.frame(&s), body).into_response()
}

fn groups_page(days: &Days, groups: &BTreeMap<Group, u64>, uncounted: u64) -> Markup {
    let total: u64 = groups.values().sum();
    html! {
        (range_form("/reports/grants", days, "Show grants"))
        @if uncounted > 0 {
            (notice("info", &format!("More than {MAX_GROUPS} sources and collectors: the first {MAX_GROUPS} met are \
                                      counted; grants from the others ({uncounted}) are not. The CSV download has every grant.")))
        } @else if groups.is_empty() {
            (notice("info", &format!("No grant occurred {}.", days.words())))
        } @else {
            p #summary {
                (counted(total, "grant", "grants")) " occurred " (days.words()) ", from "
                (counted(groups.len() as u64, "source and collector", "sources and collectors")) "."
            }
        }
        p { a #csv href={ "/reports/grants?" (days.query()) "&format=csv" } { "Download every grant in the range (CSV)" } }
        div.table-wrap { table #grant-groups {
            thead { tr { th { "Source" } th { "Collected by" } th { "Grants" } th { "Listing" } } }
            tbody { @for (group, count) in groups {
                tr {
                    td data-label="Source" { (enum_name(group.0.as_str_name(), "CONSENT_SOURCE_")) }
                    td data-label="Collected by" { @if group.1.is_empty() { "(not given)" } @else { (group.1) } }
                    td data-label="Grants" { (count) }
                    td data-label="Listing" {
                        a href=(group_link(days, group, "")) aria-label=(format!("List these grants: from {}, collected by {}",
                            enum_name(group.0.as_str_name(), "CONSENT_SOURCE_"), group.1)) { "List these grants" }
                    }
                }
            } }
        } }
    }
}

/// `/reports/grants/list?from&to&source&collected_by[&format=csv]`: one group's grants.
pub async fn list(State(c): State<Arc<Console>>, headers: HeaderMap, Query(q): Query<Wanted>) -> Response {
    let (s, tenant, days, csv) = match asked(&c, &headers, &q) {
        Ok(got) => got,
        Err(r) => return r,
    };
    let source = match q.source.as_deref().and_then(pb::ConsentSource::from_str_name) {
        Some(source) => source,
        None => return refuse(StatusCode::BAD_REQUEST, "source: a consent source such as CONSENT_SOURCE_WEB_FORM"),
    };
    let group = (source, q.collected_by.clone().unwrap_or_default());
    if csv {
        return grants_csv(&c, tenant, &days, Some(group));
    }
    let events = match export::events_in(&c, tenant, days.bounds) {
        Ok(events) => events.filter(|item| item.as_ref().map_or(true, |e| is_grant(e) && group_of(e) == group)),
        Err(e) => return api_error(e),
    };
    let mut grants = Vec::new();
    let mut events = std::pin::pin!(events.take(MAX_ROWS + 1));
    while let Some(item) = events.next().await {
        match item {
            Ok(e) => grants.push(e),
            Err(status) => return unreadable(status),
        }
    }
    let title = format!(
        "Grants from {} collected by {}",
        enum_name(source.as_str_name(), "CONSENT_SOURCE_"),
        if group.1.is_empty() { "(not given)" } else { group.1.as_str() }
    );
    page::page(&title, &c.frame(&s), listing(&days, &group, &grants)).into_response()
}

fn listing(days: &Days, group: &Group, grants: &[pb::ConsentEvent]) -> Markup {
    let shown = &grants[..grants.len().min(MAX_ROWS)];
    html! {
        p { a href={ "/reports/grants?" (days.query()) } { "All sources and collectors" } " " (days.words()) }
        @if grants.len() > MAX_ROWS {
            (notice("info", &format!("More than {MAX_ROWS} grants: the first {MAX_ROWS} are shown. \
                                      The CSV download has every one.")))
        } @else {
            p #summary { (counted(shown.len() as u64, "grant", "grants")) "." }
        }
        p { a #csv href=(group_link(days, group, "csv")) { "Download these grants (CSV)" } }
        div.table-wrap { table #grants {
            thead { tr {
                th { "Occurred" } th { "Recorded" } th { "Number" } th { "Level" } th { "Scope" } th { "Categories" } th { "Event id" }
            } }
            tbody { @for e in shown {
                @let categories: Vec<String> = e.categories().map(|c| enum_name(c.as_str_name(), "CATEGORY_")).collect();
                tr {
                    td data-label="Occurred" { (when(e.occurred_at.as_ref())) }
                    td data-label="Recorded" { (when(e.recorded_at.as_ref())) }
                    td data-label="Number" { (e.phone) }
                    td data-label="Level" { (enum_name(e.level().as_str_name(), "CONSENT_LEVEL_")) }
                    td data-label="Scope" { (scope(e.scope.as_ref())) }
                    td data-label="Categories" { @if categories.is_empty() { "every category" } @else { (categories.join(", ")) } }
                    td data-label="Event id" { code { (e.event_id) } }
                }
            } }
        } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collectors_are_percent_encoded_in_links() {
        assert_eq!(url_encoded("caseworker-17"), "caseworker-17");
        assert_eq!(url_encoded("a&b=c d/é"), "a%26b%3Dc%20d%2F%C3%A9");
        let days = Days { from: "2030-06-01".into(), to: "2030-06-30".into(), bounds: (0, 1) };
        let link = group_link(&days, &(pb::ConsentSource::WebForm, "sign up#1".into()), "csv");
        assert_eq!(
            link,
            "/reports/grants/list?from=2030-06-01&to=2030-06-30&source=CONSENT_SOURCE_WEB_FORM&collected_by=sign%20up%231&format=csv"
        );
    }
}
