//! Core errors as JS errors with napi's `code`: the kind (`"InvalidArgument"`,
//! `"Conflict"`, …), which `index.js` maps to the matching error class.
//!
//! napi-rs gives an async function's error a fixed status, made off the JS thread. A
//! method therefore answers an [`Answer`]: its value, or the core error, which becomes
//! the JS error on the JS thread, with the kind as its status. Constructors, which napi
//! lets return only `Result<Self, _>`, use the kind as the status directly ([`Thrown`]).

use napi::bindgen_prelude::{JsError, ToNapiValue, Unknown};
use napi::sys;
use waypost::ErrorKind;

/// The core's result, as the bindings' helpers return it.
pub(crate) type Outcome<T> = Result<T, waypost::Error>;

/// What a constructor throws: napi's error with the kind as its status (its `code`).
pub(crate) type Thrown = napi::Error<ErrorKind>;

/// A method's value, or the core error, thrown (or rejected) as a JS `Error` whose
/// `code` is the kind.
pub struct Answer<T>(pub Outcome<T>);

impl<T> From<Outcome<T>> for Answer<T> {
    fn from(outcome: Outcome<T>) -> Self {
        Answer(outcome)
    }
}

impl<T: ToNapiValue> ToNapiValue for Answer<T> {
    unsafe fn to_napi_value(env: sys::napi_env, answer: Self) -> napi::Result<sys::napi_value> {
        match answer.0 {
            Ok(value) => unsafe { T::to_napi_value(env, value) },
            // An error that holds a JS value is thrown (or rejected with) as that value.
            Err(err) => Err(unsafe {
                let value = JsError::from(thrown(err)).into_value(env);
                napi::Error::from(Unknown::from_raw_unchecked(env, value))
            }),
        }
    }
}

/// The answer of an async block that uses `?` on core errors.
pub(crate) async fn answer<T>(outcome: impl std::future::Future<Output = Outcome<T>>) -> Answer<T> {
    Answer(outcome.await)
}

pub(crate) fn thrown(err: waypost::Error) -> Thrown {
    napi::Error::new(err.kind(), err.to_string())
}

pub(crate) fn invalid(message: String) -> waypost::Error {
    waypost::Error::InvalidArgument { message }
}
