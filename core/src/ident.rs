//! Table, schema and column names: validated identifiers, never pasted SQL.

use std::fmt;

use crate::error::{Error, Result};

/// Longest identifier accepted, in bytes (PostgreSQL's limit).
pub const MAX_IDENTIFIER_BYTES: usize = 63;

/// A table, schema or column name matching `[A-Za-z_][A-Za-z0-9_]*`, at most 63 bytes.
///
/// Only such names reach SQL text, always double-quoted, so no option can inject SQL.
#[derive(Clone, PartialEq, Eq, Hash)]
///
/// # Examples
/// ```
/// use waypost::Identifier;
/// let table = Identifier::new("table", "projection_checkpoints")?;
/// assert_eq!(table.quoted(), "\"projection_checkpoints\"");
/// assert!(Identifier::new("table", "x; DROP TABLE users").is_err());
/// # Ok::<(), waypost::Error>(())
/// ```
pub struct Identifier(String);

impl Identifier {
    /// Validates `name`; `what` names the option in the error message.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) for anything that
    /// is not a plain identifier.
    ///
    /// # Examples
    /// ```
    /// let err = waypost::Identifier::new("schema", "1st").unwrap_err();
    /// assert_eq!(err.kind(), waypost::ErrorKind::InvalidArgument);
    /// assert!(err.to_string().contains("schema \"1st\""));
    /// ```
    pub fn new(what: &str, name: &str) -> Result<Self> {
        let mut chars = name.chars();
        let valid_start = matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic());
        let valid_rest = chars.all(|c| c == '_' || c.is_ascii_alphanumeric());
        if !valid_start || !valid_rest || name.len() > MAX_IDENTIFIER_BYTES {
            let shown: String = name.chars().take(80).collect();
            return Err(Error::invalid(format!(
                "{what} {shown:?} is not a valid identifier \
                 (letters, digits and _, not starting with a digit, at most {MAX_IDENTIFIER_BYTES} bytes)"
            )));
        }
        Ok(Identifier(name.to_owned()))
    }

    /// The name as given.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(waypost::Identifier::new("table", "orders")?.as_str(), "orders");
    /// # Ok::<(), waypost::Error>(())
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name double-quoted for SQL (safe: it contains no quote).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(waypost::Identifier::new("column", "event_id")?.quoted(), "\"event_id\"");
    /// # Ok::<(), waypost::Error>(())
    /// ```
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }

    /// The name in backquotes, MySQL's identifier quotes (safe: it contains none).
    #[cfg_attr(not(feature = "mysql"), allow(dead_code))]
    pub(crate) fn backquoted(&self) -> String {
        format!("`{}`", self.0)
    }

    /// A derived name (an index name) that stays within the identifier limit: long
    /// bases are shortened and suffixed with a hash so two bases never collide.
    #[cfg_attr(not(any(feature = "_sqlite", feature = "postgres", feature = "mysql")), allow(dead_code))]
    pub(crate) fn derived(&self, suffix: &str) -> Identifier {
        let full = format!("{}_{suffix}", self.0);
        if full.len() <= MAX_IDENTIFIER_BYTES {
            return Identifier(full);
        }
        let hash =
            self.0.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        let keep = MAX_IDENTIFIER_BYTES - suffix.len() - 10;
        Identifier(format!("{}_{:08x}_{suffix}", &self.0[..keep], hash as u32))
    }
}

impl fmt::Debug for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn accepts_plain_names_only() {
        for ok in ["events", "_x", "Projection_Checkpoints2", &"a".repeat(63)] {
            assert!(Identifier::new("table", ok).is_ok(), "{ok}");
        }
        for bad in ["", "1abc", "a-b", "a b", "x\"; DROP TABLE y; --", "é", &"a".repeat(64), "a.b"] {
            let err = Identifier::new("table", bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn derived_names_stay_short_and_distinct() {
        let a = Identifier::new("t", &format!("{}a", "x".repeat(62))).unwrap();
        let b = Identifier::new("t", &format!("{}b", "x".repeat(62))).unwrap();
        let (da, db) = (a.derived("lag_idx"), b.derived("lag_idx"));
        assert!(da.as_str().len() <= MAX_IDENTIFIER_BYTES);
        assert_ne!(da, db);
        assert_eq!(Identifier::new("t", "events").unwrap().derived("lag_idx").as_str(), "events_lag_idx");
    }
}
