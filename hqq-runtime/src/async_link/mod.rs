//! Async links for tokio (cargo feature `tokio`): [`AsyncStandardLink`],
//! [`AsyncAdvancedLink`], and async RPC serving and calling ([`rpc`]).
//!
//! Nothing here needs a thread per link, and nothing spins for long. An
//! operation first tries the ring with the link's non-blocking `try_`
//! call (bounded work). When it must wait, an [`AsyncStandardLink`]
//! operation spins in place for up to 2 µs (once per wait: a round trip's
//! answer usually lands within it, and the runtime's wake-up costs more
//! than that); then the task re-polls itself for
//! the rest of the link's short spin
//! ([`WaitPolicy::spin`](crate::wait::WaitPolicy::spin), 50 µs by
//! default, yielding to other tasks in between), then registers
//! its [`Waker`](std::task::Waker) with the process's one waiter thread.
//! That thread parks in `futex_waitv` on the wake words of every link
//! that has waiting tasks, and wakes the tasks whose ring became ready.
//! It parks in the same timed slices as a blocked thread
//! ([`WaitPolicy`](crate::wait::WaitPolicy)), so a peer that never
//! notifies (the Go implementation) is noticed within a slice; on kernels
//! without `futex_waitv` (before Linux 5.16) it polls in those slices.
//!
//! The core of the crate knows nothing of any runtime: this module only
//! uses `std::task` and tokio's `AsyncRead`/`AsyncWrite` traits, and works
//! on tokio's multi-thread and current-thread runtimes alike. Its futures
//! are `Send`.
//!
//! ```
//! use hqq_runtime::async_link::AsyncStandardLink;
//! use hqq_runtime::link::{LinkConfig, StandardLink};
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let (a, b) = StandardLink::pair(LinkConfig::new().slots(8).buffer_size(64))?;
//! let (a, b) = (AsyncStandardLink::new(a), AsyncStandardLink::new(b));
//! a.send(b"ping").await?;
//! let mut buf = [0u8; 64];
//! let n = b.recv(&mut buf).await?;
//! b.send(&buf[..n]).await?;
//! let reply = a.recv_with(|reply| reply.to_vec()).await?;
//! assert_eq!(reply, b"ping");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! An [`AsyncAdvancedLink`] negotiates and honours what the blocking
//! Advanced link does, QualityOfService aside (withheld: its sends do not
//! wait for turns yet): with Encryption the same handshake steps run with
//! awaits and messages are sealed and opened as there; with FlowControl a
//! send awaits its credit chunk by chunk. So async and blocking ends can
//! be mixed freely on one link and across processes.
//!
//! # Cancellation
//!
//! Every operation is a loop of a `try_` call, which completes or fails
//! within one poll, and a wait for readiness, which holds nothing but its
//! registration with the waiter thread. Dropping a future at its await
//! point therefore leaves no slot claimed and no message half sent, and
//! its drop withdraws the registration. Each method's "Cancel safety"
//! section says what that means for it.

mod advanced;
mod advanced_messages;
mod io;
mod message_source;
mod readiness;
pub mod rpc;
mod standard;
mod waitv;
mod watcher;

pub use advanced::AsyncAdvancedLink;
pub use standard::AsyncStandardLink;

/// How many async operations of this process are registered with its
/// waiter thread right now (waiting for a ring to become ready). For
/// diagnostics and tests: after every future has completed or been
/// dropped it is back to 0.
pub fn waiting_tasks() -> usize {
    watcher::registered()
}
