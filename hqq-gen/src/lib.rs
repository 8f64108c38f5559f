//! # hqq-gen
//!
//! Turns the HQQ protocol tables (this crate's `spec/hqq.yaml`,
//! [`core_spec`], or an application's own spec) into Rust code and a
//! Markdown protocol reference.
//!
//! The pipeline has one module per stage:
//!
//! 1. [`model`]: the YAML as written (serde, unknown keys rejected) and the
//!    resolved [`Spec`];
//! 2. `check` (internal): every semantic check, collecting all
//!    [`SpecError`]s with the file, line and column of the offending entry
//!    (found by `locate`, a second pass over the YAML events);
//! 3. [`emit_rust()`] (tokens, via `quote`) and [`generate_rust`] (formatted
//!    with prettyplease, with an `@generated` header); [`emit_doc()`] for
//!    Markdown;
//! 4. [`Builder`] for build scripts ([`builder`] shows the `build.rs` and
//!    `Cargo.toml` lines) and the `hqq-gen` command line.
//!
//! [`spec_format`] documents the YAML a spec is written in.
//!
//! ```
//! let spec = hqq_gen::Spec::parse(
//!     "protocol: { name: Demo, layer: application, version: { major: 1, minor: 0 } }\n\
//!      opcodes:\n  - { code: 0x80, name: Ping, direction: both, doc: Asks for a Pong. }\n",
//!     "demo.yaml",
//! )
//! .unwrap();
//! let code = hqq_gen::generate_rust(&spec, &hqq_gen::EmitOptions::default());
//! assert!(code.contains("pub struct Ping"));
//! ```
//!
//! A spec may also list RPC methods (`methods:`, each `{ id, name, doc }`,
//! ids non-zero and unique, names snake_case, and optionally `request:` and
//! `response:`, each `bytes` (the default), a packet of the spec, or
//! `{ serde: path::Type }` (postcard, the runtime's `postcard` feature)). They
//! become a `pub mod rpc` ([`emit_rpc`]): `METHOD_<NAME>` ids, a `Server`
//! trait with one method per RPC method (taking the call's `CallContext`
//! and the typed request), `serve` (which drives a `Server` over an
//! Advanced link) and a `Client` with one calling method per RPC method:
//!
//! ```
//! let spec = hqq_gen::Spec::parse(
//!     "protocol: { name: Demo, layer: application, version: { major: 1, minor: 0 } }\n\
//!      methods:\n  - { id: 1, name: echo, doc: Returns the request. }\n",
//!     "demo.yaml",
//! )
//! .unwrap();
//! let code = hqq_gen::generate_rust(&spec, &hqq_gen::EmitOptions::default());
//! assert!(code.contains("pub const METHOD_ECHO: u64 = 1;"));
//! assert!(code.contains("pub trait Server"));
//! ```

//! A spec may import other specs (`imports: [{ path: ../hqq-gen/spec/hqq.yaml }]`,
//! relative to the importing file) and use their enums and flag sets as
//! operand types; errors in an imported file are reported in that file.
//! Generated Rust re-exports types imported from the core spec from the
//! runtime's `protocol` module; C and Go carry their own copies.
//!
//! Besides Rust and Markdown, [`emit_c()`] and [`emit_go()`] generate a C11
//! header and a Go file; [`compare`] lists the breaking changes between two
//! versions of a spec; [`interpret`] decodes packets at run time.

/// The spec file's grammar, for users writing their own specs.
#[doc = include_str!("spec_format.md")]
pub mod spec_format {}

pub mod builder;
mod check;
pub mod codec_steps;
pub mod compat;
pub mod emit_c;
pub mod emit_doc;
pub mod emit_go;
pub mod emit_rpc;
pub mod emit_rust;
pub mod error;
pub mod interpret;
mod locate;
pub mod model;
pub mod names;
pub mod rule;

pub use builder::{Builder, BuilderError};
pub use compat::{compare, CompatReport};
pub use emit_c::emit_c;
pub use emit_doc::emit_doc;
pub use emit_go::{emit_go, GoOptions};
pub use emit_rust::{emit_rust, EmitOptions};
pub use error::{SpecError, SpecErrors};
pub use model::Spec;

/// The core HQQ protocol spec, `spec/hqq.yaml` of this crate: the tables
/// hqq-runtime's `protocol` module is generated from and the opcode ranges
/// hqq-derive checks application opcodes against.
pub const CORE_SPEC_SOURCE: &str = include_str!("../spec/hqq.yaml");

/// The name [`core_spec`] gives the core spec in messages and in the
/// `@generated` header.
pub const CORE_SPEC_FILE: &str = "hqq-gen/spec/hqq.yaml";

/// The core spec, parsed and checked once per process.
///
/// ```
/// let core = hqq_gen::core_spec();
/// assert_eq!(core.protocol.name, "HQQ");
/// assert!(core.ranges.application.contains(&0x80));
/// ```
pub fn core_spec() -> &'static Spec {
    static CORE: std::sync::OnceLock<Spec> = std::sync::OnceLock::new();
    CORE.get_or_init(|| {
        // The file ships inside this crate and its tests parse it, so an
        // error here is a broken release, not bad input.
        Spec::parse(CORE_SPEC_SOURCE, CORE_SPEC_FILE)
            .unwrap_or_else(|e| panic!("{CORE_SPEC_FILE} must pass hqq-gen's checks:\n{e}"))
    })
}

impl Spec {
    /// Parses and checks the spec in `source`; `file` names it in messages.
    ///
    /// Returns every problem found, each with its file, line and column.
    /// The specs it imports are read relative to `file`'s directory.
    pub fn parse(source: &str, file: &str) -> Result<Spec, SpecErrors> {
        let dir = std::path::Path::new(file)
            .parent()
            .unwrap_or(std::path::Path::new(""));
        Spec::parse_importing(source, file, dir, &mut Vec::new())
    }

    /// [`Spec::parse`], with the specs it imports read relative to `dir`
    /// (for a caller that names the file in messages by a path relative
    /// to somewhere else, as `include_spec!` does).
    pub fn parse_in(source: &str, file: &str, dir: &std::path::Path) -> Result<Spec, SpecErrors> {
        Spec::parse_importing(source, file, dir, &mut Vec::new())
    }

    /// The files of the specs this one imports, directly or not (the
    /// defining file of every imported type), for build tools that rebuild
    /// when one changes.
    pub fn imported_files(&self) -> Vec<&str> {
        let mut files: Vec<&str> = self
            .enums
            .iter()
            .filter_map(|e| e.imported.as_ref())
            .chain(self.flags.iter().filter_map(|f| f.imported.as_ref()))
            .map(|i| i.file.as_str())
            .collect();
        files.sort_unstable();
        files.dedup();
        files
    }

    /// Reads, parses and checks the spec file at `path`.
    pub fn read(path: &std::path::Path) -> Result<Spec, SpecErrors> {
        Spec::read_importing(path, &mut Vec::new())
    }

    /// [`Spec::parse`]; `importing` holds the files being read further up
    /// the chain of imports, to reject a cycle.
    fn parse_importing(
        source: &str,
        file: &str,
        dir: &std::path::Path,
        importing: &mut Vec<std::path::PathBuf>,
    ) -> Result<Spec, SpecErrors> {
        let raw: model::raw::Spec =
            serde_yaml::from_str(source).map_err(|e| SpecErrors(vec![yaml_error(&e, file)]))?;
        let positions = locate::Positions::index(source);
        let here = std::fs::canonicalize(
            dir.join(std::path::Path::new(file).file_name().unwrap_or_default()),
        )
        .ok();
        let imports = read_imports(&raw, file, dir, here, &positions, importing)?;
        check::resolve(&raw, file, &positions, &imports).map_err(SpecErrors)
    }

    fn read_importing(
        path: &std::path::Path,
        importing: &mut Vec<std::path::PathBuf>,
    ) -> Result<Spec, SpecErrors> {
        let file = path.display().to_string();
        let source = std::fs::read_to_string(path).map_err(|e| {
            SpecErrors(vec![SpecError {
                file: file.clone(),
                line: None,
                column: None,
                entry: String::new(),
                message: format!("cannot read the spec: {e}"),
                hint: None,
            }])
        })?;
        let dir = path.parent().unwrap_or(std::path::Path::new(""));
        Spec::parse_importing(&source, &file, dir, importing)
    }
}

/// Reads the specs `raw` imports (paths relative to `dir`); `here` is the
/// importing file, canonical, if it exists.
/// An import that fails gives its own errors (in its own file) and one at
/// the import entry of `file`.
fn read_imports(
    raw: &model::raw::Spec,
    file: &str,
    dir: &std::path::Path,
    here: Option<std::path::PathBuf>,
    positions: &locate::Positions,
    importing: &mut Vec<std::path::PathBuf>,
) -> Result<Vec<Spec>, SpecErrors> {
    let mut specs = Vec::new();
    let mut errors = Vec::new();
    for (k, import) in raw.imports.iter().enumerate() {
        let path = dir.join(&import.path);
        let at = |message: String| {
            let pos = positions.find(&format!("imports[{k}].path"));
            SpecError {
                file: file.to_owned(),
                line: pos.map(|p| p.line),
                column: pos.map(|p| p.column),
                entry: format!("import `{}`", import.path),
                message,
                hint: None,
            }
        };
        let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if importing.contains(&canonical) || here.as_ref() == Some(&canonical) {
            errors.push(at("imports a spec that imports this one (a cycle)".into()));
            continue;
        }
        importing.extend(here.clone());
        let result = Spec::read_importing(&path, importing);
        importing.truncate(importing.len() - usize::from(here.is_some()));
        match result {
            Ok(spec) => specs.push(spec),
            Err(SpecErrors(inner)) => {
                errors.push(at(format!("{} does not check", path.display())));
                errors.extend(inner);
            }
        }
    }
    if errors.is_empty() {
        Ok(specs)
    } else {
        Err(SpecErrors(errors))
    }
}

/// A serde_yaml error (syntax, unknown key, wrong type) as a [`SpecError`].
fn yaml_error(e: &serde_yaml::Error, file: &str) -> SpecError {
    let text = e.to_string();
    // serde_yaml appends " at line L column C" to messages that have a location.
    let message = match text.rfind(" at line ") {
        Some(cut) if e.location().is_some() => text[..cut].to_owned(),
        _ => text,
    };
    let (entry, message) = match message.split_once(": ") {
        Some((path, rest)) if !path.contains(' ') => (format!("`{path}`"), rest.to_owned()),
        _ => (String::new(), message),
    };
    let hint = message
        .contains("unknown field")
        .then(|| "check the spelling; the keys this entry accepts are listed above".to_owned());
    SpecError {
        file: file.to_owned(),
        line: e.location().map(|l| l.line()),
        column: e.location().map(|l| l.column()),
        entry,
        message,
        hint,
    }
}

/// The generated Rust code of `spec`, formatted, with an `@generated` header.
pub fn generate_rust(spec: &Spec, options: &EmitOptions) -> String {
    let tokens = emit_rust(spec, options);
    let file: syn::File = syn::parse2(tokens).expect("the emitter produces valid Rust items");
    let code = format_flag_sets(&prettyplease::unparse(&file), spec, options);
    format!(
        "// @generated by hqq-gen from {}. Do not edit: edit the spec and regenerate.\n\n{}",
        spec.file,
        space_items(&code)
    )
}

/// Replaces each `flag_set! { ... }` block, which prettyplease prints as
/// one run of tokens, with its formatted source.
fn format_flag_sets(code: &str, spec: &Spec, options: &EmitOptions) -> String {
    let mut sets = spec
        .flags
        .iter()
        .filter(|set| !emit_rust::is_reexported(set.imported.as_ref()));
    let mut out = String::with_capacity(code.len());
    let mut skipping = false;
    for line in code.lines() {
        if skipping {
            skipping = line != "}";
            continue;
        }
        if line.ends_with("flag_set! {") && !line.starts_with(' ') {
            if let Some(set) = sets.next() {
                out.push_str(&emit_rust::flag_set_source(set, &options.runtime_path));
                skipping = true;
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Puts a blank line between consecutive items (prettyplease does not), so
/// the generated file reads like hand-written code.
fn space_items(code: &str) -> String {
    const ITEM_STARTS: [&str; 9] = [
        "///", "#[", "pub ", "fn ", "const ", "impl ", "type ", "crate::", "::",
    ];
    let mut out = String::with_capacity(code.len() + code.len() / 16);
    let mut prev: Option<&str> = None;
    for line in code.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if let Some(p) = prev {
            let p_trimmed = p.trim_start();
            let same_indent = p.len() - p_trimmed.len() == indent;
            let prev_ends_item =
                p_trimmed == "}" || p_trimmed.ends_with(';') || p_trimmed.ends_with("};");
            let prev_is_attr = p_trimmed.starts_with("///") || p_trimmed.starts_with("#[");
            if same_indent
                && prev_ends_item
                && !prev_is_attr
                && ITEM_STARTS.iter().any(|s| trimmed.starts_with(s))
            {
                out.push('\n');
            }
        }
        out.push_str(line);
        out.push('\n');
        prev = Some(line);
    }
    out
}
