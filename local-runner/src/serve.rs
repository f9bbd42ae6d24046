//! Serving a router to clients that may be slow, stalled or many: the OSS
//! emulator and the workflow API take requests from any local program, and
//! a plain `axum::serve` keeps a half-sent request (or a stalled body, and
//! with it a temporary file) open forever and accepts connections without
//! bound. Here every connection has a deadline for its request headers
//! (which also ends idle keep-alive connections), every body a deadline for
//! its next bytes, and the number of connections served at once is capped:
//! further ones wait in the listen backlog, holding nothing of ours.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use futures_util::StreamExt;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Deadlines and the connection cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// A request's headers must all arrive within this; an idle keep-alive
    /// connection is closed after it too.
    pub header_read_timeout: Duration,
    /// The longest wait for the next bytes of a request body; past it the
    /// body fails (and an upload's temporary file is removed).
    pub body_idle_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Default for ServeLimits {
    /// 30 s for headers (hyper's own default, once a timer is set), 60 s
    /// between body bytes, 512 connections (under the usual 1,024 open
    /// files, with room for the files they write).
    fn default() -> Self {
        ServeLimits {
            header_read_timeout: Duration::from_secs(30),
            body_idle_timeout: Duration::from_secs(60),
            max_connections: 512,
        }
    }
}

/// Serve `app` on `listener` until `stop` completes, then let the
/// connections in flight finish (for at most one header deadline). Handlers
/// see the peer address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServeLimits,
    stop: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let permit = tokio::select! {
            () = &mut stop => break,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, then retry.
                    tracing::warn!(error = %e, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let router = TowerToHyperService::new(app.clone());
        let body_idle = limits.body_idle_timeout;
        let service =
            hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let mut req = req.map(|b| timed_body(Body::new(b), body_idle));
                req.extensions_mut().insert(ConnectInfo(peer));
                hyper::service::Service::call(&router, req)
            });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(limits.header_read_timeout, graceful.shutdown()).await;
}

/// A body that fails when its next bytes take longer than `idle`.
fn timed_body(body: Body, idle: Duration) -> Body {
    let stream = futures_util::stream::unfold(Some(body.into_data_stream()), move |s| async move {
        let mut s = s?;
        match tokio::time::timeout(idle, s.next()).await {
            Ok(Some(Ok(chunk))) => Some((Ok(chunk), Some(s))),
            Ok(Some(Err(e))) => Some((Err(std::io::Error::other(e)), None)),
            Ok(None) => None,
            Err(_) => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no request body bytes for {} s", idle.as_secs_f64()),
                )),
                None,
            )),
        }
    });
    Body::from_stream(stream)
}
