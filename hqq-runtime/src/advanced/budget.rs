//! One receive budget for everything the Advanced link holds for the
//! application: messages being assembled, whole messages and requests
//! waiting to be taken, responses waiting for their caller and streamed
//! chunks waiting for `recv_stream`.
//!
//! Every held item is one *entry* and costs its buffer's capacity plus
//! [`ENTRY_BYTES`] of bookkeeping. Items are charged to an *account*: a
//! connection and a message kind (plain, request, response), so a peer that
//! floods unread plain messages on connection 0 fills only that account
//! and calls on connection 0 keep working. Each account has the
//! per-connection bounds and all accounts together have the link bounds.
//! A charge that does not fit is refused; the link then drops the message
//! and answers `Error(BufferOverflow)` with the connection id (see
//! [`AdvancedLink`](super::AdvancedLink)).

use crate::advanced::chunking::MessageKind;
use crate::advanced::idmap::IdMap;
use crate::codec::Limits;

/// Bookkeeping bytes charged per held item on top of its data, so that a
/// flood of empty messages is bounded by bytes too.
pub const ENTRY_BYTES: u64 = 128;

/// Bounds on what the receive side holds (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReceiveBudget {
    /// Most bytes held by the whole link (default 256 MiB).
    pub link_bytes: u64,
    /// Most items held by the whole link (default 4096).
    pub link_entries: usize,
    /// Most bytes held for one connection and message kind (default
    /// 128 MiB, two messages of the largest size).
    pub connection_bytes: u64,
    /// Most items held for one connection and message kind (default 1024).
    pub connection_entries: usize,
}

impl Default for ReceiveBudget {
    fn default() -> Self {
        ReceiveBudget {
            link_bytes: 4 * Limits::DEFAULT_MAX_MESSAGE_SIZE,
            link_entries: 4096,
            connection_bytes: 2 * Limits::DEFAULT_MAX_MESSAGE_SIZE,
            connection_entries: 1024,
        }
    }
}

/// Who an item is charged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Account {
    pub(crate) connection: u64,
    pub(crate) kind: MessageKind,
}

/// What a charge asked for that did not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Overflow {
    /// Bytes asked for.
    pub(crate) bytes: u64,
    /// Bytes the account or the link holds already (whichever was full).
    pub(crate) in_use: u64,
    /// The bound that was hit.
    pub(crate) max: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Usage {
    bytes: u64,
    entries: usize,
}

/// The live accounting behind a [`ReceiveBudget`].
#[derive(Debug, Default)]
pub(crate) struct Budget {
    limits: ReceiveBudget,
    link: Usage,
    accounts: IdMap<Account, Usage>,
}

impl Budget {
    pub(crate) fn new(limits: ReceiveBudget) -> Self {
        Budget {
            limits,
            link: Usage::default(),
            accounts: IdMap::default(),
        }
    }

    /// Charges `bytes` (and `entries` new items) to `account`, or refuses
    /// and changes nothing.
    pub(crate) fn charge(
        &mut self,
        account: Account,
        bytes: u64,
        entries: usize,
    ) -> Result<(), Overflow> {
        let limits = self.limits;
        let usage = self.accounts.get(&account).copied().unwrap_or_default();
        let refuse = |in_use: u64, max: u64| Overflow { bytes, in_use, max };
        if usage.bytes.saturating_add(bytes) > limits.connection_bytes {
            return Err(refuse(usage.bytes, limits.connection_bytes));
        }
        if self.link.bytes.saturating_add(bytes) > limits.link_bytes {
            return Err(refuse(self.link.bytes, limits.link_bytes));
        }
        if usage.entries.saturating_add(entries) > limits.connection_entries
            || self.link.entries.saturating_add(entries) > limits.link_entries
        {
            return Err(refuse(usage.bytes, limits.connection_bytes));
        }
        let slot = self.accounts.entry(account).or_default();
        slot.bytes += bytes;
        slot.entries += entries;
        self.link.bytes += bytes;
        self.link.entries += entries;
        Ok(())
    }

    /// Charges without checking the bounds, for the few items whose
    /// number other bounds limit (an eviction's Aborted event).
    pub(crate) fn charge_unchecked(&mut self, account: Account, bytes: u64, entries: usize) {
        let slot = self.accounts.entry(account).or_default();
        slot.bytes += bytes;
        slot.entries += entries;
        self.link.bytes += bytes;
        self.link.entries += entries;
    }

    /// Gives back what [`Budget::charge`] took.
    pub(crate) fn release(&mut self, account: Account, bytes: u64, entries: usize) {
        // An emptied account stays until its connection closes
        // (`forget_connection`): no map churn per message.
        if let Some(slot) = self.accounts.get_mut(&account) {
            slot.bytes = slot.bytes.saturating_sub(bytes);
            slot.entries = slot.entries.saturating_sub(entries);
        }
        self.link.bytes = self.link.bytes.saturating_sub(bytes);
        self.link.entries = self.link.entries.saturating_sub(entries);
    }

    /// Drops the accounts of `connection` that hold nothing (it closed).
    pub(crate) fn forget_connection(&mut self, connection: u64) {
        self.accounts.retain(|account, usage| {
            account.connection != connection || *usage != Usage::default()
        });
    }

    /// Bytes held by the whole link.
    pub(crate) fn bytes(&self) -> u64 {
        self.link.bytes
    }

    /// Items held by the whole link.
    pub(crate) fn entries(&self) -> usize {
        self.link.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(connection: u64, kind: MessageKind) -> Account {
        Account { connection, kind }
    }

    #[test]
    fn accounts_and_the_link_are_bounded() {
        let mut budget = Budget::new(ReceiveBudget {
            link_bytes: 1000,
            link_entries: 10,
            connection_bytes: 600,
            connection_entries: 3,
        });
        let plain = account(0, MessageKind::Plain);
        let request = account(0, MessageKind::Request);
        budget.charge(plain, 500, 1).unwrap();
        // The plain account is nearly full; requests on the same
        // connection have their own.
        assert_eq!(
            budget.charge(plain, 200, 1),
            Err(Overflow {
                bytes: 200,
                in_use: 500,
                max: 600
            })
        );
        budget.charge(request, 450, 1).unwrap();
        // The link as a whole is now the bound.
        let other = account(7, MessageKind::Plain);
        assert_eq!(
            budget.charge(other, 100, 1).unwrap_err().max,
            1000,
            "link bound"
        );
        budget.charge(other, 50, 1).unwrap();
        budget.charge(other, 0, 2).unwrap();
        assert!(budget.charge(other, 0, 1).is_err(), "entry bound");
        budget.release(plain, 500, 1);
        budget.release(request, 450, 1);
        budget.release(other, 50, 3);
        assert_eq!((budget.bytes(), budget.entries()), (0, 0));
        budget.forget_connection(0);
        assert_eq!(budget.accounts.len(), 1);
        budget.forget_connection(7);
        assert!(budget.accounts.is_empty());
    }
}
