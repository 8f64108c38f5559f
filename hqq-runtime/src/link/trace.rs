//! Packet tracing (cargo feature `trace`): one `tracing` TRACE event per
//! packet a Standard link publishes or claims, with the packet decoded.

use std::sync::OnceLock;

use crate::packet::Packet;
use crate::protocol::Message;

/// How trace events show packets that are not core packets.
type Describe = Box<dyn Fn(&Packet) -> Option<String> + Send + Sync>;

static DESCRIBE: OnceLock<Describe> = OnceLock::new();

/// Makes trace events show packets that are not core packets (application
/// opcodes) as `describe` says, e.g. decoded with an application spec
/// (`hqq recv --spec FILE --trace`); a packet it returns `None` for is shown
/// raw. Set once per process: returns `false` (and changes nothing) if it
/// was set before.
pub fn describe_other_packets(
    describe: impl Fn(&Packet) -> Option<String> + Send + Sync + 'static,
) -> bool {
    DESCRIBE.set(Box::new(describe)).is_ok()
}

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
        Err(_) => match DESCRIBE.get().and_then(|describe| describe(packet)) {
            Some(text) => tracing::trace!(target: "hqq::packet", direction, slot, "{text}"),
            None => tracing::trace!(target: "hqq::packet", direction, slot, "{packet:?}"),
        },
    }
}
