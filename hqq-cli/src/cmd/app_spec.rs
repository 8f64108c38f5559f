//! `--spec FILE` of `hqq recv` and `hqq echo`: an application spec whose
//! packets the tool decodes by name at run time (interpreting the spec's
//! model; nothing is compiled), in its output and in `--trace` events.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use hqq_gen::interpret::{self, InterpretError};
use hqq_gen::{Spec, SpecErrors};
use hqq_runtime::Packet;

/// The `--spec` option.
#[derive(Debug, Clone, Args)]
pub struct SpecArg {
    /// Application spec (YAML) whose packets are decoded and printed by
    /// name instead of being an error.
    #[arg(long, value_name = "FILE")]
    pub spec: Option<PathBuf>,
}

/// The spec could not be read or has errors.
#[derive(Debug, thiserror::Error)]
#[error("reading the spec")]
pub struct SpecLoadError(#[source] SpecErrors);

/// A packet of an application opcode did not decode with the spec.
#[derive(Debug, thiserror::Error)]
#[error("decoding an application packet with {file}")]
pub struct AppPacketError {
    file: String,
    #[source]
    source: InterpretError,
}

/// A loaded application spec.
#[derive(Debug)]
pub struct AppSpec(Spec);

impl SpecArg {
    /// The spec, if `--spec` was given.
    pub fn load(&self) -> Result<Option<Arc<AppSpec>>, SpecLoadError> {
        self.spec
            .as_deref()
            .map(|path| {
                Spec::read(path)
                    .map(|s| Arc::new(AppSpec(s)))
                    .map_err(SpecLoadError)
            })
            .transpose()
    }
}

impl AppSpec {
    /// `packet` decoded by name: `Put { key: 42, len: 3, put_flags: Create }`.
    pub fn describe(&self, packet: &Packet) -> Result<String, AppPacketError> {
        interpret::decode(&self.0, packet.words())
            .map(|decoded| decoded.to_string())
            .map_err(|source| AppPacketError {
                file: self.0.file.clone(),
                source,
            })
    }

    /// Makes `--trace` events show the spec's packets by name.
    pub fn trace_packets(self: &Arc<Self>) {
        let spec = Arc::clone(self);
        hqq_runtime::link::describe_other_packets(move |packet| spec.describe(packet).ok());
    }
}
