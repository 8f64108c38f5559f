//! The iceoryx2 rows (cargo feature `iceoryx2`): a peer baseline. The
//! [echo protocol](super::echo) runs over two iceoryx2 publish-subscribe
//! services of byte slices, one per direction, between this process and a
//! peer process.
//!
//! Each send loans a sample, copies the message in and publishes it; each
//! receive polls the subscriber (spinning, as the spinning hqq rows do)
//! and copies the sample out, so the rows move the same bytes as the
//! Standard link's (iceoryx2's zero-copy API would let a reader look at the
//! sample in place instead). The subscriber buffers as many samples as the
//! Standard link has slots, and a full buffer makes the publisher retry
//! (`RetryUntilDelivered`: iceoryx2 waits adaptively, spinning, yielding,
//! then sleeping), as a full ring makes a link sender wait.
//!
//! iceoryx2 hands out `&[u8]` views of samples in memory the peer process
//! maps too; that is iceoryx2's API and acceptable for a benchmark
//! baseline, not a pattern for hqq's own code.

use std::io;
use std::process::Stdio;
use std::time::{Duration, Instant};

use ::iceoryx2::node::Node;
use ::iceoryx2::port::publisher::Publisher;
use ::iceoryx2::port::subscriber::Subscriber;
use ::iceoryx2::port::{BackpressureAction, BackpressureInfo};
use ::iceoryx2::prelude::{
    ipc, set_log_level, AllocationStrategy, BackpressureStrategy, CallbackProgression, Config,
    LogLevel, NodeBuilder, NodeState, ServiceName,
};
use ::iceoryx2::sample::Sample;
use ::iceoryx2::service::port_factory::publish_subscribe::PortFactory;
use ::iceoryx2::service::port_factory::PortFactory as _;

use super::echo::{serve_echo, EchoChannel, EchoClient};
use super::error::{BenchError, PeerRunError};
use super::peer::{env_value, Peer, PeerRole, PEER_DEADLINE};
use super::segment_name;

/// Environment variable with the prefix of the two services' names.
const SERVICE_ENV: &str = "HQQ_BENCH_ICEORYX2_SERVICE";

/// Samples a subscriber buffers: the Standard link rows' ring slots.
const BUFFER_SAMPLES: usize = 512;

/// The largest message: the suite's largest size.
const MAX_MESSAGE: usize = 4096;

/// How long the parent waits in one send or receive, or for the peer's
/// ports, before it gives up.
const PARENT_PATIENCE: Duration = Duration::from_secs(10);

/// How many polls of an empty subscriber between two deadline checks.
const POLLS_PER_CHECK: u32 = 1024;

type Service = ipc::Service;

/// A received sample of bytes.
type BytesSample = Sample<Service, [u8], ()>;

/// One end of the two services used as a byte-message channel.
#[derive(Debug)]
pub struct Iceoryx2Channel {
    publisher: Publisher<Service, [u8], ()>,
    subscriber: Subscriber<Service, [u8], ()>,
    /// A sample partly copied out, and how much of it was.
    pending: Option<(BytesSample, usize)>,
    /// How long one send or receive may wait.
    patience: Duration,
    outgoing: PortFactory<Service, [u8], ()>,
    incoming: PortFactory<Service, [u8], ()>,
    // Dropped last: the ports and services belong to the node.
    _node: Node<Service>,
}

fn other(operation: &str, error: impl std::fmt::Debug) -> io::Error {
    io::Error::other(format!("iceoryx2: {operation}: {error:?}"))
}

/// The service `prefix/suffix`, created or opened with the rows' settings.
fn service(
    node: &Node<Service>,
    prefix: &str,
    suffix: &str,
) -> io::Result<PortFactory<Service, [u8], ()>> {
    let name =
        ServiceName::new(&format!("{prefix}/{suffix}")).map_err(|e| other("service name", e))?;
    node.service_builder(&name)
        .publish_subscribe::<[u8]>()
        .subscriber_max_buffer_size(BUFFER_SAMPLES)
        .enable_safe_overflow(false)
        .max_publishers(1)
        .max_subscribers(1)
        .open_or_create()
        .map_err(|e| other("open the service", e))
}

impl Iceoryx2Channel {
    /// The end that publishes on `prefix/<outgoing>` and subscribes to
    /// `prefix/<incoming>`.
    fn open(prefix: &str, outgoing: &str, incoming: &str, patience: Duration) -> io::Result<Self> {
        // iceoryx2 warns on stderr that it runs without a config file.
        set_log_level(LogLevel::Error);
        let node = NodeBuilder::new()
            .create::<Service>()
            .map_err(|e| other("create a node", e))?;
        let (out_service, in_service) = (
            service(&node, prefix, outgoing)?,
            service(&node, prefix, incoming)?,
        );
        let publisher = out_service
            .publisher_builder()
            .initial_max_slice_len(MAX_MESSAGE)
            .allocation_strategy(AllocationStrategy::Static)
            .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
            // A full buffer is waited out for at most `patience`.
            .set_backpressure_handler(move |info: &BackpressureInfo| {
                if info.elapsed_time > patience {
                    BackpressureAction::DiscardDataAndFail
                } else {
                    BackpressureAction::Retry
                }
            })
            .create()
            .map_err(|e| other("create a publisher", e))?;
        let subscriber = in_service
            .subscriber_builder()
            .buffer_size(BUFFER_SAMPLES)
            .create()
            .map_err(|e| other("create a subscriber", e))?;
        Ok(Iceoryx2Channel {
            publisher,
            subscriber,
            pending: None,
            patience,
            outgoing: out_service,
            incoming: in_service,
            _node: node,
        })
    }

    /// Waits until the other end has its publisher and subscriber, so that
    /// nothing sent before it connected is lost.
    fn wait_for_peer(&self) -> io::Result<()> {
        let deadline = Instant::now() + self.patience;
        while self.outgoing.dynamic_config().number_of_subscribers() == 0
            || self.incoming.dynamic_config().number_of_publishers() == 0
        {
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "iceoryx2: the peer did not open its ports",
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    /// The next sample, polling until one arrives or `patience` passes.
    fn next_sample(&self) -> io::Result<BytesSample> {
        let deadline = Instant::now() + self.patience;
        loop {
            for _ in 0..POLLS_PER_CHECK {
                if let Some(sample) = self.subscriber.receive().map_err(|e| other("receive", e))? {
                    return Ok(sample);
                }
                std::hint::spin_loop();
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "iceoryx2: nothing received",
                ));
            }
        }
    }
}

impl EchoChannel for Iceoryx2Channel {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        for message in bytes.chunks(MAX_MESSAGE) {
            let sample = self
                .publisher
                .loan_slice_uninit(message.len())
                .map_err(|e| other("loan a sample", e))?;
            sample
                .write_from_slice(message)
                .send()
                .map_err(|e| other("send", e))?;
        }
        Ok(())
    }

    fn recv_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let mut filled = 0;
        while filled < buf.len() {
            let (sample, offset) = match self.pending.take() {
                Some(pending) => pending,
                None => (self.next_sample()?, 0),
            };
            let rest = sample.payload().get(offset..).unwrap_or_default();
            let n = rest.len().min(buf.len() - filled);
            if let (Some(to), Some(from)) = (buf.get_mut(filled..filled + n), rest.get(..n)) {
                to.copy_from_slice(from);
            }
            filled += n;
            if n < rest.len() {
                self.pending = Some((sample, offset + n));
            }
        }
        Ok(())
    }
}

/// The echo client over iceoryx2.
pub type Iceoryx2Client = EchoClient<Iceoryx2Channel>;

/// Removes what killed peers of earlier rows left behind (the parent ends
/// each row's peer with a kill, which gives it no chance to clean up).
fn remove_dead_nodes() {
    // A failure leaves some files behind; the next run tries again.
    let _ = Node::<Service>::list(Config::global_config(), |state| {
        if let NodeState::Dead(view) = state {
            let _ = view.try_remove_stale_resources();
        }
        CallbackProgression::Continue
    });
}

/// Creates the parent's end and starts an echo peer that opens the other.
pub fn spawn_iceoryx2() -> Result<Iceoryx2Client, BenchError> {
    let role = PeerRole::Iceoryx2Echo;
    let io_error = |operation| {
        move |source| BenchError::Io {
            role: role.name(),
            operation,
            source,
        }
    };
    remove_dead_nodes();
    let prefix = format!("hqq-bench/{}", segment_name("iceoryx2"));
    let channel = Iceoryx2Channel::open(&prefix, "to-peer", "to-parent", PARENT_PATIENCE)
        .map_err(io_error("open the services"))?;
    let peer = Peer::spawn(
        role,
        &[(SERVICE_ENV, &prefix)],
        Stdio::null(),
        Stdio::null(),
    )?;
    channel
        .wait_for_peer()
        .map_err(io_error("wait for the peer's ports"))?;
    Ok(EchoClient::new(channel, peer))
}

/// The peer's side: opens the other end and serves echo commands until
/// the parent ends the process (it waits for a command as long as the peer
/// may live).
pub(super) fn serve_peer() -> Result<(), PeerRunError> {
    let prefix: String = env_value(SERVICE_ENV)?;
    let mut channel = Iceoryx2Channel::open(&prefix, "to-parent", "to-peer", PEER_DEADLINE)
        .map_err(|source| PeerRunError::Io {
            operation: "open the iceoryx2 services",
            source,
        })?;
    serve_echo(&mut channel)
}
