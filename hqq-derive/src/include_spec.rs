//! `include_spec!("path", ...)`: the hqq-gen pipeline at compile time.

use std::path::PathBuf;

use hqq_gen::{emit_rust, EmitOptions, Spec};
use proc_macro2::{Literal, TokenStream};
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::LitStr;

/// The macro's input: `"path"`, then optionally `crate = "ipc"` (the name
/// of a renamed `hqq` dependency) and `exhaustive_handler`, comma-separated.
pub struct Input {
    /// The spec file, relative to the calling crate's `Cargo.toml`.
    pub path: LitStr,
    /// The facade's path, `::hqq` unless `crate = "..."` says otherwise.
    pub krate: syn::Path,
    /// Whether every `Handler` method is required.
    pub exhaustive_handler: bool,
}

impl Parse for Input {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut out = Input {
            path: input.parse()?,
            krate: syn::parse_quote!(::hqq),
            exhaustive_handler: false,
        };
        while !input.is_empty() {
            input.parse::<syn::Token![,]>()?;
            if input.is_empty() {
                break;
            }
            if input.peek(syn::Token![crate]) {
                input.parse::<syn::Token![crate]>()?;
                input.parse::<syn::Token![=]>()?;
                out.krate = input.parse::<LitStr>()?.parse()?;
                continue;
            }
            let key: syn::Ident = input.parse()?;
            if key != "exhaustive_handler" {
                return Err(syn::Error::new(
                    key.span(),
                    format!(
                        "unknown include_spec! option `{key}`; after the path it accepts \
                         `crate = \"<path of hqq>\"` and `exhaustive_handler`"
                    ),
                ));
            }
            out.exhaustive_handler = true;
        }
        Ok(out)
    }
}

/// The code `hqq-gen rust` writes for the spec at `input.path` (relative to
/// the calling crate's manifest directory), or its errors at the path's span.
pub fn expand(input: &Input) -> TokenStream {
    let path = &input.path;
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
            let mut runtime = input.krate.clone();
            runtime.segments.push(syn::parse_quote!(runtime));
            let mut options = EmitOptions::default().exhaustive_handler(input.exhaustive_handler);
            options.runtime_path = runtime;
            let code = emit_rust(&spec, &options);
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

    fn lit(path: &str) -> Input {
        syn::parse_str(&format!("{path:?}")).expect("a path literal")
    }

    #[test]
    fn options_set_the_facade_path_and_an_exhaustive_handler() {
        let input: Input =
            syn::parse_str(r#""../hqq-gen/tests/data/kv.yaml", crate = "ipc", exhaustive_handler"#)
                .expect("valid options");
        let out = expand(&input).to_string();
        assert!(
            out.contains("ipc :: runtime :: codec :: PacketCodec"),
            "{out}"
        );
        assert!(!out.contains(":: hqq ::"), "{out}");
        // Required methods end in `;`, not in a default body.
        assert!(out.contains("Rejection > ;"), "{out}");
        let bad = syn::parse_str::<Input>(r#""x.yaml", exhaustive"#)
            .err()
            .expect("an error");
        assert!(bad.to_string().contains("accepts `crate"), "{bad}");
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
