//! The subcommands of the `hqq` tool, one module each.
//!
//! Every module has an `*Args` struct (its clap arguments) and a `run`
//! function returning `Result<(), *Error>`; `main` parses, calls `run` and
//! turns an error into one line on stderr with [`error_line`] and a non-zero
//! exit status.

pub mod app_spec;
pub mod bench;
pub mod clean;
pub mod echo;
pub mod inspect;
pub mod interrupt;
pub mod link;
pub mod list;
pub mod ping;
pub mod recv;
pub mod send;
pub mod stat;

use std::error::Error;

/// The error and its chain of causes on one line, joined with `": "`.
///
/// ```
/// let io = std::io::Error::new(std::io::ErrorKind::Other, "disk on fire");
/// assert_eq!(hqq_cli::cmd::error_line(&io), "disk on fire");
/// ```
pub fn error_line(error: &dyn Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        // thiserror's `transparent` and some wrappers repeat their cause.
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}
