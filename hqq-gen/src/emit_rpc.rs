//! Emits the `rpc` module of a spec with `methods:`: method ids, a
//! `Server` trait with one method per RPC method, `serve`, and a typed
//! `Client`.
//!
//! The loop itself lives in the runtime (`advanced::rpc::serve`); the
//! generated code only maps method ids to trait methods, so it stays as
//! small as hand-written glue would be.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};

use crate::emit_rust::doc;
use crate::model::{Method, Spec};

fn id_const(m: &Method) -> Ident {
    format_ident!("METHOD_{}", m.name.to_ascii_uppercase())
}

fn method_doc(m: &Method) -> String {
    if m.doc.is_empty() {
        format!("RPC method `{}` (id {}).", m.name, m.id)
    } else {
        format!("{}\n\nRPC method `{}` (id {}).", m.doc, m.name, m.id)
    }
}

/// The `pub mod rpc { ... }` of `spec`, or nothing if it has no methods.
pub fn emit_rpc(spec: &Spec, rt: &syn::Path) -> TokenStream {
    if spec.methods.is_empty() {
        return TokenStream::new();
    }
    let methods = &spec.methods;
    let consts = methods.iter().map(|m| {
        let c = id_const(m);
        let id = proc_macro2::Literal::u64_unsuffixed(m.id);
        let d = doc(&format!("Method id of [`Server::{}`].", m.name));
        quote! { #d pub const #c: u64 = #id; }
    });
    let table = methods.iter().map(|m| {
        let c = id_const(m);
        let name = &m.name;
        quote!((#c, #name))
    });
    let count = proc_macro2::Literal::usize_unsuffixed(methods.len());
    let server_methods = methods.iter().map(|m| {
        let f = Ident::new(&m.name, Span::call_site());
        let d = doc(&method_doc(m));
        quote! {
            #d
            fn #f(&mut self, request: &[u8]) -> ::core::result::Result<::std::vec::Vec<u8>, #rt::advanced::Status>;
        }
    });
    let arms = methods.iter().map(|m| {
        let f = Ident::new(&m.name, Span::call_site());
        let c = id_const(m);
        quote!(#c => ::core::option::Option::Some(self.0.#f(request)),)
    });
    let client_methods = methods.iter().map(|m| {
        let f = Ident::new(&m.name, Span::call_site());
        let c = id_const(m);
        let d = doc(&format!(
            "Calls [`Server::{}`] and waits for its response.\n\n{}",
            m.name,
            method_doc(m)
        ));
        quote! {
            #d
            pub fn #f(&self, request: &[u8]) -> ::core::result::Result<::std::vec::Vec<u8>, #rt::advanced::RpcCallError> {
                #rt::advanced::rpc::call(self.link, self.connection, #c, request)
            }
        }
    });
    let name = &spec.protocol.name;
    let module_doc = doc(&format!(
        "The RPC methods of {name}, served and called over an Advanced link."
    ));
    quote! {
        #module_doc
        pub mod rpc {
            #(#consts)*

            /// Every method as `(id, name)`, in spec order.
            pub const METHODS: [(u64, &str); #count] = [#(#table),*];

            /// The server side: one method per RPC method. An `Err` answers
            /// the request with an error status.
            pub trait Server {
                #(#server_methods)*
            }

            struct Service<'s, S: ?::core::marker::Sized>(&'s mut S);

            #[automatically_derived]
            impl<S: Server + ?::core::marker::Sized> #rt::advanced::RpcService for Service<'_, S> {
                fn handle(
                    &mut self,
                    method: u64,
                    request: &[u8],
                ) -> ::core::option::Option<::core::result::Result<::std::vec::Vec<u8>, #rt::advanced::Status>> {
                    match method {
                        #(#arms)*
                        _ => ::core::option::Option::None,
                    }
                }
            }

            /// Answers the requests on `connection` of `link` with `server`
            /// until the connection closes (`ServeEnd::Closed`: the client
            /// closed it or dropped its link) or the peer is gone
            /// (`ServeEnd::PeerGone`). Connection 0, the link itself, never
            /// closes. A request for an unknown method id is answered with
            /// the error status `advanced::Status::UNKNOWN_METHOD`.
            pub fn serve<T: #rt::advanced::PacketTransport, S: Server + ?::core::marker::Sized>(
                link: &#rt::advanced::AdvancedLink<T>,
                connection: u64,
                server: &mut S,
            ) -> ::core::result::Result<#rt::advanced::ServeEnd, #rt::advanced::RpcServeError> {
                #rt::advanced::rpc::serve(link, connection, &mut Service(server))
            }

            /// The client side: one method per RPC method, each a call on
            /// an Advanced link that waits for its response.
            #[derive(Clone, Copy)]
            pub struct Client<'l> {
                link: &'l #rt::advanced::AdvancedLink,
                connection: u64,
            }

            #[automatically_derived]
            impl ::core::fmt::Debug for Client<'_> {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.debug_struct("Client").field("connection", &self.connection).finish_non_exhaustive()
                }
            }

            impl<'l> Client<'l> {
                /// A client calling on the link itself (connection 0).
                pub fn new(link: &'l #rt::advanced::AdvancedLink) -> Self {
                    Client { link, connection: 0 }
                }

                /// A client calling on `connection` (from `dial`).
                pub fn on_connection(link: &'l #rt::advanced::AdvancedLink, connection: u64) -> Self {
                    Client { link, connection }
                }

                /// The link the client calls on.
                pub fn link(&self) -> &'l #rt::advanced::AdvancedLink {
                    self.link
                }

                #(#client_methods)*
            }
        }
    }
}
