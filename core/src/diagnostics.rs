//! waypost's own warnings (a [`Checkpointer`](crate::Checkpointer) dropped with unsaved
//! events, the claims fallback to memory, a claim lost in the background) are `tracing`
//! events with a `code` field. A Rust program sees them through whatever subscriber it
//! installs. A process with no Rust subscriber of its own (Python, Node) passes them on
//! with [`forward_to`]: the bindings send them to Python's `logging` and Node's
//! `process.emitWarning`.

use std::fmt::Write as _;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
pub use tracing::Level;
use tracing::{Event, Metadata, Subscriber};

/// One of waypost's warnings, as a binding passes it on.
#[derive(Debug, Clone, PartialEq, Eq)]
///
/// # Examples
/// ```
/// let d = waypost::diagnostics::Diagnostic {
///     level: waypost::diagnostics::Level::WARN,
///     code: "lease_lost".into(),
///     message: "the claim of s3://b/a.csv was lost".into(),
/// };
/// assert_eq!(d.code, "lease_lost");
/// ```
pub struct Diagnostic {
    /// `WARN` or `ERROR`.
    pub level: Level,
    /// A stable name for the kind of warning: `checkpointer_unsaved`, `claims_fallback`,
    /// `lease_lost`; `warning` when the event has none.
    pub code: String,
    /// The text, with the event's other fields after it: `… (projection=orders, unsaved=3)`.
    pub message: String,
}

#[derive(Default)]
struct Fields {
    code: Option<String>,
    message: String,
    rest: Vec<String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "code" => self.code = Some(value.to_owned()),
            "message" => self.message = value.to_owned(),
            name => self.rest.push(format!("{name}={value}")),
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        match field.name() {
            "code" => self.code = Some(text.trim_matches('"').to_owned()),
            "message" => self.message = text,
            name => self.rest.push(format!("{name}={text}")),
        }
    }
}

struct Forward<F>(F);

impl<F: Fn(Diagnostic) + Send + Sync + 'static> Subscriber for Forward<F> {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        // waypost's own warnings only: the drivers' (sqlx's slow-statement notes) stay out.
        *metadata.level() <= Level::WARN && metadata.target().starts_with("waypost")
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut message = fields.message;
        if !fields.rest.is_empty() {
            let _ = write!(message, " ({})", fields.rest.join(", "));
        }
        let code = fields.code.unwrap_or_else(|| "warning".to_owned());
        (self.0)(Diagnostic { level: *event.metadata().level(), code, message });
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// Makes `sink` receive every warning of waypost's in this process, from any thread.
/// It is the process's global `tracing` subscriber, so this is for a program that has
/// none of its own (a binding's extension module); `false` when one was set already.
///
/// # Examples
/// ```
/// // A program without a tracing subscriber of its own (an extension module) forwards
/// // waypost's warnings to its host; the first call in a process installs the sink.
/// let installed = waypost::diagnostics::forward_to(|d| eprintln!("{}: {}", d.code, d.message));
/// assert!(installed);
/// assert!(!waypost::diagnostics::forward_to(|_| {}), "one sink per process");
/// ```
pub fn forward_to(sink: impl Fn(Diagnostic) + Send + Sync + 'static) -> bool {
    tracing::subscriber::set_global_default(Forward(sink)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_become_diagnostics_with_their_code_and_fields() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = seen.clone();
        let subscriber = Forward(move |d: Diagnostic| sink.lock().unwrap().push(d));
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(code = "checkpointer_unsaved", projection = %"orders", unsaved = 3, "dropped");
            tracing::warn!("no code");
            tracing::info!(code = "quiet", "below warn");
            tracing::warn!(target: "sqlx::query", "not ours");
        });
        let seen = seen.lock().unwrap();
        assert_eq!(
            *seen,
            vec![
                Diagnostic {
                    level: Level::WARN,
                    code: "checkpointer_unsaved".into(),
                    message: "dropped (projection=orders, unsaved=3)".into()
                },
                Diagnostic { level: Level::WARN, code: "warning".into(), message: "no code".into() },
            ]
        );
    }
}
