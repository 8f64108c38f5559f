//! Generated codec vs a hand-written one for the same packet (ConnCopy), in
//! the same run. The generated encode/decode must be as fast as the
//! hand-written one (ratio <= 1.05): both are word loads and stores plus the
//! spec's checks.
//!
//! `cargo bench -p hqq-runtime --bench codec -- --warm-up-time 1 --measurement-time 2`

use std::hint::black_box;

use criterion::{criterion_main, Criterion, Throughput};
use hqq_runtime::codec::{DecodeError, OperandRef, PacketCodec};
use hqq_runtime::protocol::{ConnCopy, FrameFlags};
use hqq_runtime::Packet;

/// A ConnCopy chunk written by hand: the same fields, checks and errors as
/// the generated `ConnCopy`, as one would write them without a generator.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct HandConnCopy {
    connection: u64,
    message: u64,
    total: u64,
    offset: u64,
    size: u64,
    flags: u64,
    method_or_status: u64,
}

const BEGIN: u64 = 1;
const END: u64 = 2;
const ABORT: u64 = 4;
const REQUEST: u64 = 8;
const RESPONSE: u64 = 16;
const ERROR: u64 = 32;
const ALL_FLAGS: u64 = 63;

impl HandConnCopy {
    fn encode(&self) -> Packet {
        Packet::from_words([
            0x04,
            self.connection,
            self.message,
            self.total,
            self.offset,
            self.size,
            self.flags,
            self.method_or_status,
        ])
    }

    /// Decodes with the same checks and the same typed errors as the
    /// generated decoder.
    fn decode(p: &Packet) -> Result<Self, DecodeError> {
        let [w0, connection, message, total, offset, size, flags, method_or_status] = p.words();
        if w0 as u8 != 0x04 {
            return Err(DecodeError::WrongOpcode {
                expected: 0x04,
                found: w0 as u8,
            });
        }
        if w0 >> 8 != 0 {
            return Err(DecodeError::ReservedBits {
                opcode: 0x04,
                reserved: w0 >> 8,
            });
        }
        let operand = |index, name| OperandRef {
            opcode: 0x04,
            packet: "ConnCopy",
            index,
            name,
        };
        let rule = |index, name, rule, value| DecodeError::Rule {
            operand: operand(index, name),
            rule,
            value,
        };
        if flags & !ALL_FLAGS != 0 {
            return Err(DecodeError::UnknownFlags {
                operand: operand(5, "chunk_flags"),
                bits: flags & !ALL_FLAGS,
            });
        }
        if (flags & (REQUEST | RESPONSE)).count_ones() > 1 {
            return Err(rule(
                5,
                "chunk_flags",
                "Request and Response are exclusive",
                flags,
            ));
        }
        if flags & ERROR != 0 && flags & RESPONSE == 0 {
            return Err(rule(5, "chunk_flags", "Error requires Response", flags));
        }
        let aborted = flags & ABORT != 0;
        let end = u128::from(offset) + u128::from(size);
        if aborted && total != 0 {
            return Err(rule(2, "total", "total == 0 when chunk_flags.Abort", total));
        }
        if end > u128::from(total) {
            return Err(rule(3, "offset", "offset + size <= total", offset));
        }
        if flags & BEGIN != 0 && offset != 0 {
            return Err(rule(
                3,
                "offset",
                "offset == 0 when chunk_flags.Begin",
                offset,
            ));
        }
        if aborted && offset != 0 {
            return Err(rule(
                3,
                "offset",
                "offset == 0 when chunk_flags.Abort",
                offset,
            ));
        }
        if flags & END != 0 && end != u128::from(total) {
            return Err(rule(
                4,
                "size",
                "offset + size == total when chunk_flags.End",
                size,
            ));
        }
        if aborted && size != 0 {
            return Err(rule(4, "size", "size == 0 when chunk_flags.Abort", size));
        }
        if flags & BEGIN == 0 && method_or_status != 0 {
            return Err(rule(
                6,
                "method_or_status",
                "method_or_status == 0 when not chunk_flags.Begin",
                method_or_status,
            ));
        }
        Ok(HandConnCopy {
            connection,
            message,
            total,
            offset,
            size,
            flags,
            method_or_status,
        })
    }
}

/// Chunks of messages of several sizes, 64-byte buffers.
fn chunks() -> Vec<ConnCopy> {
    let mut out = Vec::new();
    for (message, total) in [(1u64, 150u64), (2, 64), (3, 1000), (4, 7)] {
        let mut offset = 0;
        while offset < total {
            let size = (total - offset).min(64);
            let mut chunk_flags = FrameFlags::empty();
            if offset == 0 {
                chunk_flags |= FrameFlags::BEGIN;
            }
            if offset + size == total {
                chunk_flags |= FrameFlags::END;
            }
            out.push(ConnCopy {
                connection: message % 2,
                message,
                total,
                offset,
                size,
                chunk_flags,
                method_or_status: 0,
            });
            offset += size;
        }
    }
    out
}

fn conn_copy(c: &mut Criterion) {
    let generated = chunks();
    let hand: Vec<HandConnCopy> = generated
        .iter()
        .map(|g| HandConnCopy {
            connection: g.connection,
            message: g.message,
            total: g.total,
            offset: g.offset,
            size: g.size,
            flags: g.chunk_flags.bits(),
            method_or_status: g.method_or_status,
        })
        .collect();
    assert!(hand
        .iter()
        .zip(&generated)
        .all(|(h, g)| h.encode() == g.encode()));

    let mut group = c.benchmark_group("conn_copy_encode_decode");
    group.throughput(Throughput::Elements(generated.len() as u64));
    group.bench_function("generated", |b| {
        b.iter(|| {
            for chunk in black_box(&generated) {
                let packet = black_box(chunk.encode());
                let _ = black_box(ConnCopy::decode(&packet));
            }
        })
    });
    group.bench_function("hand_written", |b| {
        b.iter(|| {
            for chunk in black_box(&hand) {
                let packet = black_box(chunk.encode());
                let _ = black_box(HandConnCopy::decode(&packet));
            }
        })
    });
    group.finish();
}

#[allow(missing_docs)] // criterion_group! defines an undocumented `pub fn`.
mod group {
    criterion::criterion_group!(benches, super::conn_copy);
}

criterion_main!(group::benches);
