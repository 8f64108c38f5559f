//! Code generation. Every path is fully qualified through the `hqq` facade
//! (`::hqq::runtime`, `::hqq::protocol`), impls sit in `const _: () = { ... };`
//! and carry `#[automatically_derived]`.

pub mod dispatch;
pub mod operand;
pub mod packet;

use proc_macro2::TokenStream;
use quote::quote;

/// The runtime as the expanded code reaches it.
fn rt() -> TokenStream {
    quote!(::hqq::runtime)
}
