//! Code generation from a build script, in the spirit of prost-build.
//!
//! ```no_run
//! // build.rs
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     hqq_gen::Builder::new()
//!         .spec("../spec/hqq.yaml")
//!         .runtime_path("crate")
//!         .out_file("protocol.rs")
//!         .generate()?;
//!     Ok(())
//! }
//! ```
//!
//! and in the crate: `include!(concat!(env!("OUT_DIR"), "/protocol.rs"));`

use std::path::{Path, PathBuf};

use crate::{generate_rust, EmitOptions, Spec, SpecErrors};

/// Why [`Builder::generate`] failed.
#[derive(Debug, thiserror::Error)]
pub enum BuilderError {
    /// No spec was set with [`Builder::spec`].
    #[error("no spec file given: call Builder::spec(\"path/to/spec.yaml\")")]
    NoSpec,
    /// The output file is relative and `OUT_DIR` is not set.
    #[error("the output file {0} is relative and OUT_DIR is not set (is this a build script?)")]
    NoOutDir(PathBuf),
    /// The runtime path is not a Rust path.
    #[error("runtime path `{path}` is not a Rust path: {source}")]
    RuntimePath {
        /// The path as given.
        path: String,
        /// The parse error.
        source: syn::Error,
    },
    /// The spec has errors.
    #[error("the spec has errors:\n{0}")]
    Spec(#[from] SpecErrors),
    /// Reading or writing a file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Generates Rust code for a spec from `build.rs`.
#[derive(Debug, Clone)]
pub struct Builder {
    spec: Option<PathBuf>,
    runtime_path: String,
    out_file: PathBuf,
    rerun_if_changed: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// A builder writing `$OUT_DIR/protocol.rs` with runtime path `::hqq::runtime`.
    pub fn new() -> Self {
        Builder {
            spec: None,
            runtime_path: "::hqq::runtime".to_owned(),
            out_file: PathBuf::from("protocol.rs"),
            rerun_if_changed: true,
        }
    }

    /// The spec file to generate from.
    pub fn spec(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.spec = Some(path.as_ref().to_owned());
        self
    }

    /// The path generated code uses to reach hqq-runtime (see [`EmitOptions`]).
    pub fn runtime_path(&mut self, path: &str) -> &mut Self {
        self.runtime_path = path.to_owned();
        self
    }

    /// The file to write; a relative path is taken within `OUT_DIR`.
    pub fn out_file(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.out_file = path.as_ref().to_owned();
        self
    }

    /// Whether to print `cargo:rerun-if-changed=<spec>` (default: yes).
    pub fn rerun_if_changed(&mut self, enabled: bool) -> &mut Self {
        self.rerun_if_changed = enabled;
        self
    }

    /// Checks the spec, generates the code and writes it (only if it
    /// changed, so that dependants do not rebuild needlessly). Returns the
    /// path written.
    pub fn generate(&self) -> Result<PathBuf, BuilderError> {
        let spec_path = self.spec.as_ref().ok_or(BuilderError::NoSpec)?;
        if self.rerun_if_changed {
            println!("cargo:rerun-if-changed={}", spec_path.display());
        }
        let options =
            EmitOptions::new(&self.runtime_path).map_err(|source| BuilderError::RuntimePath {
                path: self.runtime_path.clone(),
                source,
            })?;
        let spec = Spec::read(spec_path)?;
        let code = generate_rust(&spec, &options);
        let out = if self.out_file.is_absolute() {
            self.out_file.clone()
        } else {
            let dir = std::env::var_os("OUT_DIR")
                .ok_or_else(|| BuilderError::NoOutDir(self.out_file.clone()))?;
            PathBuf::from(dir).join(&self.out_file)
        };
        write_if_changed(&out, &code)?;
        Ok(out)
    }
}

/// Writes `contents` to `path` unless the file already holds exactly that.
pub(crate) fn write_if_changed(path: &Path, contents: &str) -> Result<(), BuilderError> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == contents) {
        return Ok(());
    }
    std::fs::write(path, contents).map_err(|source| BuilderError::Io {
        path: path.to_owned(),
        source,
    })
}
