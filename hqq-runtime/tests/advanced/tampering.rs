//! A Standard link end that changes what it sends, for the encryption
//! tests (blocking and async): a process that writes the segment.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use hqq_runtime::advanced::{PacketTransport, TransportError};
use hqq_runtime::link::StandardLink;
use hqq_runtime::payload_view::PayloadView;
use hqq_runtime::protocol::OpCode;
use hqq_runtime::superblock::Role;
use hqq_runtime::Packet;

/// A Standard link end that plays a process writing the segment: it logs
/// every ConnCopy chunk as it is in the slot's buffer, can flip a byte of
/// the next non-empty chunk there (or the byte at a message offset), and
/// can send raw packets.
pub struct Tampering {
    inner: StandardLink,
    pub flip_next: AtomicBool,
    /// The offset in the next message that reaches it whose byte is
    /// flipped (`u64::MAX`: none).
    pub flip_offset: AtomicU64,
    log: Mutex<Vec<(Packet, Vec<u8>)>>,
}

impl Tampering {
    pub fn new(inner: StandardLink) -> Self {
        Tampering {
            inner,
            flip_next: AtomicBool::new(false),
            flip_offset: AtomicU64::new(u64::MAX),
            log: Mutex::new(Vec::new()),
        }
    }

    pub fn chunks(&self) -> Vec<(Packet, Vec<u8>)> {
        self.log.lock().unwrap().clone()
    }

    pub fn forget(&self) {
        self.log.lock().unwrap().clear();
    }

    /// Sends `packet` with `payload` as it is (a replay or an injection).
    pub fn raw(&self, packet: Packet, payload: &[u8]) {
        self.inner.send_packet(packet, payload).unwrap();
    }
}

impl PacketTransport for Tampering {
    fn buffer_size(&self) -> usize {
        PacketTransport::buffer_size(&self.inner)
    }

    fn slots(&self) -> u64 {
        PacketTransport::slots(&self.inner)
    }

    fn role(&self) -> Role {
        PacketTransport::role(&self.inner)
    }

    fn send_packet(
        &self,
        deadline: Option<Instant>,
        fill: impl FnOnce(usize, &mut [u8]) -> Packet,
    ) -> Result<(), TransportError> {
        PacketTransport::send_packet(&self.inner, deadline, |slot, buffer| {
            let packet = fill(slot, buffer);
            if packet.opcode() == OpCode::ConnCopy.code() {
                let size = packet.operand(4) as usize;
                if size > 0 && self.flip_next.swap(false, Ordering::SeqCst) {
                    buffer[size / 2] ^= 0x01;
                }
                let (offset, at) = (packet.operand(3), self.flip_offset.load(Ordering::SeqCst));
                if (offset..offset + size as u64).contains(&at) {
                    buffer[(at - offset) as usize] ^= 0x01;
                    self.flip_offset.store(u64::MAX, Ordering::SeqCst);
                }
                let bytes = buffer[..size].to_vec();
                self.log.lock().unwrap().push((packet, bytes));
            }
            packet
        })
    }

    fn recv_packet<R>(
        &self,
        deadline: Option<Instant>,
        read: impl FnOnce(Packet, PayloadView<'_>) -> R,
    ) -> Result<R, TransportError> {
        PacketTransport::recv_packet(&self.inner, deadline, read)
    }
}
