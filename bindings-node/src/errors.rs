//! Core errors as JS errors with napi's `code`: the kind (`"InvalidArgument"`,
//! `"Conflict"`, …), which `index.js` maps to the matching error class.
//!
//! napi-rs gives an async function's error a fixed status, made off the JS thread. A
//! method therefore answers an [`Answer`]: its value, or the core error, which becomes
//! the JS error on the JS thread, with the kind as its status. Constructors, which napi
//! lets return only `Result<Self, _>`, use the kind as the status directly ([`Thrown`]).

use std::future::Future;
use std::task::{Context, Poll, Waker};

use napi::bindgen_prelude::{Either, JsError, PromiseRaw, ToNapiValue, Unknown};
use napi::{sys, Env};
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

/// What a protocol method returns: the answer itself when it was at hand, else a Promise.
pub(crate) type AtHand<'env, T> = napi::Result<Either<Answer<T>, PromiseRaw<'env, Answer<T>>>>;

/// Runs a call on the JS thread as far as it goes without waiting. An answer at hand (the
/// in-memory store; SQLite's read-only connection) is returned as the value, saving the hop
/// to napi's runtime and back (tens of microseconds, ten primary-key reads); a call that
/// has to wait (a queued SQLite call, a network round trip) continues on the runtime and
/// is returned as a Promise. The first poll runs inside the runtime's context, so a
/// network future registers with its reactor; it never blocks (a future that waits
/// returns `Pending`, and the SQLite store never blocks in place off a runtime worker).
pub(crate) fn at_hand<'env, T, F>(env: &'env Env, future: F) -> AtHand<'env, T>
where
    T: ToNapiValue + Send + 'static,
    F: Future<Output = Outcome<T>> + Send + 'static,
{
    let mut future = Box::pin(future);
    let first = napi::bindgen_prelude::within_runtime_if_available(|| {
        future.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    });
    match first {
        Poll::Ready(outcome) => Ok(Either::A(Answer(outcome))),
        Poll::Pending => env.spawn_future(async move { Ok(Answer(future.await)) }).map(Either::B),
    }
}

/// Runs a call on napi's runtime from its start: always a Promise.
pub(crate) fn spawned<'env, T, F>(env: &'env Env, future: F) -> AtHand<'env, T>
where
    T: ToNapiValue + Send + 'static,
    F: Future<Output = Outcome<T>> + Send + 'static,
{
    env.spawn_future(async move { Ok(Answer(future.await)) }).map(Either::B)
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
