//! The hqq Advanced link rows: 1 MiB messages, assembled
//! (`send_large`/`recv_large`) and streamed (`send_large_from`/
//! `recv_stream`), and the 64 B RPC round trip (`call` against a peer that
//! serves an echo method), each to a peer process on the same named
//! segment.
//!
//! The compression rows send 1 MiB of JSON-like text or of random bytes
//! assembled, with LZ4 negotiated on both sides or not. The encryption
//! rows send 1 MiB assembled and make 64 B calls with Encryption
//! negotiated on both sides (a fixed pre-shared key: the rows measure the
//! cost of sealing, not a secret).
//!
//! The peer is started in one [`AdvancedMode`] (from the environment). In
//! the two large-message modes it receives messages on connection 0 and
//! answers a one-byte message (the end of a run) with a one-byte
//! acknowledgement; in RPC mode it serves method [`ECHO_METHOD`].

use std::process::Stdio;
use std::time::{Duration, Instant};

use hqq_runtime::advanced::{
    AdvancedConfig, AdvancedLink, CallContext, Codec, Keys, RecvLargeError, RpcService, Status,
    TransportError,
};
use hqq_runtime::link::LinkConfig;

use super::error::{BenchError, PeerRunError};
use super::measure::{RoundTrip, Stream};
use super::peer::{env_value, Peer, PeerRole};
use super::segment_name;

/// Environment variable with the link segment's name.
const SEGMENT_ENV: &str = "HQQ_BENCH_ADVANCED_SEGMENT";

/// Environment variable with the peer's [`AdvancedMode`].
const MODE_ENV: &str = "HQQ_BENCH_ADVANCED_MODE";

/// Ring slots per direction (2 MiB of buffers per direction).
const SLOTS: u64 = 512;

/// Bytes per buffer (the Standard link rows use the same).
pub(super) const BUFFER_SIZE: u64 = 4096;

/// Method id of the peer's echo method.
pub const ECHO_METHOD: u64 = 1;

/// The byte that ends a run of large messages (sent as a one-byte message
/// and echoed back as the acknowledgement).
const END_OF_RUN: u8 = 0xAC;

/// Environment variable saying whether the peer asks for compression.
const COMPRESSION_ENV: &str = "HQQ_BENCH_ADVANCED_COMPRESSION";

/// Messages at least this long are compressed when compression is on.
const COMPRESSION_THRESHOLD: u64 = 4096;

/// Environment variable saying whether the peer asks for encryption.
const ENCRYPTION_ENV: &str = "HQQ_BENCH_ADVANCED_ENCRYPTION";

/// The pre-shared key of the encryption rows (public on purpose: the rows
/// measure sealing, they protect nothing).
const BENCH_KEY: [u8; 32] = *b"hqq bench: not a secret, a cost!";

/// Which optional features both sides of a row ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RowFeatures {
    /// LZ4 compression.
    pub compression: bool,
    /// Encryption (a pre-shared key).
    pub encryption: bool,
}

impl RowFeatures {
    /// Neither compression nor encryption.
    pub const PLAIN: RowFeatures = RowFeatures {
        compression: false,
        encryption: false,
    };
    /// LZ4 compression.
    pub const LZ4: RowFeatures = RowFeatures {
        compression: true,
        encryption: false,
    };
    /// Encryption.
    pub const SEALED: RowFeatures = RowFeatures {
        compression: false,
        encryption: true,
    };
}

/// `on` or `off`, as the peer's environment says it.
fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

/// What the large messages hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// One repeated byte (the plain rows).
    Filler,
    /// JSON-like records.
    Text,
    /// Pseudo-random bytes (do not compress).
    Random,
}

impl Content {
    /// `size` bytes of this content.
    pub fn bytes(self, size: usize) -> Vec<u8> {
        match self {
            Content::Filler => vec![0x5A; size],
            Content::Text => {
                let mut out = Vec::with_capacity(size + 64);
                let mut i = 0u64;
                while out.len() < size {
                    let record = format!(
                        "{{\"id\":{i},\"user\":\"user-{}\",\"score\":{},\"active\":{}}},\n",
                        i % 1013,
                        i * 7919 % 100_000,
                        i % 3 == 0
                    );
                    out.extend_from_slice(record.as_bytes());
                    i += 1;
                }
                out.truncate(size);
                out
            }
            Content::Random => {
                let mut x = 0x9E37_79B9_7F4A_7C15u64;
                (0..size)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        (x >> 24) as u8
                    })
                    .collect()
            }
        }
    }
}

/// Deadline of each blocking link call, on both sides.
pub(super) const TIMEOUT: Duration = Duration::from_secs(20);

/// How the peer receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdvancedMode {
    /// Large messages, each assembled whole (`recv_large`).
    Assembled,
    /// Large messages, chunk by chunk (`recv_stream`).
    Streamed,
    /// Requests to [`ECHO_METHOD`], answered with their own bytes.
    Rpc,
}

impl AdvancedMode {
    const ALL: [AdvancedMode; 3] = [
        AdvancedMode::Assembled,
        AdvancedMode::Streamed,
        AdvancedMode::Rpc,
    ];

    fn name(self) -> &'static str {
        match self {
            AdvancedMode::Assembled => "assembled",
            AdvancedMode::Streamed => "streamed",
            AdvancedMode::Rpc => "rpc",
        }
    }
}

pub(super) fn link_config() -> LinkConfig {
    let mut config = LinkConfig::new();
    config
        .slots(SLOTS)
        .buffer_size(BUFFER_SIZE)
        .ready_timeout(TIMEOUT);
    config
}

pub(super) fn advanced_config(features: RowFeatures) -> AdvancedConfig {
    let mut config = AdvancedConfig {
        timeout: TIMEOUT,
        ..AdvancedConfig::default()
    };
    if features.compression {
        config = config.compression(Codec::Lz4, COMPRESSION_THRESHOLD);
    }
    if features.encryption {
        config = config.encryption_required(Keys::pre_shared(BENCH_KEY));
    }
    config
}

/// The parent's end: an Advanced link to a peer in one mode.
pub struct AdvancedClient {
    // Declared first: the link is dropped before the peer is killed.
    link: AdvancedLink,
    peer: Peer,
    mode: AdvancedMode,
    content: Content,
    message: Vec<u8>,
}

impl std::fmt::Debug for AdvancedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdvancedClient")
            .field("mode", &self.mode)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

/// Creates the link (as its primary), starts a peer in `mode` and
/// negotiates with it.
pub fn spawn_advanced(mode: AdvancedMode) -> Result<AdvancedClient, BenchError> {
    spawn_advanced_with(mode, Content::Filler, RowFeatures::PLAIN)
}

/// [`spawn_advanced`] with messages of `content` and the optional
/// `features` negotiated on both sides.
pub fn spawn_advanced_with(
    mode: AdvancedMode,
    content: Content,
    features: RowFeatures,
) -> Result<AdvancedClient, BenchError> {
    let name = segment_name("advanced");
    let config = advanced_config(features);
    let link =
        AdvancedLink::create(&name, &link_config(), config).map_err(BenchError::AdvancedCreate)?;
    let compressing = if features.compression { "lz4" } else { "off" };
    let peer = Peer::spawn(
        PeerRole::AdvancedEcho,
        &[
            (SEGMENT_ENV, &name),
            (MODE_ENV, mode.name()),
            (COMPRESSION_ENV, compressing),
            (ENCRYPTION_ENV, on_off(features.encryption)),
        ],
        Stdio::null(),
        Stdio::null(),
    )?;
    let mut client = AdvancedClient {
        link,
        peer,
        mode,
        content,
        message: Vec::new(),
    };
    let offer = config.offer;
    client
        .link
        .negotiate(offer)
        .map_err(|source| client.failure("negotiate", source))?;
    Ok(client)
}

impl AdvancedClient {
    /// The negotiated link and its peer (for rows that drive the link
    /// another way).
    pub fn into_parts(self) -> (AdvancedLink, Peer) {
        (self.link, self.peer)
    }

    /// The error for `source`, or the peer's exit if that is the cause.
    fn failure(
        &mut self,
        operation: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> BenchError {
        match self.peer.ensure_running() {
            Err(exited) => exited,
            Ok(()) => BenchError::Advanced {
                role: PeerRole::AdvancedEcho.name(),
                operation,
                source: Box::new(source),
            },
        }
    }

    /// Makes the message `size` bytes long.
    fn prepare(&mut self, size: usize) {
        if self.message.len() != size {
            self.message = self.content.bytes(size);
        }
    }
}

impl Stream for AdvancedClient {
    fn stream(&mut self, size: usize, count: u64) -> Result<Duration, BenchError> {
        self.prepare(size);
        let start = Instant::now();
        for _ in 0..count {
            let sent = match self.mode {
                AdvancedMode::Streamed => {
                    let mut source = self.message.as_slice();
                    self.link.send_large_from(0, &mut source, size as u64)
                }
                _ => self.link.send_large(0, &self.message),
            };
            sent.map_err(|source| self.failure("send a large message", source))?;
        }
        self.link
            .send_large(0, &[END_OF_RUN])
            .map_err(|source| self.failure("send the end of the run", source))?;
        let ack = self
            .link
            .recv_large(0)
            .map_err(|source| self.failure("receive the acknowledgement", source))?;
        let elapsed = start.elapsed();
        if ack.data != [END_OF_RUN] {
            return Err(BenchError::Protocol {
                role: PeerRole::AdvancedEcho.name(),
                detail: format!("acknowledgement of {} bytes", ack.data.len()),
            });
        }
        Ok(elapsed)
    }
}

impl RoundTrip for AdvancedClient {
    fn round_trips(
        &mut self,
        size: usize,
        batch_len: u64,
        laps: &mut [Duration],
    ) -> Result<(), BenchError> {
        self.prepare(size);
        for lap in laps {
            let start = Instant::now();
            for _ in 0..batch_len {
                let response = self
                    .link
                    .call(ECHO_METHOD, &self.message)
                    .map_err(|source| self.failure("call", source))?;
                if response.data.len() != size || response.error {
                    return Err(BenchError::Protocol {
                        role: PeerRole::AdvancedEcho.name(),
                        detail: format!(
                            "response of {} bytes (error flag {})",
                            response.data.len(),
                            response.error
                        ),
                    });
                }
            }
            *lap = start.elapsed();
        }
        Ok(())
    }
}

/// The peer's RPC service: method [`ECHO_METHOD`] echoes.
pub(super) struct Echo;

impl RpcService for Echo {
    fn handle(
        &mut self,
        _cx: &CallContext,
        method: u64,
        request: &[u8],
    ) -> Option<Result<Vec<u8>, Status>> {
        (method == ECHO_METHOD).then(|| Ok(request.to_vec()))
    }
}

/// A peer-side error of an Advanced link operation.
pub(super) fn failed(
    operation: &'static str,
    source: impl std::error::Error + Send + Sync + 'static,
) -> PeerRunError {
    PeerRunError::Advanced {
        operation,
        source: Box::new(source),
    }
}

/// The peer's side: opens the link, accepts the negotiation and serves its
/// mode until the parent ends the process.
pub(super) fn serve_peer() -> Result<(), PeerRunError> {
    let name: String = env_value(SEGMENT_ENV)?;
    let mode_name: String = env_value(MODE_ENV)?;
    let mode = AdvancedMode::ALL
        .into_iter()
        .find(|mode| mode.name() == mode_name)
        .ok_or(PeerRunError::BadEnvironment { name: MODE_ENV })?;
    let compression: String = env_value(COMPRESSION_ENV)?;
    let encryption: String = env_value(ENCRYPTION_ENV)?;
    let config = advanced_config(RowFeatures {
        compression: compression == "lz4",
        encryption: encryption == "on",
    });
    let link =
        AdvancedLink::open(&name, &link_config(), config).map_err(PeerRunError::AdvancedOpen)?;
    link.wait_for_negotiation()
        .map_err(|e| failed("accept the negotiation", e))?;
    match mode {
        AdvancedMode::Rpc => {
            hqq_runtime::advanced::rpc::serve(&link, 0, &mut Echo)
                .map_err(|e| failed("serve", e))?;
            Ok(())
        }
        AdvancedMode::Assembled => loop {
            match link.recv_large(0) {
                Ok(message) if message.data == [END_OF_RUN] => link
                    .send_large(0, &[END_OF_RUN])
                    .map(drop)
                    .map_err(|e| failed("acknowledge", e))?,
                Ok(_) | Err(RecvLargeError::Transport(TransportError::TimedOut)) => {}
                Err(RecvLargeError::Transport(TransportError::PeerGone)) => return Ok(()),
                Err(source) => return Err(failed("receive", source)),
            }
        },
        AdvancedMode::Streamed => {
            link.set_streaming(0, true);
            let mut buffer = vec![0u8; BUFFER_SIZE as usize];
            loop {
                let received = link.recv_stream(0, &mut |_, chunk| {
                    // Take the bytes out of the link, as a consumer would.
                    if let Some(to) = buffer.get_mut(..chunk.len()) {
                        to.copy_from_slice(chunk);
                    }
                });
                match received {
                    Ok((_, 1)) if buffer.first() == Some(&END_OF_RUN) => link
                        .send_large(0, &[END_OF_RUN])
                        .map(drop)
                        .map_err(|e| failed("acknowledge", e))?,
                    Ok(_) | Err(RecvLargeError::Transport(TransportError::TimedOut)) => {}
                    Err(RecvLargeError::Transport(TransportError::PeerGone)) => return Ok(()),
                    Err(source) => return Err(failed("receive", source)),
                }
            }
        }
    }
}
