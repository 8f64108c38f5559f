//! Whether a process named in a segment's process table still runs, judged
//! from `/proc/<pid>/stat` (pid and start time, so a reused pid is not
//! mistaken for the original process).

use serde::Serialize;

/// What `/proc` says about a process-table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Liveness {
    /// The pid runs and its start time matches the entry.
    Alive,
    /// No process has this pid.
    Dead,
    /// A process has this pid but started at another time: the original
    /// process is gone and its pid was reused.
    PidReused,
    /// The pid runs; the entry records no start time to compare.
    Unverified,
}

impl std::fmt::Display for Liveness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Liveness::Alive => "alive",
            Liveness::Dead => "dead",
            Liveness::PidReused => "dead (pid reused)",
            Liveness::Unverified => "running (start time not recorded)",
        })
    }
}

/// The liveness of process `pid` that started at `start_time` (clock ticks
/// after boot, field 22 of `/proc/<pid>/stat`; 0 if unknown).
///
/// ```
/// use hqq_cli::cmd::liveness::{liveness, Liveness};
///
/// let me = std::process::id().into();
/// assert_ne!(liveness(me, 0), Liveness::Dead);
/// ```
pub fn liveness(pid: u64, start_time: u64) -> Liveness {
    if pid == 0 || pid > i32::MAX as u64 {
        return Liveness::Dead;
    }
    match process_start_time(pid) {
        None => Liveness::Dead,
        Some(_) if start_time == 0 => Liveness::Unverified,
        Some(actual) if actual == start_time => Liveness::Alive,
        Some(_) => Liveness::PidReused,
    }
}

/// Field 22 (`starttime`) of `/proc/<pid>/stat`, `None` if the process does
/// not exist or the file cannot be parsed.
pub fn process_start_time(pid: u64) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces
    // or parentheses itself; the fields after the last ')' start at 3.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(22 - 3)?.parse().ok()
}
