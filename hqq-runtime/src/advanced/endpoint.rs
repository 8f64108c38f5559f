//! One Advanced endpoint per side of a segment.
//!
//! Message and connection ids are per-sender counters, and the rings hand
//! each packet to whichever process of a side claims it first. Two Advanced
//! processes on one side would number their messages alike (the peer drops
//! both as `AlreadyBegun`) and take each other's chunks and responses. So
//! [`AdvancedLink::open`](super::AdvancedLink::open) and
//! [`create`](super::AdvancedLink::create) refuse to run beside another
//! live process of the same role in the segment's process table (see
//! [`crate::liveness`]); worker pools are a Standard link feature.
//!
//! The check runs after this process registered, so of two processes that
//! open at once at least one sees the other (both may be refused; neither
//! runs beside the other). It cannot see processes that do not register
//! (the Go implementation, or a segment without an extension block), nor a
//! Standard-link process that joins the side later: those are the
//! application's to avoid.

use crate::link::{LinkOpenError, StandardLink};
use crate::liveness::{ProcessRecord, ProcessStatus};
use crate::superblock::Role;

/// Why [`AdvancedLink::open`](super::AdvancedLink::open) or
/// [`create`](super::AdvancedLink::create) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdvancedOpenError {
    /// The Standard link below could not be opened.
    #[error(transparent)]
    Link(#[from] LinkOpenError),
    /// Another live process already uses this side of the segment; an
    /// Advanced link needs the side to itself.
    #[error("process {pid} already uses the {role:?} side of this segment; an Advanced link needs its side to itself")]
    SideInUse {
        /// The side.
        role: Role,
        /// The other process.
        pid: u64,
    },
}

/// `Err` if another live (or possibly live) process of our role is in the
/// process table of `link`'s segment.
pub(crate) fn check_sole_endpoint(link: &StandardLink) -> Result<(), AdvancedOpenError> {
    let (Some(ext), Some(me), Some(probe)) =
        (link.memory().extension(), link.registration(), link.probe())
    else {
        return Ok(());
    };
    let role = link.role();
    for (index, entry) in ext.processes().iter().enumerate() {
        if index == me.index() {
            continue;
        }
        let record = ProcessRecord::load(entry);
        if record.is_used()
            && record.role() == Some(role)
            && record.status(index, &probe) != ProcessStatus::Dead
        {
            return Err(AdvancedOpenError::SideInUse {
                role,
                pid: record.pid,
            });
        }
    }
    Ok(())
}
