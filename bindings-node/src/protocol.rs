//! The checkpoint protocol, declared once: each entry names the method, the JS arguments,
//! the result type, and one body that converts the arguments, calls the core and maps the
//! result; `by_key` marks the reads by primary key. The macro makes the napi method: it
//! runs the call on the JS thread as far as it goes without waiting (`at_hand`), so an
//! answer at hand (the in-memory store, SQLite's read-only connection) comes back as the
//! value itself, and anything else as a Promise of it. On SQLite only the `by_key` reads
//! start there, and the `write`s with `inlineWrites`; its other calls start on napi's
//! runtime (`NativeRepository::start_here`).

use std::sync::Arc;

use napi::Env;
use napi_derive::napi;
use waypost::CheckpointRepository;

use crate::convert::{event_id, int64_of, position, Int64, JsPosition};
use crate::errors::{at_hand, spawned, AtHand};
use crate::records::{CheckpointData, LagMetrics};
use crate::repository::NativeRepository;

macro_rules! protocol {
    ($( $name:ident $($key:ident)? ( $($arg:ident : [$($ty:tt)*]),* ) -> [$($out:tt)*] $body:expr ; )*) => {
        #[napi]
        impl NativeRepository {
            $(
                #[napi]
                pub fn $name<'env>(&self, env: &'env Env, $($arg: $($ty)*),*) -> AtHand<'env, $($out)*> {
                    let future = ($body)(Arc::clone(&self.inner));
                    match self.start_here || protocol!(@here self $($key)?) {
                        true => at_hand(env, future),
                        false => spawned(env, future),
                    }
                }
            )*
        }
    };
    // `by_key`: a read by primary key, answered on the JS thread by every store.
    (@here $repo:ident by_key) => { true };
    // `write`: a checkpoint write, done on the JS thread with SQLite's `inlineWrites`.
    (@here $repo:ident write) => { $repo.writes_here };
    (@here $repo:ident) => { false };
}

protocol! {
    get_checkpoint by_key (projection_name: [String]) -> [Option<String>]
        |r: Arc<dyn CheckpointRepository>| async move {
            Ok(r.get_checkpoint(&projection_name).await?.map(|u| u.to_string()))
        };
    update_checkpoint write (projection_name: [String], event_id: [String], event_type: [String]) -> [()]
        |r: Arc<dyn CheckpointRepository>| async move {
            let id = self::event_id(&event_id)?;
            r.update_checkpoint(&projection_name, id, &event_type).await
        };
    get_position by_key (subscription_id: [String]) -> [Option<Int64>]
        |r: Arc<dyn CheckpointRepository>| async move { Ok(int64_of(r.get_position(&subscription_id).await?)) };
    save_position write
        (subscription_id: [String], position: [JsPosition], event_id: [String], event_type: [String]) -> [()]
        |r: Arc<dyn CheckpointRepository>| async move {
            let (position, id) = (self::position(position)?, self::event_id(&event_id)?);
            r.save_position(&subscription_id, position, id, &event_type).await
        };
    get_position_token by_key (subscription_id: [String]) -> [Option<String>]
        |r: Arc<dyn CheckpointRepository>| async move { r.get_position_token(&subscription_id).await };
    save_position_token write
        (subscription_id: [String], token: [String], event_id: [String], event_type: [String]) -> [()]
        |r: Arc<dyn CheckpointRepository>| async move {
            let id = self::event_id(&event_id)?;
            r.save_position_token(&subscription_id, &token, id, &event_type).await
        };
    get_lag_metrics (projection_name: [String], event_types: [Option<Vec<String>>])
        -> [Option<LagMetrics>]
        |r: Arc<dyn CheckpointRepository>| async move {
            let metrics = r.get_lag_metrics(&projection_name, event_types.as_deref()).await?;
            Ok(metrics.map(LagMetrics::from))
        };
    reset_checkpoint (projection_name: [String]) -> [()]
        |r: Arc<dyn CheckpointRepository>| async move { r.reset_checkpoint(&projection_name).await };
    get_all_checkpoints () -> [Vec<CheckpointData>]
        |r: Arc<dyn CheckpointRepository>| async move {
            Ok(r.get_all_checkpoints().await?.into_iter().map(CheckpointData::from).collect())
        };
}
