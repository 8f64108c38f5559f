//! The async RPC code `include_spec!` generates (feature `tokio`):
//! `rpc::AsyncServer` served by `rpc::serve_async` on one task,
//! `rpc::AsyncClient` called from many tasks of a multi-thread runtime,
//! with bytes, packet and serde (postcard) types. (examples/async_rpc.rs
//! runs the two sides in two processes.)
#![cfg(feature = "tokio")]

use std::sync::Arc;
use std::time::Duration;

use hqq::runtime::advanced::{CallContext, RpcCallError, ServeEnd, Status};
use hqq::runtime::async_link::AsyncAdvancedLink;
use hqq::{AdvancedConfig, AdvancedLink, LinkConfig};

mod strings {
    hqq::include_spec!("tests/derive/rpc.yaml");
}
use strings::rpc;

/// The request of `tally` (a serde type).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Words(pub Vec<String>);

/// The response of `tally` (a serde type).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tally {
    /// Number of words.
    pub words: u64,
    /// Number of letters in all of them.
    pub letters: u64,
}

#[derive(Default)]
struct Strings {
    answered: u64,
}

impl rpc::AsyncServer for Strings {
    async fn reverse(&mut self, _cx: &CallContext, request: &[u8]) -> Result<Vec<u8>, Status> {
        self.answered += 1;
        // A handler may await: the serve loop's task yields here.
        tokio::task::yield_now().await;
        Ok(request.iter().rev().copied().collect())
    }

    async fn fail(&mut self, _cx: &CallContext, request: &[u8]) -> Result<Vec<u8>, Status> {
        self.answered += 1;
        Err(Status {
            code: 7,
            detail: request.to_vec(),
        })
    }

    async fn count(&mut self, _cx: &CallContext, _request: &[u8]) -> Result<Vec<u8>, Status> {
        let before = self.answered;
        self.answered += 1;
        Ok(before.to_le_bytes().to_vec())
    }

    async fn stop(&mut self, _cx: &CallContext, _request: &[u8]) -> Result<Vec<u8>, Status> {
        Ok(Vec::new())
    }

    async fn crash(&mut self, _cx: &CallContext, _request: &[u8]) -> Result<Vec<u8>, Status> {
        Err(Status::new(1, "not in this test"))
    }

    async fn widen(
        &mut self,
        _cx: &CallContext,
        span: strings::Span,
    ) -> Result<strings::Span, Status> {
        self.answered += 1;
        Ok(strings::Span {
            start: span.start.saturating_sub(1),
            len: span.len.saturating_add(2),
        })
    }

    async fn context(&mut self, cx: &CallContext, _request: &[u8]) -> Result<Vec<u8>, Status> {
        self.answered += 1;
        Ok(cx.connection.to_le_bytes().to_vec())
    }

    async fn tally(&mut self, _cx: &CallContext, request: Words) -> Result<Tally, Status> {
        self.answered += 1;
        Ok(Tally {
            words: request.0.len() as u64,
            letters: request.0.iter().map(|w| w.chars().count() as u64).sum(),
        })
    }
}

#[test]
fn generated_async_server_and_client() {
    let mut config = LinkConfig::new();
    config.slots(8).buffer_size(64);
    let (a, b) = AdvancedLink::pair(&config, AdvancedConfig::default()).expect("pair");
    let (client, server) = (
        Arc::new(AsyncAdvancedLink::new(a)),
        Arc::new(AsyncAdvancedLink::new(b)),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let serving = {
            let server = Arc::clone(&server);
            tokio::spawn(async move {
                server.accept_negotiation().await.expect("accept");
                server.get_ref().listen().expect("listen");
                let connection = server.accept().await.expect("accept");
                let mut strings = Strings::default();
                let end = rpc::serve_async(&server, connection, &mut strings).await;
                (end.expect("serve"), strings.answered)
            })
        };
        client
            .negotiate(AdvancedConfig::default().offer)
            .await
            .expect("negotiate");
        let connection = loop {
            match client.dial().await {
                Ok(connection) => break connection,
                Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        };
        let calls: Vec<_> = (0..40u32)
            .map(|i| {
                let link = Arc::clone(&client);
                tokio::spawn(async move {
                    let client = rpc::AsyncClient::on_connection(&link, connection);
                    let text = format!("request {i}, longer than one 64-byte buffer of the link");
                    let reversed: Vec<u8> = text.bytes().rev().collect();
                    assert_eq!(client.reverse(text.as_bytes()).await.expect("reverse"), reversed);
                    let span = strings::Span { start: i, len: 1 };
                    let wide = client.widen(&span).await.expect("widen");
                    assert_eq!((wide.start, wide.len), (i.saturating_sub(1), 3));
                    let words = Words(vec!["ab".into(), "cde".into()]);
                    let tally = client.tally(&words).await.expect("tally");
                    assert_eq!(tally, Tally { words: 2, letters: 5 });
                })
            })
            .collect();
        for call in calls {
            call.await.expect("call task");
        }
        let client_api = rpc::AsyncClient::on_connection(&client, connection);
        let failed = client_api.fail(b"why").await;
        assert!(
            matches!(failed, Err(RpcCallError::Status(Status { code: 7, ref detail })) if detail == b"why")
        );
        let cx = client_api.context(b"").await.expect("context");
        assert_eq!(cx, connection.to_le_bytes());
        client.close(connection).await.expect("close");
        let (end, answered) = serving.await.expect("server task");
        assert_eq!(end, ServeEnd::Closed);
        assert_eq!(answered, 40 * 3 + 2);
    });
}
