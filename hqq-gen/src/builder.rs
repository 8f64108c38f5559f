//! Code generation from a build script, in the spirit of prost-build.
//!
//! In `Cargo.toml` (the library only: the default `cli` feature would
//! compile the command line's argument parser into your build):
//!
//! ```toml
//! [dependencies]
//! hqq = "0.1"
//!
//! [build-dependencies]
//! hqq-gen = { version = "0.1", default-features = false }
//! ```
//!
//! In `build.rs`:
//!
//! ```no_run
//! fn main() {
//!     hqq_gen::Builder::new().spec("spec/kv.yaml").compile();
//! }
//! ```
//!
//! and in the crate, inside a module of its own:
//!
//! ```ignore
//! pub mod kv {
//!     include!(concat!(env!("OUT_DIR"), "/protocol.rs"));
//! }
//! ```
//!
//! [`Builder::compile`] writes `$OUT_DIR/protocol.rs` (or
//! [`Builder::out_file`]) and asks cargo to rerun the script when the spec
//! changes. When the spec has errors it reports each one on a line of its
//! own, with its `file:line:column` and what to do, and fails the build:
//!
//! ```text
//! error: kv@0.1.0: spec/kv.yaml:36:9: opcode `Put`: operand `role` refers to unknown type `Rol` (hint: did you mean `Role`? ...)
//! error: kv@0.1.0: spec/kv.yaml:48:5: opcode `Scan`: duplicate opcode code 0x81: `Scan` reuses the code of `Reply` (line 27) (hint: ...)
//! error: build script logged errors
//! ```
//!
//! [`Builder::generate`] returns the error instead, for scripts that do more
//! than generate code; its `Debug` form is the same readable text, so
//! `fn main() -> Result<(), Box<dyn Error>>` prints it too.
//!
//! With a renamed `hqq` dependency (`ipc = { package = "hqq", ... }`), set
//! [`Builder::runtime_path`] to `"::ipc::runtime"`.

// The example is a whole build script, so its `fn main` is the point.
#![allow(clippy::needless_doctest_main)]

use std::path::{Path, PathBuf};

use crate::{generate_rust, EmitOptions, Spec, SpecErrors};

/// Why [`Builder::generate`] failed. `Debug` shows the same text as
/// `Display`, one problem per line, so that `main` returning it reads well.
#[derive(thiserror::Error)]
#[non_exhaustive]
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

impl std::fmt::Debug for BuilderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

/// Generates Rust code for a spec from `build.rs`.
#[derive(Debug, Clone)]
pub struct Builder {
    spec: Option<PathBuf>,
    runtime_path: String,
    out_file: PathBuf,
    rerun_if_changed: bool,
    exhaustive_handler: bool,
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
            exhaustive_handler: false,
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

    /// Whether every method of the generated `Handler` is required
    /// (default: no, unhandled packets are refused with `InvalidOp`). With
    /// it, an opcode added to the spec is a compile error in each handler
    /// until the handler handles it. See [`EmitOptions::exhaustive_handler`].
    pub fn exhaustive_handler(&mut self, exhaustive: bool) -> &mut Self {
        self.exhaustive_handler = exhaustive;
        self
    }

    /// [`Builder::generate`] for a build script that only generates code:
    /// on an error, prints each problem on a line of its own and fails the
    /// build. With cargo 1.84 or later these are `cargo::error` lines, which
    /// cargo shows as `error: <crate>: spec/kv.yaml:42:5: ...` and then
    /// stops; older cargo gets `cargo:warning` lines and a failing exit
    /// status.
    pub fn compile(&self) {
        let Err(e) = self.generate() else {
            return;
        };
        let error_lines = cargo_has_error_lines();
        for line in cargo_lines(&e, error_lines) {
            println!("{line}");
        }
        if !error_lines {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }

    /// Checks the spec, generates the code and writes it (only if it
    /// changed, so that dependants do not rebuild needlessly). Returns the
    /// path written.
    pub fn generate(&self) -> Result<PathBuf, BuilderError> {
        let spec_path = self.spec.as_ref().ok_or(BuilderError::NoSpec)?;
        if self.rerun_if_changed {
            println!("cargo:rerun-if-changed={}", spec_path.display());
        }
        let options = EmitOptions::new(&self.runtime_path)
            .map_err(|source| BuilderError::RuntimePath {
                path: self.runtime_path.clone(),
                source,
            })?
            .exhaustive_handler(self.exhaustive_handler);
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

/// The lines that report `e` to cargo, one per problem: `cargo::error=...`
/// or, for a cargo without that instruction, `cargo:warning=error: ...`.
fn cargo_lines(e: &BuilderError, error_lines: bool) -> Vec<String> {
    let lines: Vec<String> = match e {
        BuilderError::Spec(errors) => errors.errors().iter().map(ToString::to_string).collect(),
        other => other.to_string().lines().map(str::to_owned).collect(),
    };
    let prefix = if error_lines {
        "cargo::error="
    } else {
        "cargo:warning=error: "
    };
    lines
        .into_iter()
        .map(|line| format!("{prefix}{line}"))
        .collect()
}

/// Whether the cargo running this build script knows `cargo::error`
/// (1.84 and later), from `$CARGO -V`.
fn cargo_has_error_lines() -> bool {
    let Some(cargo) = std::env::var_os("CARGO") else {
        return false;
    };
    let Ok(out) = std::process::Command::new(cargo).arg("-V").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut version = text
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .split(['.', '-'])
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let (major, minor) = (version.next().unwrap_or(0), version.next().unwrap_or(0));
    (major, minor) >= (1, 84)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_errors_become_one_cargo_line_each_and_debug_reads_like_display() {
        let source = "protocol: { name: Demo, layer: application, version: { major: 1, minor: 0 } }\n\
                      opcodes:\n  - { code: 0x80, name: Ping, direction: both }\n  - { code: 0x80, name: Pong, direction: sideways }\n";
        let errors = Spec::parse(source, "demo.yaml").expect_err("two problems");
        let e = BuilderError::Spec(errors);
        let lines = cargo_lines(&e, true);
        assert!(
            lines[1].starts_with("cargo::error=demo.yaml:4:31:"),
            "{lines:?}"
        );
        let lines = cargo_lines(&e, false);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].starts_with("cargo:warning=error: demo.yaml:4:"),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("unknown direction `sideways`")),
            "{lines:?}"
        );
        assert_eq!(format!("{e:?}"), e.to_string());
        assert!(!format!("{e:?}").contains("SpecError {"));
    }
}
