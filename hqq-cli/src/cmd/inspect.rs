//! `hqq inspect NAME [--json]`: everything a segment says about itself —
//! superblock, configuration, ring positions and occupancy per direction,
//! every slot's sequence word and the packet in every published slot, the
//! extension block (wake-up words, process table with liveness proven by
//! the kernel's locks).
//!
//! The segment may be written by a peer while we read it, or be garbage:
//! every word is read with an atomic load, every offset comes from a
//! checked [`Layout`], and what does not add up is listed under
//! [`SegmentReport::problems`] instead of failing. The command exits with
//! status 1 when there is any problem (a file that is not an HQQ segment,
//! a slot or packet no correct peer leaves, a registered process that
//! died), so scripts can test segments with it.

use std::fmt;
use std::sync::atomic::Ordering;

use clap::Args;
use hqq_runtime::codec::{DecodeError, Limits};
use hqq_runtime::extension::{
    EXTENSION_MAGIC, EXTENSION_OFFSET, PROCESS_ENTRY_SIZE, PROCESS_TABLE_LEN, PROCESS_TABLE_OFFSET,
};
use hqq_runtime::layout::{Direction, Layout, PAGE_SIZE, RING_HEADER_SIZE, RING_SLOT_SIZE};
use hqq_runtime::liveness::{LockProbe, ProcessRecord, ProcessStatus};
use hqq_runtime::protocol::Message;
use hqq_runtime::ring::{RING_FLAG_INITIALIZED, RING_MAGIC};
use hqq_runtime::segment::{Segment, SegmentOpenError, SEGMENT_DIR};
use hqq_runtime::superblock::{
    Role, STATE_EMPTY, STATE_INITIALIZING, STATE_READY, SUPERBLOCK_MAGIC, SUPERBLOCK_SIZE,
};
use hqq_runtime::Packet;
use serde::Serialize;

/// Arguments of `hqq inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Segment name (as in /dev/shm).
    pub name: String,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Why `hqq inspect` failed.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// The segment could not be opened.
    #[error(transparent)]
    Open(#[from] SegmentOpenError),
    /// The report could not be written as JSON.
    #[error("serializing the report")]
    Json(#[from] serde_json::Error),
    /// The report (printed) lists problems.
    #[error("{count} problem(s) found in segment {name:?}")]
    Problems {
        /// The segment name.
        name: String,
        /// How many problems the report lists.
        count: usize,
    },
}

/// Prints the report of segment `args.name` on stdout; fails after
/// printing it if it lists any problem.
pub fn run(args: &InspectArgs) -> Result<(), InspectError> {
    let report = inspect_segment(&args.name)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    if report.problems.is_empty() {
        Ok(())
    } else {
        Err(InspectError::Problems {
            name: args.name.clone(),
            count: report.problems.len(),
        })
    }
}

/// A snapshot of one segment.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentReport {
    /// Segment name.
    pub name: String,
    /// Path of the shared-memory object.
    pub path: String,
    /// Length of the segment, in bytes.
    pub length: u64,
    /// The wire superblock (`None` if the segment is shorter than 64 bytes).
    pub superblock: Option<SuperblockReport>,
    /// The two rings (empty if the configuration gives no usable layout).
    pub rings: Vec<RingReport>,
    /// Our extension block (`None` if absent: a Go primary, or garbage).
    pub extension: Option<ExtensionReport>,
    /// The statistics published next to the segment, one line per
    /// companion segment (`NAME.stat-<pid>`; `hqq stat NAME` shows them in
    /// full). The segment itself keeps none.
    pub statistics: Vec<String>,
    /// Everything inconsistent found on the way.
    pub problems: Vec<String>,
}

/// The eight superblock words.
#[derive(Debug, Clone, Serialize)]
pub struct SuperblockReport {
    /// Magic word.
    pub magic: u64,
    /// Whether it is the HQQ magic.
    pub magic_ok: bool,
    /// State word.
    pub state: u64,
    /// `empty`, `initializing`, `ready` or `invalid`.
    pub state_name: &'static str,
    /// Major version.
    pub major: u64,
    /// Minor version.
    pub minor: u64,
    /// Page size.
    pub page_size: u64,
    /// Ring slots (payload buffers) per direction.
    pub slots: u64,
    /// Bytes per payload buffer.
    pub buffer_size: u64,
    /// Total layout size.
    pub layout_size: u64,
}

/// One ring's header.
#[derive(Debug, Clone, Serialize)]
pub struct RingReport {
    /// `primary->secondary` (ring 0) or `secondary->primary` (ring 1).
    pub direction: &'static str,
    /// Offset of the ring in the segment.
    pub offset: u64,
    /// Whether the ring magic is right.
    pub magic_ok: bool,
    /// Slot count in the ring header.
    pub slot_count: u64,
    /// Whether the initialized flag is set.
    pub initialized: bool,
    /// Read position (consumers).
    pub read: u64,
    /// Write position (producers).
    pub write: u64,
    /// `write - read`: packets published or being written and not yet
    /// consumed (`None` if the positions make no sense).
    pub occupancy: Option<u64>,
    /// What the slots' sequence words say (`None` if the slots were not
    /// checked: the positions make no sense, or moved while being read).
    pub slots: Option<SlotCounts>,
}

/// How many slots of a ring are in each state their sequence word allows.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct SlotCounts {
    /// Free for a producer.
    pub free: u64,
    /// Claimed by a producer, being written.
    pub writing: u64,
    /// Published, waiting for a consumer (their packets were checked).
    pub published: u64,
    /// Claimed by a consumer, being read.
    pub reading: u64,
    /// In no state a correct ring allows (each one is a problem).
    pub invalid: u64,
}

/// Our extension block.
#[derive(Debug, Clone, Serialize)]
pub struct ExtensionReport {
    /// Extension version.
    pub version: u64,
    /// Wake-up words, ring 0 then ring 1.
    pub wake_words: Vec<WakeWords>,
    /// Occupied process-table entries.
    pub processes: Vec<ProcessReport>,
}

/// The futex words of one direction.
#[derive(Debug, Clone, Serialize)]
pub struct WakeWords {
    /// Direction, as in [`RingReport::direction`].
    pub direction: &'static str,
    /// Bumped after each publish.
    pub data_seq: u32,
    /// Consumers asleep waiting for data.
    pub data_waiters: u32,
    /// Bumped after each release.
    pub space_seq: u32,
    /// Producers asleep waiting for space.
    pub space_waiters: u32,
}

/// One occupied process-table entry.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessReport {
    /// Entry index.
    pub entry: usize,
    /// Process id.
    pub pid: u64,
    /// Start time (clock ticks after boot).
    pub start_time: u64,
    /// Generation of the entry (bumped on every claim).
    pub generation: u64,
    /// `primary`, `secondary` or `invalid` (from the flag bits).
    pub role: &'static str,
    /// Pid namespace inode of the process (0 if unknown).
    pub pid_namespace: u64,
    /// `alive` (its liveness lock is held), `dead` (the lock is free: the
    /// process is gone) or `unknown` (recorded without a lock, by an older
    /// runtime, or the lock could not be probed).
    pub status: &'static str,
}

/// The words of `record` as a report line, with `status`.
fn process_report(entry: usize, record: &ProcessRecord, status: ProcessStatus) -> ProcessReport {
    ProcessReport {
        entry,
        pid: record.pid,
        start_time: record.start_time,
        generation: record.generation,
        role: match record.role() {
            Some(Role::Primary) => "primary",
            Some(Role::Secondary) => "secondary",
            None => "invalid",
        },
        pid_namespace: record.pid_namespace,
        status: status_name(status),
    }
}

/// How `hqq` prints a [`ProcessStatus`].
pub fn status_name(status: ProcessStatus) -> &'static str {
    match status {
        ProcessStatus::Alive => "alive",
        ProcessStatus::Dead => "dead",
        ProcessStatus::Unknown => "unknown",
    }
}

const DIRECTIONS: [(Direction, &str); 2] = [
    (Direction::PrimaryToSecondary, "primary->secondary"),
    (Direction::SecondaryToPrimary, "secondary->primary"),
];

/// One line per companion segment of `name` (published statistics).
fn published_statistics(name: &str) -> Vec<String> {
    let Ok(published) = hqq_runtime::stats::read_published(name) else {
        return Vec::new();
    };
    published
        .into_iter()
        .map(|p| match p.stats {
            Ok(s) => format!(
                "{}: pid {}, owner {}, tx {} packets {} bytes, rx {} packets {} bytes",
                p.name,
                s.pid,
                status_name(p.owner),
                s.link.tx.packets,
                s.link.tx.bytes,
                s.link.rx.packets,
                s.link.rx.bytes
            ),
            Err(e) => format!(
                "{}: owner {}, unreadable: {e}",
                p.name,
                status_name(p.owner)
            ),
        })
        .collect()
}

/// Opens segment `name` and reads its report. Only opening can fail;
/// inconsistent contents end up in [`SegmentReport::problems`].
pub fn inspect_segment(name: &str) -> Result<SegmentReport, InspectError> {
    let segment = Segment::open(name, 0)?;
    Ok(read_report(name, &segment))
}

/// The report of a mapped segment.
pub fn read_report(name: &str, segment: &Segment) -> SegmentReport {
    let word = |offset: usize| {
        segment
            .atomic_u64(offset)
            .map(|w| w.load(Ordering::Relaxed))
    };
    let mut problems = Vec::new();
    let length = segment.len() as u64;
    let superblock = read_superblock(&word);
    let mut rings = Vec::new();
    match &superblock {
        None => problems.push(format!(
            "segment is {length} bytes, shorter than the {SUPERBLOCK_SIZE}-byte superblock"
        )),
        Some(sb) => {
            if !sb.magic_ok {
                problems.push(format!(
                    "superblock magic is {:#018x}, not HQQ's {SUPERBLOCK_MAGIC:#018x}",
                    sb.magic
                ));
            }
            if sb.state != STATE_READY {
                problems.push(format!("segment is not ready (state {})", sb.state_name));
            }
            if sb.page_size != PAGE_SIZE && sb.state == STATE_READY {
                problems.push(format!("page size {} is not {PAGE_SIZE}", sb.page_size));
            }
            match Layout::new(sb.slots, sb.buffer_size) {
                Err(error) if sb.state == STATE_READY => problems.push(format!(
                    "configuration {} x {} has no layout: {error}",
                    sb.slots, sb.buffer_size
                )),
                Err(_) => {}
                Ok(layout) => {
                    let total = layout.total_size() as u64;
                    if total != sb.layout_size {
                        problems.push(format!(
                            "layout size word {} differs from the computed {total}",
                            sb.layout_size
                        ));
                    }
                    if total > length {
                        problems.push(format!(
                            "layout needs {total} bytes, the segment has {length}"
                        ));
                    } else {
                        for (direction, label) in DIRECTIONS {
                            let mut ring = read_ring(&word, &layout, direction, label);
                            check_ring(&ring, layout.count(), &mut problems);
                            ring.slots =
                                check_slots(&word, &layout, direction, &ring, &mut problems);
                            rings.push(ring);
                        }
                    }
                }
            }
        }
    }
    let extension = read_extension(segment, &mut problems);
    SegmentReport {
        name: name.to_owned(),
        path: format!("{SEGMENT_DIR}/{name}"),
        length,
        superblock,
        rings,
        extension,
        statistics: published_statistics(name),
        problems,
    }
}

fn read_superblock(word: &impl Fn(usize) -> Option<u64>) -> Option<SuperblockReport> {
    let magic = word(0)?;
    let state = word(8)?;
    Some(SuperblockReport {
        magic,
        magic_ok: magic == SUPERBLOCK_MAGIC,
        state,
        state_name: match state {
            STATE_EMPTY => "empty",
            STATE_INITIALIZING => "initializing",
            STATE_READY => "ready",
            _ => "invalid",
        },
        major: word(16)?,
        minor: word(24)?,
        page_size: word(32)?,
        slots: word(40)?,
        buffer_size: word(48)?,
        layout_size: word(56)?,
    })
}

fn read_ring(
    word: &impl Fn(usize) -> Option<u64>,
    layout: &Layout,
    direction: Direction,
    label: &'static str,
) -> RingReport {
    let base = layout.ring_offset(direction);
    let at = |offset: usize| base.checked_add(offset).and_then(word).unwrap_or(0);
    // Read first the read position, then the write position: a consumer
    // never passes a producer, so `write - read` stays meaningful under
    // concurrent traffic as long as the ring is sane.
    let read = at(24);
    let write = at(128);
    let occupancy = write
        .checked_sub(read)
        .filter(|&occupied| occupied <= layout.count());
    RingReport {
        direction: label,
        offset: base as u64,
        magic_ok: at(0) == RING_MAGIC,
        slot_count: at(8),
        initialized: at(16) & RING_FLAG_INITIALIZED != 0,
        read,
        write,
        occupancy,
        slots: None,
    }
}

/// Checks every slot's sequence word of `direction`'s ring against the
/// positions in `ring`, and decodes the packet of every published slot.
/// Returns `None` (checking nothing) if the positions make no sense or
/// moved while the slots were read: a live ring is only checked at rest.
fn check_slots(
    word: &impl Fn(usize) -> Option<u64>,
    layout: &Layout,
    direction: Direction,
    ring: &RingReport,
    problems: &mut Vec<String>,
) -> Option<SlotCounts> {
    ring.occupancy?;
    let (read, write, count) = (ring.read, ring.write, layout.count());
    let base = layout.ring_offset(direction);
    let slot_offset = |i: u64| {
        let offset = RING_HEADER_SIZE.checked_add(RING_SLOT_SIZE.checked_mul(i)?)?;
        base.checked_add(usize::try_from(offset).ok()?)
    };
    let mut counts = SlotCounts::default();
    let mut found = Vec::new();
    for i in 0..count {
        let at = slot_offset(i)?;
        let seq = word(at.checked_add(64)?)?;
        // The position this slot holds in the lap that starts at `read`.
        let p = read.wrapping_add(i.wrapping_sub(read) % count);
        let state = if p < write {
            match seq {
                s if s == p => Some(&mut counts.writing),
                s if s == p.wrapping_add(1) => Some(&mut counts.published),
                _ => None,
            }
        } else {
            match seq {
                s if s == p => Some(&mut counts.free),
                s if p >= count && s == p - count + 1 => Some(&mut counts.reading),
                _ => None,
            }
        };
        match state {
            Some(n) => *n += 1,
            None => {
                counts.invalid += 1;
                found.push(format!(
                    "ring {}: slot {i} has sequence word {seq}, which positions read {read} / write {write} do not allow",
                    ring.direction
                ));
            }
        }
        if p < write && seq == p.wrapping_add(1) {
            let words: [Option<u64>; 8] = std::array::from_fn(|w| word(at + 8 * w));
            let packet = Packet::from_words(words.map(|w| w.unwrap_or(0)));
            if let Some(problem) = check_packet(&packet, i, layout) {
                found.push(format!("ring {}: slot {i}: {problem}", ring.direction));
            }
        }
    }
    // A ring that moved meanwhile was read at two different moments.
    let at_rest = word(base + 24) == Some(read) && word(base + 128) == Some(write);
    at_rest.then(|| {
        problems.extend(found);
        counts
    })
}

/// What is wrong with `packet`, published in slot `slot`, if anything.
fn check_packet(packet: &Packet, slot: u64, layout: &Layout) -> Option<String> {
    let message = match Message::decode(packet) {
        Ok(message) => message,
        // The application range: packets the protocol leaves to programs
        // (`hqq send`'s end of stream is one).
        Err(DecodeError::UnknownOpcode(0x80..=0xEF)) => return None,
        Err(error) => return Some(format!("packet does not decode: {error}")),
    };
    if let Err(violation) = message.validate(&Limits::new(layout.count(), layout.size())) {
        return Some(format!(
            "{}: {} = {} breaks `{}`",
            packet_name(&message),
            violation.operand,
            violation.value,
            violation.rule
        ));
    }
    let mirrored = match message {
        Message::StandardLinkCopy(copy) => Some(copy.buffer_index),
        Message::StandardLinkTombstone(tombstone) => Some(tombstone.buffer_index),
        _ => None,
    };
    mirrored.filter(|&index| index != slot).map(|index| {
        format!(
            "{} names buffer {index}, not its slot's",
            packet_name(&message)
        )
    })
}

fn packet_name(message: &Message) -> &'static str {
    match message {
        Message::StandardLinkCopy(_) => "StandardLinkCopy",
        Message::StandardLinkTombstone(_) => "StandardLinkTombstone",
        _ => "packet",
    }
}

fn check_ring(ring: &RingReport, count: u64, problems: &mut Vec<String>) {
    let direction = ring.direction;
    if !ring.magic_ok {
        problems.push(format!("ring {direction}: bad magic"));
    }
    if ring.slot_count != count {
        problems.push(format!(
            "ring {direction}: header says {} slots, the superblock {count}",
            ring.slot_count
        ));
    }
    if !ring.initialized {
        problems.push(format!("ring {direction}: not initialized"));
    }
    if ring.occupancy.is_none() {
        problems.push(format!(
            "ring {direction}: positions read {} / write {} are not within {count} slots",
            ring.read, ring.write
        ));
    }
}

fn read_extension(segment: &Segment, problems: &mut Vec<String>) -> Option<ExtensionReport> {
    let word = |offset: usize| {
        segment
            .atomic_u64(offset)
            .map(|w| w.load(Ordering::Relaxed))
    };
    let half = |offset: usize| {
        segment
            .atomic_u32(offset)
            .map(|w| w.load(Ordering::Relaxed))
            .unwrap_or(0)
    };
    if segment.len() < PAGE_SIZE as usize {
        return None;
    }
    let magic = word(EXTENSION_OFFSET)?;
    if magic != EXTENSION_MAGIC {
        if magic != 0 {
            problems.push(format!(
                "extension block magic {magic:#018x} is not {EXTENSION_MAGIC:#018x}"
            ));
        }
        return None;
    }
    let version = word(EXTENSION_OFFSET + 8)?;
    let wake_words = DIRECTIONS
        .iter()
        .enumerate()
        .map(|(i, &(_, label))| {
            let base = 128 + 256 * i;
            WakeWords {
                direction: label,
                data_seq: half(base),
                data_waiters: half(base + 4),
                space_seq: half(base + 128),
                space_waiters: half(base + 132),
            }
        })
        .collect();
    let probe = LockProbe::of_segment(segment);
    let processes: Vec<ProcessReport> = (0..PROCESS_TABLE_LEN)
        .filter_map(|entry| {
            let base = PROCESS_TABLE_OFFSET + PROCESS_ENTRY_SIZE * entry;
            let words: [Option<u64>; 5] = std::array::from_fn(|i| word(base + 8 * i));
            let record = ProcessRecord::from_words(words.map(|w| w.unwrap_or(0)));
            let status = probe
                .as_ref()
                .map_or(ProcessStatus::Unknown, |probe| record.status(entry, probe));
            record
                .is_used()
                .then(|| process_report(entry, &record, status))
        })
        .collect();
    for p in processes.iter().filter(|p| p.status == "dead") {
        problems.push(format!(
            "entry {}: {} process {} is dead (its liveness lock is free); `hqq clean` removes a segment whose processes all died",
            p.entry, p.role, p.pid
        ));
    }
    Some(ExtensionReport {
        version,
        wake_words,
        processes,
    })
}

impl fmt::Display for SegmentReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "segment {} ({} bytes, {})",
            self.name, self.length, self.path
        )?;
        if let Some(sb) = &self.superblock {
            let magic = if sb.magic_ok { "HQQ" } else { "not HQQ" };
            writeln!(f, "superblock")?;
            writeln!(f, "  magic        {:#018x} ({magic})", sb.magic)?;
            writeln!(f, "  state        {} ({})", sb.state, sb.state_name)?;
            writeln!(f, "  version      {}.{}", sb.major, sb.minor)?;
            writeln!(f, "  page size    {}", sb.page_size)?;
            writeln!(f, "  slots        {}", sb.slots)?;
            writeln!(f, "  buffer size  {}", sb.buffer_size)?;
            writeln!(f, "  layout size  {}", sb.layout_size)?;
        }
        if !self.rings.is_empty() {
            writeln!(f, "rings")?;
            writeln!(
                f,
                "  {:<20} {:>8} {:>12} {:>12} {:>10}  slots",
                "direction", "offset", "read", "write", "occupancy"
            )?;
            for ring in &self.rings {
                let occupancy = match ring.occupancy {
                    Some(n) => format!("{n}/{}", ring.slot_count),
                    None => "invalid".to_owned(),
                };
                let slots = match ring.slots {
                    Some(n) => format!(
                        "{} free, {} writing, {} published, {} reading, {} invalid",
                        n.free, n.writing, n.published, n.reading, n.invalid
                    ),
                    None => "not checked".to_owned(),
                };
                writeln!(
                    f,
                    "  {:<20} {:>8} {:>12} {:>12} {:>10}  {slots}",
                    ring.direction, ring.offset, ring.read, ring.write, occupancy
                )?;
            }
        }
        match &self.extension {
            None => writeln!(f, "extension block: absent (a Go primary, or not ours)")?,
            Some(ext) => {
                writeln!(f, "extension block v{}", ext.version)?;
                writeln!(
                    f,
                    "  {:<20} {:>10} {:>12} {:>10} {:>13}",
                    "wake-up words", "data_seq", "data_waiters", "space_seq", "space_waiters"
                )?;
                for w in &ext.wake_words {
                    writeln!(
                        f,
                        "  {:<20} {:>10} {:>12} {:>10} {:>13}",
                        w.direction, w.data_seq, w.data_waiters, w.space_seq, w.space_waiters
                    )?;
                }
                if ext.processes.is_empty() {
                    writeln!(f, "  processes: none registered")?;
                } else {
                    writeln!(
                        f,
                        "  {:<5} {:>8} {:>12} {:>10}  {:<9}  status",
                        "entry", "pid", "start_time", "generation", "role"
                    )?;
                    for p in &ext.processes {
                        writeln!(
                            f,
                            "  {:<5} {:>8} {:>12} {:>10}  {:<9}  {}",
                            p.entry, p.pid, p.start_time, p.generation, p.role, p.status
                        )?;
                    }
                }
            }
        }
        if self.statistics.is_empty() {
            writeln!(
                f,
                "statistics: none published (the segment keeps none; hqq links publish NAME.stat-<pid> with publish_stats)"
            )?;
        } else {
            writeln!(f, "statistics (see `hqq stat {}`):", self.name)?;
            for line in &self.statistics {
                writeln!(f, "  {line}")?;
            }
        }
        if self.problems.is_empty() {
            writeln!(f, "problems: none")
        } else {
            writeln!(f, "problems:")?;
            for problem in &self.problems {
                writeln!(f, "  - {problem}")?;
            }
            Ok(())
        }
    }
}
