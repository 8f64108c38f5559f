//! # hqq-cli
//!
//! The library behind the `hqq` command-line tool: one module per
//! subcommand ([`cmd`]: `echo`, `ping`, `send`, `recv`, `inspect`, `list`,
//! `bench`) and the cross-process benchmark suite ([`bench`](mod@bench))
//! that `hqq bench` and the criterion bench `benches/ipc.rs` both run.
//!
//! The functions behind the subcommands are usable on their own, for
//! example to inspect a segment from a program:
//!
//! ```
//! # #[cfg(target_os = "linux")] {
//! use hqq_cli::cmd::inspect::inspect_segment;
//! use hqq_runtime::link::{LinkConfig, StandardLink};
//!
//! let name = format!("hqq-doc-cli-{}", std::process::id());
//! let _link = StandardLink::create(&name, LinkConfig::new().slots(8).buffer_size(64))?;
//! let report = inspect_segment(&name)?;
//! assert_eq!(report.superblock.as_ref().map(|s| s.slots), Some(8));
//! assert!(report.problems.is_empty(), "{:?}", report.problems);
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(target_os = "linux")]
pub mod bench;
#[cfg(target_os = "linux")]
pub mod cmd;
