//! Emits the `rpc` module of a spec with `methods:`: method ids, a
//! `Server` trait with one method per RPC method, `serve`, and a typed
//! `Client`; and their async forms `AsyncServer`, `serve_async` and
//! `AsyncClient`, which exist where the runtime has async links (its
//! `tokio` feature: the items are wrapped in the runtime's `if_async!`).
//!
//! The loop itself lives in the runtime (`advanced::rpc::serve`); the
//! generated code only maps method ids to trait methods, so it stays as
//! small as hand-written glue would be.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};

use crate::emit_rust::doc;
use crate::model::{Method, RpcType, Spec};

/// The Rust types of a method's request (as the server gets it and as the
/// client passes it) and response.
struct Types {
    /// `&[u8]` or `super::Put`.
    server_request: TokenStream,
    /// `&[u8]` or `&super::Put`.
    client_request: TokenStream,
    /// `Vec<u8>` or `super::Reply`.
    response: TokenStream,
}

/// The Rust type of a typed request or response; `None` for bytes.
fn rust_type(spec: &Spec, ty: &RpcType) -> Option<TokenStream> {
    match ty {
        RpcType::Bytes => None,
        &RpcType::Packet(i) => {
            let t = Ident::new(&spec.opcodes[i].name, Span::call_site());
            Some(quote!(super::#t))
        }
        // Checked to parse as a path; a relative path is written from the
        // generated module's parent, as a packet is.
        RpcType::Serde(path) => {
            let path: syn::Path = syn::parse_str(path).expect("checked to be a path");
            Some(
                if path.leading_colon.is_some()
                    || path.segments.first().is_some_and(|s| s.ident == "crate")
                {
                    quote!(#path)
                } else {
                    quote!(super::#path)
                },
            )
        }
    }
}

fn types(spec: &Spec, m: &Method) -> Types {
    let request = rust_type(spec, &m.request);
    Types {
        server_request: request.clone().unwrap_or(quote!(&[u8])),
        client_request: request.map_or(quote!(&[u8]), |t| quote!(&#t)),
        response: rust_type(spec, &m.response).unwrap_or(quote!(::std::vec::Vec<u8>)),
    }
}

/// `bytes` (a `&[u8]`) as a value of the typed `ty`
/// (`Result<T, RpcMessageError>`).
fn decode_message(spec: &Spec, rt: &syn::Path, ty: &RpcType, bytes: TokenStream) -> TokenStream {
    let t = rust_type(spec, ty);
    match ty {
        RpcType::Serde(_) => quote!(#rt::advanced::rpc::from_postcard::<#t>(#bytes)),
        _ => quote!(<#t as #rt::advanced::RpcMessage>::from_message(#bytes)),
    }
}

/// `value` (a `&T` of a typed `ty`) as message bytes
/// (`Result<Vec<u8>, RpcMessageError>`); `None` for bytes, which need no
/// encoding.
fn encode_message(rt: &syn::Path, ty: &RpcType, value: TokenStream) -> Option<TokenStream> {
    match ty {
        RpcType::Bytes => None,
        RpcType::Packet(_) => Some(quote!(
            ::core::result::Result::<_, #rt::advanced::RpcMessageError>::Ok(#rt::advanced::RpcMessage::to_message(#value))
        )),
        RpcType::Serde(_) => Some(quote!(#rt::advanced::rpc::to_postcard(#value))),
    }
}

/// The `Service::handle` arm body of `m`: decode a typed request (a bad one
/// is answered with `Status::BAD_REQUEST`), call the server, encode a typed
/// response (`Status::BAD_RESPONSE` if that fails).
fn handle_body(spec: &Spec, rt: &syn::Path, m: &Method) -> TokenStream {
    let f = Ident::new(&m.name, Span::call_site());
    let status = |code: TokenStream| quote!(|e| #rt::advanced::Status::new(#rt::advanced::Status::#code, ::std::string::ToString::to_string(&e)));
    let call = match m.request {
        RpcType::Bytes => quote!(self.0.#f(cx, request)),
        _ => {
            let decode = decode_message(spec, rt, &m.request, quote!(request));
            let bad_request = status(quote!(BAD_REQUEST));
            quote!(#decode.map_err(#bad_request).and_then(|request| self.0.#f(cx, request)))
        }
    };
    match encode_message(rt, &m.response, quote!(&response)) {
        None => call,
        Some(encode) => {
            let bad_response = status(quote!(BAD_RESPONSE));
            quote!((#call).and_then(|response| #encode.map_err(#bad_response)))
        }
    }
}

/// The body of the client method of `m` (of the async client if
/// `asynchronous`).
fn client_body(spec: &Spec, rt: &syn::Path, m: &Method, asynchronous: bool) -> TokenStream {
    let c = id_const(m);
    let request = match encode_message(rt, &m.request, quote!(request)) {
        None => quote!(request),
        Some(encode) => quote!(&#encode.map_err(#rt::advanced::RpcCallError::BadRequest)?),
    };
    let call = if asynchronous {
        quote!(#rt::async_link::rpc::call(self.link, self.connection, #c, #request).await)
    } else {
        quote!(#rt::advanced::rpc::call(self.link, self.connection, #c, #request))
    };
    match m.response {
        RpcType::Bytes => call,
        _ => {
            let decode = decode_message(spec, rt, &m.response, quote!(&response));
            quote! {
                let response = #call?;
                #decode.map_err(#rt::advanced::RpcCallError::BadResponse)
            }
        }
    }
}

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
    let server = server(spec, rt);
    let client = client(spec, rt, false);
    let asynchronous = async_items(spec, rt);
    let name = &spec.protocol.name;
    let module_doc = doc(&format!(
        "The RPC methods of {name}, served and called over an Advanced link."
    ));
    let allow = crate::emit_rust::lint_allows();
    quote! {
        #module_doc
        #allow
        pub mod rpc {
            #(#consts)*

            /// Every method as `(id, name)`, in spec order.
            pub const METHODS: [(u64, &str); #count] = [#(#table),*];

            #server
            #client
            #asynchronous
        }
    }
}

/// One method of the `Server` trait, or of `AsyncServer`
/// (`asynchronous`: it returns a `Send` future of the same result).
fn server_method(spec: &Spec, rt: &syn::Path, m: &Method, asynchronous: bool) -> TokenStream {
    let f = Ident::new(&m.name, Span::call_site());
    let d = doc(&method_doc(m));
    let Types {
        server_request,
        response,
        ..
    } = types(spec, m);
    let result = quote!(::core::result::Result<#response, #rt::advanced::Status>);
    let returns = if asynchronous {
        quote!(impl ::core::future::Future<Output = #result> + ::core::marker::Send)
    } else {
        result
    };
    quote! {
        #d
        fn #f(
            &mut self,
            cx: &#rt::advanced::CallContext,
            request: #server_request,
        ) -> #returns;
    }
}

/// The `Server` trait, the `RpcService` adapter and `serve`.
fn server(spec: &Spec, rt: &syn::Path) -> TokenStream {
    let methods = &spec.methods;
    let server_methods = methods.iter().map(|m| server_method(spec, rt, m, false));
    let arms = methods.iter().map(|m| {
        let c = id_const(m);
        let body = handle_body(spec, rt, m);
        quote!(#c => ::core::option::Option::Some(#body),)
    });
    quote! {
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
                cx: &#rt::advanced::CallContext,
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
    }
}

/// One method of the typed client (see [`client`]).
fn client_method(spec: &Spec, rt: &syn::Path, m: &Method, asynchronous: bool) -> TokenStream {
    let (server, waits) = if asynchronous {
        (
            "AsyncServer",
            "awaits its response (cancel-safe as `AsyncAdvancedLink::call_on`)",
        )
    } else {
        ("Server", "waits for its response")
    };
    let f = Ident::new(&m.name, Span::call_site());
    let d = doc(&format!(
        "Calls [`{server}::{}`] and {waits}.\n\n{}",
        m.name,
        method_doc(m)
    ));
    let Types {
        client_request,
        response,
        ..
    } = types(spec, m);
    let body = client_body(spec, rt, m, asynchronous);
    let asyncness = asynchronous.then(|| quote!(async));
    quote! {
        #d
        pub #asyncness fn #f(
            &self,
            request: #client_request,
        ) -> ::core::result::Result<#response, #rt::advanced::RpcCallError> {
            #body
        }
    }
}

/// The typed `Client` (blocking) or `AsyncClient` (`asynchronous`): the
/// same struct and methods, over the matching Advanced link.
fn client(spec: &Spec, rt: &syn::Path, asynchronous: bool) -> TokenStream {
    let (name, link) = if asynchronous {
        ("AsyncClient", quote!(#rt::async_link::AsyncAdvancedLink))
    } else {
        ("Client", quote!(#rt::advanced::AdvancedLink))
    };
    let client_methods = spec
        .methods
        .iter()
        .map(|m| client_method(spec, rt, m, asynchronous));
    let struct_doc = doc(if asynchronous {
        "The async client side: one method per RPC method, each a call\non an async Advanced link; any number may be awaited at once."
    } else {
        "The client side: one method per RPC method, each a call on\nan Advanced link that waits for its response."
    });
    let ty = Ident::new(name, Span::call_site());
    quote! {
        #struct_doc
        #[derive(Clone, Copy)]
        pub struct #ty<'l> {
            link: &'l #link,
            connection: u64,
        }

        #[automatically_derived]
        impl ::core::fmt::Debug for #ty<'_> {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(#name).field("connection", &self.connection).finish_non_exhaustive()
            }
        }

        impl<'l> #ty<'l> {
            /// A client calling on the link itself (connection 0).
            pub fn new(link: &'l #link) -> Self {
                #ty { link, connection: 0 }
            }

            /// A client calling on `connection` (from `dial`).
            pub fn on_connection(link: &'l #link, connection: u64) -> Self {
                #ty { link, connection }
            }

            /// The link the client calls on.
            pub fn link(&self) -> &'l #link {
                self.link
            }

            #(#client_methods)*
        }
    }
}

/// The `AsyncService::handle` arm body of `m`: as [`handle_body`], with
/// the server's future awaited (`request` is the request's `Vec<u8>`).
fn async_handle_body(spec: &Spec, rt: &syn::Path, m: &Method) -> TokenStream {
    let f = Ident::new(&m.name, Span::call_site());
    let status = |code: TokenStream| quote!(|e| #rt::advanced::Status::new(#rt::advanced::Status::#code, ::std::string::ToString::to_string(&e)));
    let request = match m.request {
        RpcType::Bytes => quote!(&request[..]),
        _ => {
            let decode = decode_message(spec, rt, &m.request, quote!(&request));
            let bad_request = status(quote!(BAD_REQUEST));
            quote!(#decode.map_err(#bad_request)?)
        }
    };
    let response = match encode_message(rt, &m.response, quote!(&response)) {
        None => {
            quote!(::core::result::Result::<::std::vec::Vec<u8>, #rt::advanced::Status>::Ok(response))
        }
        Some(encode) => {
            let bad_response = status(quote!(BAD_RESPONSE));
            quote!(#encode.map_err(#bad_response))
        }
    };
    quote! {
        async {
            let response = self.0.#f(&cx, #request).await?;
            #response
        }
        .await
    }
}

/// `AsyncServer`, its `AsyncRpcService` adapter, `serve_async` and
/// `AsyncClient`, inside the runtime's `if_async!`.
fn async_items(spec: &Spec, rt: &syn::Path) -> TokenStream {
    let server = async_server(spec, rt);
    let client = client(spec, rt, true);
    quote! {
        #rt::if_async! {
            #server
            #client
        }
    }
}

/// The `AsyncServer` trait, its adapter and `serve_async`.
fn async_server(spec: &Spec, rt: &syn::Path) -> TokenStream {
    let methods = &spec.methods;
    let server_methods = methods.iter().map(|m| server_method(spec, rt, m, true));
    let arms = methods.iter().map(|m| {
        let c = id_const(m);
        let body = async_handle_body(spec, rt, m);
        quote!(#c => ::core::option::Option::Some(#body),)
    });
    quote! {
        /// The async server side: one method per RPC method, each returning
        /// a `Send` future (implement them with `async fn`). An `Err`
        /// answers the request with an error status.
        pub trait AsyncServer: ::core::marker::Send {
            #(#server_methods)*
        }

        struct AsyncService<'s, S: ?::core::marker::Sized>(&'s mut S);

        #[automatically_derived]
        impl<S: AsyncServer + ?::core::marker::Sized> #rt::async_link::rpc::AsyncRpcService for AsyncService<'_, S> {
            async fn handle(
                &mut self,
                cx: #rt::advanced::CallContext,
                method: u64,
                request: ::std::vec::Vec<u8>,
            ) -> ::core::option::Option<::core::result::Result<::std::vec::Vec<u8>, #rt::advanced::Status>> {
                match method {
                    #(#arms)*
                    _ => ::core::option::Option::None,
                }
            }
        }

        /// [`serve`] on an async link: answers the requests on
        /// `connection` with `server`, one at a time, until the
        /// connection closes or the peer is gone.
        pub async fn serve_async<S: AsyncServer + ?::core::marker::Sized>(
            link: &#rt::async_link::AsyncAdvancedLink,
            connection: u64,
            server: &mut S,
        ) -> ::core::result::Result<#rt::advanced::ServeEnd, #rt::advanced::RpcServeError> {
            #rt::async_link::rpc::serve(link, connection, &mut AsyncService(server)).await
        }
    }
}
