//! The physical floor of cross-core round trips: one 64-bit word bounced
//! between two spinning sides, with nothing else on the path.
//!
//! The pinging side stores an odd value `2k+1` and spins until it reads
//! `2k+2`; the echoing side spins until it reads an odd value it has not
//! answered and stores that value plus one. Each round trip moves the word's
//! cache line to the other core and back, which is exactly what any
//! shared-memory message (a 64-byte packet is one cache line) must at least
//! pay. Two variants:
//!
//! - [`CacheLineProcesses`]: the word lives in a named shared segment and the
//!   echoing side is a peer process (the floor for cross-process RTT);
//! - [`CacheLineThreads`]: the word is on the heap and the echoing side is a
//!   thread of this process (the "two threads" floor of the issue).
//!
//! Both sides spin and never yield, so each keeps one core busy while it
//! runs. On an oversubscribed machine (load average above the core count) a
//! descheduled side stalls the other for a scheduler slice: the median
//! stays near the floor, but the mean and p99 then measure the scheduler.

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use hqq_runtime::segment::{Segment, SegmentOptions};

use super::error::{BenchError, PeerRunError};
use super::measure::RoundTrip;
use super::peer::{env_value, Peer, PeerRole, StallGuard};
use super::segment_name;

/// Environment variable with the floor segment's name.
const SEGMENT_ENV: &str = "HQQ_BENCH_FLOOR_SEGMENT";

/// Segment length: one page.
const SEGMENT_LEN: usize = 4096;

/// Offset of the bounced word (alone in its cache line).
const WORD_OFFSET: usize = 0;

/// Offset of the peer's "ready" flag (another cache line).
const READY_OFFSET: usize = 64;

/// How long either side spins without progress before giving up.
const STALL_LIMIT: Duration = Duration::from_secs(5);

/// How long the parent waits for the peer to map the segment.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Name of the process variant in reports.
const PROCESSES_ROLE: &str = PeerRole::CacheLineEcho.name();

/// Name of the thread variant's echo thread in errors.
const THREAD_ROLE: &str = "cache-line echo thread";

/// The "last odd value sent" before the first ping, so that the first ping
/// is 1.
const NOTHING_SENT: u64 = u64::MAX;

/// One round trip from the pinging side: `*sent` is the last odd value sent.
fn ping(
    word: &AtomicU64,
    sent: &mut u64,
    guard: &mut StallGuard,
    role: &'static str,
    mut check_peer: impl FnMut() -> Result<(), BenchError>,
) -> Result<(), BenchError> {
    let value = sent.wrapping_add(2);
    // Release: pairs with the Acquire load in `echo_forever` (the peer sees
    // everything written before the ping).
    word.store(value, Ordering::Release);
    let answer = value.wrapping_add(1);
    // Acquire: pairs with the Release store in `echo_forever`.
    while word.load(Ordering::Acquire) != answer {
        guard.spun(role, &mut check_peer)?;
    }
    guard.progressed();
    *sent = value;
    Ok(())
}

/// The echoing side: answers every new odd value until `keep_going` says
/// stop (it is asked only every so many spins).
fn echo_forever(word: &AtomicU64, keep_going: impl Fn() -> bool) {
    const CHECK_EVERY: u32 = 1 << 16;
    let mut answered = 0;
    let mut spins: u32 = 0;
    loop {
        // Acquire: pairs with the Release store in `ping`.
        let value = word.load(Ordering::Acquire);
        if value % 2 == 1 && value != answered {
            // Release: pairs with the Acquire load in `ping`.
            word.store(value.wrapping_add(1), Ordering::Release);
            answered = value;
            continue;
        }
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins % CHECK_EVERY == 0 && !keep_going() {
            return;
        }
    }
}

/// The word at `offset` of `segment`.
fn word_u64(segment: &Segment, offset: usize) -> Result<&AtomicU64, BenchError> {
    segment
        .atomic_u64(offset)
        .ok_or(BenchError::SegmentLayout { offset })
}

/// The cache-line floor between this process and a peer process.
#[derive(Debug)]
pub struct CacheLineProcesses {
    segment: Segment,
    peer: Peer,
    sent: u64,
}

impl CacheLineProcesses {
    /// Creates the shared word and starts the echoing peer.
    pub fn spawn() -> Result<Self, BenchError> {
        let name = segment_name("floor");
        let segment = Segment::create(&name, SEGMENT_LEN, &SegmentOptions::new())?;
        let ready = segment
            .atomic_u32(READY_OFFSET)
            .ok_or(BenchError::SegmentLayout {
                offset: READY_OFFSET,
            })?;
        word_u64(&segment, WORD_OFFSET)?;
        let mut peer = Peer::spawn(
            PeerRole::CacheLineEcho,
            &[(SEGMENT_ENV, &name)],
            Stdio::null(),
            Stdio::null(),
        )?;
        // Acquire: pairs with the peer's Release store of the flag in
        // `serve_peer`.
        peer.wait_until(READY_TIMEOUT, || ready.load(Ordering::Acquire) == 1)?;
        Ok(Self {
            segment,
            peer,
            sent: NOTHING_SENT,
        })
    }
}

impl RoundTrip for CacheLineProcesses {
    fn round_trips(
        &mut self,
        _size: usize,
        batch_len: u64,
        laps: &mut [Duration],
    ) -> Result<(), BenchError> {
        let Self {
            segment,
            peer,
            sent,
        } = self;
        let word = word_u64(segment, WORD_OFFSET)?;
        let mut guard = StallGuard::new(STALL_LIMIT);
        for lap in laps {
            let start = Instant::now();
            for _ in 0..batch_len {
                ping(word, sent, &mut guard, PROCESSES_ROLE, || {
                    peer.ensure_running()
                })?;
            }
            *lap = start.elapsed();
        }
        Ok(())
    }
}

/// The peer's side of [`CacheLineProcesses`]; echoes until the watchdog or
/// the parent ends the process.
pub(super) fn serve_peer() -> Result<(), PeerRunError> {
    let name: String = env_value(SEGMENT_ENV)?;
    let segment = Segment::open(&name, SEGMENT_LEN)?;
    let layout_error = |offset| PeerRunError::SegmentLayout { offset };
    let word = segment
        .atomic_u64(WORD_OFFSET)
        .ok_or(layout_error(WORD_OFFSET))?;
    let ready = segment
        .atomic_u32(READY_OFFSET)
        .ok_or(layout_error(READY_OFFSET))?;
    // Release: pairs with the parent's Acquire load in
    // `CacheLineProcesses::spawn`.
    ready.store(1, Ordering::Release);
    echo_forever(word, || true);
    Ok(())
}

/// What the two threads of [`CacheLineThreads`] share.
#[derive(Debug, Default)]
struct ThreadShared {
    word: CachePadded<AtomicU64>,
    stop: CachePadded<AtomicBool>,
}

/// The cache-line floor between two threads of this process.
#[derive(Debug)]
pub struct CacheLineThreads {
    shared: Arc<ThreadShared>,
    echo: Option<JoinHandle<()>>,
    sent: u64,
}

impl CacheLineThreads {
    /// Starts the echoing thread.
    pub fn spawn() -> Result<Self, BenchError> {
        let shared = Arc::new(ThreadShared::default());
        let theirs = Arc::clone(&shared);
        let echo = std::thread::Builder::new()
            .name("hqq-bench-floor-echo".to_owned())
            .spawn(move || {
                if let Some(cpu) = super::pin::peer_cpu() {
                    // `pin_client` checked that this process may use the CPU.
                    let _ = super::pin::pin_current_thread(cpu);
                }
                echo_forever(&theirs.word, || !theirs.stop.load(Ordering::Relaxed))
            })
            .map_err(|source| BenchError::Io {
                role: THREAD_ROLE,
                operation: "spawn thread",
                source,
            })?;
        Ok(Self {
            shared,
            echo: Some(echo),
            sent: NOTHING_SENT,
        })
    }
}

impl RoundTrip for CacheLineThreads {
    fn round_trips(
        &mut self,
        _size: usize,
        batch_len: u64,
        laps: &mut [Duration],
    ) -> Result<(), BenchError> {
        let Self { shared, echo, sent } = self;
        let mut guard = StallGuard::new(STALL_LIMIT);
        let echo_alive = || match &*echo {
            Some(handle) if !handle.is_finished() => Ok(()),
            _ => Err(BenchError::PeerStalled {
                role: THREAD_ROLE,
                waited: Duration::ZERO,
            }),
        };
        for lap in laps {
            let start = Instant::now();
            for _ in 0..batch_len {
                ping(&shared.word, sent, &mut guard, THREAD_ROLE, &echo_alive)?;
            }
            *lap = start.elapsed();
        }
        Ok(())
    }
}

impl Drop for CacheLineThreads {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(echo) = self.echo.take() {
            let _ = echo.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_floor_answers_every_ping() {
        let mut floor = CacheLineThreads::spawn().expect("spawn the echo thread");
        let mut laps = [Duration::ZERO; 4];
        floor.round_trips(64, 25, &mut laps).expect("round trips");
        assert_eq!(floor.sent, 2 * 100 - 1, "100 pings sent");
        assert_eq!(floor.shared.word.load(Ordering::Relaxed), 2 * 100);
    }

    #[test]
    fn a_dead_echo_thread_is_noticed() {
        let mut floor = CacheLineThreads::spawn().expect("spawn the echo thread");
        floor.shared.stop.store(true, Ordering::Relaxed);
        if let Some(echo) = floor.echo.take() {
            echo.join().expect("echo thread ends");
        }
        let mut laps = [Duration::ZERO; 1];
        assert!(matches!(
            floor.round_trips(64, 1, &mut laps),
            Err(BenchError::PeerStalled { .. })
        ));
    }
}
