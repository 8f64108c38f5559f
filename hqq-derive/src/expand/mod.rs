//! Code generation. The derives lower their checked input into hqq-gen's
//! models ([`hqq_gen::emit_rust::codec::CodecItem`],
//! [`hqq_gen::emit_rust::dispatch::DispatchItem`]) and expand through the
//! same emitter as the spec's generated code. Every path is fully qualified
//! through the `hqq` facade (`::hqq`, or `#[hqq(crate = "...")]`).

pub mod dispatch;
pub mod operand;
pub mod packet;

use quote::ToTokens;

/// The facade's path: `#[hqq(crate = "...")]`, else `::hqq`.
fn facade(krate: Option<&syn::Path>) -> syn::Path {
    krate.cloned().unwrap_or_else(|| syn::parse_quote!(::hqq))
}

/// The runtime's path under the facade.
fn runtime(krate: Option<&syn::Path>) -> syn::Path {
    let mut path = facade(krate);
    path.segments.push(syn::parse_quote!(runtime));
    path
}

/// A type as a doc link target: `kv::Put`, not `kv :: Put`.
fn type_text(ty: &syn::Type) -> String {
    let text = ty.to_token_stream().to_string();
    let mut out = String::with_capacity(text.len());
    for (i, part) in text.split(' ').enumerate() {
        let glue = out.ends_with("::")
            || part.starts_with("::")
            || part.starts_with(['<', '>', ','])
            || out.ends_with('<');
        if i > 0 && !glue {
            out.push(' ');
        }
        out.push_str(part);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn type_text_has_no_spaces_around_path_separators() {
        let ty: syn::Type = syn::parse_quote!(kv::Put);
        assert_eq!(super::type_text(&ty), "kv::Put");
        let ty: syn::Type = syn::parse_quote!(crate::app::Wrapper<kv::Put>);
        assert_eq!(super::type_text(&ty), "crate::app::Wrapper<kv::Put>");
    }
}
