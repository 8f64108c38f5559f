//! Protocol negotiation: the initiator's and the acceptor's rules, as pure
//! functions over packets, plus the link's once-only negotiation state.
//!
//! The initiator sends ProtoNegotiate with its highest version, the features
//! it requests and the capabilities it offers. The acceptor rejects a
//! different major version with `Error(InvalidOp)`; otherwise it answers
//! ProtoAck with `minor = min(requested, own)` and the intersections of
//! features and capabilities. Bits neither side defines are never echoed.
//! The established Go implementation rejects an ack whose minor is above its
//! own or that holds bits it did not ask for; [`check_ack`] applies the same
//! rules, so a Rust acceptor passes a Go initiator's checks and vice versa.

use std::time::Duration;

use crate::codec::{PacketCodec, Version};
use crate::packet::Packet;
use crate::protocol::{Capabilities, ErrorCode, Features, ProtoAck, ProtoNegotiate};

/// What one side speaks: its highest version, the features it wants or
/// supports and the capabilities it offers.
///
/// ```
/// use hqq_runtime::advanced::ProtocolOffer;
/// use hqq_runtime::protocol::{Capabilities, Features};
///
/// // What the established Go implementation sends.
/// let go = ProtocolOffer::GO_COMPATIBLE;
/// assert_eq!(go.features.bits(), 3);
/// assert_eq!(go.capabilities.bits(), 7);
/// assert_eq!(ProtocolOffer::default().version.minor, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProtocolOffer {
    /// Highest version spoken.
    pub version: Version,
    /// Features requested (initiator) or supported (acceptor).
    pub features: Features,
    /// Capabilities offered.
    pub capabilities: Capabilities,
}

impl ProtocolOffer {
    /// What the established Go implementation sends: version 1.0, features
    /// LargeCopy | RequestResponse, capabilities LargeBuffers |
    /// HighThroughput | LowLatency.
    pub const GO_COMPATIBLE: ProtocolOffer = ProtocolOffer {
        version: Version::new(1, 0),
        features: Features::LARGE_COPY.union(Features::REQUEST_RESPONSE),
        capabilities: Capabilities::LARGE_BUFFERS
            .union(Capabilities::HIGH_THROUGHPUT)
            .union(Capabilities::LOW_LATENCY),
    };

    /// The features this Advanced link implements.
    pub const IMPLEMENTED_FEATURES: Features =
        Features::LARGE_COPY.union(Features::REQUEST_RESPONSE);

    /// The ProtoNegotiate packet that starts a negotiation with this offer.
    pub fn request(&self) -> ProtoNegotiate {
        ProtoNegotiate {
            version: self.version,
            features: self.features,
            capabilities: self.capabilities,
        }
    }
}

impl Default for ProtocolOffer {
    /// This toolkit's version ([`crate::protocol::PROTOCOL_VERSION`], 1.1),
    /// the features it implements and the capabilities the Go peer offers.
    fn default() -> Self {
        ProtocolOffer {
            version: crate::protocol::PROTOCOL_VERSION,
            features: Self::IMPLEMENTED_FEATURES,
            capabilities: Self::GO_COMPATIBLE.capabilities,
        }
    }
}

/// The outcome of a successful negotiation, the same on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Negotiated {
    /// Agreed version.
    pub version: Version,
    /// Agreed features.
    pub features: Features,
    /// Agreed capabilities.
    pub capabilities: Capabilities,
    /// Time from sending ProtoNegotiate to receiving the ack (initiator), or
    /// from starting to wait to sending the ack (acceptor).
    pub elapsed: Duration,
}

/// Why the acceptor refused a ProtoNegotiate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum NegotiationAcceptError {
    /// The initiator speaks another major version; answered with `Error(InvalidOp)`.
    #[error("the peer speaks protocol {peer}, this side speaks {own}: majors differ")]
    MajorMismatch {
        /// The initiator's version.
        peer: Version,
        /// The acceptor's version.
        own: Version,
    },
}

impl NegotiationAcceptError {
    /// The code of the Error packet that answers the refused negotiation.
    pub const fn error_code(&self) -> ErrorCode {
        ErrorCode::InvalidOp
    }
}

/// The acceptor's answer to `request`, given what it speaks itself.
///
/// `request` comes from [`ProtoNegotiate::decode`], which already dropped
/// feature and capability bits nobody defines; intersecting with `own`
/// drops the ones this side does not support.
///
/// ```
/// use hqq_runtime::advanced::{accept, ProtocolOffer};
/// use hqq_runtime::codec::Version;
///
/// let ack = accept(&ProtocolOffer::default(), &ProtocolOffer::GO_COMPATIBLE.request()).unwrap();
/// assert_eq!(ack.version, Version::new(1, 0));
/// assert_eq!(ack.features.bits(), 3);
/// ```
pub fn accept(
    own: &ProtocolOffer,
    request: &ProtoNegotiate,
) -> Result<ProtoAck, NegotiationAcceptError> {
    if request.version.major != own.version.major {
        return Err(NegotiationAcceptError::MajorMismatch {
            peer: request.version,
            own: own.version,
        });
    }
    Ok(ProtoAck {
        version: Version::new(
            own.version.major,
            request.version.minor.min(own.version.minor),
        ),
        features: request.features.intersection(own.features),
        capabilities: request.capabilities.intersection(own.capabilities),
    })
}

/// Why the initiator refused the acceptor's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum NegotiationAckError {
    /// The answer is not a valid ProtoAck.
    #[error("the ack is malformed: {0}")]
    Malformed(crate::codec::DecodeError),
    /// The acked major differs from the requested one.
    #[error("the ack names version {acked}, but {requested} was requested (majors differ)")]
    MajorMismatch {
        /// Requested version.
        requested: Version,
        /// Acked version.
        acked: Version,
    },
    /// The acked minor is above the requested one.
    #[error("the ack names version {acked}, above the requested {requested}")]
    MinorAbove {
        /// Requested version.
        requested: Version,
        /// Acked version.
        acked: Version,
    },
    /// The ack holds feature bits that were not requested.
    #[error("the ack holds feature bits {bits:#x} that were not requested")]
    UnrequestedFeatures {
        /// The extra bits.
        bits: u64,
    },
    /// The ack holds capability bits that were not offered.
    #[error("the ack holds capability bits {bits:#x} that were not offered")]
    UnofferedCapabilities {
        /// The extra bits.
        bits: u64,
    },
}

/// Checks the acceptor's ProtoAck `packet` against what `requested` asked
/// for, with the established implementation's rules: same major, minor at
/// most the requested one, no feature or capability bit that was not asked
/// for (checked on the raw operands, so undefined bits count too).
pub fn check_ack(
    requested: &ProtocolOffer,
    packet: &Packet,
) -> Result<(Version, Features, Capabilities), NegotiationAckError> {
    if packet.opcode() == ProtoAck::OPCODE {
        let extra_features = packet.operand(1) & !requested.features.bits();
        if extra_features != 0 {
            return Err(NegotiationAckError::UnrequestedFeatures {
                bits: extra_features,
            });
        }
        let extra_capabilities = packet.operand(2) & !requested.capabilities.bits();
        if extra_capabilities != 0 {
            return Err(NegotiationAckError::UnofferedCapabilities {
                bits: extra_capabilities,
            });
        }
    }
    let ack = ProtoAck::decode(packet).map_err(NegotiationAckError::Malformed)?;
    if ack.version.major != requested.version.major {
        return Err(NegotiationAckError::MajorMismatch {
            requested: requested.version,
            acked: ack.version,
        });
    }
    if ack.version.minor > requested.version.minor {
        return Err(NegotiationAckError::MinorAbove {
            requested: requested.version,
            acked: ack.version,
        });
    }
    Ok((ack.version, ack.features, ack.capabilities))
}

/// Where a link is in its one negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NegotiationState {
    /// Nothing happened yet; Advanced calls fail.
    #[default]
    NotNegotiated,
    /// This side started (or is waiting for) the negotiation.
    InProgress,
    /// Both sides agreed.
    Negotiated(Negotiated),
    /// The negotiation failed; the link stays un-negotiated for good.
    Failed,
}

/// Why a negotiation could not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum NegotiationStartError {
    /// A negotiation already ran or is running on this link.
    #[error("this link already negotiated (or is negotiating); a link negotiates once")]
    AlreadyNegotiated,
}

impl NegotiationState {
    /// Moves to [`NegotiationState::InProgress`], refusing a second negotiation.
    pub fn start(&mut self) -> Result<(), NegotiationStartError> {
        match self {
            NegotiationState::NotNegotiated => {
                *self = NegotiationState::InProgress;
                Ok(())
            }
            _ => Err(NegotiationStartError::AlreadyNegotiated),
        }
    }

    /// The agreed parameters, if the negotiation succeeded.
    pub fn negotiated(&self) -> Option<Negotiated> {
        match self {
            NegotiationState::Negotiated(n) => Some(*n),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack_packet(version: u64, features: u64, capabilities: u64) -> Packet {
        Packet::new(0x06, [version, features, capabilities, 0, 0, 0, 0])
    }

    #[test]
    fn acceptor_clamps_the_minor_and_intersects() {
        let own = ProtocolOffer {
            version: Version::new(1, 1),
            features: Features::LARGE_COPY,
            capabilities: Capabilities::LOW_LATENCY | Capabilities::RELIABLE_DELIVERY,
        };
        let ack = accept(&own, &ProtocolOffer::GO_COMPATIBLE.request()).unwrap();
        assert_eq!(ack.version, Version::new(1, 0));
        assert_eq!(ack.features, Features::LARGE_COPY);
        assert_eq!(ack.capabilities, Capabilities::LOW_LATENCY);

        let newer = ProtoNegotiate {
            version: Version::new(1, 7),
            ..ProtocolOffer::GO_COMPATIBLE.request()
        };
        assert_eq!(accept(&own, &newer).unwrap().version, Version::new(1, 1));
    }

    #[test]
    fn acceptor_rejects_another_major_with_invalid_op() {
        let request = ProtoNegotiate {
            version: Version::new(2, 0),
            ..ProtocolOffer::GO_COMPATIBLE.request()
        };
        let err = accept(&ProtocolOffer::default(), &request).unwrap_err();
        assert_eq!(err.error_code(), ErrorCode::InvalidOp);
        assert!(matches!(err, NegotiationAcceptError::MajorMismatch { .. }));
    }

    #[test]
    fn undefined_bits_are_never_echoed() {
        let packet = Packet::new(0x05, [0x100, u64::MAX, u64::MAX, 0, 0, 0, 0]);
        let request = ProtoNegotiate::decode(&packet).unwrap();
        let own = ProtocolOffer {
            version: Version::new(1, 1),
            features: Features::all(),
            capabilities: Capabilities::all(),
        };
        let ack = accept(&own, &request).unwrap();
        assert_eq!(ack.features, Features::all());
        assert_eq!(ack.capabilities, Capabilities::all());
        assert_eq!(ack.encode().operand(1) & !Features::all().bits(), 0);
    }

    #[test]
    fn initiator_accepts_what_a_go_acceptor_sends() {
        let (version, features, capabilities) =
            check_ack(&ProtocolOffer::GO_COMPATIBLE, &ack_packet(0x100, 3, 7)).unwrap();
        assert_eq!(version, Version::new(1, 0));
        assert_eq!(features.bits(), 3);
        assert_eq!(capabilities.bits(), 7);
    }

    #[test]
    fn initiator_rejects_bad_acks() {
        let go = ProtocolOffer::GO_COMPATIBLE;
        assert!(matches!(
            check_ack(&go, &ack_packet(0x101, 3, 7)),
            Err(NegotiationAckError::MinorAbove { .. })
        ));
        assert!(matches!(
            check_ack(&go, &ack_packet(0x200, 3, 7)),
            Err(NegotiationAckError::MajorMismatch { .. })
        ));
        assert_eq!(
            check_ack(&go, &ack_packet(0x100, 3 | 4, 7)),
            Err(NegotiationAckError::UnrequestedFeatures { bits: 4 })
        );
        assert_eq!(
            check_ack(&go, &ack_packet(0x100, 1 << 40, 7)),
            Err(NegotiationAckError::UnrequestedFeatures { bits: 1 << 40 })
        );
        assert_eq!(
            check_ack(&go, &ack_packet(0x100, 3, 8)),
            Err(NegotiationAckError::UnofferedCapabilities { bits: 8 })
        );
        assert!(matches!(
            check_ack(&go, &Packet::new(0x06, [0x100, 3, 7, 1, 0, 0, 0])),
            Err(NegotiationAckError::Malformed(_))
        ));
    }

    #[test]
    fn a_link_negotiates_once() {
        let mut state = NegotiationState::default();
        assert_eq!(state.negotiated(), None);
        state.start().unwrap();
        assert_eq!(state.start(), Err(NegotiationStartError::AlreadyNegotiated));
        state = NegotiationState::Failed;
        assert_eq!(state.start(), Err(NegotiationStartError::AlreadyNegotiated));
    }
}
