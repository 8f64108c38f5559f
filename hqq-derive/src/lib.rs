//! # hqq-derive
//!
//! Procedural macros for HQQ application opcodes. Use them through the `hqq`
//! facade (`hqq::include_spec!`, `#[derive(hqq::Packet)]`,
//! `#[derive(hqq::Dispatch)]`, `#[derive(hqq::OperandValue)]`), whose
//! documentation explains every attribute with examples; the expanded code
//! names the runtime as `::hqq::runtime`.
//!
//! The macros share one pipeline, after serde_derive and thiserror:
//!
//! 1. `attr` reads `#[hqq(...)]` attributes and `ast` turns the input
//!    into a model (`PacketStruct`, `DispatchEnum`, `Newtype`);
//! 2. `check` validates it against the core spec (`hqq_gen::core_spec`, via
//!    `core_spec`) and collects every error with its span in a `ctxt::Ctxt`;
//! 3. `expand` lowers the checked input into hqq-gen's models (`CodecItem`,
//!    `DispatchItem`) and writes the impls with hqq-gen's emitter, or on
//!    invalid input the errors plus a fallback impl, so that the user sees
//!    the real error and not a cascade.
//!
//! `include_spec!` is the `hqq-gen` pipeline itself: [`hqq_gen::Spec::parse`]
//! and [`hqq_gen::emit_rust()`].
//!
//! ```
//! use hqq::{Packet, PacketCodec};
//!
//! #[derive(Packet, Debug, Clone, Copy, PartialEq)]
//! #[hqq(opcode = 0x80)]
//! struct Ping {
//!     seq: u64,
//!     ttl: u8,
//! }
//!
//! let packet = Ping { seq: 1, ttl: 8 }.encode();
//! assert_eq!(packet.opcode(), 0x80);
//! assert_eq!(Ping::decode(&packet), Ok(Ping { seq: 1, ttl: 8 }));
//! ```

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

mod ast;
mod attr;
mod check;
mod core_spec;
mod ctxt;
mod expand;
mod include_spec;

/// Generates the Rust code of an HQQ spec file at compile time: exactly what
/// `hqq-gen rust <spec>` writes. The path is relative to the calling crate's
/// `Cargo.toml`; options `crate = "<path of hqq>"` and `exhaustive_handler`
/// may follow it. See the `hqq` facade for details.
#[proc_macro]
pub fn include_spec(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as include_spec::Input);
    include_spec::expand(&input).into()
}

/// Implements `PacketCodec` for a struct whose fields are the operands of one
/// application opcode: `#[hqq(opcode = 0x80)]`, `#[hqq(name = "...")]` on the
/// struct, `#[hqq(operand = N)]` on fields. See the `hqq` facade for details.
#[proc_macro_derive(Packet, attributes(hqq))]
pub fn derive_packet(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::packet::expand(&input).into()
}

/// Implements decoding, encoding and dispatch for an enum whose variants wrap
/// packet types, and generates its handler trait (`<Enum>Handler`, or
/// `#[hqq(handler = Name)]`). See the `hqq` facade for details.
#[proc_macro_derive(Dispatch, attributes(hqq))]
pub fn derive_dispatch(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::dispatch::expand(&input).into()
}

/// Implements `OperandValue` for a newtype over an operand type, so that it
/// can be a field of a `#[derive(Packet)]` struct. See the `hqq` facade.
#[proc_macro_derive(OperandValue, attributes(hqq))]
pub fn derive_operand_value(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::operand::expand(&input).into()
}
