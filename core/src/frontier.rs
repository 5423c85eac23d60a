//! The out-of-order acknowledgement frontier: where a consumer whose events are handled in
//! parallel may safely checkpoint.
//!
//! Handlers finish out of order; a checkpoint saved at the highest finished position
//! would skip every slower event below it after a crash. A [`Frontier`] is told each
//! position as its handling begins ([`begin`](Frontier::begin), in stream order) and
//! as it ends ([`ack`](Frontier::ack), in any order), and reports
//! [`committed`](Frontier::committed): the highest acknowledged position below which
//! every begun position is acknowledged too. Saving only that never puts a checkpoint
//! past an unfinished event. Positions that were never begun (filtered events, gaps in
//! the stream) never hold it back.
//!
//! ```
//! use waypost::Frontier;
//!
//! let mut frontier = Frontier::new(Some(10))?;
//! for position in [11, 12, 14] {
//!     frontier.begin(position)?;
//! }
//! frontier.ack(12)?;
//! assert_eq!(frontier.committed(), Some(10)); // 11 is still being handled
//! frontier.ack(11)?;
//! assert_eq!(frontier.committed(), Some(12)); // 13 was never begun: no hold
//! assert_eq!(frontier.in_flight(), 1);
//! assert!(frontier.ack(12).is_err()); // twice
//! assert!(frontier.begin(13).is_err()); // not after 14
//! # Ok::<(), waypost::Error>(())
//! ```

use std::collections::VecDeque;

use crate::checkpoint::validate_position;
use crate::error::{Error, Result};

/// Begun positions and whether each is acknowledged, and the frontier they leave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    /// The checkpoint to resume from, reported until a begun position is acknowledged
    /// with every begun position below it.
    start: Option<i64>,
    /// Begun positions not yet behind the frontier, in increasing order, with whether
    /// each is acknowledged. The first is never acknowledged (it would have advanced).
    pending: VecDeque<(i64, bool)>,
    /// How many entries of `pending` are not acknowledged.
    unacked: usize,
    /// The highest position begun so far (a later `begin` must be above it).
    last_begun: Option<i64>,
    /// The frontier.
    committed: Option<i64>,
}

impl Frontier {
    /// A frontier resuming from `start` (the stored checkpoint, or `None` for a consumer
    /// that has none). `InvalidArgument` for a negative start.
    pub fn new(start: Option<i64>) -> Result<Self> {
        if let Some(start) = start {
            validate_position(start)?;
        }
        Ok(Frontier { start, committed: start, ..Frontier::default() })
    }

    /// The position the frontier started from.
    pub fn start(&self) -> Option<i64> {
        self.start
    }

    /// Records that handling of the event at `position` has begun. Positions must be
    /// begun in strictly increasing order, each above the start: `InvalidArgument`
    /// otherwise (and for a negative position), with nothing recorded.
    pub fn begin(&mut self, position: i64) -> Result<()> {
        validate_position(position)?;
        if let Some(floor) = self.last_begun.max(self.start) {
            if position <= floor {
                let what = match self.last_begun == Some(floor) {
                    true => "the last position begun",
                    false => "the start",
                };
                return Err(Error::InvalidArgument {
                    message: format!(
                        "position {position} begun after {floor} ({what}): positions are begun in strictly increasing order"
                    ),
                });
            }
        }
        self.pending.push_back((position, false));
        self.unacked += 1;
        self.last_begun = Some(position);
        Ok(())
    }

    /// Records that handling of the event at `position` has finished, and moves the
    /// frontier past every acknowledged position that no unacknowledged one precedes.
    /// `InvalidArgument` for a position that was not begun or is acknowledged already,
    /// with nothing changed.
    pub fn ack(&mut self, position: i64) -> Result<()> {
        let index = self.pending.binary_search_by_key(&position, |&(p, _)| p);
        let entry = match index {
            Ok(i) if !self.pending[i].1 => &mut self.pending[i],
            Ok(_) => return Err(self.bad_ack(position, "was acknowledged already")),
            Err(_) if self.committed.is_some_and(|c| position <= c) => {
                return Err(self.bad_ack(position, "is behind the frontier (acknowledged already, or never begun)"))
            }
            Err(_) => return Err(self.bad_ack(position, "was never begun")),
        };
        entry.1 = true;
        self.unacked -= 1;
        while let Some(&(position, true)) = self.pending.front() {
            self.committed = Some(position);
            self.pending.pop_front();
        }
        Ok(())
    }

    fn bad_ack(&self, position: i64, why: &str) -> Error {
        Error::InvalidArgument { message: format!("cannot acknowledge position {position}: it {why}") }
    }

    /// The highest acknowledged position below which every begun position is
    /// acknowledged too; the start until there is one.
    pub fn committed(&self) -> Option<i64> {
        self.committed
    }

    /// How many begun positions are not acknowledged yet.
    pub fn in_flight(&self) -> usize {
        self.unacked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_acks_move_the_frontier_one_by_one() {
        let mut f = Frontier::new(None).unwrap();
        assert_eq!(f.committed(), None);
        for p in 1..=3 {
            f.begin(p).unwrap();
        }
        for p in 1..=3 {
            f.ack(p).unwrap();
            assert_eq!(f.committed(), Some(p));
        }
        assert_eq!(f.in_flight(), 0);
    }

    #[test]
    fn an_unfinished_position_holds_the_frontier_until_it_is_acknowledged() {
        let mut f = Frontier::new(Some(0)).unwrap();
        for p in [5, 6, 9, 20] {
            f.begin(p).unwrap();
        }
        for p in [20, 9, 6] {
            f.ack(p).unwrap();
            assert_eq!(f.committed(), Some(0), "5 is still in flight");
        }
        assert_eq!(f.in_flight(), 1);
        f.ack(5).unwrap();
        assert_eq!(f.committed(), Some(20));
    }

    #[test]
    fn bad_input_is_refused_and_changes_nothing() {
        let mut f = Frontier::new(Some(3)).unwrap();
        assert!(Frontier::new(Some(-1)).is_err());
        for bad in [-1, 2, 3] {
            assert_eq!(f.begin(bad).unwrap_err().kind(), crate::ErrorKind::InvalidArgument);
        }
        f.begin(4).unwrap();
        f.begin(7).unwrap();
        let before = f.clone();
        assert!(f.begin(7).is_err() && f.begin(5).is_err());
        assert!(f.ack(5).unwrap_err().to_string().contains("never begun"));
        assert!(f.ack(3).unwrap_err().to_string().contains("behind the frontier"));
        assert_eq!(f, before);
        f.ack(7).unwrap();
        assert!(f.ack(7).unwrap_err().to_string().contains("acknowledged already"));
        f.ack(4).unwrap();
        assert!(f.ack(4).unwrap_err().to_string().contains("behind the frontier"));
        assert!(f.ack(6).unwrap_err().to_string().contains("behind the frontier"));
        assert_eq!((f.committed(), f.in_flight()), (Some(7), 0));
    }
}
