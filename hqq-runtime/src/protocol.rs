//! The core HQQ protocol, generated at build time from `spec/hqq.yaml`
//! (see `spec/PROTOCOL.md` for the same tables as a reference).
//!
//! * [`OpCode`]: every opcode, with `TryFrom<u8>` and `Display`;
//! * one struct per opcode ([`ConnCopy`], [`StandardLinkCopy`], ...) with
//!   typed fields, implementing [`PacketCodec`](crate::codec::PacketCodec);
//! * [`Message`]: any core packet, decoded;
//! * [`ErrorCode`], [`Features`], [`Capabilities`], [`FrameFlags`];
//! * [`Handler`] and [`dispatch`] for receivers.
//!
//! ```
//! use hqq_runtime::codec::{Limits, PacketCodec};
//! use hqq_runtime::protocol::{ConnCopy, FrameFlags, Message};
//!
//! let chunk = ConnCopy {
//!     connection: 0,
//!     message: 1,
//!     total: 150,
//!     offset: 0,
//!     size: 64,
//!     chunk_flags: FrameFlags::BEGIN,
//!     method_or_status: 0,
//! };
//! let packet = chunk.encode();
//! assert_eq!(Message::decode(&packet), Ok(Message::ConnCopy(chunk)));
//! assert!(chunk.validate(&Limits::new(8, 64)).is_ok());
//! ```

include!(concat!(env!("OUT_DIR"), "/protocol.rs"));
