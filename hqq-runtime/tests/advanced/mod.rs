//! Support for the Advanced link tests: link ends over a Standard link
//! (its rings and buffers).

// Each test binary uses a different part of this module.
#![allow(dead_code)]

pub mod tampering;

use std::time::Duration;

use hqq_runtime::advanced::{
    AcceptNegotiationError, AdvancedConfig, AdvancedLink, DialError, HandshakeError, Keys,
    NegotiateError, Negotiated,
};
use hqq_runtime::link::{LinkConfig, StandardLink};
use hqq_runtime::protocol::{ErrorCode, Features};

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

/// Both outcomes of one negotiation: the initiator's and the acceptor's.
pub type Outcomes = (
    Result<Negotiated, NegotiateError>,
    Result<Negotiated, AcceptNegotiationError>,
);

/// Checks `encryption_required` with `negotiate` (which negotiates two
/// fresh ends configured as given, blocking or async): a side that
/// requires encryption refuses a `plain` peer (either role), and one that
/// merely offers it gets a plain link.
pub fn check_required_encryption(
    plain: AdvancedConfig,
    keys: Keys,
    negotiate: impl Fn(AdvancedConfig, AdvancedConfig) -> Outcomes,
) {
    let required = plain.encryption_required(keys);
    let (initiated, accepted) = negotiate(required, plain);
    assert_eq!(
        initiated.unwrap_err(),
        NegotiateError::Handshake(HandshakeError::NotGranted)
    );
    assert!(accepted.is_ok());
    let (initiated, accepted) = negotiate(plain, required);
    assert_eq!(
        accepted.unwrap_err(),
        AcceptNegotiationError::Handshake(HandshakeError::NotGranted)
    );
    assert_eq!(
        initiated.unwrap_err(),
        NegotiateError::Refused(ErrorCode::InvalidOp)
    );
    // Optional encryption with the same peer: a plain link.
    let (initiated, accepted) = negotiate(plain.encryption(keys), plain);
    assert!(!initiated.unwrap().features.contains(Features::ENCRYPTION));
    assert!(!accepted.unwrap().features.contains(Features::ENCRYPTION));
}
