//! `hqq stat NAME [--watch] [--json]`: the statistics every process on a
//! segment publishes (`<NAME>.stat-<pid>`, see `hqq_runtime::stats`), per
//! process and direction, with rates between samples (`--watch`) and
//! latency percentiles, in the manner of AeronStat.
//!
//! Published blocks are read as untrusted memory by the runtime; a block
//! that does not read is shown with its error. Processes that publish
//! nothing (a Go peer, or an hqq link without `publish_stats`) are named
//! where the segment's process table shows them, and the report says when
//! a side of the link publishes nothing at all.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use clap::Args;
use hdrhistogram::Histogram;
use hqq_runtime::link::DirectionStats;
use hqq_runtime::stats::{read_published, StatSnapshot};
use hqq_runtime::superblock::Role;
use serde::Serialize;

use super::inspect::{inspect_segment, status_name, InspectError};
use super::link::parse_duration;

/// Arguments of `hqq stat`.
#[derive(Debug, Args)]
pub struct StatArgs {
    /// Segment name (as in /dev/shm).
    pub name: String,
    /// Print a new sample every `--interval`, with rates since the last.
    #[arg(long)]
    pub watch: bool,
    /// Print JSON (with `--watch`: one object per line).
    #[arg(long)]
    pub json: bool,
    /// Time between samples with `--watch`, e.g. `500ms`, `2s`.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Stop after this many samples with `--watch` [default: never].
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
}

/// Why `hqq stat` failed.
#[derive(Debug, thiserror::Error)]
pub enum StatError {
    /// Neither the segment nor any published statistics of it exist.
    #[error("segment {0:?} does not exist and publishes no statistics")]
    NotFound(String),
    /// `/dev/shm` could not be listed.
    #[error("listing /dev/shm")]
    List(#[from] std::io::Error),
    /// The report could not be written as JSON.
    #[error("serializing the report")]
    Json(#[from] serde_json::Error),
}

/// One sample of every published block of a segment.
#[derive(Debug, Clone, Serialize)]
pub struct StatReport {
    /// The segment name.
    pub segment: String,
    /// Seconds since the previous sample (`None` for the first).
    pub interval_seconds: Option<f64>,
    /// One entry per companion segment.
    pub processes: Vec<ProcessStat>,
    /// What is not known, and why.
    pub notes: Vec<String>,
}

/// One process's published block.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessStat {
    /// The companion segment's name.
    pub name: String,
    /// `alive`, `dead` or `unknown` (from the kernel's locks).
    pub owner: &'static str,
    /// Why the block could not be read (then every other field is empty).
    pub error: Option<String>,
    /// The owner's pid.
    pub pid: u64,
    /// `primary`, `secondary` or `invalid`.
    pub role: &'static str,
    /// Standard link counters, sending direction.
    pub tx: DirectionReport,
    /// Standard link counters, receiving direction.
    pub rx: DirectionReport,
    /// Advanced link counters (`None`: no Advanced link counts here).
    pub advanced: Option<AdvancedReport>,
    /// Per-connection counters of the Advanced link.
    pub connections: Vec<ConnectionReport>,
    /// Call latency (start to answer), nanoseconds.
    pub call_latency: Percentiles,
    /// Message delivery latency (start of send to last chunk in the ring).
    pub delivery_latency: Percentiles,
}

/// One direction's counters and rates.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct DirectionReport {
    /// Packets.
    pub packets: u64,
    /// Payload bytes.
    pub bytes: u64,
    /// Failed operations.
    pub errors: u64,
    /// Packets per second since the previous sample.
    pub packets_per_second: Option<f64>,
    /// Bytes per second since the previous sample.
    pub bytes_per_second: Option<f64>,
}

/// The Advanced link's counters.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct AdvancedReport {
    /// Messages sent.
    pub messages_sent: u64,
    /// Messages received.
    pub messages_received: u64,
    /// Message bytes sent.
    pub bytes_sent: u64,
    /// Message bytes received.
    pub bytes_received: u64,
    /// Messages sent per second since the previous sample.
    pub messages_sent_per_second: Option<f64>,
    /// Messages received per second since the previous sample.
    pub messages_received_per_second: Option<f64>,
    /// Typed errors (bad input, refused operations).
    pub errors: u64,
    /// Negotiation time, nanoseconds.
    pub negotiation_ns: u64,
    /// Bytes before compression per byte after (0: nothing compressed).
    pub compression_ratio: f64,
    /// Bytes of compressed messages, before compression.
    pub compression_input_bytes: u64,
    /// The same messages as sent.
    pub compression_output_bytes: u64,
    /// Time spent compressing, nanoseconds.
    pub compression_ns: u64,
    /// Bytes decompressed.
    pub decompressed_bytes: u64,
    /// Time spent decompressing, nanoseconds.
    pub decompression_ns: u64,
}

/// One connection's counters.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ConnectionReport {
    /// The connection id (`None`: connections that found the table full).
    pub connection: Option<u64>,
    /// Messages sent.
    pub messages_sent: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Messages received.
    pub messages_received: u64,
    /// Bytes received.
    pub bytes_received: u64,
}

/// Latency percentiles in nanoseconds (within 6.25% of the recorded values).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
}

fn percentiles(h: &Histogram<u64>) -> Percentiles {
    if h.is_empty() {
        return Percentiles::default();
    }
    Percentiles {
        count: h.len(),
        p50: h.value_at_quantile(0.5),
        p90: h.value_at_quantile(0.9),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        max: h.max(),
    }
}

fn role_name(role: Option<Role>) -> &'static str {
    match role {
        Some(Role::Primary) => "primary",
        Some(Role::Secondary) => "secondary",
        None => "invalid",
    }
}

/// A rate of `now - before` over `seconds` (`None` without a previous sample
/// or if the counter went back).
fn rate(now: u64, before: Option<u64>, seconds: Option<f64>) -> Option<f64> {
    let (before, seconds) = (before?, seconds?);
    (seconds > 0.0 && now >= before).then(|| (now - before) as f64 / seconds)
}

fn direction(
    now: &DirectionStats,
    before: Option<&DirectionStats>,
    seconds: Option<f64>,
) -> DirectionReport {
    DirectionReport {
        packets: now.packets,
        bytes: now.bytes,
        errors: now.errors,
        packets_per_second: rate(now.packets, before.map(|b| b.packets), seconds),
        bytes_per_second: rate(now.bytes, before.map(|b| b.bytes), seconds),
    }
}

fn process_stat(
    s: &StatSnapshot,
    before: Option<&StatSnapshot>,
    seconds: Option<f64>,
) -> ProcessStat {
    let advanced = s.advanced.map(|a| {
        let b = before.and_then(|b| b.advanced);
        AdvancedReport {
            messages_sent: a.messages_sent,
            messages_received: a.messages_received,
            bytes_sent: a.bytes_sent,
            bytes_received: a.bytes_received,
            messages_sent_per_second: rate(a.messages_sent, b.map(|b| b.messages_sent), seconds),
            messages_received_per_second: rate(
                a.messages_received,
                b.map(|b| b.messages_received),
                seconds,
            ),
            errors: a.errors,
            negotiation_ns: nanos(a.negotiation_time),
            compression_ratio: a.compression_ratio(),
            compression_input_bytes: a.compression_input_bytes,
            compression_output_bytes: a.compression_output_bytes,
            compression_ns: nanos(a.compression_time),
            decompressed_bytes: a.decompressed_bytes,
            decompression_ns: nanos(a.decompression_time),
        }
    });
    ProcessStat {
        name: String::new(),
        owner: "unknown",
        error: None,
        pid: s.pid,
        role: role_name(s.role),
        tx: direction(&s.link.tx, before.map(|b| &b.link.tx), seconds),
        rx: direction(&s.link.rx, before.map(|b| &b.link.rx), seconds),
        advanced,
        connections: s
            .connections
            .iter()
            .map(|c| ConnectionReport {
                connection: c.connection,
                messages_sent: c.messages_sent,
                bytes_sent: c.bytes_sent,
                messages_received: c.messages_received,
                bytes_received: c.bytes_received,
            })
            .collect(),
        call_latency: percentiles(&s.latencies.calls),
        delivery_latency: percentiles(&s.latencies.deliveries),
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The previous sample of each block, for rates.
#[derive(Debug, Default)]
pub struct Sampler {
    previous: HashMap<String, StatSnapshot>,
    taken: Option<Instant>,
}

impl Sampler {
    /// Reads every published block of `segment` and what the segment's
    /// process table says about processes that publish nothing.
    pub fn sample(&mut self, segment: &str) -> Result<StatReport, StatError> {
        let published = read_published(segment)?;
        let table = inspect_segment(segment);
        if published.is_empty() && matches!(table, Err(InspectError::Open(_))) {
            return Err(StatError::NotFound(segment.to_owned()));
        }
        let now = Instant::now();
        let seconds = self.taken.map(|t| now.duration_since(t).as_secs_f64());
        self.taken = Some(now);
        let mut previous = std::mem::take(&mut self.previous);
        let mut processes = Vec::new();
        for p in published {
            let owner = status_name(p.owner);
            let stat = match p.stats {
                Ok(s) => {
                    let mut stat = process_stat(&s, previous.remove(&p.name).as_ref(), seconds);
                    self.previous.insert(p.name.clone(), s);
                    stat.name = p.name;
                    stat.owner = owner;
                    stat
                }
                Err(e) => unreadable(p.name, owner, &e),
            };
            processes.push(stat);
        }
        let notes = notes(&processes, table.ok());
        Ok(StatReport {
            segment: segment.to_owned(),
            interval_seconds: seconds,
            processes,
            notes,
        })
    }
}

fn unreadable(name: String, owner: &'static str, error: &dyn std::error::Error) -> ProcessStat {
    ProcessStat {
        name,
        owner,
        error: Some(super::error_line(error)),
        pid: 0,
        role: "invalid",
        tx: DirectionReport::default(),
        rx: DirectionReport::default(),
        advanced: None,
        connections: Vec::new(),
        call_latency: Percentiles::default(),
        delivery_latency: Percentiles::default(),
    }
}

/// What the report cannot show: registered processes that publish nothing,
/// sides of the link with no publishing process, dead owners.
fn notes(processes: &[ProcessStat], table: Option<super::inspect::SegmentReport>) -> Vec<String> {
    let mut notes = Vec::new();
    let live = |p: &&ProcessStat| p.error.is_none() && p.owner != "dead";
    match table.as_ref().map(|t| t.extension.as_ref()) {
        None => notes.push("the segment itself does not exist (left-over statistics?)".into()),
        Some(None) => notes.push(
            "the segment has no process table (a Go primary): processes that publish nothing are not listed"
                .into(),
        ),
        Some(Some(ext)) => {
            for p in ext.processes.iter().filter(|p| p.status != "dead") {
                if !processes.iter().filter(live).any(|s| s.pid == p.pid) {
                    notes.push(format!(
                        "pid {} ({}) is registered but publishes no statistics",
                        p.pid, p.role
                    ));
                }
            }
        }
    }
    for role in ["primary", "secondary"] {
        if !processes.iter().filter(live).any(|p| p.role == role) {
            notes.push(format!(
                "no {role} process publishes statistics (a Go peer publishes none; an hqq link only with publish_stats)"
            ));
        }
    }
    for p in processes.iter().filter(|p| p.owner == "dead") {
        notes.push(format!(
            "{}: its owner is dead (remove it with `hqq clean`)",
            p.name
        ));
    }
    notes
}

/// Prints the statistics of `args.name`, once or every `--interval`.
pub fn run(args: &StatArgs) -> Result<(), StatError> {
    let mut sampler = Sampler::default();
    let mut printed = 0u64;
    loop {
        let report = sampler.sample(&args.name)?;
        if args.json && args.watch {
            println!("{}", serde_json::to_string(&report)?);
        } else if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{report}");
        }
        printed += 1;
        if !args.watch || args.count.is_some_and(|n| printed >= n) {
            return Ok(());
        }
        std::thread::sleep(args.interval);
    }
}

fn per_second(rate: Option<f64>) -> String {
    rate.map_or_else(String::new, |r| format!(" ({r:.0}/s)"))
}

fn show_nanos(ns: u64) -> String {
    match ns {
        0..=9_999 => format!("{ns}ns"),
        10_000..=9_999_999 => format!("{:.1}us", ns as f64 / 1e3),
        _ => format!("{:.1}ms", ns as f64 / 1e6),
    }
}

impl fmt::Display for Percentiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.count == 0 {
            return write!(f, "none");
        }
        write!(
            f,
            "n={} p50 {} p90 {} p99 {} p99.9 {} max {}",
            self.count,
            show_nanos(self.p50),
            show_nanos(self.p90),
            show_nanos(self.p99),
            show_nanos(self.p999),
            show_nanos(self.max)
        )
    }
}

impl fmt::Display for DirectionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} packets{}  {} bytes{}  {} errors",
            self.packets,
            per_second(self.packets_per_second),
            self.bytes,
            per_second(self.bytes_per_second),
            self.errors
        )
    }
}

impl fmt::Display for ProcessStat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(error) = &self.error {
            return writeln!(
                f,
                "{} (owner {}): unreadable: {error}",
                self.name, self.owner
            );
        }
        writeln!(
            f,
            "pid {} {} {} ({})",
            self.pid, self.role, self.owner, self.name
        )?;
        writeln!(f, "  tx        {}", self.tx)?;
        writeln!(f, "  rx        {}", self.rx)?;
        if let Some(a) = &self.advanced {
            writeln!(
                f,
                "  messages  tx {}{} ({} bytes)  rx {}{} ({} bytes)  errors {}  negotiated in {}",
                a.messages_sent,
                per_second(a.messages_sent_per_second),
                a.bytes_sent,
                a.messages_received,
                per_second(a.messages_received_per_second),
                a.bytes_received,
                a.errors,
                show_nanos(a.negotiation_ns)
            )?;
            if a.compression_input_bytes != 0 || a.decompressed_bytes != 0 {
                writeln!(
                    f,
                    "  compress  ratio {:.2} ({} -> {} bytes in {})  decompressed {} bytes in {}",
                    a.compression_ratio,
                    a.compression_input_bytes,
                    a.compression_output_bytes,
                    show_nanos(a.compression_ns),
                    a.decompressed_bytes,
                    show_nanos(a.decompression_ns)
                )?;
            }
            for c in &self.connections {
                let id = c
                    .connection
                    .map_or_else(|| "other".to_owned(), |c| c.to_string());
                writeln!(
                    f,
                    "  conn {id:<4} tx {} ({} bytes)  rx {} ({} bytes)",
                    c.messages_sent, c.bytes_sent, c.messages_received, c.bytes_received
                )?;
            }
            writeln!(f, "  calls     {}", self.call_latency)?;
            writeln!(f, "  delivery  {}", self.delivery_latency)?;
        }
        Ok(())
    }
}

impl fmt::Display for StatReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "segment {}: {} process(es) publish statistics",
            self.segment,
            self.processes.len()
        )?;
        for p in &self.processes {
            write!(f, "{p}")?;
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        Ok(())
    }
}
