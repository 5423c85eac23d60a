//! The core's warnings, forwarded to JS.

use napi_derive::napi;

/// Passes the core's warnings (a checkpointer dropped unsaved, the claims fallback, a
/// claim lost) to `onWarning(code, message)` on the JS thread; `index.js` calls it once
/// with `process.emitWarning`. Weak: it never keeps the process alive. `false` when
/// this process already forwards them.
#[napi]
pub fn forward_warnings(on_warning: napi::bindgen_prelude::Function<(String, String), ()>) -> napi::Result<bool> {
    let on_warning = on_warning.build_threadsafe_function().callee_handled::<false>().weak::<true>().build()?;
    Ok(waypost::diagnostics::forward_to(move |d| {
        on_warning.call((d.code, d.message), napi::threadsafe_function::ThreadsafeFunctionCallMode::NonBlocking);
    }))
}
