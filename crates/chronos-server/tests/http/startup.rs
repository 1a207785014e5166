//! Starting and stopping: no open server on a network, and a graceful stop that lets the
//! writes in flight finish.

use crate::support::key;
use serde_json::json;

#[tokio::test]
async fn without_keys_only_loopback_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let open = |dir: &std::path::Path| chronos_db::Chronos::embedded(dir.to_path_buf());
    let everywhere: std::net::SocketAddr = "0.0.0.0:7070".parse().unwrap();
    let err = chronos_server::Server::new(open(dir.path()).await.unwrap(), &everywhere)
        .err()
        .expect("refused");
    assert!(matches!(err, chronos_server::ServerError::Unprotected(_)));
    assert!(err.to_string().contains("without API keys"), "{err}");
    for local in ["127.0.0.1:7070", "[::1]:7070"] {
        let addr: std::net::SocketAddr = local.parse().unwrap();
        let s = chronos_server::Server::new(open(dir.path()).await.unwrap(), &addr).unwrap();
        assert!(!s.auth_enabled());
    }
    let (_, entry) = key("k", &["*:*:*:read"]);
    let mut cfg = chronos_db::config::ChronosConfig::embedded(dir.path());
    cfg.server = Some(chronos_db::config::ServerSettings {
        api_keys: vec![entry],
        ..Default::default()
    });
    let s = chronos_server::Server::new(chronos_db::Chronos::open(cfg).await.unwrap(), &everywhere)
        .expect("with keys any address is accepted");
    assert!(s.auth_enabled());
}

#[tokio::test]
async fn invalid_keys_stop_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = chronos_db::config::ChronosConfig::embedded(dir.path());
    cfg.server = Some(chronos_db::config::ServerSettings {
        api_keys: vec![chronos_db::config::ApiKeyEntry {
            id: "k".into(),
            sha256: "abc".into(),
            scopes: vec!["runtime:tenant:a:own".into()],
        }],
        ..Default::default()
    });
    let err = chronos_db::Chronos::open(cfg)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("$.server.apiKeys[0].sha256"), "{err}");
    assert!(err.contains("$.server.apiKeys[0].scopes[0]"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_graceful_stop_finishes_the_writes_in_flight() {
    // Every write takes 1 s in the payload store, and the stop begins once all of them are
    // in it; a graceful stop answers each and keeps each.
    let (mut s, cfg, puts) =
        crate::limits::slow_server_with_config(std::time::Duration::from_secs(1), 30_000, 64).await;
    let c = "/v1/runtime/tenant/acme/orders";
    let mut writes = Vec::new();
    for i in 0..16 {
        let (client, base) = (s.client.clone(), s.base.clone());
        writes.push(tokio::spawn(async move {
            client
                .post(format!("{base}{c}/items"))
                .header("content-type", "application/json")
                .body(
                    json!({"data": {"i": i}, "actor": "t", "reason": "r", "id": format!("w-{i}")})
                        .to_string(),
                )
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while puts.started.load(std::sync::atomic::Ordering::SeqCst) < 16
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let server = s.begin_stop();
    for w in writes {
        assert_eq!(
            w.await.unwrap().expect("an answer"),
            201,
            "a write in flight was cut off"
        );
    }
    server.await.unwrap().expect("the server stopped cleanly");
    let chronos = chronos_db::Chronos::open(cfg).await.unwrap();
    let orders = chronos
        .with(
            chronos_db::Route::tenant(chronos_db::DatabaseType::Runtime, "acme", "orders").unwrap(),
        )
        .unwrap();
    for i in 0..16 {
        let item = orders
            .get_latest(&format!("w-{i}"), Default::default())
            .await
            .unwrap();
        assert_eq!(item.expect("acknowledged write present").data["i"], i);
    }
}
