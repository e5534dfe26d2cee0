//! Streamable HTTP: the tools at `http://ADDR:PORT/mcp`, served by the
//! SDK's tower service behind axum.
//!
//! A local server is reachable from every web page the user opens, so
//! requests are refused (403) unless their `Host` names this machine
//! (DNS rebinding) and their `Origin`, when a browser sent one, is a
//! local page's: loopback names, and the address the server is bound to
//! when that is not a loopback one. Clients that are not browsers send no
//! `Origin` and pass.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use super::tools::{Shared, Tools};

/// Serves until SIGINT or SIGTERM; then stops this server's build (it
/// keeps what it indexed) before the connections close, since a
/// `refresh_index` request lasts as long as its build.
pub(crate) async fn serve(
    shared: &Arc<Shared>,
    address: SocketAddr,
    listening: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    let bound = listener.local_addr()?;
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(allowed_hosts(bound))
        .with_allowed_origins(allowed_origins(bound))
        .enforce_origin_validation();
    let stop = config.cancellation_token.clone();
    let sessions = shared.clone();
    let service = StreamableHttpService::new(
        move || Ok(Tools::new(sessions.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let router = axum::Router::new().nest_service("/mcp", service);
    listening(bound);
    let shared = shared.clone();
    let stopping = stop.clone();
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        stopped().await;
        shared.builds.shutdown().await;
        stopping.cancel();
    });
    // Idle keep-alive connections would hold a graceful shutdown open:
    // once stopped, answers in flight get a moment to go out, no more.
    tokio::select! {
        served = server => served.context("the HTTP server failed"),
        () = async {
            stop.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => Ok(()),
    }
}

/// How long connections may take to close once the server stops.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// Resolves on the first SIGINT or SIGTERM.
async fn stopped() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without handlers the default action ends the process anyway.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
}

/// The `Host` values accepted: this machine's loopback names, and the
/// address bound when it is another.
fn allowed_hosts(bound: SocketAddr) -> Vec<String> {
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).into();
    if !bound.ip().is_loopback() {
        hosts.push(bound.ip().to_string());
    }
    hosts
}

/// The `Origin` values accepted: pages served from this machine (any
/// port), and from the address bound when it is not a loopback one.
fn allowed_origins(bound: SocketAddr) -> Vec<String> {
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "[::1]"].map(String::from).into();
    if !bound.ip().is_loopback() {
        hosts.push(match bound {
            SocketAddr::V4(v4) => v4.ip().to_string(),
            SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
        });
    }
    hosts
        .iter()
        .flat_map(|host| [format!("http://{host}:*"), format!("https://{host}:*")])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_server_accepts_local_pages_only() {
        let origins = allowed_origins("127.0.0.1:8765".parse().unwrap());
        assert!(origins.contains(&"http://localhost:*".to_string()));
        assert!(origins.contains(&"https://[::1]:*".to_string()));
        assert_eq!(origins.len(), 6);
        assert_eq!(allowed_hosts("[::1]:0".parse().unwrap()).len(), 3);
    }

    #[test]
    fn a_server_bound_elsewhere_accepts_its_own_address_too() {
        let bound = "192.168.1.5:8765".parse().unwrap();
        assert!(allowed_origins(bound).contains(&"http://192.168.1.5:*".to_string()));
        assert!(allowed_hosts(bound).contains(&"192.168.1.5".to_string()));
    }
}
