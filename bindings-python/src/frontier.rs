//! `waypost.Frontier`: the core's out-of-order acknowledgement frontier, as it is.

use pyo3::prelude::*;

use crate::convert::Position;
use crate::errors::to_py_err;

/// Where a consumer whose events are handled in parallel may safely checkpoint.
///
/// ``begin(position)`` as each event's handling starts (in stream order),
/// ``ack(position)`` as it ends (in any order); ``committed`` is the highest acknowledged
/// position below which every begun position is acknowledged too (``start`` until there
/// is one), so saving only it never skips an unfinished event. Positions never begun
/// (filtered events, gaps) never hold it back.
#[pyclass(module = "waypost", name = "Frontier")]
pub struct Frontier(waypost::Frontier);

#[pymethods]
impl Frontier {
    #[new]
    #[pyo3(signature = (start = None))]
    fn new(start: Option<Position>) -> PyResult<Self> {
        waypost::Frontier::new(start.map(|p| p.0)).map(Frontier).map_err(to_py_err)
    }

    /// Records that handling of ``position`` began; positions are begun in strictly
    /// increasing order, each above ``start`` (``InvalidArgumentError`` otherwise).
    fn begin(&mut self, position: Position) -> PyResult<()> {
        self.0.begin(position.0).map_err(to_py_err)
    }

    /// Records that handling of ``position`` ended; ``InvalidArgumentError`` for a
    /// position never begun or acknowledged already.
    fn ack(&mut self, position: Position) -> PyResult<()> {
        self.0.ack(position.0).map_err(to_py_err)
    }

    /// The position it started from.
    #[getter]
    fn start(&self) -> Option<i64> {
        self.0.start()
    }

    /// The position that is safe to checkpoint.
    #[getter]
    fn committed(&self) -> Option<i64> {
        self.0.committed()
    }

    /// How many begun positions are not acknowledged yet.
    #[getter]
    fn in_flight(&self) -> usize {
        self.0.in_flight()
    }

    fn __repr__(&self) -> String {
        let show = |p: Option<i64>| p.map_or("None".to_owned(), |p| p.to_string());
        format!(
            "Frontier(start={}, committed={}, in_flight={})",
            show(self.0.start()),
            show(self.0.committed()),
            self.0.in_flight()
        )
    }
}
