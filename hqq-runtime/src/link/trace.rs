//! Packet tracing (cargo feature `trace`): one `tracing` TRACE event per
//! packet a Standard link publishes or claims, with the packet decoded.

use crate::packet::Packet;
use crate::protocol::Message;

/// Emits the event for `packet` in ring slot `slot`; `direction` is `"tx"`
/// or `"rx"`. A packet that is not a core packet (an application opcode,
/// or garbage from a peer) is shown raw. Costs one level check when no
/// subscriber wants the event: the packet is decoded only for one that does.
#[inline]
pub(super) fn packet(direction: &'static str, slot: usize, packet: &Packet) {
    if tracing::enabled!(target: "hqq::packet", tracing::Level::TRACE) {
        emit(direction, slot, packet);
    }
}

#[cold]
fn emit(direction: &'static str, slot: usize, packet: &Packet) {
    match Message::decode(packet) {
        Ok(message) => tracing::trace!(target: "hqq::packet", direction, slot, "{message:?}"),
        Err(_) => tracing::trace!(target: "hqq::packet", direction, slot, "{packet:?}"),
    }
}
