//! Support for the Advanced link tests: link ends over a Standard link
//! (its rings and buffers).

// Each test binary uses a different part of this module.
#![allow(dead_code)]

pub mod tampering;

use std::time::Duration;

use hqq_runtime::advanced::{AdvancedConfig, AdvancedLink, DialError};
use hqq_runtime::link::{LinkConfig, StandardLink};

/// A Standard link configuration of `slots` buffers of `buffer` bytes.
pub fn link_config(slots: u64, buffer: u64) -> LinkConfig {
    let mut config = LinkConfig::new();
    config
        .slots(slots)
        .buffer_size(buffer)
        .ready_timeout(Duration::from_secs(5));
    config
}

/// Two Standard link ends (primary, secondary) on one anonymous segment.
pub fn standard_pair(slots: u64, buffer: u64) -> (StandardLink, StandardLink) {
    StandardLink::pair(&link_config(slots, buffer)).expect("standard pair")
}

/// Two Advanced link ends (primary, secondary) on one anonymous segment.
pub fn pair(slots: u64, buffer: u64, config: AdvancedConfig) -> (AdvancedLink, AdvancedLink) {
    AdvancedLink::pair(&link_config(slots, buffer), config).expect("advanced pair")
}

/// Two negotiated ends (the secondary accepts on a scoped thread).
pub fn negotiated_pair(
    slots: u64,
    buffer: u64,
    config: AdvancedConfig,
) -> (AdvancedLink, AdvancedLink) {
    let (primary, secondary) = pair(slots, buffer, config);
    std::thread::scope(|s| {
        let acceptor = s.spawn(|| secondary.wait_for_negotiation().unwrap());
        primary.negotiate(config.offer).unwrap();
        acceptor.join().unwrap();
    });
    (primary, secondary)
}

/// Runs `f` on a thread and fails the test if it takes longer than `limit`.
pub fn with_watchdog<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let out = f();
        let _ = tx.send(());
        out
    });
    match rx.recv_timeout(limit) {
        Ok(()) => handle.join().unwrap(),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Ok(out) => out,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("watchdog: test ran over {limit:?}")
        }
    }
}

/// Dials the peer, retrying while it does not listen yet.
pub fn dial(link: &AdvancedLink) -> u64 {
    loop {
        match link.dial() {
            Ok(id) => return id,
            Err(DialError::Refused(_)) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("dial: {e}"),
        }
    }
}
