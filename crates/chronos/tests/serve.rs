//! `chronos serve` and `chronos keys new` as a user runs them: a real process, a real socket.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

fn chronos() -> Command {
    Command::new(env!("CARGO_BIN_EXE_chronos"))
}

/// One HTTP/1.1 request; the status and the body.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(k) = key {
        req.push_str(&format!("Authorization: Bearer {k}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).expect("send");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Starts `chronos serve` and returns it with the address it printed.
fn serve(args: &[&str]) -> (Child, String) {
    serve_logging_to(args, Stdio::null())
}

/// [`serve`] with its log (stderr) sent to `log`.
fn serve_logging_to(args: &[&str], log: Stdio) -> (Child, String) {
    let mut child = chronos()
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the start line");
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    (child, addr)
}

/// `chronos keys new` for one scope: its JSON answer.
fn new_key(scope: &str, id: &str) -> Value {
    let out = chronos()
        .args(["keys", "new", "--scope", scope, "--id", id])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A configuration file: the embedded default under `dir/data` with these `server.apiKeys`.
fn config_with_keys(dir: &std::path::Path, entries: &[&Value]) -> std::path::PathBuf {
    let mut cfg = serde_json::to_value(chronos_db::config::ChronosConfig::embedded(
        dir.join("data"),
    ))
    .unwrap();
    cfg["server"] = serde_json::json!({ "apiKeys": entries });
    let file = dir.join("chronos.json");
    std::fs::write(&file, cfg.to_string()).unwrap();
    file
}

#[test]
fn keys_new_then_serve_with_that_key() {
    let dir = tempfile::tempdir().unwrap();
    let made = new_key("runtime:tenant:tenant-a:write", "orders-svc");
    let key = made["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("chr_"));
    assert_eq!(made["apiKeysEntry"]["id"], "orders-svc");
    assert_eq!(
        made["apiKeysEntry"]["scopes"],
        serde_json::json!(["runtime:tenant:tenant-a:write"])
    );
    assert!(
        !made["apiKeysEntry"].to_string().contains(&key),
        "the entry keeps only the digest"
    );
    let file = config_with_keys(dir.path(), &[&made["apiKeysEntry"]]);

    let (mut child, addr) = serve(&[
        "--config",
        file.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    let body = r#"{"data": {"n": 1}, "actor": "t", "reason": "r", "id": "x"}"#;
    let (status, _) = http(
        &addr,
        "POST",
        "/v1/runtime/tenant/tenant-a/orders/items",
        None,
        Some(body),
    );
    assert_eq!(status, 401, "no key");
    let (status, text) = http(
        &addr,
        "POST",
        "/v1/runtime/tenant/tenant-a/orders/items",
        Some(&key),
        Some(body),
    );
    assert_eq!(status, 201, "{text}");
    let (status, text) = http(
        &addr,
        "GET",
        "/v1/runtime/tenant/tenant-a/orders/items/x",
        Some(&key),
        None,
    );
    assert_eq!(status, 200, "{text}");
    let (status, _) = http(
        &addr,
        "GET",
        "/v1/runtime/tenant/tenant-b/orders/items/x",
        Some(&key),
        None,
    );
    assert_eq!(status, 404, "another tenant");

    // SIGTERM: a graceful stop, exit 0.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn serve_without_keys_refuses_a_public_address() {
    let dir = tempfile::tempdir().unwrap();
    let out = chronos()
        .args([
            "--data-dir",
            dir.path().to_str().unwrap(),
            "serve",
            "--listen",
            "0.0.0.0:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("without API keys") && err.contains("chronos keys new"),
        "{err}"
    );
}

#[test]
fn keys_new_checks_its_scopes() {
    for bad in [
        "runtime:tenant:a",
        "runtime:tenant:a:own",
        "knowledge:generic:x:read",
    ] {
        let out = chronos()
            .args(["keys", "new", "--scope", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("databaseType:tier:scopeId:permission")
        );
    }
    let out = chronos().args(["keys", "new"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "a key needs a scope");
}

#[test]
fn serve_answers_on_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = serve(&[
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    let (status, text) = http(&addr, "GET", "/healthz", None, None);
    assert_eq!((status, text.as_str()), (200, r#"{"status":"ok"}"#));
    let (status, text) = http(&addr, "GET", "/readyz", None, None);
    assert_eq!(status, 200, "{text}");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn config_check_reports_bad_api_keys_with_their_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg =
        serde_json::to_value(chronos_db::config::ChronosConfig::embedded(dir.path())).unwrap();
    cfg["server"] = serde_json::json!({"apiKeys": [{"id": "k", "sha256": "abc", "scopes": ["runtime:tenant:a:own"]}]});
    let file = dir.path().join("c.json");
    std::fs::write(&file, cfg.to_string()).unwrap();
    let out = chronos()
        .args(["config", "check", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("$.server.apiKeys[0].sha256") && err.contains("$.server.apiKeys[0].scopes[0]"),
        "{err}"
    );
}

/// The request log has the route template, status and key id, never the key, the body, the
/// query string or the concrete path (which names tenants and items).
#[test]
fn request_logs_keep_keys_bodies_and_names_out() {
    let dir = tempfile::tempdir().unwrap();
    let made = new_key("runtime:tenant:tenant-secret:write", "log-test");
    let key = made["key"].as_str().unwrap().to_string();
    let file = config_with_keys(dir.path(), &[&made["apiKeysEntry"]]);
    let log = dir.path().join("stderr.log");
    let (mut child, addr) = serve_logging_to(
        &[
            "--config",
            file.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        Stdio::from(std::fs::File::create(&log).unwrap()),
    );
    let body = r#"{"data": {"note": "BODY-MARKER-42"}, "actor": "t", "reason": "r", "id": "item-marker-7"}"#;
    let (status, _) = http(
        &addr,
        "POST",
        "/v1/runtime/tenant/tenant-secret/orders/items",
        Some(&key),
        Some(body),
    );
    assert_eq!(status, 201);
    let (status, _) = http(
        &addr,
        "GET",
        "/v1/runtime/tenant/tenant-secret/orders/items/item-marker-7?fields=note",
        Some(&key),
        None,
    );
    assert_eq!(status, 200);
    let (status, _) = http(
        &addr,
        "GET",
        "/v1/runtime/tenant/tenant-secret/orders/items/x",
        Some("chr_wrong-key-marker"),
        None,
    );
    assert_eq!(status, 401);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("route=/v1/{databaseType}/tenant/{tenantId}/{collection}/items"),
        "{text}"
    );
    assert!(
        text.contains("status=201") && text.contains("log-test"),
        "{text}"
    );
    for secret in [
        key.as_str(),
        "chr_wrong-key-marker",
        "BODY-MARKER-42",
        "tenant-secret",
        "item-marker-7",
        "fields=note",
    ] {
        assert!(!text.contains(secret), "the log shows {secret}:\n{text}");
    }
}
