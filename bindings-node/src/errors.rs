//! Core errors as JS errors: the kind goes first, as a `"Kind: message"` prefix that
//! `index.js` turns into the matching error class.

/// The JS error for a core error: `"Kind: message"`, read back by `index.js`.
pub(crate) fn to_js_err(err: waypost::Error) -> napi::Error {
    napi::Error::from_reason(format!("{}: {err}", err.kind()))
}

pub(crate) fn invalid(message: String) -> napi::Error {
    to_js_err(waypost::Error::InvalidArgument { message })
}
