//! `hqq list [--json]`: the HQQ segments in `/dev/shm` (told from other
//! shared-memory objects by the superblock magic), with their configuration
//! and the liveness of the processes registered in them.

use std::fmt;

use clap::Args;
use hqq_runtime::segment::{list_hqq_segments, SegmentInfo, SegmentOwner, SEGMENT_DIR};
use hqq_runtime::superblock::STATE_READY;
use serde::Serialize;

use super::inspect::status_name;

/// Arguments of `hqq list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print the list as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Why `hqq list` failed.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The shared-memory directory could not be read.
    #[error("reading {SEGMENT_DIR}")]
    Directory(#[source] std::io::Error),
    /// The list could not be written as JSON.
    #[error("serializing the list")]
    Json(#[from] serde_json::Error),
}

/// One HQQ segment.
#[derive(Debug, Clone, Serialize)]
pub struct ListedSegment {
    /// Segment name.
    pub name: String,
    /// Whether the superblock state is ready.
    pub ready: bool,
    /// Ring slots per direction.
    pub slots: u64,
    /// Bytes per payload buffer.
    pub buffer_size: u64,
    /// Length of the segment in bytes.
    pub bytes: u64,
    /// `alive` (a registered process runs), `dead` (every registered
    /// process is gone: the segment is stale) or `unknown` (none
    /// registered, e.g. a Go-owned segment).
    pub owner: &'static str,
    /// Registered processes and their status, as `pid:status`.
    pub processes: Vec<String>,
}

impl From<SegmentInfo> for ListedSegment {
    fn from(info: SegmentInfo) -> Self {
        ListedSegment {
            ready: info.header[1] == STATE_READY,
            slots: info.header[5],
            buffer_size: info.header[6],
            bytes: info.len,
            owner: match info.owner {
                SegmentOwner::Alive => "alive",
                SegmentOwner::Dead => "dead",
                SegmentOwner::Unknown => "unknown",
            },
            processes: info
                .processes
                .iter()
                .map(|(_, record, status)| format!("{}:{}", record.pid, status_name(*status)))
                .collect(),
            name: info.name,
        }
    }
}

/// The HQQ segments visible to this user, sorted by name.
pub fn list_segments() -> Result<Vec<ListedSegment>, ListError> {
    let segments = list_hqq_segments().map_err(ListError::Directory)?;
    Ok(segments.into_iter().map(ListedSegment::from).collect())
}

/// Prints the list on stdout.
pub fn run(args: &ListArgs) -> Result<(), ListError> {
    let segments = list_segments()?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&segments)?);
    } else {
        print!("{}", Table(&segments));
    }
    Ok(())
}

struct Table<'a>(&'a [ListedSegment]);

impl fmt::Display for Table<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return writeln!(f, "no HQQ segments in {SEGMENT_DIR}");
        }
        writeln!(
            f,
            "{:<32} {:<9} {:>7} {:>8} {:>12}  {:<7}  processes",
            "name", "state", "slots", "buffer", "bytes", "owner"
        )?;
        for s in self.0 {
            let state = if s.ready { "ready" } else { "not ready" };
            writeln!(
                f,
                "{:<32} {:<9} {:>7} {:>8} {:>12}  {:<7}  {}",
                s.name,
                state,
                s.slots,
                s.buffer_size,
                s.bytes,
                s.owner,
                s.processes.join(" ")
            )?;
        }
        Ok(())
    }
}
