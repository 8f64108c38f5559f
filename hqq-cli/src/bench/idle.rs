//! The idle cost of a blocked reader: a peer process that maps the channel
//! and sends nothing while the benchmark blocks in a receive.
//!
//! [`EventCountIdle`] blocks the way an hqq reader does on an empty ring:
//! a [`Waiter`] with [`WaitPolicy::DEFAULT`] on an [`EventCount`] in a
//! shared segment (spin, yield, then bounded futex parks). The kernel
//! baseline is a socket read with a timeout
//! ([`SocketPairClient`](super::fd::SocketPairClient)).

use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use hqq_runtime::segment::{Segment, SegmentOptions};
use hqq_runtime::wait::{EventCount, WaitPolicy, Waiter};

use super::error::{BenchError, PeerRunError};
use super::measure::BlockedReceive;
use super::peer::{env_value, Peer, PeerRole};
use super::segment_name;

/// Environment variable with the idle segment's name.
const SEGMENT_ENV: &str = "HQQ_BENCH_IDLE_SEGMENT";

/// Segment length: one page.
const SEGMENT_LEN: usize = 4096;

/// Offsets of the event count's `seq` and `waiters` words.
const SEQ_OFFSET: usize = 0;
const WAITERS_OFFSET: usize = 4;

/// Offset of the "message present" flag the reader waits for.
const DATA_OFFSET: usize = 64;

/// Offset of the peer's "ready" flag.
const READY_OFFSET: usize = 128;

/// How long the parent waits for the peer to map the segment.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

fn word(segment: &Segment, offset: usize) -> Result<&AtomicU32, BenchError> {
    segment
        .atomic_u32(offset)
        .ok_or(BenchError::SegmentLayout { offset })
}

/// A reader blocked on an hqq event count whose writer (a peer process)
/// never writes.
#[derive(Debug)]
pub struct EventCountIdle {
    segment: Segment,
    peer: Peer,
}

impl EventCountIdle {
    /// Creates the segment and starts the silent peer.
    pub fn spawn() -> Result<Self, BenchError> {
        let name = segment_name("idle");
        let segment = Segment::create(&name, SEGMENT_LEN, &SegmentOptions::new())?;
        for offset in [SEQ_OFFSET, WAITERS_OFFSET, DATA_OFFSET] {
            word(&segment, offset)?;
        }
        let ready = word(&segment, READY_OFFSET)?;
        let mut peer = Peer::spawn(
            PeerRole::Idle,
            &[(SEGMENT_ENV, &name)],
            Stdio::null(),
            Stdio::null(),
        )?;
        // Acquire: pairs with the peer's Release store in `serve_peer`.
        peer.wait_until(READY_TIMEOUT, || ready.load(Ordering::Acquire) == 1)?;
        Ok(Self { segment, peer })
    }
}

impl BlockedReceive for EventCountIdle {
    fn block(&mut self, duration: Duration) -> Result<(), BenchError> {
        let seq = word(&self.segment, SEQ_OFFSET)?;
        let waiters = word(&self.segment, WAITERS_OFFSET)?;
        let data = word(&self.segment, DATA_OFFSET)?;
        let event = EventCount::new(seq, waiters);
        let deadline = Instant::now() + duration;
        let mut waiter = Waiter::with_policy(event, Some(deadline), WaitPolicy::DEFAULT);
        // Acquire: pairs with a (never made) Release store of a writer that
        // publishes data and then notifies `event`.
        let empty = || data.load(Ordering::Acquire) == 0;
        while empty() {
            if waiter.wait(empty).is_err() {
                return self.peer.ensure_running();
            }
        }
        Err(BenchError::Protocol {
            role: self.peer.role().name(),
            detail: "the idle peer sent data".to_owned(),
        })
    }
}

/// The peer's side: maps the segment, says it is ready, and sends nothing
/// until the parent or the watchdog ends the process.
pub(super) fn serve_peer() -> Result<(), PeerRunError> {
    let name: String = env_value(SEGMENT_ENV)?;
    let segment = Segment::open(&name, SEGMENT_LEN)?;
    let ready = segment
        .atomic_u32(READY_OFFSET)
        .ok_or(PeerRunError::SegmentLayout {
            offset: READY_OFFSET,
        })?;
    // Release: pairs with the parent's Acquire load in `EventCountIdle::spawn`.
    ready.store(1, Ordering::Release);
    loop {
        std::thread::park();
    }
}
