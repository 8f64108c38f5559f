//! # hqq
//!
//! Inter-process communication through one named shared-memory segment:
//! lock-free MPMC rings of fixed 64-byte packets, payload buffers owned by
//! ring slots, a Standard link for bidirectional data and an Advanced link for
//! negotiation, logical connections, large messages and request-response.
//!
//! This is the facade crate: applications depend on `hqq` alone.
//!
//! * [`runtime`]: shared segments, page layout, rings and links.
//! * [`Packet`]: the 64-byte unit every ring slot carries.
//! * [`protocol`]: the core protocol's typed packets, generated from `spec/hqq.yaml`.

pub use hqq_runtime as runtime;
#[cfg(unix)]
pub use hqq_runtime::link::{LinkConfig, StandardLink};
pub use hqq_runtime::protocol;
pub use hqq_runtime::Packet;
