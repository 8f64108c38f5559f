//! `hqq list [--json]`: the HQQ segments in `/dev/shm` (told from other
//! shared-memory objects by the superblock magic), with their configuration
//! and the processes registered in them.

use std::fmt;

use clap::Args;
use hqq_runtime::segment::{list_segment_names, peek_header, Segment, SEGMENT_DIR};
use hqq_runtime::superblock::{STATE_READY, SUPERBLOCK_MAGIC};
use serde::Serialize;

use super::inspect::read_report;
use super::liveness::Liveness;

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
    /// Layout size in bytes.
    pub layout_size: u64,
    /// Registered processes still running (`None` if the segment could not
    /// be mapped or has no extension block).
    pub live_processes: Option<usize>,
    /// Registered processes that are gone.
    pub dead_processes: Option<usize>,
}

/// The HQQ segments visible to this user, sorted by name.
pub fn list_segments() -> Result<Vec<ListedSegment>, ListError> {
    let names = list_segment_names().map_err(ListError::Directory)?;
    Ok(names
        .into_iter()
        .filter_map(|name| {
            // Segments vanish and others' segments are unreadable: skip them.
            let words = peek_header(&name).ok()?;
            (words[0] == SUPERBLOCK_MAGIC).then(|| listed(name, words))
        })
        .collect())
}

fn listed(name: String, words: [u64; 8]) -> ListedSegment {
    let processes = Segment::open(&name, 0)
        .ok()
        .and_then(|segment| read_report(&name, &segment).extension)
        .map(|ext| ext.processes);
    let live = processes.as_ref().map(|list| {
        list.iter()
            .filter(|p| matches!(p.liveness, Liveness::Alive | Liveness::Unverified))
            .count()
    });
    let dead = processes
        .as_ref()
        .zip(live)
        .map(|(list, live)| list.len() - live);
    ListedSegment {
        name,
        ready: words[1] == STATE_READY,
        slots: words[5],
        buffer_size: words[6],
        layout_size: words[7],
        live_processes: live,
        dead_processes: dead,
    }
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
            "{:<32} {:<8} {:>7} {:>8} {:>12}  processes",
            "name", "state", "slots", "buffer", "bytes"
        )?;
        for s in self.0 {
            let state = if s.ready { "ready" } else { "not ready" };
            let processes = match (s.live_processes, s.dead_processes) {
                (Some(live), Some(dead)) => format!("{live} alive, {dead} dead"),
                _ => "unknown".to_owned(),
            };
            writeln!(
                f,
                "{:<32} {:<8} {:>7} {:>8} {:>12}  {processes}",
                s.name, state, s.slots, s.buffer_size, s.layout_size
            )?;
        }
        Ok(())
    }
}
