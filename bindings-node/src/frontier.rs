//! The core's out-of-order acknowledgement frontier, as it is; `index.js` wraps it in
//! the documented `Frontier` class.

use napi_derive::napi;

use crate::convert::{int64_of, position, Int64, JsPosition};
use crate::errors::{thrown, Thrown};

/// Where a consumer whose events are handled in parallel may safely checkpoint.
#[napi]
pub struct NativeFrontier(waypost::Frontier);

#[napi]
impl NativeFrontier {
    #[napi(constructor)]
    pub fn new(start: Option<JsPosition>) -> Result<NativeFrontier, Thrown> {
        let start = start.map(position).transpose().map_err(thrown)?;
        waypost::Frontier::new(start).map(NativeFrontier).map_err(thrown)
    }

    #[napi]
    pub fn begin(&mut self, position: JsPosition) -> Result<(), Thrown> {
        let position = self::position(position).map_err(thrown)?;
        self.0.begin(position).map_err(thrown)
    }

    #[napi]
    pub fn ack(&mut self, position: JsPosition) -> Result<(), Thrown> {
        let position = self::position(position).map_err(thrown)?;
        self.0.ack(position).map_err(thrown)
    }

    #[napi(getter)]
    pub fn start(&self) -> Option<Int64> {
        int64_of(self.0.start())
    }

    #[napi(getter)]
    pub fn committed(&self) -> Option<Int64> {
        int64_of(self.0.committed())
    }

    #[napi(getter)]
    pub fn in_flight(&self) -> u32 {
        u32::try_from(self.0.in_flight()).unwrap_or(u32::MAX)
    }
}
