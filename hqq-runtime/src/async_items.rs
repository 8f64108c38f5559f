//! [`if_async!`](crate::if_async): items that exist only where this crate
//! has async links (its `tokio` feature, on unix), for generated code.
//!
//! Generated RPC modules wrap their async `Server`, `serve` and `Client`
//! in it. The macro is expanded in the crate that includes the generated
//! code, but defined here, so the async items follow the runtime's
//! feature (which `hqq/tokio` turns on), not a feature of that crate.

/// Expands to the items it is given when hqq-runtime's `tokio` feature is
/// on (on unix), to nothing otherwise.
#[cfg(all(feature = "tokio", unix))]
#[macro_export]
macro_rules! if_async {
    ($($item:item)*) => { $($item)* };
}

/// Expands to the items it is given when hqq-runtime's `tokio` feature is
/// on (on unix), to nothing otherwise.
#[cfg(not(all(feature = "tokio", unix)))]
#[macro_export]
macro_rules! if_async {
    ($($item:item)*) => {};
}
