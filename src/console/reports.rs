//! Reports over a range of UTC days (both ends inclusive, by when each
//! event occurred, as the export counts them): the opt-outs, each with when
//! it was recorded and the one confirmation textgate returned to be sent,
//! and the consent grants by source and collector ([`super::grants`]).
//!
//! Bounded: a page reads the range through the export's paged listing and
//! keeps at most [`MAX_ROWS`] rows, says when the range holds more, and
//! points to its CSV, which streams every row however long the range.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use prost::Message as _;
use serde::Deserialize;
use tokio_stream::StreamExt;

use super::export::{self, field, rfc3339};
use super::page::{self, counted, enum_name, notice, scope, when};
use super::{api_error, refuse, Console};
use crate::api::consent::INBOUND_PREFIX;
use crate::api::pb;
use crate::domain::TenantId;
use crate::error::ApiError;

/// Rows a report page shows at most (its CSV has them all).
pub const MAX_ROWS: usize = 1000;

/// Days a report covers when the URL names none: the last 30, today included.
const DEFAULT_DAYS: i64 = 30;

/// The opt-outs CSV header; every row has these columns in this order.
pub const OPT_OUT_COLUMNS: &str =
    "recorded_at,occurred_at,phone,campaign_id,sender,source,wrong_number,event_id,confirmation_status,confirmation";

/// A report's query string.
#[derive(Deserialize)]
pub struct Wanted {
    pub from: Option<String>,
    pub to: Option<String>,
    #[serde(default)]
    pub format: String,
    pub source: Option<String>,
    pub collected_by: Option<String>,
}

/// The days a report covers, as asked and as Unix-second bounds.
pub struct Days {
    pub from: String,
    pub to: String,
    pub bounds: (i64, i64),
}

impl Days {
    /// The query string that asks for these days again.
    pub fn query(&self) -> String {
        format!("from={}&to={}", self.from, self.to)
    }

    /// "between 2030-06-01 and 2030-06-30 (UTC)".
    pub fn words(&self) -> String {
        format!("between {} and {} (UTC, both days included)", self.from, self.to)
    }
}

impl Wanted {
    /// The days asked for (the last 30 when the URL names none); a bad date
    /// is a 400 naming `from` or `to`.
    pub fn days(&self, c: &Console) -> Result<Days, Response> {
        let today = c.app.clock.now().to_zoned(jiff::tz::TimeZone::UTC).date();
        let first = today.checked_sub(jiff::Span::new().days(DEFAULT_DAYS - 1)).unwrap_or(today);
        let from = self.from.clone().unwrap_or_else(|| first.to_string()).trim().to_string();
        let to = self.to.clone().unwrap_or_else(|| today.to_string()).trim().to_string();
        let bounds = export::range(&from, &to).map_err(|e| refuse(StatusCode::BAD_REQUEST, &e))?;
        Ok(Days { from, to, bounds })
    }

    /// A CSV download (`format=csv`) rather than the page.
    pub fn csv(&self) -> Result<bool, Response> {
        match self.format.as_str() {
            "" | "html" => Ok(false),
            "csv" => Ok(true),
            _ => Err(refuse(StatusCode::BAD_REQUEST, "format: csv, or none for the page")),
        }
    }
}

/// A report request's session, tenant, days and format, or the refusal.
pub fn asked(c: &Console, headers: &HeaderMap, q: &Wanted) -> Result<(super::Session, TenantId, Days, bool), Response> {
    let (s, tenant) = c.tenant(headers)?;
    Ok((s, tenant, q.days(c)?, q.csv()?))
}

/// A ledger read that failed while a page was being built.
pub fn unreadable(status: tonic::Status) -> Response {
    tracing::warn!(code = ?status.code(), "console report read failed");
    refuse(StatusCode::SERVICE_UNAVAILABLE, "The ledger cannot be read right now; try again shortly.")
}

/// The date fields of a report form, filled with the days shown.
pub fn range_form(action: &str, days: &Days, button: &str) -> Markup {
    html! {
        form.card method="get" action=(action) {
            label for="from" { "From (UTC)" input #from type="date" name="from" required value=(days.from); }
            label for="to" { "To (UTC, inclusive)" input #to type="date" name="to" required value=(days.to); }
            button type="submit" { (button) }
        }
    }
}

/// The reports and what each shows.
pub async fn index(State(c): State<Arc<Console>>, headers: HeaderMap, Query(q): Query<Wanted>) -> Response {
    let (s, _, days, _) = match asked(&c, &headers, &q) {
        Ok(got) => got,
        Err(r) => return r,
    };
    let body = html! {
        p { "Each report covers whole UTC days, counted by when each event occurred. A page shows at most "
            (MAX_ROWS) " rows; its CSV download has every row in the range." }
        h2 { "Opt-outs" }
        p { "Every opt-out, with when it was recorded and the one confirmation textgate returned to be sent." }
        (range_form("/reports/opt-outs", &days, "Show opt-outs"))
        h2 { "Consent grants by source and collector" }
        p { "How many grants each source and collector recorded, with the grants of each." }
        form.card method="get" action="/reports/grants" {
            label for="grants-from" { "From (UTC)" input #grants-from type="date" name="from" required value=(days.from); }
            label for="grants-to" { "To (UTC, inclusive)" input #grants-to type="date" name="to" required value=(days.to); }
            button type="submit" { "Show grants" }
        }
    };
    page::page("Reports", &c.frame(&s), body).into_response()
}

/// The one confirmation an opt-out was answered with.
enum Confirmation {
    /// The reply ProcessInbound returned to be sent.
    Sent(String),
    /// ProcessInbound returned no reply.
    NoneSent,
    /// The text was answered by another instance (cluster mode), which keeps the answer.
    NotHere,
    /// Recorded by a caller (RecordConsent, an import), which sends any confirmation.
    ByCaller,
}

impl Confirmation {
    fn of(c: &Console, tenant: &TenantId, e: &pb::ConsentEvent) -> Result<Confirmation, ApiError> {
        let Some(message_id) = e.event_id.strip_prefix(INBOUND_PREFIX) else {
            return Ok(Confirmation::ByCaller);
        };
        let Some(stored) = c.app.ledger.inbound_answer(tenant, message_id)? else {
            return Ok(Confirmation::NotHere);
        };
        let answer = pb::ProcessInboundResponse::decode(stored.as_slice())
            .map_err(|e| ApiError::Internal(format!("inbound record: {e}")))?;
        Ok(match answer.reply_body {
            reply if reply.is_empty() => Confirmation::NoneSent,
            reply => Confirmation::Sent(reply),
        })
    }

    /// The CSV's `confirmation_status`.
    fn status(&self) -> &'static str {
        match self {
            Confirmation::Sent(_) => "sent",
            Confirmation::NoneSent => "none",
            Confirmation::NotHere => "on_another_instance",
            Confirmation::ByCaller => "by_caller",
        }
    }

    fn text(&self) -> &str {
        match self {
            Confirmation::Sent(reply) => reply,
            Confirmation::NoneSent => "None: textgate returned no reply.",
            Confirmation::NotHere => "Answered by another instance, which keeps the reply.",
            Confirmation::ByCaller => "None from textgate: recorded by a caller, which sends any confirmation.",
        }
    }
}

/// An opt-out (any revocation, wrong-number reports included).
fn is_opt_out(e: &pb::ConsentEvent) -> bool {
    e.action() == pb::ConsentAction::Revoke
}

fn opt_out_row(e: &pb::ConsentEvent, confirmation: &Confirmation) -> String {
    let sc = e.scope.clone().unwrap_or_default();
    let exact = [
        rfc3339(e.recorded_at.as_ref()),
        rfc3339(e.occurred_at.as_ref()),
        e.phone.clone(),
        sc.campaign_id,
        sc.sender,
        export::wire_name(e.source().as_str_name(), "CONSENT_SOURCE_"),
        e.possible_reassignment.to_string(),
        e.event_id.clone(),
        confirmation.status().to_string(),
    ];
    let mut row: Vec<String> = exact.iter().map(|v| field(v, false)).collect();
    let reply = match confirmation {
        Confirmation::Sent(reply) => reply.as_str(),
        _ => "",
    };
    row.push(field(reply, true));
    format!("{}\n", row.join(","))
}

/// `/reports/opt-outs?from&to[&format=csv]`.
pub async fn opt_outs(State(c): State<Arc<Console>>, headers: HeaderMap, Query(q): Query<Wanted>) -> Response {
    let (s, tenant, days, csv) = match asked(&c, &headers, &q) {
        Ok(got) => got,
        Err(r) => return r,
    };
    let events = match export::events_in(&c, tenant.clone(), days.bounds) {
        Ok(events) => events.filter(|item| item.as_ref().map_or(true, is_opt_out)),
        Err(e) => return api_error(e),
    };
    if csv {
        let name = format!("opt-outs-{}-{}-{}.csv", tenant.as_str(), days.from, days.to);
        let rows = events.map(move |item| {
            let e = item?;
            let confirmation = Confirmation::of(&c, &tenant, &e).map_err(tonic::Status::from)?;
            Ok(opt_out_row(&e, &confirmation))
        });
        return export::download("text/csv; charset=utf-8", name, Some(format!("{OPT_OUT_COLUMNS}\n")), rows);
    }
    let mut rows = Vec::new();
    let mut events = std::pin::pin!(events.take(MAX_ROWS + 1));
    while let Some(item) = events.next().await {
        let e = match item {
            Ok(e) => e,
            Err(status) => return unreadable(status),
        };
        match Confirmation::of(&c, &tenant, &e) {
            Ok(confirmation) => rows.push((e, confirmation)),
            Err(e) => return api_error(e),
        }
    }
    let body = opt_out_page(&days, &rows);
    page::page("Opt-outs", &c.frame(&s), body).into_response()
}

fn opt_out_page(days: &Days, rows: &[(pb::ConsentEvent, Confirmation)]) -> Markup {
    let more = rows.len() > MAX_ROWS;
    let shown = &rows[..rows.len().min(MAX_ROWS)];
    html! {
        (range_form("/reports/opt-outs", days, "Show opt-outs"))
        @if more {
            (notice("info", &format!("The range holds more than {MAX_ROWS} opt-outs: the first {MAX_ROWS} \
                                      are shown. The CSV download has every one.")))
        } @else if shown.is_empty() {
            (notice("info", &format!("No opt-out occurred {}.", days.words())))
        } @else {
            p #summary { (counted(shown.len() as u64, "opt-out", "opt-outs")) " occurred " (days.words()) "." }
        }
        p { a #csv href={ "/reports/opt-outs?" (days.query()) "&format=csv" } { "Download every opt-out in the range (CSV)" } }
        div.table-wrap { table #opt-outs {
            thead { tr {
                th { "Recorded" } th { "Occurred" } th { "Number" } th { "Scope" } th { "Source" }
                th { "Confirmation sent" } th { "Event id" }
            } }
            tbody { @for (e, confirmation) in shown {
                tr {
                    td data-label="Recorded" { (when(e.recorded_at.as_ref())) }
                    td data-label="Occurred" { (when(e.occurred_at.as_ref())) }
                    td data-label="Number" { (e.phone) }
                    td data-label="Scope" { (scope(e.scope.as_ref())) @if e.possible_reassignment { " (wrong number)" } }
                    td data-label="Source" { (enum_name(e.source().as_str_name(), "CONSENT_SOURCE_")) }
                    td data-label="Confirmation sent" class=(confirmation.status()) { (confirmation.text()) }
                    td data-label="Event id" { code { (e.event_id) } }
                }
            } }
        } }
    }
}
