//! What the dashboard's tests share: a dashboard on loopback, an HTTP client for it,
//! and an error type for annotated functions.

#![allow(dead_code)] // each test binary uses its own part

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use resilience_runtime::Rejection;
use tokio::net::{TcpListener, TcpStream};

/// A call's error: the body failed, or a policy refused it.
#[derive(Debug)]
pub enum CallError {
    /// The body returned an error.
    Failed,
    /// A policy refused to run the body.
    Rejected(Rejection),
}

impl From<Rejection> for CallError {
    fn from(rejection: Rejection) -> Self {
        CallError::Rejected(rejection)
    }
}

/// Serves `resilience_dashboard::router()` under `prefix` ("" for the root, else with
/// `nest_service`, as the crate docs advise) on
/// 127.0.0.1 (a port the system picks), on the current runtime; the server stops when
/// the runtime does.
pub async fn start(prefix: &str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = if prefix.is_empty() {
        resilience_dashboard::router()
    } else {
        axum::Router::new().nest_service(prefix, resilience_dashboard::router())
    };
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Sends `GET path` on a new connection and returns the response, its body unread.
pub async fn request(addr: SocketAddr, path: &str) -> Response<Incoming> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = Request::get(path)
        .header("host", addr.to_string())
        .body(Empty::<Bytes>::new())
        .unwrap();
    sender.send_request(request).await.unwrap()
}

/// A whole response: status, `Content-Type`, body.
pub struct Page {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

/// `GET path`, read to the end (within 5 s).
pub async fn get(addr: SocketAddr, path: &str) -> Page {
    tokio::time::timeout(Duration::from_secs(5), async {
        let response = request(addr, path).await;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Page {
            status,
            content_type,
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    })
    .await
    .unwrap_or_else(|_| panic!("GET {path} took more than 5s"))
}

/// `GET /snapshot.json`, parsed; the entry of `policy` `name`.
pub async fn snapshot_of(addr: SocketAddr, policy: &str, name: &str) -> Option<serde_json::Value> {
    let page = get(addr, "/snapshot.json").await;
    assert_eq!(page.status, 200);
    let json: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    json["policies"]
        .as_array()
        .expect("{\"policies\": [...]}")
        .iter()
        .find(|p| p["policy"] == policy && p["name"] == name)
        .cloned()
}
