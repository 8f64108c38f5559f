//! Collects the errors found while reading and checking one macro input.

use std::fmt::Display;

use proc_macro2::TokenStream;
use quote::ToTokens;

/// The errors of one macro invocation, each with the span it points at.
#[derive(Default)]
pub struct Ctxt {
    errors: Vec<syn::Error>,
}

impl Ctxt {
    /// An empty context.
    pub fn new() -> Self {
        Ctxt::default()
    }

    /// Records `message` pointing at the tokens of `at`.
    pub fn error_spanned_by<A: ToTokens, M: Display>(&mut self, at: A, message: M) {
        self.errors.push(syn::Error::new_spanned(at, message));
    }

    /// Records an error produced by syn.
    pub fn syn_error(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    /// `Ok` if nothing was recorded, else every error as `compile_error!`s.
    pub fn finish(self) -> Result<(), TokenStream> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self
                .errors
                .into_iter()
                .map(|e| e.to_compile_error())
                .collect())
        }
    }
}
