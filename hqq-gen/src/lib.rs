//! # hqq-gen
//!
//! Turns the HQQ protocol tables in `spec/hqq.yaml` into Rust code and a
//! Markdown protocol reference.
