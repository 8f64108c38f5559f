//! The style rule for the generator crates: no function in hqq-gen or
//! hqq-derive is longer than 80 lines (a `quote!` template counts, so a big
//! one is split into items). hqq-derive's sources are checked when they
//! are next to this crate (in the repository, not in a published package).

use std::path::{Path, PathBuf};

const MAX_LINES: usize = 80;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `(name, first line, lines)` of every function with a body in `items`.
fn functions(items: &[syn::Item], out: &mut Vec<(String, usize, usize)>) {
    fn add(out: &mut Vec<(String, usize, usize)>, sig: &syn::Signature, block: &syn::Block) {
        let first = sig.fn_token.span.start().line;
        let last = block.brace_token.span.close().end().line;
        out.push((sig.ident.to_string(), first, last + 1 - first));
    }
    for item in items {
        match item {
            syn::Item::Fn(f) => add(out, &f.sig, &f.block),
            syn::Item::Impl(i) => {
                for ii in &i.items {
                    if let syn::ImplItem::Fn(f) = ii {
                        add(out, &f.sig, &f.block);
                    }
                }
            }
            syn::Item::Trait(t) => {
                for ti in &t.items {
                    if let syn::TraitItem::Fn(syn::TraitItemFn {
                        sig,
                        default: Some(block),
                        ..
                    }) = ti
                    {
                        add(out, sig, block);
                    }
                }
            }
            syn::Item::Mod(syn::ItemMod {
                content: Some((_, items)),
                ..
            }) => functions(items, out),
            _ => {}
        }
    }
}

#[test]
fn no_function_is_longer_than_80_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("../hqq-derive/src"), &mut files);
    assert!(files.len() > 10, "found only {files:?}");
    let mut long = Vec::new();
    for file in files {
        let source = std::fs::read_to_string(&file).expect("read a source file");
        let parsed = syn::parse_file(&source).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let mut fns = Vec::new();
        functions(&parsed.items, &mut fns);
        for (name, line, lines) in fns {
            if lines > MAX_LINES {
                long.push(format!(
                    "{}:{line}: `{name}` has {lines} lines",
                    file.display()
                ));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_LINES} lines:\n{}",
        long.join("\n")
    );
}
