//! A tiny HTTP/1.1 client: one connection per request, over tokio and hyper.

use std::io;

use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Why [`get`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The URL is not `http://host[:port]/path`.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The TCP connection could not be made.
    #[error("cannot connect: {0}")]
    Connect(#[from] io::Error),
    /// The HTTP exchange failed, e.g. the server closed the connection without a
    /// response.
    #[error("{0}")]
    Http(#[from] hyper::Error),
}

/// Sends `GET url` on a fresh connection and returns the status code and the body
/// (decoded as UTF-8, invalid sequences replaced).
///
/// Dropping the returned future closes the connection, so a timeout around it leaves
/// nothing running.
///
/// # Errors
/// [`HttpError`]: a bad URL, a refused connection, or a failed exchange. An HTTP error
/// status (e.g. `503`) is not an error here: it is returned as the status.
pub async fn get(url: &str) -> Result<(u16, String), HttpError> {
    let invalid = |reason: &str| HttpError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e: hyper::http::uri::InvalidUri| invalid(&e.to_string()))?;
    if uri.scheme_str() != Some("http") {
        return Err(invalid("only http:// is supported"));
    }
    let authority = uri.authority().ok_or_else(|| invalid("no host"))?.clone();
    let port = authority.port_u16().unwrap_or(80);
    let stream = TcpStream::connect((authority.host(), port)).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream)).await?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let request = Request::get(path)
        .header(hyper::header::HOST, authority.as_str())
        .body(Empty::new())
        .map_err(|e| invalid(&e.to_string()))?;
    let exchange = async move {
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        // Dropping the sender lets the connection future below finish.
        drop(sender);
        Ok::<_, hyper::Error>((status, String::from_utf8_lossy(&body).into_owned()))
    };
    // The connection is driven here, not spawned, so dropping this future closes it.
    let (result, _closed) = tokio::join!(exchange, connection);
    Ok(result?)
}
