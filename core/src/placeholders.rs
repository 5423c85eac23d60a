//! The placeholder rule of [`crate::transaction`] for stores whose driver binds by
//! position only (MySQL's `?`): a statement written with `$1, $2, …` (which may repeat
//! and come in any order) is rewritten to `?` with its parameters in the order they
//! appear. A statement may use `?` instead; mixing both is refused. Quotes and comments
//! are skipped, so `'$1'` and `-- ?` stay text.

use crate::error::{Error, Result};
use crate::transaction::SqlValue;

/// `sql` with positional `?` placeholders and the parameters in their order.
///
/// # Errors
/// `InvalidArgument` when the placeholders and `params` do not match: a `$n` beyond the
/// parameters, a parameter no placeholder uses, a `?` count that differs, or both styles.
pub(crate) fn to_positional(sql: &str, params: &[SqlValue]) -> Result<(String, Vec<SqlValue>)> {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut order: Vec<usize> = Vec::new();
    let mut questions = 0usize;
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"' | b'`') => i = skip_quoted(bytes, i, quote),
            b'-' if bytes.get(i + 1) == Some(&b'-') => i = skip_line(bytes, i),
            b'#' => i = skip_line(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..].find("*/").map_or(bytes.len(), |end| i + 2 + end + 2);
            }
            b'?' => {
                questions += 1;
                i += 1;
            }
            // `a$1` is an identifier, not a placeholder.
            b'$' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) && !(i > 0 && is_ident(bytes[i - 1])) => {
                let start = i;
                i += 1;
                while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                let n: usize = sql[start + 1..i].parse().unwrap_or(usize::MAX);
                if n == 0 || n > params.len() {
                    return Err(Error::invalid(format!(
                        "wrong number of parameters: the statement uses ${n} but {} were given",
                        params.len()
                    )));
                }
                out.push_str(&sql[copied..start]);
                out.push('?');
                copied = i;
                order.push(n - 1);
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[copied..]);
    if order.is_empty() {
        if questions != params.len() {
            return Err(Error::invalid(format!(
                "wrong number of parameters: the statement has {questions} placeholders but {} were given",
                params.len()
            )));
        }
        return Ok((out, params.to_vec()));
    }
    if questions > 0 {
        return Err(Error::invalid("a statement uses either $1, $2, … or ?, not both"));
    }
    if let Some(unused) = (0..params.len()).find(|p| !order.contains(p)) {
        return Err(Error::invalid(format!(
            "wrong number of parameters: {} were given but the statement does not use ${}",
            params.len(),
            unused + 1
        )));
    }
    Ok((out, order.into_iter().map(|p| params[p].clone()).collect()))
}

/// The index after the literal or quoted name starting at `start` (backslash escapes and
/// doubled quotes inside).
fn skip_quoted(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote != b'`' => i += 2,
            b if b == quote && bytes.get(i + 1) == Some(&quote) => i += 2,
            b if b == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

fn skip_line(bytes: &[u8], start: usize) -> usize {
    bytes[start..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |end| start + end + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(v: &[i64]) -> Vec<SqlValue> {
        v.iter().map(|i| SqlValue::Int(*i)).collect()
    }

    #[test]
    fn numbered_placeholders_become_positional_and_may_repeat() {
        let (sql, params) = to_positional("INSERT INTO t VALUES ($2, $1, $2)", &ints(&[1, 2])).unwrap();
        assert_eq!(sql, "INSERT INTO t VALUES (?, ?, ?)");
        assert_eq!(params, ints(&[2, 1, 2]));
    }

    #[test]
    fn quotes_and_comments_are_text() {
        let sql = "SELECT a$1, '$1 ?', \"a\\\"$2\", `$3` -- $4 ?\n, $1 # ?\n /* $9 */";
        let (out, params) = to_positional(sql, &ints(&[5])).unwrap();
        assert_eq!(out, "SELECT a$1, '$1 ?', \"a\\\"$2\", `$3` -- $4 ?\n, ? # ?\n /* $9 */");
        assert_eq!(params, ints(&[5]));
    }

    #[test]
    fn question_marks_pass_through_when_counted_right() {
        let (sql, params) = to_positional("SELECT ?, ?", &ints(&[1, 2])).unwrap();
        assert_eq!((sql.as_str(), params.len()), ("SELECT ?, ?", 2));
    }

    #[test]
    fn mismatches_are_invalid_arguments() {
        for (sql, n) in [("SELECT $1, $2", 1), ("SELECT $1", 2), ("SELECT $0", 1), ("SELECT ?", 0), ("SELECT $1, ?", 1)]
        {
            let e = to_positional(sql, &ints(&vec![1; n])).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument, "{sql}");
        }
    }
}
