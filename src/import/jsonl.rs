//! JSON Lines import rows: one JSON object per line, with RecordConsent's
//! field names (`scope` and `evidence` as nested objects, enum values and
//! categories by name, `occurred_at` as an RFC 3339 string). Unknown keys
//! are refused by name, so a misspelt field is never silently dropped.

use serde_json::{Map, Value};

use super::rows::{self, RowError};
use crate::api::pb;

/// One line (without its line break) as a request.
pub fn request(line: &str) -> Result<pb::RecordConsentRequest, RowError> {
    let value: Value =
        serde_json::from_str(line).map_err(|e| RowError::new("row", format!("not a JSON object: {e}")))?;
    let Value::Object(object) = value else {
        return Err(RowError::new("row", "not a JSON object"));
    };
    let mut req = pb::RecordConsentRequest::default();
    for (key, value) in object {
        match key.as_str() {
            "event_id" => req.event_id = string(&key, value)?,
            "phone" => req.phone = string(&key, value)?,
            "tenant_id" => req.tenant_id = string(&key, value)?,
            "action" => req.action = rows::action(&string(&key, value)?)?,
            "level" => req.level = rows::level(&string(&key, value)?)?,
            "source" => req.source = rows::source(&string(&key, value)?)?,
            "occurred_at" => req.occurred_at = rows::timestamp(&key, &string(&key, value)?)?,
            "possible_reassignment" => match value {
                Value::Bool(b) => req.possible_reassignment = b,
                Value::Null => {}
                _ => return Err(RowError::new(key, "must be true or false")),
            },
            "categories" => req.categories = categories(value)?,
            "scope" => req.scope = Some(scope(object_of(&key, value)?)?),
            "evidence" => req.evidence = Some(evidence(object_of(&key, value)?)?),
            _ => return Err(unknown(&key)),
        }
    }
    Ok(req)
}

fn unknown(key: &str) -> RowError {
    RowError::new(key, "unknown field (see the README's \"Bulk import\" for the fields)")
}

/// A string value (null is empty).
fn string(field: &str, value: Value) -> Result<String, RowError> {
    match value {
        Value::String(s) => Ok(s),
        Value::Null => Ok(String::new()),
        _ => Err(RowError::new(field, "must be a string")),
    }
}

fn object_of(field: &str, value: Value) -> Result<Map<String, Value>, RowError> {
    match value {
        Value::Object(o) => Ok(o),
        Value::Null => Ok(Map::new()),
        _ => Err(RowError::new(field, "must be an object")),
    }
}

fn categories(value: Value) -> Result<Vec<i32>, RowError> {
    let items = match value {
        Value::Array(items) => items,
        Value::Null => return Ok(Vec::new()),
        _ => return Err(RowError::new("categories", "must be a list of category names")),
    };
    let names = items
        .into_iter()
        .enumerate()
        .map(|(i, v)| string(&format!("categories[{i}]"), v))
        .collect::<Result<Vec<_>, _>>()?;
    rows::categories(names.iter().map(String::as_str))
}

fn scope(object: Map<String, Value>) -> Result<pb::ConsentScope, RowError> {
    let mut scope = pb::ConsentScope::default();
    for (key, value) in object {
        let field = format!("scope.{key}");
        match key.as_str() {
            "campaign_id" => scope.campaign_id = string(&field, value)?,
            "sender" => scope.sender = string(&field, value)?,
            _ => return Err(unknown(&field)),
        }
    }
    Ok(scope)
}

fn evidence(object: Map<String, Value>) -> Result<pb::Evidence, RowError> {
    let mut e = pb::Evidence::default();
    for (key, value) in object {
        let field = format!("evidence.{key}");
        match key.as_str() {
            "collected_by" => e.collected_by = string(&field, value)?,
            "method_detail" => e.method_detail = string(&field, value)?,
            "disclosure_text" => e.disclosure_text = string(&field, value)?,
            "ip_address" => e.ip_address = string(&field, value)?,
            "user_agent" => e.user_agent = string(&field, value)?,
            "document_ref" => e.document_ref = string(&field, value)?,
            "extra" => {
                for (k, v) in object_of(&field, value)? {
                    let f = format!("evidence.extra[{k}]");
                    e.extra.insert(k, string(&f, v)?);
                }
            }
            _ => return Err(unknown(&field)),
        }
    }
    Ok(e)
}
