//! The HTTP run: `create` and `get_latest` through the library next to the same operations
//! through `chronos-server` over loopback HTTP, both at concurrency [`CONCURRENCY`], so the
//! ratio says what the HTTP layer (client and server) costs on top of the library.
//!
//! Each side has its own library instance in its own temporary directory, the same backend
//! configuration, durability and document shape. The server runs in this process, on the same
//! tokio runtime as the client (`reqwest`, HTTP/1.1 with a keep-alive connection pool); so the
//! HTTP side pays the client's work as well as the server's, on the same cores.

use crate::backends::{route, BenchBackend};
use crate::data::{doc, GROUPS};
use crate::drive::{fill, timed};
use crate::scratch::Scratch;
use crate::stats::{ratio, ratio_line, table, Target};
use crate::{BenchOptions, Error};
use chronos_db::config::Durability;
use chronos_db::{Chronos, Collection, CreateOptions, ReadOptions};
use serde_json::{json, Value};
use std::sync::Arc;

/// Concurrent tasks of every measured phase (library and HTTP alike), each on its own items.
pub(crate) const CONCURRENCY: usize = 32;
/// Creates (each read back once) per side before the measured phases, not measured: they
/// open the client's connections and warm both instances.
const WARMUP: usize = 4 * CONCURRENCY;
/// The collection of both sides (tenant `bench` of the runtime database).
const COLLECTION: &str = "bench";
/// The target of both ratios: HTTP throughput at least this share of the library's.
const TARGET: f64 = 0.7;

/// Runs the HTTP measurement (embedded backend only); returns its report section.
pub(crate) async fn http(opts: &BenchOptions, scratch: &Scratch) -> Result<String, Error> {
    let backend = opts.backend;
    if backend != BenchBackend::Embedded {
        return Err(format!(
            "the HTTP run measures the embedded backend only, not {}",
            backend.describe()
        )
        .into());
    }
    let n = opts.sizes.http_ops;
    let k = CONCURRENCY;
    // No fsync on either side: with powerLoss every create waits for its flushes, which
    // would hide what HTTP costs.
    let durability = Durability::ProcessCrash;

    let lib_dir = scratch.dir()?;
    let lib_chronos = Chronos::open(backend.config(&lib_dir, durability, &[COLLECTION])?).await?;
    let lib = lib_chronos.with(route(COLLECTION)?)?;

    let http_dir = scratch.dir()?;
    let server_chronos =
        Chronos::open(backend.config(&http_dir, durability, &[COLLECTION])?).await?;
    let server = RunningServer::start(server_chronos).await?;
    let client = HttpClient::new(&server.addr, k)?;

    // Warm-up, not measured: the same operations on both sides.
    let (c, h) = (lib.clone(), client.clone());
    fill("warm-up (library)", 0, WARMUP, k, move |i| {
        let c = c.clone();
        async move {
            let id = lib_create(&c, n + i).await?;
            lib_get(&c, &id).await?;
            Ok(0)
        }
    })
    .await?;
    fill("warm-up (HTTP)", 0, WARMUP, k, move |i| {
        let h = h.clone();
        async move {
            let id = h.create(n + i).await?;
            h.get(&id).await?;
            Ok(0)
        }
    })
    .await?;

    // Creates over distinct items, then reads of the items just created, side by side.
    let c = lib.clone();
    let (lib_create_stats, lib_ids) = timed(
        &format!("create (library, concurrency {k})"),
        n,
        k,
        move |i| {
            let c = c.clone();
            async move { lib_create(&c, i).await }
        },
    )
    .await?;
    let h = client.clone();
    let (http_create_stats, http_ids) = timed(
        &format!("create (HTTP POST, concurrency {k})"),
        n,
        k,
        move |i| {
            let h = h.clone();
            async move { h.create(i).await }
        },
    )
    .await?;
    let (c, ids) = (lib.clone(), Arc::new(lib_ids));
    let (lib_get_stats, _) = timed(
        &format!("get_latest (library, concurrency {k})"),
        n,
        k,
        move |i| {
            let (c, ids) = (c.clone(), ids.clone());
            async move { lib_get(&c, &ids[i]).await }
        },
    )
    .await?;
    let (h, ids) = (client.clone(), Arc::new(http_ids));
    let (http_get_stats, _) = timed(
        &format!("get_latest (HTTP GET, concurrency {k})"),
        n,
        k,
        move |i| {
            let (h, ids) = (h.clone(), ids.clone());
            async move { h.get(&ids[i]).await }
        },
    )
    .await?;

    let addr = server.addr;
    // Close the pooled connections first, so the server's graceful stop has none to wait for.
    drop(client);
    server.stop().await?;

    let mut out = String::new();
    out.push_str(&format!(
        "{} backend, HTTP run, {} (on both sides; the standard run uses powerLoss, whose flushes would hide the HTTP cost)\n\
         {n} ops per workload at concurrency {k} ({k} tasks, distinct items), after {WARMUP} creates and reads per side (not measured); \
         the same document shape (~400 bytes of JSON) on both sides\n\
         library: Collection::create and get_latest on one instance; HTTP: POST /v1/runtime/tenant/bench/{COLLECTION}/items and \
         GET .../items/{{id}} to chronos-server at http://{addr}, over another instance in its own temporary directory\n\
         the server runs in this process on the same tokio runtime as the client (reqwest, HTTP/1.1 keep-alive, up to {k} pooled connections); \
         the HTTP side includes the client's JSON encoding and decoding\n\n",
        backend.describe(),
        backend.durability_note(durability),
    ));
    out.push_str(&table(&[
        &lib_create_stats,
        &http_create_stats,
        &lib_get_stats,
        &http_get_stats,
    ]));
    out.push_str("\nratios (same run):\n");
    out.push_str(&ratio_line(
        "create HTTP ops/s / library ops/s",
        ratio(
            http_create_stats.ops_per_sec(),
            lib_create_stats.ops_per_sec(),
        ),
        Target::AtLeast(TARGET),
    ));
    out.push_str(&ratio_line(
        "get_latest HTTP ops/s / library ops/s",
        ratio(http_get_stats.ops_per_sec(), lib_get_stats.ops_per_sec()),
        Target::AtLeast(TARGET),
    ));
    Ok(out)
}

/// Item `i` created through the library; its id.
async fn lib_create(c: &Collection, i: usize) -> Result<String, Error> {
    let r = c
        .create(doc(i, GROUPS), "bench", "create", CreateOptions::default())
        .await?;
    Ok(r.id)
}

/// The latest version of `id` through the library; an error when it is missing.
async fn lib_get(c: &Collection, id: &str) -> Result<(), Error> {
    match c.get_latest(id, ReadOptions::default()).await? {
        Some(item) if item.id == id => Ok(()),
        Some(item) => Err(format!("get_latest {id}: read item {}", item.id).into()),
        None => Err(format!("get_latest: item {id} is missing").into()),
    }
}

/// The bench's HTTP client: one connection pool to the server, and the items URL of the
/// bench collection.
#[derive(Clone)]
struct HttpClient {
    client: reqwest::Client,
    items: Arc<str>,
}

impl HttpClient {
    fn new(addr: &std::net::SocketAddr, pool: usize) -> Result<Self, Error> {
        let client = reqwest::Client::builder()
            // Loopback only: no proxy from the environment.
            .no_proxy()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(pool)
            .build()?;
        Ok(HttpClient {
            client,
            items: format!("http://{addr}/v1/runtime/tenant/bench/{COLLECTION}/items").into(),
        })
    }

    /// `POST {items}` of item `i`; the id of the created item.
    async fn create(&self, i: usize) -> Result<String, Error> {
        let body = serde_json::to_vec(&json!({
            "data": doc(i, GROUPS),
            "actor": "bench",
            "reason": "create",
        }))?;
        let response = self
            .client
            .post(&*self.items)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await?;
        let answer = expect(response, reqwest::StatusCode::CREATED, "POST items").await?;
        match answer.get("id").and_then(Value::as_str) {
            Some(id) => Ok(id.to_string()),
            None => Err(format!("POST items: 201 without an id: {answer}").into()),
        }
    }

    /// `GET {items}/{id}`; an error unless it answers the item.
    async fn get(&self, id: &str) -> Result<(), Error> {
        let response = self
            .client
            .get(format!("{}/{id}", self.items))
            .send()
            .await?;
        let item = expect(response, reqwest::StatusCode::OK, "GET items/<id>").await?;
        if item.get("_id").and_then(Value::as_str) != Some(id) {
            return Err(format!("GET items/{id}: answered another document: {item}").into());
        }
        Ok(())
    }
}

/// The JSON body of a response with the status `want`; an error with the body otherwise.
async fn expect(
    response: reqwest::Response,
    want: reqwest::StatusCode,
    what: &str,
) -> Result<Value, Error> {
    let status = response.status();
    let body = response.bytes().await?;
    if status != want {
        return Err(format!(
            "{what}: expected {want}, got {status}: {}",
            String::from_utf8_lossy(&body)
        )
        .into());
    }
    Ok(
        serde_json::from_slice(&body)
            .map_err(|e| format!("{what}: the answer is not JSON: {e}"))?,
    )
}

/// chronos-server on a free loopback port, served by a task of the current runtime. Dropped
/// without [`stop`](Self::stop) (a failed run), it still begins its graceful stop: the shutdown
/// signal is the sender's drop.
struct RunningServer {
    addr: std::net::SocketAddr,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), chronos_server::ServerError>>,
}

impl RunningServer {
    async fn start(chronos: Chronos) -> Result<Self, Error> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        // No API keys in the bench configuration: no authentication, loopback only.
        let server = chronos_server::Server::new(chronos, &addr)?;
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(listener, async {
            let _ = stopped.await;
        }));
        Ok(RunningServer {
            addr,
            shutdown,
            task,
        })
    }

    /// Stops the server and waits for it (and for its requests in flight).
    async fn stop(self) -> Result<(), Error> {
        let _ = self.shutdown.send(());
        self.task.await??;
        Ok(())
    }
}
