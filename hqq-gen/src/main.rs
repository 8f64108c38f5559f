//! `hqq-gen`: check a spec, generate its Rust code or its Markdown reference.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hqq_gen::{EmitOptions, Spec};

/// Checks HQQ protocol specs and generates code and docs from them.
#[derive(Parser)]
#[command(name = "hqq-gen", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Checks a spec; prints every problem with its line and column.
    Check {
        /// The spec file.
        spec: PathBuf,
    },
    /// Lists the changes from OLD to NEW that break deployed peers and the
    /// compatible ones; fails on a breaking change unless the major version
    /// went up.
    Compat {
        /// The spec as deployed.
        old: PathBuf,
        /// The changed spec.
        new: PathBuf,
    },
    /// Generates the Rust code of a spec.
    Rust {
        /// The spec file.
        spec: PathBuf,
        /// Output file (default: standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Path of hqq-runtime in the generated code.
        #[arg(long, default_value = "::hqq::runtime")]
        runtime_path: String,
    },
    /// Generates a C11 header of a spec (constants, structs, and inline
    /// encode, decode and validate functions).
    C {
        /// The spec file.
        spec: PathBuf,
        /// Output file (default: standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Generates a Go file of a spec (the same types and codecs as the C
    /// header, standard library only).
    Go {
        /// The spec file.
        spec: PathBuf,
        /// Output file (default: standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Go package name (default: the protocol's name in lowercase).
        #[arg(long)]
        package: Option<String>,
    },
    /// Generates the Markdown protocol reference of a spec.
    Doc {
        /// The spec file.
        spec: PathBuf,
        /// Output file (default: standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Check { spec } => {
            let spec = Spec::read(&spec).map_err(|e| e.to_string())?;
            println!(
                "{}: ok ({} opcodes, {} enums, {} flag sets)",
                spec.file,
                spec.opcodes.len(),
                spec.enums.len(),
                spec.flags.len()
            );
            Ok(())
        }
        Command::Compat { old, new } => {
            let old = Spec::read(&old).map_err(|e| e.to_string())?;
            let new = Spec::read(&new).map_err(|e| e.to_string())?;
            let report = hqq_gen::compare(&old, &new);
            println!("{report}");
            if report.is_allowed() {
                Ok(())
            } else {
                Err(format!(
                    "{} -> {}: breaking changes without a new major version",
                    old.file, new.file
                ))
            }
        }
        Command::Rust {
            spec,
            output,
            runtime_path,
        } => {
            let options = EmitOptions::new(&runtime_path)
                .map_err(|e| format!("--runtime-path `{runtime_path}` is not a Rust path: {e}"))?;
            let spec = Spec::read(&spec).map_err(|e| e.to_string())?;
            write(output, &hqq_gen::generate_rust(&spec, &options))
        }
        Command::C { spec, output } => {
            let spec = Spec::read(&spec).map_err(|e| e.to_string())?;
            refuse_clashes(&spec, hqq_gen::emit_c::name_clashes(&spec), "C")?;
            write(output, &hqq_gen::emit_c(&spec))
        }
        Command::Go {
            spec,
            output,
            package,
        } => {
            let spec = Spec::read(&spec).map_err(|e| e.to_string())?;
            refuse_clashes(&spec, hqq_gen::emit_go::name_clashes(&spec), "Go")?;
            write(
                output,
                &hqq_gen::emit_go(&spec, &hqq_gen::GoOptions { package }),
            )
        }
        Command::Doc { spec, output } => {
            let spec = Spec::read(&spec).map_err(|e| e.to_string())?;
            write(output, &hqq_gen::emit_doc(&spec))
        }
    }
}

/// An error listing `clashes`, if there are any.
fn refuse_clashes(spec: &Spec, clashes: Vec<String>, language: &str) -> Result<(), String> {
    if clashes.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{}: cannot generate {language}: {} (rename the type in the spec)",
        spec.file,
        clashes.join("; ")
    ))
}

fn write(output: Option<PathBuf>, text: &str) -> Result<(), String> {
    match output {
        Some(path) => {
            std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
        }
        None => {
            print!("{text}");
            Ok(())
        }
    }
}
