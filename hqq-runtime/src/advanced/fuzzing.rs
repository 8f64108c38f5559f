//! Entry points for the fuzz targets and their bounded tests
//! (`fuzz/fuzz_targets/reassembly.rs`, `tests/fuzz_reassembly.rs`): the
//! reassembler with its budget, which the link keeps private. Not part of
//! the API; hidden from the docs.

use std::time::Instant;

use crate::advanced::budget::{Budget, ReceiveBudget};
use crate::advanced::reassembly::{
    Assembled, MessageKey, Reassembler, ReassemblyError, ReassemblyLimits,
};
use crate::payload_view::PayloadView;
use crate::protocol::ConnCopy;

/// What [`ReassemblerProbe::accept`] made of a chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probed {
    /// The message needs more chunks.
    Partial,
    /// The message is complete.
    Complete {
        /// Which message.
        key: MessageKey,
        /// Its bytes.
        data: Vec<u8>,
    },
    /// The message was aborted.
    Aborted(MessageKey),
}

/// The link's reassembler and receive budget, driven directly.
#[derive(Debug)]
pub struct ReassemblerProbe {
    reassembler: Reassembler,
    budget: Budget,
}

impl ReassemblerProbe {
    /// A reassembler with `limits` charging to `budget`.
    pub fn new(limits: ReassemblyLimits, budget: ReceiveBudget) -> Self {
        ReassemblerProbe {
            reassembler: Reassembler::new(limits),
            budget: Budget::new(budget),
        }
    }

    /// Takes a decoded chunk and its payload. A completed message's budget
    /// is given back at once (as if the application took it).
    pub fn accept(
        &mut self,
        chunk: &ConnCopy,
        payload: PayloadView<'_>,
    ) -> Result<Probed, ReassemblyError> {
        let assembled =
            self.reassembler
                .accept(chunk, payload, &mut self.budget, Instant::now())?;
        Ok(match assembled {
            Assembled::Partial => Probed::Partial,
            Assembled::Aborted(key) => Probed::Aborted(key),
            Assembled::Complete(message) => {
                self.budget.release(message.account(), message.charged, 1);
                Probed::Complete {
                    key: message.key,
                    data: message.data,
                }
            }
        })
    }

    /// Drops the messages in progress on `connection`.
    pub fn drop_connection(&mut self, connection: u64) {
        self.reassembler
            .drop_connection(connection, &mut self.budget);
    }

    /// Messages in progress.
    pub fn in_progress(&self) -> usize {
        self.reassembler.in_progress_count()
    }

    /// Bytes and items held of the budget.
    pub fn held(&self) -> (u64, usize) {
        (self.budget.bytes(), self.budget.entries())
    }
}
