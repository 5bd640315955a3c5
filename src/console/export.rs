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
use tokio_stream::StreamExt;

use super::{api_error, refuse, Console};
use crate::api::{consent, pb};

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

pub async fn export(State(c): State<Arc<Console>>, headers: HeaderMap, Form(f): Form<Wanted>) -> Response {
    let (_, tenant) = match c.posted(&headers, &f.csrf) {
        Ok(st) => st,
        Err(r) => return r,
    };
    let range = day_start("from", &f.from).and_then(|a| Ok((a, day_start("to", &f.to)? + 86_400)));
    let (from, until) = match range {
        Ok(r) if r.0 < r.1 => r,
        Ok(_) => return refuse(StatusCode::BAD_REQUEST, "to: must not be before from"),
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &e),
    };
    let csv = match f.format.as_str() {
        "csv" | "" => true,
        "jsonl" => false,
        _ => return refuse(StatusCode::BAD_REQUEST, "format: csv or jsonl"),
    };
    let events = match consent::list(&c.app, tenant.clone(), pb::ListConsentEventsRequest::default()) {
        Ok(s) => s,
        Err(e) => return api_error(e),
    };
    let in_range =
        move |e: &pb::ConsentEvent| e.occurred_at.as_ref().is_some_and(|t| t.seconds >= from && t.seconds < until);
    let rows = events.filter_map(move |item| match item {
        Ok(e) if in_range(&e) => Some(Ok(Bytes::from(if csv { csv_row(&e) } else { json_line(&e) }))),
        Ok(_) => None,
        Err(status) => {
            // The response has started: the download ends short and the
            // browser reports it failed.
            tracing::warn!(code = ?status.code(), "console export stopped");
            Some(Err(std::io::Error::other("ledger read failed")))
        }
    });
    let head = csv.then(|| Ok(Bytes::from(format!("{CSV_COLUMNS}\n"))));
    let body = Body::from_stream(tokio_stream::iter(head).chain(rows));
    let (kind, ext) = if csv { ("text/csv; charset=utf-8", "csv") } else { ("application/x-ndjson", "jsonl") };
    let name = format!("attachment; filename=\"consent-{}-{}-{}.{ext}\"", tenant.as_str(), f.from.trim(), f.to.trim());
    ([(header::CONTENT_TYPE, kind.to_string()), (header::CONTENT_DISPOSITION, name)], body).into_response()
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

fn rfc3339(t: Option<&prost_types::Timestamp>) -> String {
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
fn field(value: &str, free_text: bool) -> String {
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
    }
}
