//! Exports of the tenant's ledger for a date range (by `occurred_at`, UTC
//! days, both ends inclusive), as CSV or JSON Lines.
//!
//! Streamed: the rows come from the same paged, back-pressured listing
//! ListConsentEvents serves (`api::consent::list`: 32 events read at a time,
//! a bounded channel), and each is written out as it arrives, so an export
//! of ten million events holds a page of them in memory, never the ledger.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Form, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio_stream::{Stream, StreamExt};

use super::{api_error, refuse, Console};
use crate::api::{consent, pb};
use crate::domain::TenantId;
use crate::error::ApiError;

#[derive(Deserialize)]
pub struct Wanted {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    format: String,
}

/// The CSV header; every row has these columns in this order.
pub const CSV_COLUMNS: &str = "sequence,event_id,occurred_at,recorded_at,phone,action,level,campaign_id,sender,source,\
                               categories,collected_by,method_detail,disclosure_text,ip_address,user_agent,\
                               document_ref,inbound_text,possible_reassignment";

/// The first instant of `day` (YYYY-MM-DD, UTC), in Unix seconds.
fn day_start(field: &str, day: &str) -> Result<i64, String> {
    let date: jiff::civil::Date = day.trim().parse().map_err(|_| format!("{field}: a date as YYYY-MM-DD"))?;
    date.to_zoned(jiff::tz::TimeZone::UTC).map(|z| z.timestamp().as_second()).map_err(|e| format!("{field}: {e}"))
}

/// The UTC days `from` to `to` (both inclusive) as `[start, end)` in Unix
/// seconds; a refusal names the field at fault.
pub fn range(from: &str, to: &str) -> Result<(i64, i64), String> {
    let (start, end) = (day_start("from", from)?, day_start("to", to)? + 86_400);
    if start >= end {
        return Err("to: must not be before from".into());
    }
    Ok((start, end))
}

/// The tenant's events that occurred in `[start, end)`, in ledger order, as
/// the paged, back-pressured listing ListConsentEvents serves: a page of
/// events in memory at a time, however long the range.
pub fn events_in(
    c: &Console,
    tenant: TenantId,
    (start, end): (i64, i64),
) -> Result<impl Stream<Item = Result<pb::ConsentEvent, tonic::Status>> + Send + 'static, ApiError> {
    let events = consent::list(&c.app, tenant, pb::ListConsentEventsRequest::default())?;
    Ok(events.filter(move |item| match item {
        Ok(e) => e.occurred_at.as_ref().is_some_and(|t| t.seconds >= start && t.seconds < end),
        Err(_) => true,
    }))
}

/// A download of `name` whose body is `head` then `rows` as they come. A
/// read failure after the response has started ends the download short,
/// and the browser reports it failed.
pub fn download(
    kind: &'static str,
    name: String,
    head: Option<String>,
    rows: impl Stream<Item = Result<String, tonic::Status>> + Send + 'static,
) -> Response {
    let rows = rows.map(|row| {
        row.map(Bytes::from).map_err(|status| {
            tracing::warn!(code = ?status.code(), "console download stopped");
            std::io::Error::other("ledger read failed")
        })
    });
    let body = Body::from_stream(tokio_stream::iter(head.map(|h| Ok(Bytes::from(h)))).chain(rows));
    let disposition = format!("attachment; filename=\"{name}\"");
    ([(header::CONTENT_TYPE, kind.to_string()), (header::CONTENT_DISPOSITION, disposition)], body).into_response()
}

pub async fn export(State(c): State<Arc<Console>>, headers: HeaderMap, Form(f): Form<Wanted>) -> Response {
    let (_, tenant) = match c.posted(&headers, &f.csrf) {
        Ok(st) => st,
        Err(r) => return r,
    };
    let range = match range(&f.from, &f.to) {
        Ok(r) => r,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &e),
    };
    let csv = match f.format.as_str() {
        "csv" | "" => true,
        "jsonl" => false,
        _ => return refuse(StatusCode::BAD_REQUEST, "format: csv or jsonl"),
    };
    let events = match events_in(&c, tenant.clone(), range) {
        Ok(s) => s,
        Err(e) => return api_error(e),
    };
    let rows = events.map(move |item| item.map(|e| if csv { csv_row(&e) } else { json_line(&e) }));
    let (kind, ext) = if csv { ("text/csv; charset=utf-8", "csv") } else { ("application/x-ndjson", "jsonl") };
    let name = format!("consent-{}-{}-{}.{ext}", tenant.as_str(), f.from.trim(), f.to.trim());
    download(kind, name, csv.then(|| format!("{CSV_COLUMNS}\n")), rows)
}

/// A proto enum's name in an export: `CONSENT_ACTION_REVOKE` -> `revoke`,
/// empty for UNSPECIFIED.
pub fn wire_name(full: &str, prefix: &str) -> String {
    let name = full.strip_prefix(prefix).unwrap_or(full);
    if name.ends_with("UNSPECIFIED") {
        return String::new();
    }
    name.to_lowercase().replace('_', " ")
}

pub fn rfc3339(t: Option<&prost_types::Timestamp>) -> String {
    t.and_then(|t| jiff::Timestamp::new(t.seconds, t.nanos).ok()).map(|t| t.to_string()).unwrap_or_default()
}

fn names(e: &pb::ConsentEvent) -> [String; 3] {
    let categories: Vec<String> = e.categories().map(|c| wire_name(c.as_str_name(), "CATEGORY_")).collect();
    [
        wire_name(e.action().as_str_name(), "CONSENT_ACTION_"),
        wire_name(e.level().as_str_name(), "CONSENT_LEVEL_"),
        categories.join(" "),
    ]
}

/// One CSV field (RFC 4180). Free text that a spreadsheet would run as a
/// formula (`=`, `+`, `-`, `@` first) gets a leading apostrophe.
pub fn field(value: &str, free_text: bool) -> String {
    let guarded = if free_text && value.starts_with(['=', '+', '-', '@']) { format!("'{value}") } else { value.into() };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

/// One event as a CSV row (with its newline).
pub fn csv_row(e: &pb::ConsentEvent) -> String {
    let ev = e.evidence.clone().unwrap_or_default();
    let sc = e.scope.clone().unwrap_or_default();
    let [action, level, categories] = names(e);
    let source = wire_name(e.source().as_str_name(), "CONSENT_SOURCE_");
    let exact = [
        e.sequence.to_string(),
        e.event_id.clone(),
        rfc3339(e.occurred_at.as_ref()),
        rfc3339(e.recorded_at.as_ref()),
        e.phone.clone(),
        action,
        level,
        sc.campaign_id,
        sc.sender,
        source,
        categories,
    ];
    let free = [
        ev.collected_by,
        ev.method_detail,
        ev.disclosure_text,
        ev.ip_address,
        ev.user_agent,
        ev.document_ref,
        e.inbound_text.clone(),
    ];
    let mut row: Vec<String> = exact.iter().map(|v| field(v, false)).collect();
    row.extend(free.iter().map(|v| field(v, true)));
    row.push(e.possible_reassignment.to_string());
    format!("{}\n", row.join(","))
}

/// One event as a JSON object on one line.
pub fn json_line(e: &pb::ConsentEvent) -> String {
    let ev = e.evidence.clone().unwrap_or_default();
    let sc = e.scope.clone().unwrap_or_default();
    let [action, level, categories] = names(e);
    let v = serde_json::json!({
        "sequence": e.sequence,
        "event_id": e.event_id,
        "occurred_at": rfc3339(e.occurred_at.as_ref()),
        "recorded_at": rfc3339(e.recorded_at.as_ref()),
        "phone": e.phone,
        "action": action,
        "level": level,
        "scope": { "campaign_id": sc.campaign_id, "sender": sc.sender },
        "source": wire_name(e.source().as_str_name(), "CONSENT_SOURCE_"),
        "categories": categories.split(' ').filter(|c| !c.is_empty()).collect::<Vec<_>>(),
        "evidence": {
            "collected_by": ev.collected_by, "method_detail": ev.method_detail,
            "disclosure_text": ev.disclosure_text, "ip_address": ev.ip_address,
            "user_agent": ev.user_agent, "document_ref": ev.document_ref, "extra": ev.extra,
        },
        "inbound_text": e.inbound_text,
        "possible_reassignment": e.possible_reassignment,
    });
    format!("{v}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_free_text_formulas_defused() {
        assert_eq!(field("+13125550100", false), "+13125550100");
        assert_eq!(field("=HYPERLINK(\"x\")", true), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("a, b", true), "\"a, b\"");
        assert_eq!(field("line\nbreak", true), "\"line\nbreak\"");
        assert_eq!(field("plain", true), "plain");
        let e = pb::ConsentEvent {
            sequence: 7,
            event_id: "e-1".into(),
            phone: "+13125550101".into(),
            ..Default::default()
        };
        let row = csv_row(&e);
        assert_eq!(row.trim_end().split(',').count(), CSV_COLUMNS.split(',').count(), "{row}");
        assert!(row.starts_with("7,e-1,,,+13125550101,"), "{row}");
        let line: serde_json::Value = serde_json::from_str(&json_line(&e)).unwrap();
        assert_eq!(line["sequence"], 7);
        assert_eq!(line["phone"], "+13125550101");
    }

    #[test]
    fn days_are_utc_and_checked() {
        assert_eq!(day_start("from", "1970-01-02"), Ok(86_400));
        assert!(day_start("from", "02/01/1970").unwrap_err().starts_with("from:"));
        assert_eq!(range("1970-01-02", "1970-01-02"), Ok((86_400, 2 * 86_400)));
        assert!(range("1970-01-02", "1970-13-01").unwrap_err().starts_with("to:"));
        assert_eq!(range("1970-01-03", "1970-01-02"), Err("to: must not be before from".into()));
    }
}
