//! # hqq-cli
//!
//! The library behind the `hqq` command-line tool: one module per
//! subcommand ([`cmd`]) and the cross-process benchmark suite
//! ([`bench`](mod@bench)) that `hqq bench` and the criterion bench
//! `benches/ipc.rs` both run.

#[cfg(target_os = "linux")]
pub mod bench;
#[cfg(target_os = "linux")]
pub mod cmd;
