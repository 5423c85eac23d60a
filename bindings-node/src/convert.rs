//! Argument conversions: JS values into the core's types (event ids, positions,
//! durations in milliseconds, counts) and SQL values to and from `SqlCell`s.

use std::time::Duration;

use crate::errors::{invalid, Outcome};
use crate::transaction::SqlCell;
use chrono::{DateTime, Utc};
use napi::bindgen_prelude::{BigInt, Either, ToNapiValue};

pub(crate) fn event_id(text: &str) -> Outcome<uuid::Uuid> {
    waypost::parse_event_id(text)
}

/// `Number.MAX_SAFE_INTEGER`: the largest integer a JS number holds exactly.
const MAX_SAFE_INTEGER: u64 = 9_007_199_254_740_991;

/// A position as JS gives it: a `number` or a `bigint`.
pub(crate) type JsPosition = Either<f64, BigInt>;

/// A JS number or bigint as a position: a number must be a safe integer (a larger one was
/// rounded before it arrived), then the core's rule.
pub(crate) fn position(value: JsPosition) -> Outcome<i64> {
    let value = match value {
        Either::A(n) if !n.is_finite() || n.fract() != 0.0 => {
            return Err(invalid(format!("position must be an integer, got {n}")));
        }
        Either::A(n) if n.abs() > MAX_SAFE_INTEGER as f64 => {
            return Err(invalid(format!("position {n} is beyond Number.MAX_SAFE_INTEGER: pass a bigint")));
        }
        Either::A(n) => n as i128,
        Either::B(b) => int128(&b).ok_or_else(|| invalid("position is beyond the 64-bit range".to_owned()))?,
    };
    waypost::position_from_i128(value)
}

/// A 64-bit integer for JS: a `number` while it is a safe integer, a `bigint` beyond,
/// so that no value is ever rounded (`type Int64 = number | bigint` in the typings).
pub struct Int64(pub i64);

impl ToNapiValue for Int64 {
    unsafe fn to_napi_value(env: napi::sys::napi_env, val: Self) -> napi::Result<napi::sys::napi_value> {
        if val.0.unsigned_abs() <= MAX_SAFE_INTEGER {
            f64::to_napi_value(env, val.0 as f64)
        } else {
            BigInt::to_napi_value(env, BigInt::from(val.0))
        }
    }
}

/// A point in time for JS: a `Date` (milliseconds), with the microseconds beyond them
/// (0–999) as its own non-enumerable `microseconds` property, so that the stored time
/// is there to the microsecond (`type Timestamp = Date` in the typings).
pub struct Timestamp(pub DateTime<Utc>);

impl ToNapiValue for Timestamp {
    unsafe fn to_napi_value(env: napi::sys::napi_env, val: Self) -> napi::Result<napi::sys::napi_value> {
        use napi::sys;
        let date = DateTime::<Utc>::to_napi_value(env, val.0)?;
        let micros = u32::to_napi_value(env, val.0.timestamp_subsec_micros() % 1000)?;
        let property = sys::napi_property_descriptor {
            utf8name: c"microseconds".as_ptr(),
            name: std::ptr::null_mut(),
            method: None,
            getter: None,
            setter: None,
            value: micros,
            attributes: sys::PropertyAttributes::default,
            data: std::ptr::null_mut(),
        };
        napi::check_status!(sys::napi_define_properties(env, date, 1, &property), "cannot set a Date's microseconds")?;
        Ok(date)
    }
}

/// `at` as a `Timestamp` (the records' time fields).
pub(crate) fn timestamp_of(at: Option<DateTime<Utc>>) -> Option<Timestamp> {
    at.map(Timestamp)
}

impl From<i64> for Int64 {
    fn from(value: i64) -> Self {
        Int64(value)
    }
}

/// `value` as an `Int64` (the records' position fields).
pub(crate) fn int64_of(value: Option<i64>) -> Option<Int64> {
    value.map(Int64)
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

/// A JS `bigint` as an `i128`, if it fits in 64 bits of magnitude (`0n` has no words).
fn int128(b: &BigInt) -> Option<i128> {
    let magnitude = match b.words.iter().rposition(|w| *w != 0) {
        None => 0,
        Some(0) => i128::from(b.words[0]),
        Some(_) => return None,
    };
    Some(if b.sign_bit { -magnitude } else { magnitude })
}

/// A JS `bigint` as an `i64`, if it fits.
fn int64(b: &BigInt) -> Option<i64> {
    int128(b).and_then(|v| i64::try_from(v).ok())
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
