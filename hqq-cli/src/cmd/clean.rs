//! `hqq clean [NAME...] [--force]`: removes stale segments — those whose
//! every registered process is proven dead (its liveness lock is free) and
//! that no other process maps or holds open — and prints each one it
//! removes. Without names it looks at every HQQ segment in `/dev/shm`.
//!
//! A segment with a live registered process, with no registered process
//! at all (a Go peer's), or that another process still maps or holds open
//! (the kernel refuses a write lease on it; a process that never registers
//! shows only this way) is kept, with the reason, unless `--force` is given
//! (which removes the named segments, or every HQQ segment, whatever their
//! state). Removing the name never unmaps anything: a process still using
//! the memory keeps it until it exits. A process that opens the segment
//! between the check and the removal keeps its mapping but loses the name.
//!
//! Published statistics (`NAME.stat-<pid>`, see `hqq stat`) whose owner is
//! proven dead (its lock on the block is free) go too: those of the named
//! segments, or all of them; `--force` removes those of the named segments
//! whatever their state.

use std::fmt;

use clap::Args;
use hqq_runtime::liveness::ProcessStatus;
use hqq_runtime::segment::{
    inspect_segment, list_hqq_segments, list_segment_names, segment_users, Segment, SegmentInfo,
    SegmentOwner, SegmentPeekError, SegmentUnlinkError, SEGMENT_DIR,
};
use hqq_runtime::stats::{read_stat_segment, stat_segment_names, StatReadError};

/// Arguments of `hqq clean`.
#[derive(Debug, Args)]
pub struct CleanArgs {
    /// Segments to remove (default: every HQQ segment in /dev/shm).
    pub names: Vec<String>,
    /// Remove them even if a process may still use them.
    #[arg(long)]
    pub force: bool,
}

/// Why `hqq clean` failed.
#[derive(Debug, thiserror::Error)]
pub enum CleanError {
    /// The shared-memory directory could not be read.
    #[error("reading {SEGMENT_DIR}")]
    Directory(#[source] std::io::Error),
    /// A named segment could not be looked at.
    #[error(transparent)]
    Peek(#[from] SegmentPeekError),
    /// Removing a segment's name failed.
    #[error(transparent)]
    Unlink(#[from] SegmentUnlinkError),
    /// Some named segments were kept (the reasons are printed).
    #[error("{0} named segment(s) kept; --force removes them anyway")]
    Kept(usize),
}

/// Why a segment is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeepReason {
    /// Not an HQQ segment (no superblock magic).
    NotHqq,
    /// A registered process is alive (or cannot be judged).
    Alive,
    /// No process ever registered: it may be a Go peer's.
    NoneRegistered,
    /// Processes that do not register map it or hold it open.
    Used(Vec<u32>),
    /// The kernel could not be asked whether other processes use it (a
    /// write lease needs the file's owner), so such users cannot be ruled
    /// out.
    UsersUnknown,
}

impl fmt::Display for KeepReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeepReason::NotHqq => f.write_str("not an HQQ segment"),
            KeepReason::Alive => f.write_str("a registered process is alive"),
            KeepReason::NoneRegistered => {
                f.write_str("no process registered (it may belong to a Go peer)")
            }
            KeepReason::Used(pids) if pids.is_empty() => {
                f.write_str("still mapped or open by a process /proc does not show")
            }
            KeepReason::Used(pids) => {
                let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
                write!(f, "still mapped or open by pid {}", pids.join(", "))
            }
            KeepReason::UsersUnknown => f.write_str(
                "cannot tell whether processes that do not register use it (only its owner can ask the kernel)",
            ),
        }
    }
}

/// Whether segment `info` may be removed without `--force`.
pub fn keep_reason(info: &SegmentInfo) -> Result<Option<KeepReason>, SegmentPeekError> {
    if !info.is_hqq {
        return Ok(Some(KeepReason::NotHqq));
    }
    match info.owner {
        SegmentOwner::Alive => return Ok(Some(KeepReason::Alive)),
        SegmentOwner::Unknown => return Ok(Some(KeepReason::NoneRegistered)),
        SegmentOwner::Dead => {}
    }
    let users = segment_users(&info.name)?;
    Ok(match users.in_use {
        Some(false) => None,
        Some(true) => Some(KeepReason::Used(users.pids)),
        None => Some(KeepReason::UsersUnknown),
    })
}

/// Removes the stale segments among `args.names` (or all), printing what
/// it removes and what it keeps.
pub fn run(args: &CleanArgs) -> Result<(), CleanError> {
    let named = !args.names.is_empty();
    let segments = if named {
        args.names
            .iter()
            .map(|name| inspect_segment(name))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        list_hqq_segments().map_err(CleanError::Directory)?
    };
    let (mut removed, mut kept) = (0usize, 0usize);
    for info in &segments {
        match keep_reason(info)? {
            Some(reason) if !args.force => {
                // Without names, only stale candidates are worth a line.
                if named || info.owner == SegmentOwner::Dead {
                    println!("kept {}: {reason}", info.name);
                }
                kept += 1;
            }
            reason => {
                remove(&info.name)?;
                removed += 1;
                match reason {
                    None => println!("removed {} (every registered process is dead)", info.name),
                    Some(reason) => println!("removed {} (--force; {reason})", info.name),
                }
            }
        }
    }
    if removed == 0 && !named {
        println!("no stale HQQ segments in {SEGMENT_DIR}");
    }
    remove_dead_statistics(args)?;
    if named && kept > 0 {
        return Err(CleanError::Kept(kept));
    }
    Ok(())
}

/// Removes the published statistics blocks of dead processes (of the named
/// segments, or all); with names and `--force`, all of theirs.
fn remove_dead_statistics(args: &CleanArgs) -> Result<(), CleanError> {
    let names = if args.names.is_empty() {
        let mut all = list_segment_names().map_err(CleanError::Directory)?;
        all.retain(|name| name.contains(".stat-"));
        all
    } else {
        let mut named = Vec::new();
        for segment in &args.names {
            named.extend(stat_segment_names(segment).map_err(CleanError::Directory)?);
        }
        named
    };
    let force = args.force && !args.names.is_empty();
    for name in names {
        let (owner, stats) = read_stat_segment(&name);
        // Only files that are statistics blocks (right magic), unless forced.
        let is_block = !matches!(
            stats,
            Err(StatReadError::Magic { .. } | StatReadError::Open(_))
        );
        if force || (is_block && owner == ProcessStatus::Dead) {
            remove(&name)?;
            println!("removed {name} (statistics of a dead process, or --force)");
        }
    }
    Ok(())
}

/// Removes the name of segment `name`.
fn remove(name: &str) -> Result<(), SegmentUnlinkError> {
    match Segment::open(name, 1) {
        Ok(mut segment) => segment.unlink(),
        // Gone meanwhile: nothing left to remove.
        Err(_) => Ok(()),
    }
}
