//! Fuzz harness bodies, shared by the cargo-fuzz targets in `fuzz/` (which
//! include this file with `#[path]`) and the bounded, seeded versions in the
//! normal test suite (`tests/fuzz_*.rs`). Each function takes arbitrary
//! bytes and panics only when it finds a bug.

// Each including crate uses a different part of this module.
#![allow(dead_code)]

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use hqq_runtime::codec::{Limits, PacketCodec, Rejection};
use hqq_runtime::protocol::{dispatch, Handler, Message, StandardLinkCopy};
use hqq_runtime::ring::{RingRecvError, RingSendError};
use hqq_runtime::segment::Segment;
use hqq_runtime::{Layout, LinkMemory, Packet, PayloadView};

/// splitmix64: a small, seeded, reproducible generator.
pub struct Rng(pub u64);

impl Rng {
    /// The next pseudo-random word.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// `n` pseudo-random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Reads bytes off the front of the fuzzer's input; zeros once it runs out.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// Wraps `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    /// Whether every byte was consumed.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next byte (0 when exhausted).
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// The next little-endian u64 (zero-padded when exhausted).
    pub fn u64(&mut self) -> u64 {
        let mut le = [0u8; 8];
        for b in &mut le {
            *b = self.u8();
        }
        u64::from_le_bytes(le)
    }

    /// The next `n` bytes (fewer when exhausted).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }
}

/// Accepts every packet and checks what `dispatch` promises a handler: the
/// packet has been validated against the limits.
struct CheckingHandler {
    limits: Limits,
    calls: usize,
}

impl Handler for CheckingHandler {
    fn on_standard_link_copy(
        &mut self,
        packet: StandardLinkCopy,
        payload: PayloadView<'_>,
    ) -> Result<(), Rejection> {
        self.calls += 1;
        assert!(
            packet.validate(&self.limits).is_ok(),
            "dispatch passed an invalid packet"
        );
        let _ = payload;
        Ok(())
    }
}

/// (a) Decode, validate and dispatch one arbitrary packet with arbitrary
/// limits and payload.
pub fn decode_dispatch(data: &[u8]) {
    let mut input = Input::new(data);
    let mut words = [0u64; 8];
    for w in &mut words {
        *w = input.u64();
    }
    let packet = Packet::from_words(words);
    let limits = Limits {
        buffer_size: input.u64() % (1 << 20),
        slot_count: input.u64() % (1 << 16),
        max_message_size: input.u64(),
    };
    let payload_len = usize::from(input.u8()) * 4;
    let payload = input.bytes(payload_len);

    let decoded = Message::decode(&packet);
    if let Ok(message) = decoded {
        // What decodes re-encodes to a packet that decodes the same.
        let again = message.encode();
        assert_eq!(Message::decode(&again), Ok(message), "round trip");
        assert_eq!(again.opcode(), packet.opcode());
        let _ = message.validate(&limits);
    }
    let mut handler = CheckingHandler { limits, calls: 0 };
    let result = dispatch(
        &mut handler,
        &packet,
        PayloadView::from_slice(payload),
        &limits,
    );
    if result.is_ok() {
        assert!(decoded.is_ok(), "dispatch accepted an undecodable packet");
        let message = decoded.expect("checked above");
        assert!(message.validate(&limits).is_ok());
    } else if let Err(e) = result {
        // Every error maps to a wire error code without panicking.
        let _ = e.error_code();
    }
    assert!(handler.calls <= 1);
}

/// The segment a hostile-peer run works on.
pub struct HostileSegment {
    // Declared before `segment`: dropped first, while the mapping lives.
    ends: Option<(LinkMemory, LinkMemory)>,
    segment: Segment,
    layout: Layout,
}

impl HostileSegment {
    /// An anonymous segment with a primary and a secondary opened on it.
    pub fn new() -> Self {
        let layout = Layout::new(4, 64).expect("valid layout");
        let segment = Segment::anonymous(layout.total_size()).expect("anonymous segment");
        let mut this = HostileSegment {
            ends: None,
            segment,
            layout,
        };
        let primary = this.open(Duration::from_millis(0)).expect("primary opens");
        let secondary = this
            .open(Duration::from_millis(0))
            .expect("secondary opens");
        this.ends = Some((primary, secondary));
        this
    }

    fn open(&self, wait: Duration) -> Option<LinkMemory> {
        let region = NonNull::new(self.segment.as_ptr())?;
        // SAFETY: the mapping outlives every LinkMemory made here (`ends`
        // is dropped before `segment`; temporaries are dropped at once), and
        // this process touches the region only through LinkMemory and the
        // atomic byte writes of `poke`.
        unsafe {
            LinkMemory::open(
                region,
                self.segment.len(),
                self.layout,
                Instant::now() + wait,
            )
        }
        .ok()
    }

    /// Writes `value` at byte `offset` (modulo the segment length) with an
    /// atomic byte store, as a hostile peer could at any time.
    pub fn poke(&self, offset: u64, value: u8) {
        let len = self.segment.len() as u64;
        let offset = (offset % len) as usize;
        let ptr = self.segment.as_ptr().wrapping_add(offset);
        // SAFETY: `offset < len`, so `ptr` is inside the live mapping;
        // AtomicU8 has the size and alignment of u8, and every access this
        // process makes to the region is atomic or a raw copy.
        let byte = unsafe { AtomicU8::from_ptr(ptr) };
        byte.store(value, Ordering::Relaxed);
    }
}

impl Default for HostileSegment {
    fn default() -> Self {
        Self::new()
    }
}

/// How long any single operation may take before we call it a hang.
const HANG: Duration = Duration::from_secs(5);

/// (c) A writer and a reader run on a segment while a hostile peer writes
/// fuzzer-chosen bytes anywhere in it (superblock, extension, ring headers,
/// sequence numbers, packets, buffers) between their operations. Nothing
/// may panic, and every operation returns within its deadline.
pub fn hostile_peer(data: &[u8]) {
    let seg = HostileSegment::new();
    let (primary, secondary) = seg.ends.as_ref().expect("opened in new");
    let mut input = Input::new(data);
    let mut out = vec![0u8; seg.layout.size() as usize];
    let mut sent = 0u64;
    while !input.is_empty() {
        let started = Instant::now();
        match input.u8() % 8 {
            // Hostile writes: a byte, or a whole word (e.g. a sequence number).
            0 | 1 => seg.poke(input.u64() >> 16, input.u8()),
            2 => {
                let at = (input.u64() >> 16) & !7;
                for (i, b) in input.u64().to_le_bytes().into_iter().enumerate() {
                    seg.poke(at + i as u64, b);
                }
            }
            3 => {
                let tx = primary.tx();
                match tx.try_claim_send() {
                    Ok(mut claim) => {
                        let payload = sent.to_le_bytes();
                        claim.write_payload(&payload).expect("8 bytes fit 64");
                        let index = claim.index() as u64;
                        claim.commit(Packet::new(0xFF, [index, 8, 0, 0, 0, 0, 0]));
                        sent += 1;
                    }
                    Err(
                        RingSendError::Full | RingSendError::Contended | RingSendError::Corrupt,
                    ) => {}
                }
            }
            4 => match secondary.rx().try_claim_recv() {
                Ok(claim) => {
                    let packet = claim.packet();
                    let _ = Message::decode(&packet);
                    let _ = claim.read_payload(packet.operand(1), &mut out);
                    let _ = claim.payload().to_vec().iter().fold(0u8, |a, b| a ^ b);
                }
                Err(RingRecvError::Empty | RingRecvError::Contended | RingRecvError::Corrupt) => {}
            },
            5 => {
                let deadline = Instant::now() + Duration::from_millis(1);
                drop(primary.tx().claim_send_timeout(deadline));
            }
            6 => {
                let deadline = Instant::now() + Duration::from_millis(1);
                drop(secondary.rx().claim_recv_timeout(deadline));
            }
            // A late joiner attaches to whatever the segment now holds.
            _ => drop(seg.open(Duration::from_millis(1))),
        }
        assert!(started.elapsed() < HANG, "an operation hung");
    }
}

/// (b) Large-message reassembly: an arbitrary sequence of ConnCopy chunks
/// (few connections and message ids, so chunks collide; arbitrary flags,
/// totals, offsets and sizes; payloads shorter or longer than the size)
/// that decode, and connection drops, through
/// the Advanced link's reassembler
/// ([`hqq_runtime::advanced::fuzzing::ReassemblerProbe`]) with small,
/// fuzzer-chosen limits and receive budget. Checks no panic, the limits hold after every step,
/// and every completed message is exactly the bytes its accepted chunks
/// carried (a model kept beside the reassembler), with its announced total.
pub fn reassembly(data: &[u8]) {
    use std::collections::HashMap;

    use hqq_runtime::advanced::fuzzing::{Probed, ReassemblerProbe};
    use hqq_runtime::advanced::{MessageKey, ReassemblyLimits, ReceiveBudget};
    use hqq_runtime::protocol::{ConnCopy, FrameFlags};

    let mut input = Input::new(data);
    let limits = ReassemblyLimits {
        max_message_size: u64::from(input.u8()) * 16,
        max_partial_messages: usize::from(input.u8() % 8),
        ..ReassemblyLimits::default()
    };
    let budget = ReceiveBudget {
        connection_bytes: u64::from(input.u8()) * 32,
        ..ReceiveBudget::default()
    };
    let mut reassembler = ReassemblerProbe::new(limits, budget);
    let mut model: HashMap<MessageKey, Vec<u8>> = HashMap::new();
    for _ in 0..256 {
        if input.is_empty() {
            break;
        }
        let op = input.u8();
        if op == 0xFF {
            let connection = u64::from(input.u8() % 3);
            reassembler.drop_connection(connection);
            model.retain(|key, _| key.connection != connection);
            continue;
        }
        // Small values most of the time so that sequences line up.
        let small = |input: &mut Input<'_>, wide: bool| {
            if wide {
                input.u64()
            } else {
                u64::from(input.u8())
            }
        };
        let wide = op & 0x80 != 0;
        let chunk = ConnCopy {
            connection: u64::from(op % 3),
            message: u64::from((op >> 2) % 4),
            total: small(&mut input, wide),
            offset: small(&mut input, wide),
            size: small(&mut input, wide),
            chunk_flags: FrameFlags::from_bits_truncate(u64::from(input.u8())),
            method_or_status: u64::from(input.u8()),
        };
        let payload_len = usize::from(input.u8());
        let payload = input.bytes(payload_len);
        // The link decodes every packet before reassembly; chunks that do
        // not decode never reach the reassembler.
        let Ok(chunk) = ConnCopy::decode(&chunk.encode()) else {
            continue;
        };
        let key = MessageKey::of(&chunk);
        let begins = chunk.chunk_flags.contains(FrameFlags::BEGIN)
            && !chunk.chunk_flags.contains(FrameFlags::ABORT);
        match reassembler.accept(&chunk, PayloadView::from_slice(payload)) {
            Ok(Probed::Partial) => {
                let bytes = &payload[..chunk.size as usize];
                if begins {
                    model.insert(key, bytes.to_vec());
                } else {
                    model
                        .get_mut(&key)
                        .expect("a continued message began")
                        .extend_from_slice(bytes);
                }
            }
            Ok(Probed::Complete { key: done, data }) => {
                let mut expected = if begins {
                    Vec::new()
                } else {
                    model.remove(&key).expect("a completed message began")
                };
                expected.extend_from_slice(&payload[..chunk.size as usize]);
                assert_eq!(done, key);
                assert_eq!(data, expected, "reassembled bytes differ");
                assert_eq!(data.len() as u64, chunk.total, "total");
                assert!(chunk.total <= limits.max_message_size);
            }
            Ok(Probed::Aborted(aborted)) => {
                model.remove(&aborted);
            }
            Err(_) => {
                model.remove(&key);
            }
        }
        assert!(reassembler.in_progress() <= limits.max_partial_messages);
        // Completed messages gave their budget back; partial ones hold
        // at most the per-connection bound on each of the 3 * 3 accounts.
        let (bytes, entries) = reassembler.held();
        assert!(bytes <= 9 * budget.connection_bytes, "{bytes} bytes held");
        assert_eq!(entries, model.len(), "entries held");
        assert_eq!(
            reassembler.in_progress(),
            model.len(),
            "messages in progress"
        );
    }
}

/// (d) Arbitrary bytes as a compressed Advanced message through the link's
/// frame decoder ([`hqq_runtime::advanced::fuzzing::decompress`]), pushed in
/// fuzzer-chosen pieces under a fuzzer-chosen limit; and the rest of the
/// input compressed, mutated at one fuzzer-chosen byte, and decompressed.
/// Checks no panic, the limit holds, and an unmutated round trip is exact.
pub fn decompression(data: &[u8]) {
    use hqq_runtime::advanced::fuzzing::{compress_lz4, decompress};
    use hqq_runtime::protocol::FrameFlags;

    let mut input = Input::new(data);
    let mode = input.u8();
    let split = usize::from(input.u8()) + 1;
    let max = u64::from(input.u8()) * 1024;
    let flags = if mode & 1 == 0 {
        FrameFlags::COMPRESSED
    } else {
        FrameFlags::COMPRESSED | FrameFlags::ZSTD
    };
    let rest = input.bytes(usize::MAX);
    if let Ok(out) = decompress(flags, rest, split, max) {
        assert!(out.len() as u64 <= max);
    }
    let Some(mut wire) = compress_lz4(rest) else {
        return;
    };
    assert!(wire.len() < rest.len());
    let got = decompress(FrameFlags::COMPRESSED, &wire, split, u64::MAX);
    assert_eq!(got.as_deref(), Ok(rest));
    if mode & 2 != 0 {
        let at = usize::from(mode) * 31 % wire.len();
        wire[at] ^= mode | 1;
        if let Ok(out) = decompress(FrameFlags::COMPRESSED, &wire, split, max) {
            assert!(out.len() as u64 <= max);
        }
    }
}

/// (e) Arbitrary bytes as a sealed Advanced message through the link's
/// opener ([`hqq_runtime::advanced::fuzzing::open`], whole and in
/// fuzzer-chosen pieces, which must agree); and the rest of the input
/// sealed, opened (exactly), and changed at one fuzzer-chosen byte or
/// opened as another message, which must be refused. Checks no panic.
pub fn decryption(data: &[u8]) {
    use hqq_runtime::advanced::fuzzing::{open, seal};
    use hqq_runtime::protocol::Cipher;

    let mut input = Input::new(data);
    let mode = input.u8();
    let split = usize::from(input.u8()) * 97 + 1;
    let key = [input.u8(); 32];
    let rest = input.bytes(usize::MAX);
    let (cipher, other) = if mode & 4 == 0 {
        (Cipher::ChaCha20Poly1305, Cipher::Aes256Gcm)
    } else {
        (Cipher::Aes256Gcm, Cipher::ChaCha20Poly1305)
    };
    let _ = open(cipher, &key, 1, rest, split);
    let mut sealed = seal(cipher, &key, 1, rest);
    assert_eq!(open(cipher, &key, 1, &sealed, split).as_deref(), Ok(rest));
    assert!(open(cipher, &key, 2, &sealed, split).is_err());
    assert!(open(other, &key, 1, &sealed, split).is_err());
    if mode & 1 != 0 {
        let at = usize::from(mode) * 131 % sealed.len();
        sealed[at] ^= mode | 1;
        assert!(open(cipher, &key, 1, &sealed, split).is_err());
    }
    if mode & 2 != 0 {
        sealed.truncate(sealed.len() - 1);
        assert!(open(cipher, &key, 1, &sealed, split).is_err());
    }
}
