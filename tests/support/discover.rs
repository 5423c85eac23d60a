//! The Rust suites' side of the one server discovery, `tests/support/with-*.sh`:
//! included by `core/tests/support` and `examples/rust/tests/common`.

use std::path::Path;
use std::process::Command;

/// The server `tests/support/<script>` chose: its variable `var` when the suite runs
/// under the script (`make test`), else what `<script> --url` finds now (the variable or
/// the local server). `None` (after saying why) when there is none: that suite's tests
/// are skipped, and under `CI=true` they fail instead.
pub fn server_url(script: &str, var: &str) -> Option<String> {
    if let Ok(url) = std::env::var(var) {
        return Some(url);
    }
    let script_in = |dir: &Path| dir.join("tests/support").join(script);
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = manifest.ancestors().map(script_in).find(|p| p.exists()).unwrap_or_else(|| script_in(manifest));
    let found = Command::new(&path).arg("--url").output();
    let problem = match found {
        Ok(out) if out.status.success() => return Some(String::from_utf8_lossy(&out.stdout).trim().to_owned()),
        Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        Err(e) => format!("cannot run {}: {e}", path.display()),
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true but {script} found no server: {problem}");
    }
    eprintln!("SKIPPED: tests that need {var} ({problem})");
    None
}
