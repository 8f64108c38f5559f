//! AsyncStandardLink (feature `tokio`): both tokio runtimes, many tasks on
//! one link, AsyncRead/AsyncWrite, cancellation at every await point, a
//! peer that never notifies, and a peer in another process.
//!
//! Run with `cargo test -p hqq-runtime --features tokio --test async_link`.
#![cfg(all(feature = "tokio", target_os = "linux"))]

mod async_support;
mod support;

use std::future::Future;
use std::pin::{pin, Pin};
use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use async_support::{current_thread, join, link_config, multi_thread, run, serial, CountingWaker};
use hqq_runtime::async_link::{waiting_tasks, AsyncStandardLink};
use hqq_runtime::codec::PacketCodec;
use hqq_runtime::link::{LinkRecvError, StandardLink};
use hqq_runtime::protocol::StandardLinkCopy;
use hqq_runtime::ring::Ring;
use hqq_runtime::segment::Segment;
use hqq_runtime::Packet;
use support::{child_env, unique_segment_name, Child};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long any single wait may take before a test fails (never reached
/// unless something is broken).
const PATIENCE: Duration = Duration::from_secs(20);

fn pair(slots: u64) -> (AsyncStandardLink, AsyncStandardLink) {
    let (a, b) = StandardLink::pair(&link_config(slots)).expect("pair");
    (AsyncStandardLink::new(a), AsyncStandardLink::new(b))
}

/// Waits (bounded) until `done` holds.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Polls `future` once.
fn poll_once<F: Future>(future: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(waker))
}

/// Polls `future` until it has registered with the waiter thread (past
/// its spin phase), asserting it stays pending.
fn poll_until_registered<F: Future>(mut future: Pin<&mut F>, waker: &Waker) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        assert!(
            poll_once(future.as_mut(), waker).is_pending(),
            "the operation should wait"
        );
        if waiting_tasks() == 1 {
            return;
        }
        assert!(Instant::now() < deadline, "the future never registered");
        std::thread::yield_now();
    }
}

fn assert_send<T: Send>(_: &T) {}

#[test]
fn ping_pong_on_a_current_thread_runtime() {
    let _serial = serial();
    let (a, b) = pair(4);
    run(current_thread(), async {
        let echo = async {
            let mut buf = [0u8; 64];
            for _ in 0..200 {
                let n = b.recv(&mut buf).await.expect("echo recv");
                b.send(&buf[..n]).await.expect("echo send");
            }
        };
        let ask = async {
            for i in 0u32..200 {
                a.send(&i.to_le_bytes()).await.expect("send");
                let reply = a.recv_with(|view| view.read_u32_le(0)).await.expect("recv");
                assert_eq!(reply, Some(i));
            }
        };
        join(echo, ask).await;
    });
    assert_eq!(waiting_tasks(), 0);
}

/// Four senders and two receivers on a 4-slot link: senders wait for space
/// and receivers for data, all at once; every message arrives exactly once.
#[test]
fn many_tasks_share_one_link_on_a_multi_thread_runtime() {
    let _serial = serial();
    let (a, b) = pair(4);
    let (a, b) = (Arc::new(a), Arc::new(b));
    const SENDERS: u32 = 4;
    const EACH: u32 = 300;
    const RECEIVERS: usize = 2;
    const STOP: u32 = u32::MAX;
    let received = run(multi_thread(), async {
        let mut senders = Vec::new();
        for s in 0..SENDERS {
            let a = Arc::clone(&a);
            senders.push(tokio::spawn(async move {
                for i in 0..EACH {
                    a.send(&(s * EACH + i).to_le_bytes()).await.expect("send");
                }
            }));
        }
        let mut receivers = Vec::new();
        for _ in 0..RECEIVERS {
            let b = Arc::clone(&b);
            receivers.push(tokio::spawn(async move {
                let mut got = Vec::new();
                loop {
                    let mut buf = [0u8; 4];
                    let n = b.recv(&mut buf).await.expect("recv");
                    match u32::from_le_bytes(buf[..n].try_into().expect("4 bytes")) {
                        STOP => return got,
                        value => got.push(value),
                    }
                }
            }));
        }
        for sender in senders {
            sender.await.expect("sender task");
        }
        // Each receiver leaves at the first stop message it takes.
        for _ in 0..RECEIVERS {
            a.send(&STOP.to_le_bytes()).await.expect("send stop");
        }
        let mut all = Vec::new();
        for receiver in receivers {
            all.extend(receiver.await.expect("receiver task"));
        }
        all
    });
    let mut received = received;
    received.sort_unstable();
    assert_eq!(received, (0..SENDERS * EACH).collect::<Vec<_>>());
    eventually("registrations withdrawn", || waiting_tasks() == 0);
}

#[test]
fn async_read_and_write_carry_a_stream() {
    let _serial = serial();
    let (mut a, mut b) = pair(4);
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
    let got = run(multi_thread(), async {
        let writer = async {
            a.write_all(&data).await.expect("write_all");
            a.flush().await.expect("flush");
        };
        let reader = async {
            let mut got = vec![0u8; data.len()];
            b.read_exact(&mut got).await.expect("read_exact");
            got
        };
        join(writer, reader).await.1
    });
    assert_eq!(got, data);
}

#[test]
fn futures_are_send() {
    let (a, _b) = pair(4);
    let mut buf = [0u8; 8];
    assert_send(&a.send(b"x"));
    assert_send(&a.recv(&mut buf));
    assert_send(&a.recv_with(|v| v.len()));
    assert_send(&a.send_with(|_| 1));
    assert_send(&a.reserve_send());
    assert_send(&a.reserve_recv());
    assert_send(&a.send_packet(Packet::default(), b""));
    assert_send(&a.send_packet_with(|_, _| Packet::default()));
    assert_send(&a.recv_packet());
    assert_send(&a.recv_ready());
    assert_send(&a.send_ready());
}

// ---- cancellation ---------------------------------------------------------

/// A receive-side operation on an empty ring, dropped (1) at its first
/// poll, (2) once registered with the waiter thread, and (3) after the
/// waiter thread woke it for a message but before it ran again: each time
/// nothing is taken, no registration is left, and the waiter thread
/// withdraws from the wake word.
fn check_recv_cancellation<F: Future>(name: &str, op: impl Fn(Arc<AsyncStandardLink>) -> F) {
    let _serial = serial();
    let (a, b) = pair(4);
    let b = Arc::new(b);
    let waker = Waker::from(Arc::new(CountingWaker::default()));
    // (1) and (2)
    for registered in [false, true] {
        let mut future = pin!(op(Arc::clone(&b)));
        if registered {
            poll_until_registered(future.as_mut(), &waker);
        } else {
            assert!(poll_once(future.as_mut(), &waker).is_pending(), "{name}");
        }
    }
    assert_eq!(waiting_tasks(), 0, "{name}: registration left behind");
    // (3)
    let counter = Arc::new(CountingWaker::default());
    let counting = Waker::from(Arc::clone(&counter));
    {
        let mut future = pin!(op(Arc::clone(&b)));
        poll_until_registered(future.as_mut(), &counting);
        a.get_ref().try_send(b"kept").expect("send");
        eventually("the waiter thread wakes the task", || {
            counter.0.load(Ordering::Relaxed) > 0
        });
    }
    assert_eq!(waiting_tasks(), 0, "{name}: registration left behind");
    let mut buf = [0u8; 64];
    let n = b
        .get_ref()
        .try_recv(&mut buf)
        .expect("the message is still there");
    assert_eq!(&buf[..n], b"kept", "{name}");
    let (_, waiters) = b.get_ref().memory().rx().data_event();
    eventually("the waiter thread withdraws", || {
        waiters.load(Ordering::Acquire) == 0
    });
}

/// A send-side operation on a full ring, dropped at each await point as in
/// [`check_recv_cancellation`]: nothing is sent, no slot stays claimed (no
/// tombstone either), and the ring still works.
fn check_send_cancellation<F: Future>(name: &str, op: impl Fn(Arc<AsyncStandardLink>) -> F) {
    let _serial = serial();
    let (a, b) = pair(2);
    let a = Arc::new(a);
    a.get_ref().try_send(b"one").expect("send");
    a.get_ref().try_send(b"two").expect("send");
    let waker = Waker::from(Arc::new(CountingWaker::default()));
    for registered in [false, true] {
        let mut future = pin!(op(Arc::clone(&a)));
        if registered {
            poll_until_registered(future.as_mut(), &waker);
        } else {
            assert!(poll_once(future.as_mut(), &waker).is_pending(), "{name}");
        }
    }
    assert_eq!(waiting_tasks(), 0, "{name}: registration left behind");
    let counter = Arc::new(CountingWaker::default());
    let counting = Waker::from(Arc::clone(&counter));
    {
        let mut future = pin!(op(Arc::clone(&a)));
        poll_until_registered(future.as_mut(), &counting);
        let mut buf = [0u8; 64];
        let n = b.get_ref().try_recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"one");
        eventually("the waiter thread wakes the task", || {
            counter.0.load(Ordering::Relaxed) > 0
        });
    }
    assert_eq!(waiting_tasks(), 0, "{name}: registration left behind");
    let mut buf = [0u8; 64];
    let n = b.get_ref().try_recv(&mut buf).expect("recv");
    assert_eq!(&buf[..n], b"two");
    assert_eq!(
        b.get_ref().try_recv(&mut buf),
        Err(LinkRecvError::WouldBlock),
        "{name}: a cancelled send published something"
    );
    assert_eq!(
        a.get_ref().stats().tx.tombstones,
        0,
        "{name}: a slot was abandoned"
    );
    a.get_ref().try_send(b"three").expect("the ring moves on");
    let (_, waiters) = a.get_ref().memory().tx().space_event();
    eventually("the waiter thread withdraws", || {
        waiters.load(Ordering::Acquire) == 0
    });
}

#[test]
fn cancelling_receives_loses_nothing() {
    check_recv_cancellation("recv", |l| async move {
        let mut buf = [0u8; 64];
        l.recv(&mut buf).await.map(|_| ())
    });
    check_recv_cancellation("recv_with", |l| async move {
        l.recv_with(|v| v.to_vec()).await.map(|_| ())
    });
    check_recv_cancellation("reserve_recv", |l| async move {
        l.reserve_recv().await.map(drop)
    });
    check_recv_cancellation(
        "recv_packet",
        |l| async move { l.recv_packet().await.map(drop) },
    );
    check_recv_cancellation("recv_ready", |l| async move { l.recv_ready().await });
}

#[test]
fn cancelling_sends_sends_nothing() {
    check_send_cancellation("send", |l| async move { l.send(b"x").await });
    check_send_cancellation("send_with", |l| async move {
        l.send_with(|buf| {
            buf[0] = b'x';
            1
        })
        .await
    });
    check_send_cancellation("reserve_send", |l| async move {
        l.reserve_send().await.map(|slot| slot.commit(1))
    });
    check_send_cancellation("send_packet", |l| async move {
        let copy = StandardLinkCopy {
            copy: 1,
            buffer_index: 0,
            size: 1,
        };
        l.send_packet(copy.encode(), b"x").await
    });
    check_send_cancellation("send_packet_with", |l| async move {
        l.send_packet_with(|index, _| {
            StandardLinkCopy {
                copy: 1,
                buffer_index: index as u64,
                size: 1,
            }
            .encode()
        })
        .await
    });
    check_send_cancellation("send_ready", |l| async move { l.send_ready().await });
}

/// The per-link readiness of `poll_*_ready` (and so of AsyncRead and
/// AsyncWrite) is withdrawn when the link is dropped.
#[test]
fn dropping_the_link_withdraws_its_readiness() {
    let _serial = serial();
    let (a, b) = pair(4);
    let waker = Waker::from(Arc::new(CountingWaker::default()));
    let mut read = pin!(std::future::poll_fn(|cx| b.poll_recv_ready(cx)));
    poll_until_registered(read.as_mut(), &waker);
    drop(a);
    assert_eq!(waiting_tasks(), 1);
    drop(b);
    assert_eq!(waiting_tasks(), 0);
}

// ---- peers ----------------------------------------------------------------

/// A peer like the Go implementation: it publishes StandardLinkCopy packets
/// straight into the ring, with pauses, and never touches the wake words.
/// The async receiver still gets every message (within park slices).
#[test]
fn a_peer_that_never_notifies_is_noticed() {
    let _serial = serial();
    let name = unique_segment_name("silent");
    let link = StandardLink::create(&name, &link_config(4)).expect("create");
    let layout = *link.layout();
    let link = AsyncStandardLink::new(link);
    let segment = Segment::open(&name, layout.total_size()).expect("open");
    let base = NonNull::new(segment.as_ptr()).expect("mapping");
    // SAFETY: the ring and buffers of the secondary-to-primary direction
    // lie inside the mapping (layout offsets), which `segment` keeps alive
    // for as long as `ring` lives (dropped first, below); this mapping is
    // accessed only through this ring.
    let ring = unsafe {
        Ring::attach(
            base.add(layout.ring1_offset()),
            layout.count(),
            base.add(layout.buffers1_offset()),
            layout.size(),
        )
    }
    .expect("attach");
    let (_, waiters) = link.get_ref().memory().rx().data_event();
    let seq_before = link
        .get_ref()
        .memory()
        .rx()
        .data_event()
        .0
        .load(Ordering::Acquire);
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..5u64 {
                std::thread::sleep(Duration::from_millis(30));
                let deadline = Instant::now() + PATIENCE;
                let mut claim = loop {
                    match ring.try_claim_send() {
                        Ok(claim) => break claim,
                        Err(_) => assert!(Instant::now() < deadline, "ring stuck"),
                    }
                };
                claim.write_payload(&i.to_le_bytes()).expect("payload");
                let packet = StandardLinkCopy {
                    copy: i + 1,
                    buffer_index: claim.index() as u64,
                    size: 8,
                }
                .encode();
                claim.commit(packet);
            }
        });
        multi_thread().block_on(async {
            for i in 0..5u64 {
                let mut buf = [0u8; 8];
                let n = tokio::time::timeout(PATIENCE, link.recv(&mut buf))
                    .await
                    .expect("a silent peer's message was never noticed")
                    .expect("recv");
                assert_eq!(n, 8);
                assert_eq!(u64::from_le_bytes(buf), i);
            }
        });
    });
    // The peer really never notified: nobody bumped `seq` for its packets.
    assert_eq!(
        link.get_ref()
            .memory()
            .rx()
            .data_event()
            .0
            .load(Ordering::Acquire),
        seq_before
    );
    eventually("the waiter thread withdraws", || {
        waiters.load(Ordering::Acquire) == 0
    });
    drop(ring);
    drop(segment);
}

const ECHO_MESSAGES: u32 = 2000;

#[test]
fn echo_child() {
    let Some(env) = child_env("echo_child") else {
        return;
    };
    let link = StandardLink::open(&env.var("HQQ_SEGMENT"), &link_config(8)).expect("open");
    link.set_read_timeout(Some(PATIENCE));
    let mut buf = [0u8; 64];
    for _ in 0..ECHO_MESSAGES {
        let n = link.recv(&mut buf).expect("child recv");
        link.send(&buf[..n]).expect("child send");
    }
    // Leave without deregistering, as a crash would: the parent's next
    // receive must end with PeerGone.
    std::mem::forget(link);
}

/// A blocking peer in another process echoes; the async side keeps 8 calls
/// in flight from 8 tasks on a current-thread runtime, then sees the peer
/// die.
#[test]
fn async_calls_to_another_process() {
    let _serial = serial();
    let name = unique_segment_name("echo");
    let link = Arc::new(AsyncStandardLink::new(
        StandardLink::create(&name, &link_config(8)).expect("create"),
    ));
    let child = Child::spawn("echo_child", &[("HQQ_SEGMENT", &name)]);
    let runtime = current_thread();
    let replies = runtime.block_on(async {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let mut tasks = Vec::new();
                for t in 0..8u32 {
                    let link = Arc::clone(&link);
                    tasks.push(tokio::task::spawn_local(async move {
                        for i in 0..ECHO_MESSAGES / 8 {
                            link.send(&(t * 1000 + i).to_le_bytes())
                                .await
                                .expect("send");
                        }
                    }));
                }
                let mut replies = Vec::new();
                for _ in 0..ECHO_MESSAGES {
                    let mut buf = [0u8; 4];
                    let n = tokio::time::timeout(PATIENCE, link.recv(&mut buf))
                        .await
                        .expect("echo reply")
                        .expect("recv");
                    assert_eq!(n, 4);
                    replies.push(u32::from_le_bytes(buf));
                }
                for task in tasks {
                    task.await.expect("sender");
                }
                let mut buf = [0u8; 4];
                let gone = tokio::time::timeout(PATIENCE, link.recv(&mut buf)).await;
                assert_eq!(
                    gone.expect("PeerGone in time"),
                    Err(LinkRecvError::PeerGone)
                );
                replies
            })
            .await
    });
    child.wait(Duration::from_secs(120)).assert_success();
    let mut replies = replies;
    replies.sort_unstable();
    let mut expected: Vec<u32> = (0..8u32)
        .flat_map(|t| (0..ECHO_MESSAGES / 8).map(move |i| t * 1000 + i))
        .collect();
    expected.sort_unstable();
    assert_eq!(replies, expected);
    assert_eq!(waiting_tasks(), 0);
}

/// Threads of this process, from /proc.
fn thread_count() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("a Threads: line")
}

/// Twenty links with a task waiting on each cost at most one thread (the
/// waiter thread, if this is the first wait of the process), and one
/// message on each wakes every task: the thread watches all twenty wake
/// words at once.
#[test]
fn waiting_on_many_links_takes_no_thread_per_link() {
    let _serial = serial();
    const LINKS: usize = 20;
    let pairs: Vec<(AsyncStandardLink, AsyncStandardLink)> = (0..LINKS).map(|_| pair(2)).collect();
    let waker = Waker::from(Arc::new(CountingWaker::default()));
    let before = thread_count();
    let mut futures: Vec<_> = pairs
        .iter()
        .map(|(_, b)| Box::pin(b.recv_with(|view| view.to_vec())))
        .collect();
    let deadline = Instant::now() + PATIENCE;
    while waiting_tasks() < LINKS {
        assert!(Instant::now() < deadline, "the tasks never registered");
        for future in &mut futures {
            assert!(poll_once(future.as_mut(), &waker).is_pending());
        }
    }
    assert!(
        thread_count() <= before + 1,
        "more than one thread for {LINKS} waiting links"
    );
    let got = run(current_thread(), async {
        for (i, (a, _)) in pairs.iter().enumerate() {
            a.send(&[i as u8]).await.expect("send");
        }
        let mut got = Vec::new();
        for future in futures {
            got.push(future.await.expect("recv"));
        }
        got
    });
    let expected: Vec<Vec<u8>> = (0..LINKS).map(|i| vec![i as u8]).collect();
    assert_eq!(got, expected);
    assert_eq!(waiting_tasks(), 0);
}

/// A child made by `fork` (without exec) inherits the record that the
/// waiter thread was started, but not the thread: its first wait starts
/// its own, so its tasks are still woken.
#[test]
fn a_forked_child_gets_its_own_waiter_thread() {
    let _serial = serial();
    // Make sure this process's waiter thread runs before the fork.
    let (a, b) = pair(2);
    let waker = Waker::from(Arc::new(CountingWaker::default()));
    {
        let mut wait = pin!(b.recv_ready());
        poll_until_registered(wait.as_mut(), &waker);
    }
    drop((a, b));
    // SAFETY: the child only runs the code below and leaves with `_exit`;
    // the `serial` lock keeps this binary's other tests from holding the
    // waiter table's lock across the fork.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = std::panic::catch_unwind(|| {
            let (a, b) = pair(2);
            let runtime = current_thread();
            runtime.block_on(async {
                let recv = b.recv_with(|view| view.to_vec());
                let send = async {
                    // Long enough for the receive to register and park.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    a.send(b"forked").await
                };
                // The watchdog is polled first: a message noticed only
                // when the watchdog wakes the task counts as a failure.
                let mut watchdog = pin!(tokio::time::sleep(PATIENCE));
                let mut both = pin!(join(recv, send));
                let outcome = std::future::poll_fn(|cx| {
                    if watchdog.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(None);
                    }
                    both.as_mut().poll(cx).map(Some)
                })
                .await;
                matches!(outcome, Some((Ok(ref v), Ok(()))) if v == b"forked")
            })
        })
        .unwrap_or(false);
        // SAFETY: ends the child at once, without running the parent's
        // atexit handlers or destructors twice.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let deadline = Instant::now() + PATIENCE;
    let mut status = 0;
    loop {
        // SAFETY: `pid` is our child; `status` is a valid out-pointer.
        let done = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if done == pid {
            break;
        }
        if Instant::now() >= deadline {
            // SAFETY: killing and reaping our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("the forked child's wait was never woken");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the forked child failed: status {status:#x}"
    );
}
