//! Compile tests of the derive macros (trybuild): every rejected input in
//! `tests/ui/` with its expected message in the `.stderr` next to it, and
//! every supported form in `tests/ui-pass/`.
//!
//! After an intended change of a message, rewrite the `.stderr` files with
//! `TRYBUILD=overwrite cargo test --test derive_ui` and read the diff.

#[test]
fn derive_ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui-pass/*.rs");
}
