//! The matching rules of `tests/conformance/README.md` (*Matching*), which every
//! language's runner applies the same way.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};

use crate::time;

/// Compares `actual` with `expected`: objects only on the keys `expected` lists, numbers
/// by value, and the matchers `"$any"` (anything but null) and `"$recent"` (a timestamp
/// with microsecond precision between the case's start and now).
pub(super) fn matches(expected: &Value, actual: &Value, started: DateTime<Utc>, path: &mut String) -> bool {
    match (expected, actual) {
        (Value::String(m), a) if m == "$any" => !a.is_null(),
        (Value::String(m), Value::String(a)) if m == "$recent" => time::parse_timestamp(a).is_ok_and(|t| {
            use chrono::Timelike;
            t.nanosecond() % 1_000 == 0
                && t >= started - Duration::seconds(1)
                && t <= time::now() + Duration::seconds(1)
        }),
        (Value::Number(e), Value::Number(a)) => e == a || e.as_f64() == a.as_f64(),
        (Value::Object(e), Value::Object(a)) => object_matches(e, a, started, path),
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                path.push_str(".len()");
                return false;
            }
            e.iter().zip(a).enumerate().all(|(i, (e, a))| {
                let before = path.len();
                path.push_str(&format!("[{i}]"));
                let ok = matches(e, a, started, path);
                if ok {
                    path.truncate(before);
                }
                ok
            })
        }
        (e, a) => e == a,
    }
}

fn object_matches(e: &Map<String, Value>, a: &Map<String, Value>, started: DateTime<Utc>, path: &mut String) -> bool {
    e.iter().all(|(k, ev)| {
        let before = path.len();
        path.push('.');
        path.push_str(k);
        let ok = matches(ev, a.get(k).unwrap_or(&Value::Null), started, path);
        if ok {
            path.truncate(before);
        }
        ok
    })
}
