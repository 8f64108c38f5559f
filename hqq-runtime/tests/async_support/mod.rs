//! Helpers shared by the async-link tests (feature `tokio`): the two tokio
//! runtimes, a bounded `run`, a join without tokio's macros, a counting
//! waker, and a lock for tests that count the process's waiting tasks.

// Each test binary uses a different part of it.
#![allow(dead_code)]

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Wake};
use std::time::Duration;

use hqq_runtime::link::LinkConfig;

/// `waiting_tasks()` counts the whole process: tests that check it run one
/// at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A link configuration with `slots` slots of 64 bytes.
pub fn link_config(slots: u64) -> LinkConfig {
    let mut config = LinkConfig::new();
    config
        .slots(slots)
        .buffer_size(64)
        .ready_timeout(Duration::from_secs(10));
    config
}

pub fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

pub fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("runtime")
}

/// Runs `test` on `runtime`, failing instead of hanging if it never ends.
pub fn run<F: Future>(runtime: tokio::runtime::Runtime, test: F) -> F::Output {
    runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(120), test)
            .await
            .expect("the test hung")
    })
}

/// Counts its wake-ups.
#[derive(Default)]
pub struct CountingWaker(pub AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs two futures concurrently on the current task (what `tokio::join!`
/// does, without tokio's macros).
pub async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut out_a, mut out_b) = (None, None);
    std::future::poll_fn(|cx| {
        if out_a.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                out_a = Some(v);
            }
        }
        if out_b.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                out_b = Some(v);
            }
        }
        match (out_a.take(), out_b.take()) {
            (Some(a), Some(b)) => Poll::Ready((a, b)),
            (a, b) => {
                (out_a, out_b) = (a, b);
                Poll::Pending
            }
        }
    })
    .await
}
