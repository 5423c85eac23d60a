//! The checkpoint protocol, declared once: each entry names the method and its
//! synchronous twin, the JS arguments, the result type, and one body that converts the
//! arguments, calls the core and maps the result. The macro makes the napi method (a
//! Promise) and the twin the in-memory repository answers on the spot.

use std::sync::Arc;

use napi_derive::napi;
use waypost::CheckpointRepository;

use crate::convert::{event_id, int64_of, position, Int64, JsPosition};
use crate::errors::Answer;
use crate::records::{CheckpointData, LagMetrics};
use crate::repository::NativeRepository;

macro_rules! protocol {
    ($( $name:ident / $sync:ident ( $($arg:ident : [$($ty:tt)*]),* ) -> [$($out:tt)*] $body:expr ; )*) => {
        #[napi]
        impl NativeRepository {
            $(
                #[napi]
                pub async fn $name(&self, $($arg: $($ty)*),*) -> Answer<$($out)*> {
                    Answer(($body)(Arc::clone(&self.inner)).await)
                }

                #[napi]
                pub fn $sync(&self, $($arg: $($ty)*),*) -> Answer<$($out)*> {
                    self.at_once(($body)(Arc::clone(&self.inner)))
                }
            )*
        }
    };
}

protocol! {
    get_checkpoint / get_checkpoint_sync (projection_name: [String]) -> [Option<String>]
        |r: Arc<dyn CheckpointRepository>| async move {
            Ok(r.get_checkpoint(&projection_name).await?.map(|u| u.to_string()))
        };
    update_checkpoint / update_checkpoint_sync (projection_name: [String], event_id: [String], event_type: [String]) -> [()]
        |r: Arc<dyn CheckpointRepository>| async move {
            let id = self::event_id(&event_id)?;
            r.update_checkpoint(&projection_name, id, &event_type).await
        };
    get_position / get_position_sync (subscription_id: [String]) -> [Option<Int64>]
        |r: Arc<dyn CheckpointRepository>| async move { Ok(int64_of(r.get_position(&subscription_id).await?)) };
    save_position / save_position_sync
        (subscription_id: [String], position: [JsPosition], event_id: [String], event_type: [String]) -> [()]
        |r: Arc<dyn CheckpointRepository>| async move {
            let (position, id) = (self::position(position)?, self::event_id(&event_id)?);
            r.save_position(&subscription_id, position, id, &event_type).await
        };
    get_position_token / get_position_token_sync (subscription_id: [String]) -> [Option<String>]
        |r: Arc<dyn CheckpointRepository>| async move { r.get_position_token(&subscription_id).await };
    save_position_token / save_position_token_sync
        (subscription_id: [String], token: [String], event_id: [String], event_type: [String]) -> [()]
        |r: Arc<dyn CheckpointRepository>| async move {
            let id = self::event_id(&event_id)?;
            r.save_position_token(&subscription_id, &token, id, &event_type).await
        };
    get_lag_metrics / get_lag_metrics_sync (projection_name: [String], event_types: [Option<Vec<String>>])
        -> [Option<LagMetrics>]
        |r: Arc<dyn CheckpointRepository>| async move {
            let metrics = r.get_lag_metrics(&projection_name, event_types.as_deref()).await?;
            Ok(metrics.map(LagMetrics::from))
        };
    reset_checkpoint / reset_checkpoint_sync (projection_name: [String]) -> [()]
        |r: Arc<dyn CheckpointRepository>| async move { r.reset_checkpoint(&projection_name).await };
    get_all_checkpoints / get_all_checkpoints_sync () -> [Vec<CheckpointData>]
        |r: Arc<dyn CheckpointRepository>| async move {
            Ok(r.get_all_checkpoints().await?.into_iter().map(CheckpointData::from).collect())
        };
}
