//! The StandardLink API on an in-process `pair()`: every method, timeouts,
//! non-blocking variants, partial reads, reservations, tombstones, raw
//! packets, Error packets, statistics, Read/Write and threads.

mod conformance;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use conformance::with_watchdog;
use hqq_runtime::codec::PacketCodec;
use hqq_runtime::link::{
    LinkConfig, LinkProtocolError, LinkRecvError, LinkSendError, StandardLink,
};
use hqq_runtime::protocol::{
    Error as ErrorPacket, ErrorCode, StandardLinkCopy, StandardLinkTombstone,
};
use hqq_runtime::{Packet, Role};

const WATCHDOG: Duration = Duration::from_secs(60);

/// A pair whose blocking operations give up after 10 s, so that no test
/// can hang.
fn pair(slots: u64, size: u64) -> (StandardLink, StandardLink) {
    let (a, b) = StandardLink::pair(LinkConfig::new().slots(slots).buffer_size(size)).unwrap();
    for end in [&a, &b] {
        end.set_read_timeout(Some(Duration::from_secs(10)));
        end.set_write_timeout(Some(Duration::from_secs(10)));
    }
    (a, b)
}

fn recv_vec(link: &StandardLink) -> Vec<u8> {
    let mut buf = vec![0; link.buffer_size()];
    let n = link.recv_timeout(&mut buf, Duration::from_secs(5)).unwrap();
    buf.truncate(n);
    buf
}

#[test]
fn pair_roles_and_geometry() {
    let (a, b) = pair(8, 64);
    assert_eq!((a.role(), b.role()), (Role::Primary, Role::Secondary));
    assert_eq!((a.slots(), a.buffer_size()), (8, 64));
    assert_eq!(a.layout().total_size(), b.layout().total_size());
    assert!(a.name().is_none());
    assert!(a.has_wake_words() && b.has_wake_words());
}

#[test]
fn invalid_config_is_an_error() {
    assert!(StandardLink::pair(LinkConfig::new().slots(3)).is_err());
    assert!(StandardLink::pair(LinkConfig::new().buffer_size(12)).is_err());
}

#[test]
fn send_and_recv_both_ways_in_order() {
    let (a, b) = pair(4, 64);
    for i in 0..20u8 {
        a.send(&[i; 5]).unwrap();
        assert_eq!(recv_vec(&b), vec![i; 5]);
        b.send(&[i; 64]).unwrap();
        assert_eq!(recv_vec(&a), vec![i; 64]);
    }
}

#[test]
fn copy_ids_count_from_one_and_index_mirrors_slot() {
    let (a, b) = pair(4, 64);
    for expected in 1..=6u64 {
        a.send(b"x").unwrap();
        let r = b.reserve_recv().unwrap();
        let copy = StandardLinkCopy::decode(&r.packet()).unwrap();
        assert_eq!(copy.copy, expected);
        assert_eq!(copy.buffer_index, r.index() as u64);
        assert_eq!(copy.size, 1);
    }
}

#[test]
fn sizes_are_checked() {
    let (a, _b) = pair(4, 64);
    assert_eq!(
        a.send(&[]),
        Err(LinkSendError::InvalidSize { len: 0, max: 64 })
    );
    assert_eq!(
        a.try_send(&[0; 65]),
        Err(LinkSendError::InvalidSize { len: 65, max: 64 })
    );
    assert!(a.send_packet(Packet::new(0x90, [0; 7]), &[0; 65]).is_err());
}

#[test]
fn try_variants_would_block() {
    let (a, b) = pair(2, 8);
    let mut buf = [0u8; 8];
    assert_eq!(b.try_recv(&mut buf), Err(LinkRecvError::WouldBlock));
    assert!(matches!(
        b.try_reserve_recv(),
        Err(LinkRecvError::WouldBlock)
    ));
    assert!(matches!(
        b.try_recv_packet(),
        Err(LinkRecvError::WouldBlock)
    ));
    a.try_send(b"1").unwrap();
    a.try_send(b"2").unwrap();
    assert_eq!(a.try_send(b"3"), Err(LinkSendError::WouldBlock));
    assert!(matches!(
        a.try_reserve_send(),
        Err(LinkSendError::WouldBlock)
    ));
    assert_eq!(
        a.try_send_packet(Packet::new(0x90, [0; 7]), &[]),
        Err(LinkSendError::WouldBlock)
    );
    assert_eq!(
        a.try_send_packet_with(|_, _| Packet::new(0x90, [0; 7])),
        Err(LinkSendError::WouldBlock)
    );
    assert_eq!(b.try_recv(&mut buf), Ok(1));
    a.try_send(b"3").unwrap();
}

#[test]
fn timeouts_expire() {
    with_watchdog(WATCHDOG, || {
        let (a, b) = pair(2, 8);
        let mut buf = [0u8; 8];
        let start = Instant::now();
        assert_eq!(
            b.recv_timeout(&mut buf, Duration::from_millis(30)),
            Err(LinkRecvError::TimedOut)
        );
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert!(matches!(
            b.recv_packet_timeout(Duration::from_millis(5)),
            Err(LinkRecvError::TimedOut)
        ));
        b.set_read_timeout(Some(Duration::from_millis(10)));
        assert_eq!(b.read_timeout(), Some(Duration::from_millis(10)));
        assert_eq!(b.recv(&mut buf), Err(LinkRecvError::TimedOut));
        assert!(matches!(b.reserve_recv(), Err(LinkRecvError::TimedOut)));
        b.set_read_timeout(Some(Duration::ZERO));
        assert_eq!(b.recv(&mut buf), Err(LinkRecvError::WouldBlock));
        b.set_read_timeout(None);
        assert_eq!(b.read_timeout(), None);
        b.set_read_timeout(Some(Duration::from_secs(10)));

        a.send(b"1").unwrap();
        a.send(b"2").unwrap();
        assert_eq!(
            a.send_timeout(b"3", Duration::from_millis(10)),
            Err(LinkSendError::TimedOut)
        );
        a.set_write_timeout(Some(Duration::from_millis(10)));
        assert_eq!(a.write_timeout(), Some(Duration::from_millis(10)));
        assert_eq!(a.send(b"3"), Err(LinkSendError::TimedOut));
        assert!(matches!(a.reserve_send(), Err(LinkSendError::TimedOut)));
        assert_eq!(
            a.send_packet(Packet::new(0x90, [0; 7]), &[]),
            Err(LinkSendError::TimedOut)
        );
        // A 10 ms wait may spend all of its time spinning and yielding on
        // a loaded machine; longer ones must get to parking.
        for _ in 0..20 {
            if a.stats().tx.parks > 0 {
                break;
            }
            assert_eq!(
                a.send_timeout(b"3", Duration::from_millis(100)),
                Err(LinkSendError::TimedOut)
            );
        }
        let stats = a.stats();
        assert!(stats.tx.waits > 0 && stats.tx.parks > 0, "{stats:?}");
    });
}

#[test]
fn blocked_recv_is_woken_by_send() {
    with_watchdog(WATCHDOG, || {
        let (a, b) = pair(4, 64);
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(50));
                a.send(b"late").unwrap();
            });
            assert_eq!(recv_vec(&b), b"late");
        });
        assert!(b.stats().rx.waits > 0);
    });
}

#[test]
fn blocked_send_is_woken_by_release() {
    with_watchdog(WATCHDOG, || {
        let (a, b) = pair(2, 8);
        a.send(b"1").unwrap();
        a.send(b"2").unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(50));
                assert_eq!(recv_vec(&b), b"1");
            });
            a.send_timeout(b"3", Duration::from_secs(5)).unwrap();
        });
        assert_eq!(recv_vec(&b), b"2");
        assert_eq!(recv_vec(&b), b"3");
    });
}

#[test]
fn partial_reads_return_the_rest_next() {
    let (a, b) = pair(2, 64);
    let message: Vec<u8> = (0..50).collect();
    a.send(&message).unwrap();
    a.send(b"next").unwrap();
    let mut small = [0u8; 20];
    assert_eq!(b.recv(&mut small).unwrap(), 20);
    assert_eq!(small[..], message[..20]);
    // The slot was released at once: two more sends fit the 2-slot ring.
    a.try_send(b"third").unwrap();
    assert_eq!(b.try_recv(&mut small).unwrap(), 20);
    assert_eq!(small[..], message[20..40]);
    assert_eq!(b.recv_with(|rest| rest.to_vec()).unwrap(), message[40..]);
    assert_eq!(recv_vec(&b), b"next");
    // An empty buffer takes nothing; the whole message waits.
    assert_eq!(b.recv(&mut []).unwrap(), 0);
    assert_eq!(recv_vec(&b), b"third");
}

#[test]
fn send_with_and_recv_with_are_zero_copy() {
    let (a, b) = pair(4, 64);
    a.send_with(|buf| {
        assert_eq!(buf.len(), 64);
        buf[..3].copy_from_slice(b"abc");
        3
    })
    .unwrap();
    assert_eq!(b.recv_with(|p| p.to_vec()).unwrap(), b"abc");
    assert_eq!(
        a.send_with(|_| 0),
        Err(LinkSendError::InvalidSize { len: 0, max: 64 })
    );
    assert_eq!(
        a.send_with(|_| 65),
        Err(LinkSendError::InvalidSize { len: 65, max: 64 })
    );
    // The two failed fills became tombstones, skipped by the receiver.
    a.send(b"after").unwrap();
    assert_eq!(recv_vec(&b), b"after");
    assert_eq!(a.stats().tx.tombstones, 2);
    assert_eq!(b.stats().rx.tombstones, 2);
}

#[test]
fn reservations_commit_abort_and_drop() {
    let (a, b) = pair(4, 64);
    let mut r = a.reserve_send().unwrap();
    r.buffer_mut()[..2].copy_from_slice(b"ok");
    let index = r.index();
    r.commit(2).unwrap();
    a.reserve_send().unwrap().abort();
    drop(a.reserve_send().unwrap());
    let r = a.try_reserve_send().unwrap();
    assert!(r.commit(0).is_err());

    let got = b.reserve_recv().unwrap();
    assert_eq!(got.payload(), b"ok");
    assert_eq!(got.index(), index);
    assert_eq!(got.buffer().len(), 64);
    got.release();
    a.send(b"end").unwrap();
    let got = b.try_reserve_recv().unwrap();
    assert_eq!(got.payload(), b"end");
    drop(got);
    assert_eq!(b.stats().rx.tombstones, 3);
    assert_eq!(a.stats().tx.tombstones, 3);
    assert!(matches!(
        b.try_reserve_recv(),
        Err(LinkRecvError::WouldBlock)
    ));
}

#[test]
fn a_held_recv_reservation_keeps_its_slot() {
    let (a, b) = pair(2, 8);
    a.send(b"1").unwrap();
    a.send(b"2").unwrap();
    let held = b.reserve_recv().unwrap();
    assert_eq!(a.try_send(b"3"), Err(LinkSendError::WouldBlock));
    drop(held);
    a.try_send(b"3").unwrap();
}

#[test]
fn raw_packets_with_and_without_payload() {
    let (a, b) = pair(4, 64);
    a.send_packet(Packet::new(0x90, [7, 0, 0, 0, 0, 0, 0]), &[])
        .unwrap();
    a.send_packet(Packet::new(0x91, [1, 2, 3, 0, 0, 0, 0]), b"payload")
        .unwrap();
    a.send_packet_with(|index, buf| {
        buf[..4].copy_from_slice(b"with");
        Packet::new(0x92, [index as u64, 4, 0, 0, 0, 0, 0])
    })
    .unwrap();
    let mut r = a.reserve_send().unwrap();
    r.buffer_mut()[0] = 9;
    let index = r.index() as u64;
    r.commit_packet(Packet::new(0x93, [index, 0, 0, 0, 0, 0, 0]));

    let p = b.recv_packet().unwrap();
    assert_eq!(p.packet(), Packet::new(0x90, [7, 0, 0, 0, 0, 0, 0]));
    drop(p);
    let p = b.try_recv_packet().unwrap();
    assert_eq!(p.packet().opcode(), 0x91);
    assert_eq!(p.payload().len(), 64, "raw payload is the whole buffer");
    assert_eq!(p.payload().get(..7).unwrap(), b"payload");
    drop(p);
    let p = b.recv_packet_timeout(Duration::from_secs(1)).unwrap();
    assert_eq!(p.packet().operand(0), p.index() as u64);
    assert_eq!(p.payload().get(..4).unwrap(), b"with");
    drop(p);
    let p = b.recv_packet().unwrap();
    assert_eq!(
        (p.packet().opcode(), p.payload().read_u8(0)),
        (0x93, Some(9))
    );
    drop(p);
    assert_eq!(b.stats().rx.packets, 4);
}

#[test]
fn raw_receive_skips_tombstones_and_returns_data_and_errors() {
    let (a, b) = pair(4, 64);
    drop(a.reserve_send().unwrap());
    a.send(b"data").unwrap();
    a.send_packet(
        ErrorPacket {
            context: 3,
            code: ErrorCode::InvalidOp,
        }
        .encode(),
        &[],
    )
    .unwrap();
    let p = b.recv_packet().unwrap();
    assert_eq!(p.packet().opcode(), StandardLinkCopy::OPCODE);
    drop(p);
    let p = b.recv_packet().unwrap();
    assert_eq!(p.packet().opcode(), ErrorPacket::OPCODE);
    drop(p);
    assert_eq!(b.stats().rx.tombstones, 1);
}

#[test]
fn data_api_turns_error_and_foreign_packets_into_errors() {
    let (a, b) = pair(8, 64);
    let mut buf = [0u8; 64];
    a.send_packet(
        ErrorPacket {
            context: 9,
            code: ErrorCode::BufferOverflow,
        }
        .encode(),
        &[],
    )
    .unwrap();
    a.send_packet(Packet::new(0x00, [9, 0x55, 0, 0, 0, 0, 0]), &[])
        .unwrap();
    a.send_packet(Packet::new(0x90, [1, 0, 0, 0, 0, 0, 0]), &[])
        .unwrap();
    a.send(b"still here").unwrap();
    assert_eq!(
        b.recv(&mut buf),
        Err(LinkRecvError::Peer {
            code: ErrorCode::BufferOverflow,
            context: 9
        })
    );
    assert!(matches!(
        b.recv(&mut buf),
        Err(LinkRecvError::Protocol(LinkProtocolError::Decode(_)))
    ));
    assert_eq!(
        b.recv(&mut buf),
        Err(LinkRecvError::UnexpectedPacket(Packet::new(
            0x90,
            [1, 0, 0, 0, 0, 0, 0]
        )))
    );
    assert_eq!(recv_vec(&b), b"still here");
    // The peer's Error packet and the bad one are errors; the packet of
    // another opcode is handed over and counted as a packet.
    let stats = b.stats();
    assert_eq!((stats.rx.errors, stats.rx.packets), (2, 2));
}

#[test]
fn an_end_of_stream_packet_is_not_an_error() {
    let (a, b) = pair(8, 64);
    // `hqq send`'s end of stream: a packet of an opcode the link does not
    // carry data in.
    let end = Packet::new(0xEF, [0; 7]);
    a.send_packet(end, &[]).unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(b.recv(&mut buf), Err(LinkRecvError::UnexpectedPacket(end)));
    let stats = b.stats();
    assert_eq!((stats.rx.errors, stats.rx.packets), (0, 1));
}

#[test]
fn malformed_copies_are_protocol_errors_and_lose_nothing() {
    let (a, b) = pair(8, 64);
    let mut buf = [0u8; 64];
    a.send(b"before").unwrap();
    // Size 0, size above the buffer, wrong buffer index, reserved bits.
    a.send_packet(Packet::new(0xFF, [1, 1, 0, 0, 0, 0, 0]), &[])
        .unwrap();
    a.send_packet_with(|i, _| Packet::new(0xFF, [2, i as u64, 65, 0, 0, 0, 0]))
        .unwrap();
    a.send_packet_with(|i, _| Packet::new(0xFF, [3, i as u64 + 1, 4, 0, 0, 0, 0]))
        .unwrap();
    a.send_packet_with(|i, _| Packet::from_words([0xFF | 1 << 8, 4, i as u64, 4, 0, 0, 0, 0]))
        .unwrap();
    a.send(b"after").unwrap();
    assert_eq!(recv_vec(&b), b"before");
    assert!(matches!(
        b.recv(&mut buf),
        Err(LinkRecvError::Protocol(LinkProtocolError::Decode(_)))
    ));
    assert!(matches!(
        b.recv(&mut buf),
        Err(LinkRecvError::Protocol(LinkProtocolError::Violation(_)))
    ));
    assert!(matches!(
        b.recv(&mut buf),
        Err(LinkRecvError::Protocol(
            LinkProtocolError::BufferMismatch { .. }
        ))
    ));
    assert!(matches!(
        b.recv(&mut buf),
        Err(LinkRecvError::Protocol(LinkProtocolError::Decode(_)))
    ));
    assert_eq!(recv_vec(&b), b"after");
    let stats = b.stats();
    assert_eq!((stats.rx.errors, stats.rx.packets), (4, 2));
}

#[test]
fn tombstones_from_the_peer_are_skipped() {
    let (a, b) = pair(4, 64);
    a.send_packet_with(|i, _| {
        StandardLinkTombstone {
            copy: 0,
            buffer_index: i as u64,
            reason: 7,
        }
        .encode()
    })
    .unwrap();
    a.send(b"x").unwrap();
    assert_eq!(recv_vec(&b), b"x");
    assert_eq!(b.stats().rx.tombstones, 1);
}

#[test]
fn stats_count_packets_and_bytes() {
    let (a, b) = pair(4, 64);
    for len in [1usize, 10, 64] {
        a.send(&vec![1; len]).unwrap();
        recv_vec(&b);
    }
    let (tx, rx) = (a.stats().tx, b.stats().rx);
    assert_eq!((tx.packets, tx.bytes), (3, 75));
    assert_eq!((rx.packets, rx.bytes), (3, 75));
    assert_eq!((tx.errors, rx.errors, tx.tombstones), (0, 0, 0));
    assert_eq!(a.stats().rx, Default::default());
}

#[test]
fn read_and_write() {
    let (mut a, b) = pair(64, 16);
    let data: Vec<u8> = (0..=255).collect();
    (&a).write_all(&data).unwrap();
    a.flush().unwrap();
    assert_eq!(a.stats().tx.packets, 16, "one message per buffer");
    let mut got = vec![0u8; 256];
    (&b).read_exact(&mut got).unwrap();
    assert_eq!(got, data);
    assert_eq!(a.write(&[]).unwrap(), 0);
    assert_eq!((&b).read(&mut []).unwrap(), 0);
    b.set_read_timeout(Some(Duration::from_millis(1)));
    let err = (&b).read(&mut got).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    b.set_read_timeout(Some(Duration::ZERO));
    let err = (&b).read(&mut got).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    // Small reads take a message piece by piece.
    a.write_all(b"0123456789").unwrap();
    let mut b = b;
    let mut four = [0u8; 4];
    assert_eq!(b.read(&mut four).unwrap(), 4);
    assert_eq!(&four, b"0123");
    let mut rest = [0u8; 16];
    assert_eq!(b.read(&mut rest).unwrap(), 6);
    assert_eq!(&rest[..6], b"456789");
}

#[test]
fn many_threads_share_one_link() {
    with_watchdog(WATCHDOG, || {
        const SENDERS: u64 = 3;
        const RECEIVERS: usize = 3;
        const PER_SENDER: u64 = 3000;
        let (a, b) = pair(16, 64);
        let a = Arc::new(a);
        let b = Arc::new(b);
        let sum = Arc::new(AtomicU64::new(0));
        let count = Arc::new(AtomicU64::new(0));
        let mut handles = Vec::new();
        for s in 0..SENDERS {
            let a = Arc::clone(&a);
            handles.push(std::thread::spawn(move || {
                for i in 0..PER_SENDER {
                    let v = s * PER_SENDER + i;
                    a.send_timeout(&v.to_le_bytes(), Duration::from_secs(20))
                        .unwrap();
                }
            }));
        }
        for _ in 0..RECEIVERS {
            let (b, sum, count) = (Arc::clone(&b), Arc::clone(&sum), Arc::clone(&count));
            handles.push(std::thread::spawn(move || {
                // Per-sender order: each receiver sees each sender's values ascending.
                let mut last = [None::<u64>; SENDERS as usize];
                let mut buf = [0u8; 64];
                while count.load(Ordering::SeqCst) < SENDERS * PER_SENDER {
                    match b.recv_timeout(&mut buf, Duration::from_millis(20)) {
                        Ok(8) => {
                            let v = u64::from_le_bytes(buf[..8].try_into().unwrap());
                            let s = (v / PER_SENDER) as usize;
                            assert!(last[s] < Some(v), "reordered {v}");
                            last[s] = Some(v);
                            sum.fetch_add(v, Ordering::SeqCst);
                            count.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(n) => panic!("bad length {n}"),
                        Err(LinkRecvError::TimedOut) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            }));
        }
        for h in handles {
            h.join().unwrap();
        }
        let n = SENDERS * PER_SENDER;
        assert_eq!(count.load(Ordering::SeqCst), n);
        assert_eq!(sum.load(Ordering::SeqCst), n * (n - 1) / 2);
    });
}
