//! What can go wrong while measuring (in the benchmark process) and while
//! serving as a peer (in the re-executed child).

use std::io;
use std::process::ExitStatus;
use std::time::Duration;

use hqq_runtime::advanced::AdvancedOpenError;
use hqq_runtime::link::LinkOpenError;
use hqq_runtime::segment::{SegmentCreateError, SegmentOpenError};

/// Why a measurement failed in the benchmark process.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The peer process could not be started.
    #[error("could not start the {role} peer process (re-executing {exe:?})")]
    PeerSpawn {
        /// The role the peer was to run.
        role: &'static str,
        /// The executable that was re-run.
        exe: String,
        /// The operating-system error.
        #[source]
        source: io::Error,
    },
    /// The peer process exited while it was still needed; its stderr (which
    /// the peer inherits) says why.
    #[error("the {role} peer process exited early ({status}); see its message above")]
    PeerExited {
        /// The role the peer ran.
        role: &'static str,
        /// How it ended.
        status: ExitStatus,
    },
    /// The peer (process or thread) made no progress for too long.
    #[error("the {role} peer made no progress for {waited:?}; is the machine overloaded?")]
    PeerStalled {
        /// The role the peer runs.
        role: &'static str,
        /// How long the benchmark waited.
        waited: Duration,
    },
    /// Reading from or writing to the peer failed.
    #[error("{operation} failed while talking to the {role} peer")]
    Io {
        /// The role the peer runs.
        role: &'static str,
        /// What was being done (`"send"`, `"receive"`, ...).
        operation: &'static str,
        /// The operating-system error.
        #[source]
        source: io::Error,
    },
    /// The peer answered something the protocol does not allow.
    #[error("the {role} peer broke the benchmark protocol: {detail}")]
    Protocol {
        /// The role the peer runs.
        role: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// A message size the echo protocol does not carry.
    #[error("message size {size} is outside 1..={max} bytes")]
    MessageSize {
        /// The requested size.
        size: usize,
        /// The largest size, [`MAX_MESSAGE_SIZE`](super::MAX_MESSAGE_SIZE).
        max: usize,
    },
    /// The shared segment of a measurement could not be created.
    #[error("could not create the benchmark's shared segment")]
    SegmentCreate(#[from] SegmentCreateError),
    /// A word the benchmark placed in its own segment is out of bounds
    /// (a bug in the segment layout constants).
    #[error("word at offset {offset} lies outside the benchmark segment")]
    SegmentLayout {
        /// The word's byte offset.
        offset: usize,
    },
    /// The Standard link of a measurement could not be created.
    #[error("could not create the benchmark's Standard link")]
    LinkCreate(#[source] LinkOpenError),
    /// The calling thread's CPU time could not be read.
    #[error("clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed")]
    CpuClock(#[source] io::Error),
    /// The Advanced link of a measurement could not be created.
    #[error("could not create the benchmark's Advanced link")]
    AdvancedCreate(#[source] AdvancedOpenError),
    /// An Advanced link operation failed while talking to the peer.
    #[error("{operation} on the Advanced link to the {role} peer failed")]
    Advanced {
        /// The role the peer runs.
        role: &'static str,
        /// What was being done.
        operation: &'static str,
        /// The link's error (one of the Advanced link's per-operation errors).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Why a peer process (the re-executed benchmark) failed its role.
#[derive(Debug, thiserror::Error)]
pub enum PeerRunError {
    /// The role named in the environment is not one this binary knows.
    #[error("unknown benchmark peer role {0:?}")]
    UnknownRole(String),
    /// An environment variable the role needs is missing or malformed.
    #[error("environment variable {name} is missing or malformed (this process must be started by the benchmark)")]
    BadEnvironment {
        /// The variable.
        name: &'static str,
    },
    /// Reading from or writing to the parent failed.
    #[error("{operation} failed while talking to the benchmark process")]
    Io {
        /// What was being done.
        operation: &'static str,
        /// The operating-system error.
        #[source]
        source: io::Error,
    },
    /// The parent sent a command header the protocol does not allow.
    #[error("invalid command from the benchmark process: {detail}")]
    BadCommand {
        /// What was wrong.
        detail: String,
    },
    /// The benchmark's shared segment could not be opened.
    #[error("could not open the benchmark's shared segment")]
    SegmentOpen(#[from] SegmentOpenError),
    /// The benchmark's Standard link could not be opened.
    #[error("could not open the benchmark's Standard link")]
    LinkOpen(#[source] LinkOpenError),
    /// A word of the benchmark segment is out of bounds.
    #[error("word at offset {offset} lies outside the benchmark segment")]
    SegmentLayout {
        /// The word's byte offset.
        offset: usize,
    },
    /// The benchmark's Advanced link could not be opened.
    #[error("could not open the benchmark's Advanced link")]
    AdvancedOpen(#[source] AdvancedOpenError),
    /// An Advanced link operation failed while talking to the parent.
    #[error("{operation} on the Advanced link to the benchmark process failed")]
    Advanced {
        /// What was being done.
        operation: &'static str,
        /// The link's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}
