//! The quality-of-service rows: the 64 B RPC round trip on connection A
//! while connection B streams 1 MiB messages to the same peer, without
//! QoS, with priorities (A high, B low), and with priorities plus flow
//! control (B's window bounds how much of it waits in the ring ahead of a
//! call).
//!
//! A thread of the parent sends on B for as long as the round trips run;
//! the peer serves A and receives B on two threads.

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use hqq_runtime::advanced::{
    AdvancedConfig, AdvancedLink, FlowControl, Priority, RecvLargeError, TransportError,
};

use super::advanced::{
    advanced_config, failed, link_config, Echo, RowFeatures, BUFFER_SIZE, ECHO_METHOD, TIMEOUT,
};
use super::error::{BenchError, PeerRunError};
use super::measure::RoundTrip;
use super::peer::{env_value, Peer, PeerRole};
use super::segment_name;

/// Environment variable with the link segment's name.
const SEGMENT_ENV: &str = "HQQ_BENCH_QOS_SEGMENT";

/// Environment variable with the [`Scheduling`] of both sides.
const SCHEDULING_ENV: &str = "HQQ_BENCH_QOS_SCHEDULING";

/// Size of each message streamed on connection B.
const BULK_SIZE: usize = 1 << 20;

/// B's flow-control window in the `PrioritiesAndFlow` rows (64 chunks).
const BULK_WINDOW: u64 = 256 * 1024;

/// How the two sides schedule their sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheduling {
    /// Neither QualityOfService nor FlowControl.
    Off,
    /// QualityOfService: A high, B low.
    Priorities,
    /// QualityOfService and FlowControl (a 256 KiB window on B).
    PrioritiesAndFlow,
}

impl Scheduling {
    const ALL: [Scheduling; 3] = [
        Scheduling::Off,
        Scheduling::Priorities,
        Scheduling::PrioritiesAndFlow,
    ];

    fn name(self) -> &'static str {
        match self {
            Scheduling::Off => "off",
            Scheduling::Priorities => "priorities",
            Scheduling::PrioritiesAndFlow => "priorities+flow",
        }
    }

    fn config(self) -> AdvancedConfig {
        let config = advanced_config(RowFeatures::PLAIN);
        match self {
            Scheduling::Off => config,
            Scheduling::Priorities => config.quality_of_service(),
            Scheduling::PrioritiesAndFlow => {
                config.quality_of_service().flow_control(FlowControl {
                    window: BULK_WINDOW,
                    ..FlowControl::default()
                })
            }
        }
    }

    /// Sets A high and B low on `link` when QoS is on.
    fn prioritize(self, link: &AdvancedLink, a: u64, b: u64) -> Result<(), BenchError> {
        if self == Scheduling::Off {
            return Ok(());
        }
        let failure = |source| BenchError::Advanced {
            role: PeerRole::AdvancedMixed.name(),
            operation: "set priorities",
            source: Box::new(source),
        };
        link.set_priority(a, Priority::High).map_err(failure)?;
        link.set_priority(b, Priority::Low).map_err(failure)
    }
}

/// The parent's end: calls on A while a thread streams on B.
pub struct BusyCall {
    link: Arc<AdvancedLink>,
    a: u64,
    stop: Arc<AtomicBool>,
    bulk: Option<JoinHandle<()>>,
    // Dropped last: the peer is killed after the link is gone.
    peer: Peer,
    message: Vec<u8>,
}

impl std::fmt::Debug for BusyCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusyCall")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

/// Creates the link, starts the peer, negotiates, dials A and B and starts
/// streaming on B.
pub fn spawn_busy_call(scheduling: Scheduling) -> Result<BusyCall, BenchError> {
    let name = segment_name("qos");
    let config = scheduling.config();
    let link =
        AdvancedLink::create(&name, &link_config(), config).map_err(BenchError::AdvancedCreate)?;
    let mut peer = Peer::spawn(
        PeerRole::AdvancedMixed,
        &[(SEGMENT_ENV, &name), (SCHEDULING_ENV, scheduling.name())],
        Stdio::null(),
        Stdio::null(),
    )?;
    let mut failure =
        |operation, source: Box<dyn std::error::Error + Send + Sync>| match peer.ensure_running() {
            Err(exited) => exited,
            Ok(()) => BenchError::Advanced {
                role: PeerRole::AdvancedMixed.name(),
                operation,
                source,
            },
        };
    link.negotiate(config.offer)
        .map_err(|e| failure("negotiate", Box::new(e)))?;
    let a = link.dial().map_err(|e| failure("dial A", Box::new(e)))?;
    let b = link.dial().map_err(|e| failure("dial B", Box::new(e)))?;
    scheduling.prioritize(&link, a, b)?;
    let link = Arc::new(link);
    let stop = Arc::new(AtomicBool::new(false));
    let bulk = {
        let (link, stop) = (Arc::clone(&link), Arc::clone(&stop));
        std::thread::spawn(move || {
            let message = vec![0x5A; BULK_SIZE];
            // A failed send ends the stream; the calls then report the
            // peer's state.
            while !stop.load(Ordering::Relaxed) && link.send_large(b, &message).is_ok() {}
        })
    };
    // The round trips start once B streams steadily (two messages sent).
    let streaming = 2 * BULK_SIZE as u64 / BUFFER_SIZE;
    peer.wait_until(TIMEOUT, || link.stats().chunks_sent >= streaming)?;
    Ok(BusyCall {
        link,
        a,
        stop,
        bulk: Some(bulk),
        peer,
        message: Vec::new(),
    })
}

impl Drop for BusyCall {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(bulk) = self.bulk.take() {
            let _ = bulk.join();
        }
    }
}

impl RoundTrip for BusyCall {
    fn round_trips(
        &mut self,
        size: usize,
        batch_len: u64,
        laps: &mut [std::time::Duration],
    ) -> Result<(), BenchError> {
        if self.message.len() != size {
            self.message = vec![0xA5; size];
        }
        for lap in laps {
            let start = Instant::now();
            for _ in 0..batch_len {
                let response = self
                    .link
                    .call_on(self.a, ECHO_METHOD, &self.message)
                    .map_err(|source| match self.peer.ensure_running() {
                        Err(exited) => exited,
                        Ok(()) => BenchError::Advanced {
                            role: PeerRole::AdvancedMixed.name(),
                            operation: "call on A",
                            source: Box::new(source),
                        },
                    })?;
                if response.data.len() != size || response.error {
                    return Err(BenchError::Protocol {
                        role: PeerRole::AdvancedMixed.name(),
                        detail: format!("response of {} bytes", response.data.len()),
                    });
                }
            }
            *lap = start.elapsed();
        }
        Ok(())
    }
}

/// The peer's side: accepts A and B, serves A and drains B until the
/// parent ends the process.
pub(super) fn serve_peer() -> Result<(), PeerRunError> {
    let name: String = env_value(SEGMENT_ENV)?;
    let scheduling_name: String = env_value(SCHEDULING_ENV)?;
    let scheduling = Scheduling::ALL
        .into_iter()
        .find(|s| s.name() == scheduling_name)
        .ok_or(PeerRunError::BadEnvironment {
            name: SCHEDULING_ENV,
        })?;
    let link = AdvancedLink::open(&name, &link_config(), scheduling.config())
        .map_err(PeerRunError::AdvancedOpen)?;
    link.wait_for_negotiation()
        .map_err(|e| failed("accept the negotiation", e))?;
    link.listen().map_err(|e| failed("listen", e))?;
    let a = link.accept().map_err(|e| failed("accept A", e))?;
    let b = link.accept().map_err(|e| failed("accept B", e))?;
    if scheduling != Scheduling::Off {
        link.set_priority(a, Priority::High)
            .map_err(|e| failed("set priorities", e))?;
    }
    std::thread::scope(|s| {
        s.spawn(|| loop {
            match link.recv_large(b) {
                Ok(_) | Err(RecvLargeError::Transport(TransportError::TimedOut)) => {}
                Err(_) => return,
            }
        });
        hqq_runtime::advanced::rpc::serve(&link, a, &mut Echo)
            .map(drop)
            .map_err(|e| failed("serve", e))
    })
}
