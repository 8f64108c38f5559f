//! # hqq-derive
//!
//! Procedural macros for HQQ: `include_spec!`, `#[derive(Packet)]` and
//! `#[derive(Dispatch)]` for application opcodes.
