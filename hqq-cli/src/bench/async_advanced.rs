//! The async Advanced link rows (cargo feature `tokio`): the 64 B call
//! round trip over an [`AsyncAdvancedLink`] (`block_on` per call on a
//! current-thread tokio runtime), and [`CONCURRENT_CALLS`] calls in flight
//! at once on that one link (one task each, on the same one-thread
//! runtime), reported as calls per second. The peer is the blocking RPC
//! echo peer of the "hqq AdvancedLink call" row, so the rows differ from
//! it only in the parent's waiting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hqq_runtime::advanced::{AdvancedLink, CallError};
use hqq_runtime::async_link::AsyncAdvancedLink;
use tokio::runtime::Runtime;

use super::advanced::{spawn_advanced_with, AdvancedMode, Content, RowFeatures, ECHO_METHOD};
use super::error::BenchError;
use super::measure::{RoundTrip, Stream};
use super::peer::{Peer, PeerRole};

/// Calls in flight at once in the concurrent row.
pub const CONCURRENT_CALLS: u64 = 1000;

/// The parent's end: an async Advanced link to the RPC echo peer.
pub struct AsyncCallClient {
    // Declared first: the link is dropped before the peer is killed.
    link: Arc<AsyncAdvancedLink>,
    runtime: Runtime,
    peer: Peer,
    message: Arc<[u8]>,
}

impl std::fmt::Debug for AsyncCallClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncCallClient")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

/// Starts the RPC echo peer (negotiated, with `features`: the
/// encrypted row's calls are sealed and opened by the async path) and
/// makes our end async.
pub fn spawn_async_call(features: RowFeatures) -> Result<AsyncCallClient, BenchError> {
    let (link, peer): (AdvancedLink, Peer) =
        spawn_advanced_with(AdvancedMode::Rpc, Content::Filler, features)?.into_parts();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| BenchError::Io {
            role: PeerRole::AdvancedEcho.name(),
            operation: "start a tokio runtime",
            source,
        })?;
    Ok(AsyncCallClient {
        link: Arc::new(AsyncAdvancedLink::new(link)),
        runtime,
        peer,
        message: Arc::from(Vec::new()),
    })
}

/// One echo call, checked.
async fn echo_call(link: &AsyncAdvancedLink, message: &[u8]) -> Result<(), CallFailed> {
    let response = link
        .call(ECHO_METHOD, message)
        .await
        .map_err(CallFailed::Call)?;
    if response.data.len() != message.len() || response.error {
        return Err(CallFailed::Response(response.data.len(), response.error));
    }
    Ok(())
}

/// Why an echo call failed.
#[derive(Debug)]
enum CallFailed {
    Call(CallError),
    Response(usize, bool),
}

impl AsyncCallClient {
    fn prepare(&mut self, size: usize) {
        if self.message.len() != size {
            self.message = Arc::from(vec![0x5A; size]);
        }
    }

    /// The error for `failed`, or the peer's exit if that is the cause.
    fn failure(&mut self, failed: CallFailed) -> BenchError {
        if let Err(exited) = self.peer.ensure_running() {
            return exited;
        }
        match failed {
            CallFailed::Call(source) => BenchError::Advanced {
                role: PeerRole::AdvancedEcho.name(),
                operation: "call",
                source: Box::new(source),
            },
            CallFailed::Response(len, error) => BenchError::Protocol {
                role: PeerRole::AdvancedEcho.name(),
                detail: format!("response of {len} bytes (error flag {error})"),
            },
        }
    }
}

impl RoundTrip for AsyncCallClient {
    fn round_trips(
        &mut self,
        size: usize,
        batch_len: u64,
        laps: &mut [Duration],
    ) -> Result<(), BenchError> {
        self.prepare(size);
        for lap in laps {
            let (link, message) = (&self.link, &self.message);
            let start = Instant::now();
            let result = self.runtime.block_on(async {
                for _ in 0..batch_len {
                    echo_call(link, message).await?;
                }
                Ok(())
            });
            *lap = start.elapsed();
            result.map_err(|failed| self.failure(failed))?;
        }
        Ok(())
    }
}

/// `count` calls, [`CONCURRENT_CALLS`] of them in flight at once (one task
/// each), from the first call to the last response.
impl Stream for AsyncCallClient {
    fn stream(&mut self, size: usize, count: u64) -> Result<Duration, BenchError> {
        self.prepare(size);
        let tasks = CONCURRENT_CALLS.min(count.max(1));
        let start = Instant::now();
        let result = self.runtime.block_on(async {
            let handles: Vec<_> = (0..tasks)
                .map(|task| {
                    let (link, message) = (Arc::clone(&self.link), Arc::clone(&self.message));
                    // Task `task` makes its share of the calls, one after another.
                    let calls = count / tasks + u64::from(task < count % tasks);
                    tokio::spawn(async move {
                        for _ in 0..calls {
                            echo_call(&link, &message).await?;
                        }
                        Ok(())
                    })
                })
                .collect();
            for handle in handles {
                handle.await.map_err(|_| CallFailed::Response(0, true))??;
            }
            Ok(())
        });
        let elapsed = start.elapsed();
        result.map_err(|failed| self.failure(failed))?;
        Ok(elapsed)
    }
}
