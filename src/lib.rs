//! # hqq
//!
//! Inter-process communication through one named shared-memory segment:
//! lock-free MPMC rings of fixed 64-byte packets, payload buffers owned by
//! ring slots, a Standard link for bidirectional data and an Advanced link for
//! negotiation, logical connections, large messages and request-response.
//!
//! This is the facade crate: applications depend on `hqq` alone.
//!
//! ```
//! use hqq::{LinkConfig, StandardLink};
//!
//! // One process creates the named segment (and becomes the primary)...
//! let name = format!("hqq-doc-facade-{}", std::process::id());
//! let server = StandardLink::create(&name, &LinkConfig::new())?;
//! // ...another opens it by name (here the same process, for the example).
//! let client = StandardLink::open(&name, &LinkConfig::new())?;
//! client.send(b"hello")?;
//! let mut buf = [0u8; 4096];
//! let n = server.recv(&mut buf)?;
//! assert_eq!(&buf[..n], b"hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! See the repository's README for a tour and `examples/` for programs
//! with two or more processes.
//!
//! * [`runtime`]: shared segments, page layout, rings and links.
//! * [`Packet`](struct@Packet): the 64-byte unit every ring slot carries.
//! * [`protocol`]: the core protocol's typed packets, generated from the core spec (`hqq-gen/spec/hqq.yaml`).
//! * [`PacketCodec`]: what every typed packet implements, generated or derived.
//! * [`include_spec!`], [`derive@Packet`], [`derive@Dispatch`],
//!   [`derive@OperandValue`]: custom opcodes, checked by the compiler.
//!
//! # Custom opcodes
//!
//! Applications add their own packets in the application range of the
//! core spec (`0x80..=0xEF`, [`protocol::APPLICATION_OPCODES`]). There
//! are two ways to define them, and both give types that implement
//! [`PacketCodec`], so runtime code treats them alike:
//!
//! * a spec file of their own (its format: `hqq_gen::spec_format`), turned
//!   into code by [`include_spec!`] or by `hqq_gen::Builder::compile` in a
//!   build script (same output; see `hqq_gen::builder` for the `build.rs`
//!   and `[build-dependencies]` lines);
//! * Rust structs with [`derive@Packet`].
//!
//! [`derive@Dispatch`] then decodes any of them into one enum and calls a
//! handler trait, with a fallback for the core protocol's packets.
//!
//! ## `include_spec!("path/to/spec.yaml")`
//!
//! Expands to exactly what `hqq-gen rust` writes for the spec: the constants,
//! `OpCode`, enums, flag sets, one struct per opcode, `Message`, `Handler`
//! and `dispatch`. The path is relative to the calling crate's `Cargo.toml`;
//! the crate rebuilds when the file changes. A spec error is a compile error
//! at the path, with the spec's `file:line:column`. Call it inside a module:
//!
//! ```
//! mod telemetry {
//!     hqq::include_spec!("tests/derive/app.yaml");
//! }
//! use hqq::PacketCodec;
//! use telemetry::{Level, Sample, SampleFlags};
//!
//! let sample = Sample { sensor: 7, level: Level::Warn, sample_flags: SampleFlags::FINAL, bytes: 16 };
//! assert_eq!(Sample::OPCODE, 0x90);
//! assert_eq!(Sample::decode(&sample.encode()), Ok(sample));
//! ```
//!
//! Options may follow the path, comma-separated:
//!
//! * `crate = "ipc"`: the path of this crate when it is a renamed dependency
//!   (`ipc = { package = "hqq", ... }` in `Cargo.toml`); the generated code
//!   then names `ipc::runtime`. The derives take the same option as
//!   `#[hqq(crate = "ipc")]`, as serde's do.
//! * `exhaustive_handler`: every `Handler` method is required, so an opcode
//!   added to the spec is a compile error in each handler until it handles
//!   the opcode (by default unhandled packets are refused with `InvalidOp`
//!   at run time).
//!
//! ```
//! mod telemetry {
//!     hqq::include_spec!("tests/derive/app.yaml", crate = "::hqq", exhaustive_handler);
//! }
//! use hqq::runtime::codec::Rejection;
//! use hqq::runtime::PayloadView;
//!
//! struct Store(u64);
//!
//! impl telemetry::Handler for Store {
//!     // Without this method the impl would not compile.
//!     fn on_sample(&mut self, sample: telemetry::Sample, _: PayloadView<'_>) -> Result<(), Rejection> {
//!         self.0 += sample.bytes;
//!         Ok(())
//!     }
//! }
//! # let _ = Store(0);
//! ```
//!
//! ## `#[derive(Packet)]`
//!
//! Implements [`PacketCodec`] for a struct whose fields are the operands of
//! one opcode. `encode` writes the opcode and the fields' words (unused
//! operands zero); `decode` rejects another opcode, reserved bits, non-zero
//! unused operands, field values out of their type's range and broken
//! rules that need no link limits; `validate` checks the rules that do.
//!
//! Attributes on the struct:
//!
//! * `#[hqq(opcode = 0x80)]` (required): the opcode byte. It must lie in the
//!   application range; a core opcode or one outside the range is a compile
//!   error naming the range.
//! * `#[hqq(name = "Ping")]`: [`PacketCodec::NAME`], used in error values;
//!   defaults to the struct's name.
//! * `#[hqq(crate = "ipc")]`: the path of this crate, when it is a renamed
//!   dependency (also on `Dispatch` enums and `OperandValue` newtypes).
//!
//! Attributes on a field:
//!
//! * `#[hqq(operand = N)]`, `N` in `0..=6` (operand `N` is word `N + 1`).
//!   Without it a field takes the operand after the previous field's (the
//!   first field operand 0). At most seven fields; no two on one operand.
//! * `#[hqq(rule = "offset + size <= limits.buffer_size")]`, any number of
//!   times: a rule on this field in the language of a spec operand's
//!   `rules:` (`hqq_gen::spec_format`). Its terms are fields of type `u64`, `u32`, `u16` or
//!   `u8`, `limits.buffer_size`, `limits.slot_count`,
//!   `limits.max_message_size` and integers; sums never overflow. A rule
//!   with a limit is checked by `validate` (a [`runtime::codec::Violation`]),
//!   the others by `decode` (`DecodeError::Rule`). `"<check> when
//!   flags.Final"` (or `when not flags.Final`) limits the rule to packets
//!   whose flag-set field has (lacks) the flag. A rule that does not parse
//!   is a compile error pointing at it, with the message a spec gets.
//!
//! Field types ([`OperandValue`]): `u64`, `u32`, `u16`, `u8`, `bool` (0 or
//! 1), `i64` (two's complement), [`runtime::codec::Version`], the enums and
//! flag sets generated from a spec, and newtypes over these with
//! [`derive@OperandValue`]. Narrow types reject larger words on decode with
//! `DecodeError::OutOfRange`. Generic structs are not supported.
//!
//! ```
//! # mod telemetry { hqq::include_spec!("tests/derive/app.yaml"); }
//! use hqq::runtime::codec::{DecodeError, OperandRef};
//! use hqq::{Packet, PacketCodec};
//! use telemetry::{Level, SampleFlags};
//!
//! #[derive(Packet, Debug, Clone, Copy, PartialEq)]
//! #[hqq(opcode = 0x80, name = "Alert")]
//! struct Alert {
//!     sensor: u64,
//!     level: Level,
//!     #[hqq(operand = 4)]
//!     retries: u8,
//!     flags: SampleFlags, // operand 5: the one after `retries`
//! }
//!
//! let alert = Alert { sensor: 3, level: Level::Alarm, retries: 2, flags: SampleFlags::CALIBRATED };
//! let packet = alert.encode();
//! assert_eq!(packet.words(), [0x80, 3, 2, 0, 0, 2, 1, 0]);
//! assert_eq!(Alert::decode(&packet), Ok(alert));
//!
//! let mut words = packet.words();
//! words[5] = 300; // `retries` is a u8
//! assert_eq!(
//!     Alert::decode(&hqq::Packet::from_words(words)),
//!     Err(DecodeError::OutOfRange { operand: OperandRef::of::<Alert>(4, "retries"), value: 300, max: 255 })
//! );
//! ```
//!
//! With rules:
//!
//! ```
//! # mod telemetry { hqq::include_spec!("tests/derive/app.yaml"); }
//! use hqq::runtime::codec::{DecodeError, Limits, OperandRef, Violation};
//! use hqq::{Packet, PacketCodec};
//! use telemetry::SampleFlags;
//!
//! #[derive(Packet, Debug, Clone, Copy, PartialEq)]
//! #[hqq(opcode = 0x82)]
//! struct Chunk {
//!     #[hqq(rule = "offset + size <= limits.buffer_size")]
//!     offset: u32,
//!     #[hqq(rule = "size >= 1", rule = "size <= 16 when flags.Final")]
//!     size: u16,
//!     flags: SampleFlags,
//! }
//!
//! let limits = Limits::new(4, 64); // 4 slots of 64 bytes
//! let chunk = Chunk { offset: 62, size: 4, flags: SampleFlags::empty() };
//! assert_eq!(
//!     chunk.validate(&limits),
//!     Err(Violation { operand: OperandRef::of::<Chunk>(0, "offset"), rule: "offset + size <= limits.buffer_size", value: 62 })
//! );
//! let last = Chunk { offset: 0, size: 17, flags: SampleFlags::FINAL };
//! assert!(matches!(Chunk::decode(&last.encode()), Err(DecodeError::Rule { rule: "size <= 16 when flags.Final", .. })));
//! ```
//!
//! ## `#[derive(OperandValue)]`
//!
//! Lets a newtype (a struct with one field of an operand type) be a packet
//! field; it encodes and decodes exactly as the type it wraps. It takes no
//! attributes.
//!
//! ```
//! use hqq::{OperandValue, Packet, PacketCodec};
//!
//! #[derive(OperandValue, Debug, Clone, Copy, PartialEq)]
//! struct Millis(u32);
//!
//! #[derive(Packet, Debug, Clone, Copy, PartialEq)]
//! #[hqq(opcode = 0x81)]
//! struct Timeout(Millis); // a tuple struct: operand 0
//!
//! let t = Timeout(Millis(250));
//! assert_eq!(t.encode().operand(0), 250);
//! assert_eq!(Timeout::decode(&t.encode()), Ok(t));
//! ```
//!
//! ## `#[derive(Dispatch)]`
//!
//! On an enum whose variants each wrap one packet type (derived or generated
//! from a spec), generates:
//!
//! * a handler trait, `<Enum>Handler` (or `#[hqq(handler = Name)]` on the
//!   enum), with one required method per variant, `on_<variant in
//!   snake_case>(&mut self, packet, payload: &[u8]) -> Result<(), Rejection>`,
//!   and `on_core(&mut self, message: protocol::Message, payload)` for the
//!   core protocol's packets (the default refuses them with `InvalidOp`);
//! * `Enum::decode(&Packet)`, `encode`, `validate`, `opcode`, `name`;
//! * `Enum::dispatch(&mut handler, &packet, payload, &limits)`: decode,
//!   validate, call the handler; one receive loop serves custom and core
//!   packets;
//! * `From<PacketType> for Enum` for every variant.
//!
//! Wrapped packets must have distinct opcodes in the application range; the
//! compiler checks both.
//!
//! ```
//! # mod telemetry { hqq::include_spec!("tests/derive/app.yaml"); }
//! use hqq::protocol::{ErrorCode, Message, StandardLinkCopy};
//! use hqq::runtime::codec::{DispatchError, Limits, Rejection};
//! use hqq::{Dispatch, Packet, PacketCodec, PayloadView};
//!
//! #[derive(Packet, Debug, Clone, Copy, PartialEq)]
//! #[hqq(opcode = 0x80)]
//! struct Ping { seq: u64 }
//!
//! #[derive(Dispatch, Debug, PartialEq)]
//! #[hqq(handler = Peer)]
//! enum App {
//!     Ping(Ping),
//!     Sample(telemetry::Sample),
//! }
//!
//! #[derive(Default)]
//! struct Counter { pings: u64, samples: u64, copies: u64 }
//!
//! impl Peer for Counter {
//!     fn on_ping(&mut self, packet: Ping, _payload: PayloadView<'_>) -> Result<(), Rejection> {
//!         self.pings += packet.seq;
//!         Ok(())
//!     }
//!     fn on_sample(&mut self, _packet: telemetry::Sample, _payload: PayloadView<'_>) -> Result<(), Rejection> {
//!         Err(Rejection::new(telemetry::Sample::OPCODE, ErrorCode::InvalidOp, 0))
//!     }
//!     fn on_core(&mut self, message: Message, _payload: PayloadView<'_>) -> Result<(), Rejection> {
//!         if let Message::StandardLinkCopy(_) = message {
//!             self.copies += 1;
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let limits = Limits::new(4, 64);
//! let mut counter = Counter::default();
//! App::dispatch(&mut counter, &Ping { seq: 5 }.encode(), PayloadView::from_slice(&[]), &limits)?;
//! let copy = StandardLinkCopy { copy: 1, buffer_index: 0, size: 3 };
//! App::dispatch(&mut counter, &copy.encode(), PayloadView::from_slice(b"abc"), &limits)?;
//! assert_eq!((counter.pings, counter.copies), (5, 1));
//! assert_eq!(App::decode(&Ping { seq: 5 }.encode()), Ok(App::Ping(Ping { seq: 5 })));
//! # Ok::<(), DispatchError>(())
//! ```

pub use hqq_derive::{include_spec, Dispatch, OperandValue, Packet};
pub use hqq_runtime as runtime;
pub use hqq_runtime::advanced::{AdvancedConfig, AdvancedLink};
#[cfg(all(feature = "tokio", unix))]
pub use hqq_runtime::async_link::{AsyncAdvancedLink, AsyncStandardLink};
pub use hqq_runtime::codec::{OperandValue, PacketCodec};
#[cfg(unix)]
pub use hqq_runtime::link::{LinkConfig, StandardLink};
pub use hqq_runtime::protocol;
pub use hqq_runtime::{Packet, PayloadView};
