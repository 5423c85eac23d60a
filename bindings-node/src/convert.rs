//! Argument conversions: JS values into the core's types (event ids, positions,
//! durations in milliseconds, counts) and SQL values to and from `SqlCell`s.

use std::time::Duration;

use crate::errors::{invalid, Outcome};
use crate::transaction::SqlCell;
use chrono::{DateTime, Utc};

pub(crate) fn event_id(text: &str) -> Outcome<uuid::Uuid> {
    waypost::parse_event_id(text)
}

/// A JS number as a position: an integer within the safe range, then the core's rule.
pub(crate) fn position(value: f64) -> Outcome<i64> {
    if !value.is_finite() || value.fract() != 0.0 {
        return Err(invalid(format!("position must be an integer, got {value}")));
    }
    if value.abs() > 9_007_199_254_740_991.0 {
        return Err(invalid(format!("position {value} is beyond Number.MAX_SAFE_INTEGER")));
    }
    waypost::position_from_i128(value as i128)
}

pub(crate) fn seconds(name: &str, ms: Option<f64>, default: Duration) -> Outcome<Duration> {
    match ms {
        None => Ok(default),
        Some(ms) => Duration::try_from_secs_f64(ms / 1000.0)
            .map_err(|_| invalid(format!("{name} must be a non-negative number of milliseconds, got {ms}"))),
    }
}

/// A JS number as a count: an integer (the core rejects negatives).
pub(crate) fn count(name: &str, value: Option<f64>) -> Outcome<i64> {
    let value = value.unwrap_or(0.0);
    if !value.is_finite() || value.fract() != 0.0 || value.abs() > 9_007_199_254_740_991.0 {
        return Err(invalid(format!("{name} must be an integer, got {value}")));
    }
    Ok(value as i64)
}

/// A JS `bigint` as an `i64`, if it fits (`0n` has no words).
fn int64(b: &napi::bindgen_prelude::BigInt) -> Option<i64> {
    let magnitude = match b.words.iter().rposition(|w| *w != 0) {
        None => 0,
        Some(0) => i128::from(b.words[0]),
        Some(_) => return None,
    };
    i64::try_from(if b.sign_bit { -magnitude } else { magnitude }).ok()
}

fn sql_value(index: usize, cell: SqlCell) -> Outcome<waypost::SqlValue> {
    use waypost::SqlValue as V;
    let bad = |what: &str| invalid(format!("params[{index}]: {what}"));
    let text = || cell.text.clone().ok_or_else(|| bad("missing text"));
    Ok(match cell.kind.as_str() {
        "null" => V::Null,
        "bool" => V::Bool(cell.flag.ok_or_else(|| bad("missing flag"))?),
        "int" => V::Int(
            int64(cell.int.as_ref().ok_or_else(|| bad("missing int"))?)
                .ok_or_else(|| bad("integer out of the 64-bit range"))?,
        ),
        "float" => V::Float(cell.number.ok_or_else(|| bad("missing number"))?),
        "text" => V::Text(text()?),
        "bytes" => V::Bytes(cell.bytes.as_ref().ok_or_else(|| bad("missing bytes"))?.to_vec()),
        "uuid" => V::Uuid(event_id(&text()?)?),
        "timestamp" => {
            V::Timestamp(DateTime::parse_from_rfc3339(&text()?).map_err(|_| bad("invalid date"))?.with_timezone(&Utc))
        }
        "json" => V::Json(text()?),
        other => return Err(bad(&format!("unknown kind {other:?}"))),
    })
}

pub(crate) fn sql_cell(value: waypost::SqlValue) -> SqlCell {
    use waypost::SqlValue as V;
    let cell =
        |kind: &str| SqlCell { kind: kind.to_owned(), text: None, number: None, flag: None, int: None, bytes: None };
    match value {
        V::Null => cell("null"),
        V::Bool(b) => SqlCell { flag: Some(b), ..cell("bool") },
        V::Int(i) => SqlCell { int: Some(i.into()), ..cell("int") },
        V::Float(f) => SqlCell { number: Some(f), ..cell("float") },
        V::Text(t) => SqlCell { text: Some(t), ..cell("text") },
        V::Bytes(b) => SqlCell { bytes: Some(b.into()), ..cell("bytes") },
        V::Uuid(u) => SqlCell { text: Some(u.to_string()), ..cell("uuid") },
        V::Timestamp(t) => SqlCell { text: Some(waypost::time::rfc3339(&t)), ..cell("timestamp") },
        V::Json(t) => SqlCell { text: Some(t), ..cell("json") },
    }
}

pub(crate) fn sql_values(params: Option<Vec<SqlCell>>) -> Outcome<Vec<waypost::SqlValue>> {
    params.unwrap_or_default().into_iter().enumerate().map(|(i, c)| sql_value(i, c)).collect()
}
