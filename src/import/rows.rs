//! Rows of an import file as RecordConsent requests: the CSV columns (named
//! by the header line, in any order) and the values both formats share
//! (enum names, timestamps, booleans). Only what the wire needs is checked
//! here; the server validates the rest, exactly as it does RecordConsent.

use crate::api::pb;

/// A row that cannot become a request: the field named as the server
/// would name it (`action`, `scope.sender`, `evidence.extra`), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub field: String,
    pub reason: String,
}

impl RowError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        RowError { field: field.into(), reason: reason.into() }
    }
}

/// The CSV columns, in the order the README lists them.
pub const COLUMNS: &[&str] = &[
    "event_id",
    "phone",
    "action",
    "level",
    "source",
    "occurred_at",
    "campaign_id",
    "sender",
    "categories",
    "possible_reassignment",
    "collected_by",
    "method_detail",
    "disclosure_text",
    "ip_address",
    "user_agent",
    "document_ref",
    "tenant_id",
];

/// Columns every file must have.
const REQUIRED: &[&str] = &["event_id", "phone", "action"];

/// Where each column of a CSV file goes, read from its header line.
#[derive(Debug)]
pub struct Columns {
    /// Per column: a name of [`COLUMNS`], or `extra.KEY` (evidence.extra).
    names: Vec<String>,
}

impl Columns {
    /// Reads the header line; an unknown, repeated or missing column is an
    /// error naming it.
    pub fn from_header(header: &[String]) -> Result<Columns, RowError> {
        let mut names: Vec<String> = Vec::with_capacity(header.len());
        for h in header {
            let name = h.trim().to_ascii_lowercase();
            let known = COLUMNS.contains(&name.as_str()) || name.strip_prefix("extra.").is_some_and(|k| !k.is_empty());
            if !known {
                return Err(RowError::new(
                    "header",
                    format!("unknown column {h:?} (columns: {}, extra.KEY)", COLUMNS.join(", ")),
                ));
            }
            if names.contains(&name) {
                return Err(RowError::new("header", format!("column {name:?} appears twice")));
            }
            names.push(name);
        }
        if let Some(missing) = REQUIRED.iter().find(|r| !names.iter().any(|n| n == *r)) {
            return Err(RowError::new("header", format!("the required column {missing:?} is missing")));
        }
        Ok(Columns { names })
    }

    /// One row's fields as a request.
    pub fn request(&self, fields: Vec<String>) -> Result<pb::RecordConsentRequest, RowError> {
        if fields.len() != self.names.len() {
            return Err(RowError::new(
                "row",
                format!("{} fields where the header names {} columns", fields.len(), self.names.len()),
            ));
        }
        let mut req = pb::RecordConsentRequest::default();
        let evidence = req.evidence.get_or_insert_with(Default::default);
        let scope = req.scope.get_or_insert_with(Default::default);
        for (name, value) in self.names.iter().zip(fields) {
            match name.as_str() {
                "event_id" => req.event_id = value,
                "phone" => req.phone = value,
                "tenant_id" => req.tenant_id = value,
                "action" => req.action = action(&value)?,
                "level" => req.level = level(&value)?,
                "source" => req.source = source(&value)?,
                "occurred_at" => req.occurred_at = timestamp("occurred_at", &value)?,
                "campaign_id" => scope.campaign_id = value,
                "sender" => scope.sender = value,
                "categories" => req.categories = categories(value.split(';').map(str::trim))?,
                "possible_reassignment" => req.possible_reassignment = boolean("possible_reassignment", &value)?,
                "collected_by" => evidence.collected_by = value,
                "method_detail" => evidence.method_detail = value,
                "disclosure_text" => evidence.disclosure_text = value,
                "ip_address" => evidence.ip_address = value,
                "user_agent" => evidence.user_agent = value,
                "document_ref" => evidence.document_ref = value,
                extra => {
                    let key = extra.strip_prefix("extra.").expect("checked by from_header");
                    if !value.is_empty() {
                        evidence.extra.insert(key.to_string(), value);
                    }
                }
            }
        }
        Ok(req)
    }
}

/// An enum value by its short name (`grant`) or its full one
/// (`CONSENT_ACTION_GRANT`), either case; empty is UNSPECIFIED.
fn named<E: Copy + Into<i32>>(field: &str, value: &str, prefix: &str, values: &[(&str, E)]) -> Result<i32, RowError> {
    let v = value.trim().to_ascii_uppercase();
    if v.is_empty() {
        return Ok(0);
    }
    let short = v.strip_prefix(prefix).unwrap_or(&v);
    values.iter().find(|(name, _)| *name == short).map(|(_, e)| (*e).into()).ok_or_else(|| {
        let names: Vec<String> = values.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
        RowError::new(field, format!("{value:?} is not one of {}", names.join(", ")))
    })
}

pub fn action(value: &str) -> Result<i32, RowError> {
    use pb::ConsentAction as A;
    named("action", value, "CONSENT_ACTION_", &[("GRANT", A::Grant), ("REVOKE", A::Revoke)])
}

pub fn level(value: &str) -> Result<i32, RowError> {
    use pb::ConsentLevel as L;
    let levels = [("IMPLIED", L::Implied), ("EXPRESS", L::Express), ("EXPRESS_WRITTEN", L::ExpressWritten)];
    named("level", value, "CONSENT_LEVEL_", &levels)
}

pub fn source(value: &str) -> Result<i32, RowError> {
    use pb::ConsentSource as S;
    let sources = [
        ("KEYWORD", S::Keyword),
        ("WEB_FORM", S::WebForm),
        ("PAPER_FORM", S::PaperForm),
        ("VERBAL", S::Verbal),
        ("API", S::Api),
        ("IMPORT", S::Import),
        ("AGENT_ATTESTATION", S::AgentAttestation),
    ];
    named("source", value, "CONSENT_SOURCE_", &sources)
}

/// Categories by name; empty names (a trailing `;`) are skipped.
pub fn categories<'a>(names: impl Iterator<Item = &'a str>) -> Result<Vec<i32>, RowError> {
    use pb::MessageCategory as C;
    let cats = [
        ("CONVERSATIONAL", C::CategoryConversational),
        ("INFORMATIONAL", C::CategoryInformational),
        ("PROMOTIONAL", C::CategoryPromotional),
    ];
    let mut out = Vec::new();
    for (i, name) in names.filter(|n| !n.trim().is_empty()).enumerate() {
        out.push(named(&format!("categories[{i}]"), name, "CATEGORY_", &cats)?);
    }
    Ok(out)
}

/// An RFC 3339 instant (`2024-05-01T14:30:00Z`, `2024-05-01T09:30:00-05:00`);
/// empty is "now" (the server's default).
pub fn timestamp(field: &str, value: &str) -> Result<Option<prost_types::Timestamp>, RowError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let at: jiff::Timestamp = value.parse().map_err(|_| {
        RowError::new(field, format!("{value:?} is not an RFC 3339 instant such as 2024-05-01T14:30:00Z"))
    })?;
    Ok(Some(prost_types::Timestamp { seconds: at.as_second(), nanos: at.subsec_nanosecond() }))
}

/// true/false, yes/no, 1/0, either case; empty is false.
pub fn boolean(field: &str, value: &str) -> Result<bool, RowError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "false" | "no" | "0" => Ok(false),
        "true" | "yes" | "1" => Ok(true),
        _ => Err(RowError::new(field, format!("{value:?} is not true or false"))),
    }
}

#[cfg(test)]
#[path = "rows_tests.rs"]
mod tests;
