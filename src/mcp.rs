//! `indexer mcp`: the index served to AI assistants over the Model Context
//! Protocol, with the official Rust SDK (`rmcp`), on stdio or on Streamable
//! HTTP at `/mcp`.
//!
//! It is a front end like the command line: each query tool is a thin
//! adapter over one [`Index`](indexer::index::Index) method (`tools`), whose
//! typed answer it caps to `max_results` and wraps with `total`,
//! `truncated` and `partial` (`answers`); it never holds SQL, and never
//! builds in its own process: `refresh_index` runs `indexer build` as a
//! child process (`refresh`), so a unit that crashes or exhausts memory
//! costs what it costs on the command line, never the server.
//!
//! Concurrency. The rest of the program is synchronous; tokio lives here
//! only. The runtime's two worker threads only move messages: every query
//! runs on a blocking thread (`spawn_blocking`) with a read-only SQLite
//! connection of its own, opened for that query, so a slow query holds one
//! blocking thread and nothing else, and queries never wait for each other
//! or for a build (WAL: a reader sees what was committed when it began).
//! At most one build runs per server; while it runs, every answer says
//! `partial: true` (a build holds the index's lock, whoever started it).
//! A build started by the server ends with the server: its child gets
//! SIGTERM when the transport closes (the build then keeps what it
//! indexed), and `PR_SET_PDEATHSIG` if the server itself dies (`child`).
//!
//! `--watch` keeps the index fresh for as long as the server serves: the
//! server starts `indexer watch` as a child process, owned as a build is
//! (`watcher`). While it runs, `refresh_index` is refused (the watcher
//! already builds on every change, and a second builder would only race it
//! for the index's lock) and `get_index_status` says `watching: true`; a
//! watcher that dies is not restarted, `get_index_status` says why it
//! stopped, and `refresh_index` builds again.

mod answers;
mod child;
mod http;
mod refresh;
mod tools;
mod watcher;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rmcp::ServiceExt;

/// What `indexer mcp` serves, and how.
pub(crate) struct Server {
    /// The project `refresh_index` builds.
    pub(crate) project: PathBuf,
    /// The index every tool reads.
    pub(crate) db: PathBuf,
    pub(crate) transport: Transport,
    /// Whether to keep the index fresh with `indexer watch` while serving.
    pub(crate) watch: bool,
}

pub(crate) enum Transport {
    /// JSON-RPC on the process's stdin and stdout (what assistants launch).
    Stdio,
    /// Streamable HTTP at `http://ADDR:PORT/mcp`.
    Http(SocketAddr),
}

/// Queries run at most this many at once (the blocking threads); more wait.
const QUERY_THREADS: usize = 8;

/// Serves until the client goes away (stdio) or SIGINT/SIGTERM (HTTP);
/// `listening` is told the address an HTTP server is bound to.
pub(crate) fn serve(server: Server, listening: impl FnOnce(SocketAddr)) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(QUERY_THREADS)
        .enable_all()
        .build()
        .context("cannot start the MCP server's runtime")?;
    let exe = std::env::current_exe().context("cannot find the indexer executable")?;
    let project = std::path::absolute(&server.project)?;
    let db = std::path::absolute(&server.db)?;
    let result = runtime.block_on(async {
        // Started here, on the main thread, which outlives the service (the
        // watcher's PR_SET_PDEATHSIG follows the thread that started it).
        let watcher = if server.watch {
            let started = watcher::Watcher::start(&exe, &project, &db);
            Some(started.with_context(|| format!("cannot start `{} watch`", exe.display()))?)
        } else {
            None
        };
        let shared = Arc::new(tools::Shared::new(project, db, exe, watcher));
        let served = match server.transport {
            Transport::Stdio => serve_stdio(&shared).await,
            Transport::Http(address) => http::serve(&shared, address, listening).await,
        };
        // Whatever ended the service, a build or watch it started ends
        // with it.
        let watching = async {
            if let Some(watcher) = &shared.watcher {
                watcher.shutdown().await;
            }
        };
        tokio::join!(shared.builds.shutdown(), watching);
        served
    });
    // A read of stdin still pending cannot be cancelled: do not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(500));
    result
}

async fn serve_stdio(shared: &Arc<tools::Shared>) -> anyhow::Result<()> {
    let service = tools::Tools::new(shared.clone())
        .serve(rmcp::transport::stdio_pipes())
        .await
        .context("the MCP client did not complete the handshake")?;
    service.waiting().await?;
    Ok(())
}
