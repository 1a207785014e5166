//! A real server on a loopback port, a real HTTP client, and the backends to run them on.

use chronos_db::config::{ApiKeyEntry, ChronosConfig};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::any::Any;
use tokio::sync::oneshot;

/// Which backends a test runs on.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    /// SQLite + local files.
    Embedded,
    /// MongoDB (FerretDB in CI) + S3 (s3s-fs in CI), from `CHRONOS_TEST_*`.
    MongoS3,
}

/// The bucket `scripts/test-servers.sh` creates.
const TEST_BUCKET: &str = "chronos-test";

/// A configuration for `backend` with every database type and tier, or `None` when the
/// backend's servers are not configured (outside CI).
pub fn config(backend: Backend) -> Option<(ChronosConfig, Box<dyn Any + Send + Sync>)> {
    let dir = tempfile::tempdir().expect("tempdir");
    match backend {
        Backend::Embedded => {
            let mut cfg = ChronosConfig::embedded(dir.path());
            cfg.counter_rules = Some(counter_rules());
            cfg.analytics = Some(analytics());
            erasable(&mut cfg);
            Some((cfg, Box::new(dir)))
        }
        Backend::MongoS3 => {
            let [uri, endpoint, access, secret] = crate::common::servers([
                "CHRONOS_TEST_MONGO_URI",
                "CHRONOS_TEST_S3_ENDPOINT",
                "CHRONOS_TEST_S3_ACCESS_KEY",
                "CHRONOS_TEST_S3_SECRET_KEY",
            ])?;
            let region =
                std::env::var("CHRONOS_TEST_S3_REGION").unwrap_or_else(|_| "us-east-1".into());
            let ns = format!("h{}", &chronos_db::names::generate_id()[14..]);
            let entry = |db: String, prefix: String| json!({"dbConnRef": "m", "spaceConnRef": "s", "bucket": TEST_BUCKET, "dbName": db, "prefix": prefix});
            let tiered = |ty: &str| {
                json!({
                    "genericDatabase": entry(format!("{ns}_{ty}_g"), format!("{ns}/{ty}/g")),
                    "domainTemplate": entry(format!("{ns}_{ty}_d_{{domain}}"), format!("{ns}/{ty}/d/{{domain}}")),
                    "tenantTemplate": entry(format!("{ns}_{ty}_t_{{tenantId}}"), format!("{ns}/{ty}/t/{{tenantId}}")),
                })
            };
            let cfg = json!({
                "dbConnections": {"m": {"mongoUri": uri, "timeoutMs": 15000}},
                "spacesConnections": {"s": {"provider": "s3", "endpoint": endpoint, "region": region,
                    "accessKey": access, "secretKey": secret, "forcePathStyle": true, "timeoutMs": 30000}},
                "databases": {
                    "runtime": {"tenantTemplate": entry(format!("{ns}_rt_{{tenantId}}"), format!("{ns}/rt/{{tenantId}}"))},
                    "knowledge": tiered("kn"),
                    "metadata": tiered("md"),
                    "logs": entry(format!("{ns}_logs"), format!("{ns}/logs")),
                }
            });
            let mut cfg = ChronosConfig::from_json_value(cfg).expect("test config");
            cfg.counter_rules = Some(counter_rules());
            cfg.analytics = Some(analytics());
            erasable(&mut cfg);
            Some((cfg, Box::new(dir)))
        }
    }
}

/// Erasure on: a receipt key, and `subjects` with its subject property `email`.
fn erasable(cfg: &mut ChronosConfig) {
    cfg.erasure = Some(chronos_db::config::ErasureSettings {
        receipt_key: "http-test-receipt-key-0123456789abcdef".into(),
    });
    cfg.collection_maps.insert(
        "subjects".into(),
        serde_json::from_value(json!({"indexedProps": ["email"], "subjectProps": ["email"]}))
            .expect("collection map"),
    );
}

/// One counter rule: writes of open items, with their distinct `n` values.
fn counter_rules() -> chronos_db::config::CounterRules {
    serde_json::from_value(json!({"rules": [
        {"name": "open_items", "when": {"status": "open"}, "countUnique": ["n"]}
    ]}))
    .expect("counter rules")
}

/// A running server and a client for it.
pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    /// The bearer key sent by [`TestServer::call`] (when set).
    pub key: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), chronos_server::ServerError>>>,
    _keep: Box<dyn Any + Send + Sync>,
}

/// Starts a server on `cfg` (with `keys` as `server.apiKeys`), on 127.0.0.1 and a free port.
pub async fn start_with(
    mut cfg: ChronosConfig,
    keep: Box<dyn Any + Send + Sync>,
    keys: Vec<ApiKeyEntry>,
    tweak: impl FnOnce(&mut chronos_db::config::ServerSettings),
) -> TestServer {
    let mut settings = cfg.server.take().unwrap_or_default();
    settings.api_keys = keys;
    tweak(&mut settings);
    cfg.server = Some(settings);
    let chronos = chronos_db::Chronos::open(cfg).await.expect("open");
    serve_chronos(chronos, keep).await
}

/// Serves an opened instance (its configuration's `server` section applies).
pub async fn serve_chronos(
    chronos: chronos_db::Chronos,
    keep: Box<dyn Any + Send + Sync>,
) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = chronos_server::Server::new(chronos, &addr).expect("server");
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(listener, async {
        let _ = rx.await;
    }));
    TestServer {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        key: None,
        shutdown: Some(tx),
        task: Some(task),
        _keep: keep,
    }
}

/// A server on `backend` without keys, or `None` when the backend is not available.
pub async fn start(backend: Backend) -> Option<TestServer> {
    let (cfg, keep) = config(backend)?;
    Some(start_with(cfg, keep, vec![], |_| {}).await)
}

/// An answer: status, headers and the body as JSON (`Value::Null` when empty or not JSON,
/// with the text kept).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Answer {
    /// Asserts the status, naming the request in the failure.
    pub fn expect(self, status: u16, what: &str) -> Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{what}: expected {status}, got {} {}",
            self.status,
            self.text
        );
        self
    }

    /// Asserts a problem document with this status and code.
    pub fn problem(self, status: u16, code: &str, what: &str) -> Self {
        let a = self.expect(status, what);
        assert_eq!(
            a.headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "{what}: {}",
            a.text
        );
        assert_eq!(a.json["code"], code, "{what}: {}", a.text);
        assert_eq!(a.json["status"], status, "{what}: {}", a.text);
        a
    }
}

impl TestServer {
    /// Sends a request (with [`TestServer::key`] when set); `body` is sent as JSON when given.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.with_key(self.key.as_deref())
            .call(method, path, body)
            .await
    }

    /// Sends a request with a raw body and content type.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Answer {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(key) = &self.key {
            req = req.bearer_auth(key);
        }
        answer(req.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Answer {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.call(Method::DELETE, path, None).await
    }

    /// The same server with another key.
    pub fn with_key(&self, key: Option<&str>) -> ClientView<'_> {
        ClientView {
            server: self,
            key: key.map(String::from),
        }
    }

    /// Stops the server (graceful) and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server");
        }
    }

    /// Asks the server to stop without waiting.
    pub fn begin_stop(
        &mut self,
    ) -> tokio::task::JoinHandle<Result<(), chronos_server::ServerError>> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.take().expect("running")
    }
}

/// A server seen with a particular key.
pub struct ClientView<'a> {
    server: &'a TestServer,
    key: Option<String>,
}

impl ClientView<'_> {
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut req = self
            .server
            .client
            .request(method, format!("{}{path}", self.server.base));
        if let Some(key) = &self.key {
            req = req.bearer_auth(key);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        answer(req.send().await.expect("request")).await
    }
}

async fn answer(r: reqwest::Response) -> Answer {
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        text,
        json,
    }
}

/// A key entry for `scopes`, and the key.
pub fn key(id: &str, scopes: &[&str]) -> (String, ApiKeyEntry) {
    let (key, sha256) = chronos_db::access::new_key();
    (
        key,
        ApiKeyEntry {
            id: id.into(),
            sha256,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        },
    )
}

/// A time-based rule over tenant acme's orders, and a cross-tenant rule acme is master of.
fn analytics() -> chronos_db::config::Analytics {
    serde_json::from_value(json!({
        "tenants": ["acme"],
        "timeBasedRules": [{"name": "open_orders", "collection": "orders", "query": {"status": "open"},
                            "operation": "count", "timeframe": "daily"}],
        "crossTenantRules": [{"name": "tenants_with_orders", "collection": "orders", "mode": "boolean",
                              "masterTenantId": "acme", "slaveTenantIds": ["acme", "other"]}],
    }))
    .expect("analytics rules")
}
