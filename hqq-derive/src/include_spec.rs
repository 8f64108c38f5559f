//! `include_spec!("path")`: the hqq-gen pipeline at compile time.

use std::path::PathBuf;

use hqq_gen::{emit_rust, EmitOptions, Spec};
use proc_macro2::{Literal, TokenStream};
use quote::quote;
use syn::LitStr;

/// The code `hqq-gen rust` writes for the spec at `path` (relative to the
/// calling crate's manifest directory), or its errors at `path`'s span.
pub fn expand(path: &LitStr) -> TokenStream {
    let relative = path.value();
    let base = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_default();
    let full = base.join(&relative);
    // Makes cargo rebuild the calling crate when the spec changes (the
    // stable stand-in for `proc_macro::tracked_path`).
    let track = full.to_str().map(|p| {
        let p = Literal::string(p);
        quote!(
            const _: &[u8] = ::core::include_bytes!(#p);
        )
    });
    let source = match std::fs::read_to_string(&full) {
        Ok(source) => source,
        Err(e) => {
            let message = format!(
                "cannot read the spec `{}`: {e}; the path is relative to the crate's Cargo.toml ({})",
                relative,
                base.display()
            );
            return syn::Error::new(path.span(), message).to_compile_error();
        }
    };
    // Imports are relative to the spec's own directory, not to the
    // compiler's working directory.
    let dir = full.parent().unwrap_or(&base);
    match Spec::parse_in(&source, &relative, dir) {
        Ok(spec) => {
            let code = emit_rust(&spec, &EmitOptions::default());
            let imports = spec.imported_files().into_iter().map(|file| {
                let file = Literal::string(file);
                quote!(
                    const _: &[u8] = ::core::include_bytes!(#file);
                )
            });
            quote!(#code #track #(#imports)*)
        }
        Err(errors) => {
            let errors = errors
                .errors()
                .iter()
                .map(|e| syn::Error::new(path.span(), e.to_string()).to_compile_error());
            quote!(#(#errors)* #track)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(path: &str) -> LitStr {
        LitStr::new(path, proc_macro2::Span::call_site())
    }

    #[test]
    fn expands_to_what_hqq_gen_emits_plus_the_file_dependency() {
        let path = "../hqq-gen/tests/data/kv.yaml";
        let out = expand(&lit(path)).to_string();
        let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        let spec = Spec::read(&full).expect("kv.yaml is valid");
        let emitted = emit_rust(&spec, &EmitOptions::default()).to_string();
        assert!(
            out.starts_with(&emitted),
            "include_spec! differs from emit_rust"
        );
        let rest = &out[emitted.len()..];
        assert!(
            rest.contains("include_bytes"),
            "no file dependency in: {rest}"
        );
        assert!(rest.contains("kv.yaml"), "no file dependency in: {rest}");
    }

    #[test]
    fn a_spec_error_is_a_compile_error_with_file_line_and_column() {
        let out = expand(&lit("tests/data/bad.yaml")).to_string();
        assert!(out.contains("compile_error"), "{out}");
        // `code: 0x10` of Pong is on line 11.
        assert!(out.contains("tests/data/bad.yaml:11:"), "{out}");
        assert!(out.contains("0x10"), "{out}");
        assert!(
            out.contains("include_bytes"),
            "a broken spec is tracked too: {out}"
        );
    }

    #[test]
    fn a_missing_spec_names_the_manifest_dir() {
        let out = expand(&lit("tests/data/missing.yaml")).to_string();
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("cannot read the spec"), "{out}");
        assert!(out.contains("relative to the crate's Cargo.toml"), "{out}");
    }
}
