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
        quote!(const _: &[u8] = ::core::include_bytes!(#p);)
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
    match Spec::parse(&source, &relative) {
        Ok(spec) => {
            let code = emit_rust(&spec, &EmitOptions::default());
            quote!(#code #track)
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
