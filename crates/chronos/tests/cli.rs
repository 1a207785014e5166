//! End-to-end tests of the `chronos` binary on the embedded default in a temporary directory.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs the binary with `--data-dir dir` and the given arguments.
fn chronos(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chronos"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .env_remove("RUST_LOG")
        .output()
        .expect("the chronos binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a command that must succeed and print JSON.
fn json(dir: &Path, args: &[&str]) -> Value {
    let o = chronos(dir, args);
    assert!(
        o.status.success(),
        "chronos {args:?} failed: {}",
        stderr(&o)
    );
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("chronos {args:?} printed no JSON ({e})"))
}

const ROUTE: [&str; 4] = ["--tenant", "tenant-a", "--collection", "users"];

/// `args` followed by the route to `collection` of tenant-a.
fn in_tenant_a<'a>(collection: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend_from_slice(&["--tenant", "tenant-a", "-c", collection]);
    v
}

fn with_route<'a>(cmd: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![cmd];
    v.extend_from_slice(&ROUTE);
    v.extend_from_slice(rest);
    v
}

#[test]
fn item_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let created = json(
        d,
        &with_route(
            "create",
            &[
                "--data",
                r#"{"name":"Ada","plan":"free"}"#,
                "--actor",
                "test",
            ],
        ),
    );
    assert_eq!(created["ov"], 0);
    let id = created["id"].as_str().expect("an id").to_string();

    let item = json(d, &with_route("get", &[&id]));
    assert_eq!(item["_id"], id.as_str());
    assert_eq!(item["name"], "Ada");
    assert_eq!(item["_system"]["ov"], 0);

    let updated = json(
        d,
        &with_route(
            "update",
            &[
                &id,
                "--expected-ov",
                "0",
                "--data",
                r#"{"name":"Ada","plan":"pro"}"#,
            ],
        ),
    );
    assert_eq!(updated["ov"], 1);

    let stale = chronos(
        d,
        &with_route(
            "update",
            &[&id, "--expected-ov", "0", "--data", r#"{"plan":"x"}"#],
        ),
    );
    assert_eq!(stale.status.code(), Some(1));
    let err = stderr(&stale);
    assert!(err.starts_with("error: CONFLICT: "), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(stale.stdout.is_empty());

    let history = json(d, &with_route("history", &[&id]));
    let ops: Vec<&str> = history["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["op"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["UPDATE", "CREATE"]);

    let old = json(d, &with_route("get", &[&id, "--ov", "0"]));
    assert_eq!(old["plan"], "free");

    json(
        d,
        &with_route("create", &["--data", r#"{"name":"Grace","plan":"free"}"#]),
    );
    let page = json(d, &with_route("query", &["--filter", r#"{"plan":"pro"}"#]));
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(items[0]["_id"], id.as_str());
    assert_eq!(items[0]["plan"], "pro");
    assert!(page["next"].is_null());
}

#[test]
fn diff_between_versions() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let created = json(
        d,
        &with_route("create", &["--data", r#"{"name":"Ada","tags":["a","b"]}"#]),
    );
    let id = created["id"].as_str().expect("an id").to_string();
    for (ov, data) in [
        ("0", r#"{"name":"Ada L.","tags":["a"]}"#),
        ("1", r#"{"name":"Ada L.","tags":["a"],"vip":true}"#),
    ] {
        json(
            d,
            &with_route("update", &[&id, "--expected-ov", ov, "--data", data]),
        );
    }
    let diff = json(d, &with_route("diff", &[&id, "--from", "0", "--to", "2"]));
    assert_eq!(diff["from"]["ov"], 0);
    assert_eq!(diff["to"]["ov"], 2);
    assert_eq!(diff["summary"]["changed"], serde_json::json!(["/name"]));
    assert_eq!(diff["summary"]["removed"], serde_json::json!(["/tags/1"]));
    assert_eq!(diff["summary"]["added"], serde_json::json!(["/vip"]));
    assert_eq!(
        diff["patch"][0],
        serde_json::json!({"op": "replace", "path": "/name", "value": "Ada L."})
    );
    // --to defaults to the latest version; a time names the version current then.
    let latest = json(d, &with_route("diff", &[&id, "--from", "1"]));
    assert_eq!(latest["to"]["ov"], 2);
    assert_eq!(
        latest["patch"],
        serde_json::json!([{"op": "add", "path": "/vip", "value": true}])
    );
    let at = latest["from"]["at"].as_str().unwrap().to_string();
    let by_time = json(
        d,
        &with_route("diff", &[&id, "--from", &at, "--to", "latest"]),
    );
    assert_eq!(by_time["from"]["ov"], 1);

    let bad = chronos(d, &with_route("diff", &[&id, "--from", "v1"]));
    assert_eq!(bad.status.code(), Some(2), "a usage error");
    assert!(
        stderr(&bad).contains("names no version"),
        "{}",
        stderr(&bad)
    );
    let missing = chronos(d, &with_route("diff", &[&id, "--from", "0", "--to", "7"]));
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).starts_with("error: NOT_FOUND: "),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn versions_by_actor_pages() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (n, actor) in [(1, "alice"), (2, "bob"), (3, "alice"), (4, "alice")] {
        let data = format!(r#"{{"n":{n}}}"#);
        json(
            d,
            &with_route("create", &["--data", &data, "--actor", actor]),
        );
    }
    let first = json(
        d,
        &with_route("versions-by-actor", &["alice", "--limit", "2"]),
    );
    let ns = |page: &Value| -> Vec<u64> {
        page["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["cv"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(ns(&first), [4, 3]);
    let cursor = first["nextCursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    let rest = json(
        d,
        &with_route("versions-by-actor", &["alice", "--cursor", &cursor]),
    );
    assert_eq!(ns(&rest), [1]);
    assert!(rest["nextCursor"].is_null());
    let bad = chronos(
        d,
        &with_route("versions-by-actor", &["bob", "--cursor", &cursor]),
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).starts_with("error: VALIDATION_ERROR: "),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn blame_and_field_history() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let created = json(
        d,
        &with_route(
            "create",
            &[
                "--data",
                r#"{"name":"Ada","plan":"free"}"#,
                "--actor",
                "signup",
            ],
        ),
    );
    let id = created["id"].as_str().expect("an id").to_string();
    json(
        d,
        &with_route(
            "update",
            &[
                &id,
                "--expected-ov",
                "0",
                "--data",
                r#"{"name":"Ada","plan":"pro"}"#,
                "--actor",
                "billing",
            ],
        ),
    );
    let blame = json(d, &with_route("blame", &[&id]));
    assert_eq!(blame["lines"][1]["path"], "/plan");
    assert_eq!(blame["lines"][1]["actor"], "billing");
    assert_eq!(blame["lines"][0]["ov"], 0);
    let old = json(d, &with_route("blame", &[&id, "--at", "0"]));
    assert_eq!(old["lines"][1]["value"], "free");
    let history = json(d, &with_route("field-history", &[&id, "plan"]));
    assert_eq!(history["path"], "/plan");
    let values: Vec<&str> = history["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["pro", "free"]);
    let bad = chronos(d, &with_route("field-history", &[&id, "a..b"]));
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).starts_with("error: VALIDATION_ERROR: "),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn change_feed_pages_and_follows() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let created = json(d, &with_route("create", &["--data", r#"{"n":1}"#]));
    let id = created["id"].as_str().expect("an id").to_string();
    json(
        d,
        &with_route(
            "update",
            &[&id, "--expected-ov", "0", "--data", r#"{"n":2}"#],
        ),
    );
    let page = json(d, &with_route("changes", &["--include", "after"]));
    let ops: Vec<&str> = page["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["op"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["CREATE", "UPDATE"]);
    assert_eq!(page["changes"][1]["after"]["n"], 2);
    let since = page["nextSinceCv"].as_u64().expect("a position");
    let only = json(d, &with_route("changes", &["--ops", "update"]));
    assert_eq!(only["changes"].as_array().map(Vec::len), Some(1));
    let bad = chronos(d, &with_route("changes", &["--ops", "TOUCH"]));
    assert_eq!(bad.status.code(), Some(2));

    // --follow prints each later change as one JSON line.
    let mut follower = Command::new(env!("CARGO_BIN_EXE_chronos"))
        .arg("--data-dir")
        .arg(d)
        .args(with_route(
            "changes",
            &[
                "--follow",
                "--poll-ms",
                "20",
                "--since-cv",
                &since.to_string(),
            ],
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the follower starts");
    let stdout = follower.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    json(
        d,
        &with_route(
            "update",
            &[&id, "--expected-ov", "1", "--data", r#"{"n":3}"#],
        ),
    );
    json(d, &with_route("delete", &[&id, "--expected-ov", "2"]));
    let mut lines = Vec::new();
    while lines.len() < 2 {
        match rx.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(line) => lines.push(serde_json::from_str::<Value>(&line).expect("a JSON line")),
            Err(e) => panic!("the follower printed {} lines: {e}", lines.len()),
        }
    }
    let _ = follower.kill();
    let _ = follower.wait();
    let seen: Vec<(u64, &str)> = lines
        .iter()
        .map(|c| (c["ov"].as_u64().unwrap(), c["op"].as_str().unwrap()))
        .collect();
    assert_eq!(seen, [(2, "UPDATE"), (3, "DELETE")]);
}

#[test]
fn missing_item_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = chronos(dir.path(), &with_route("get", &["nope"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("error: NOT_FOUND: "),
        "{}",
        stderr(&o)
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let o = chronos(
        dir.path(),
        &with_route(
            "get",
            &["x", "--ov", "1", "--as-of", "2024-01-01T00:00:00Z"],
        ),
    );
    assert_eq!(o.status.code(), Some(2));
    let o = chronos(
        dir.path(),
        &["get", "--db", "bogus", "--collection", "users", "x"],
    );
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn config_schema_is_json() {
    let dir = tempfile::tempdir().unwrap();
    let schema = json(dir.path(), &["config", "schema"]);
    assert!(schema.to_string().contains("dbConnections"));
}

#[test]
fn config_check_reports_the_json_path() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"logicalDelete": {"enabled": "yes"}}"#).unwrap();
    let o = chronos(dir.path(), &["config", "check", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.starts_with("error: CONFIG_ERROR: "), "{err}");
    assert!(err.contains("$.logicalDelete.enabled"), "{err}");

    let good = dir.path().join("good.json");
    let config =
        serde_json::json!({"dbConnections": {"m": {"sqliteDir": dir.path().join("meta")}}});
    std::fs::write(&good, config.to_string()).unwrap();
    let o = chronos(dir.path(), &["config", "check", good.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "config OK");

    // A meta-scope counter rule naming a property a collection does not index is valid, but
    // blind there: a warning says so.
    let blind = dir.path().join("blind.json");
    let config = serde_json::json!({
        "dbConnections": {"m": {"sqliteDir": dir.path().join("meta")}},
        "collectionMaps": {"orders": {"indexedProps": ["status", "customer"]}},
        "counterRules": {"rules": [
            {"name": "big", "when": {"total": {"$gt": 100}, "status": "paid"}, "countUnique": ["customer.id"]},
            {"name": "seen", "scope": "payload", "when": {"total": {"$gt": 100}}}
        ]}
    });
    std::fs::write(&blind, config.to_string()).unwrap();
    let o = chronos(dir.path(), &["config", "check", blind.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("warning: $.counterRules.rules[0]: counter rule 'big' (scope meta) names 'total' that collection 'orders' does not index"),
        "{err}"
    );
    assert!(
        !err.contains("'seen'") && !err.contains("'customer.id'"),
        "{err}"
    );
}

#[test]
fn demo_passes() {
    let dir = tempfile::tempdir().unwrap();
    let o = chronos(dir.path(), &["demo"]);
    assert!(
        o.status.success(),
        "demo failed: {}\n{}",
        stderr(&o),
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("Demo complete"));
}

/// `chronos fetch`: the most specific tier, or the tiers merged with --merge.
#[test]
fn fetch_across_tiers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let create = |extra: &[&str], data: &str| {
        let mut args = vec!["create", "--db", "knowledge", "-c", "app"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--data", data, "--actor", "ops", "--reason", "seed"]);
        json(d, &args);
    };
    create(&[], r#"{"key":"flags","theme":"light","f":["a"]}"#);
    create(
        &["--tier", "tenant", "--tenant", "acme"],
        r#"{"key":"flags","theme":"dark","f":["b"]}"#,
    );
    let fetch = |extra: &[&str]| {
        let mut args = vec!["fetch", "-c", "app", "--filter", r#"{"key":"flags"}"#];
        args.extend_from_slice(extra);
        json(d, &args)
    };
    let first = fetch(&["--tenant", "acme"]);
    assert_eq!(first["tiersFound"], serde_json::json!(["tenant"]));
    assert_eq!(first["data"]["theme"], "dark");
    let merged = fetch(&["--tenant", "acme", "--merge"]);
    assert_eq!(merged["data"]["f"], serde_json::json!(["a", "b"]));
    let other = fetch(&["--tenant", "globex"]);
    assert_eq!(other["data"]["theme"], "light");
}

/// `chronos create --entities`: embedded objects saved as entities, once per key.
#[test]
fn create_with_entities() {
    let dir = tempfile::tempdir().unwrap();
    let mappings =
        r#"[{"property":"customer","collection":"customers","keyProperty":"customerId"}]"#;
    let order = r#"{"o":1,"customer":{"customerId":"C-1","name":"Ada"}}"#;
    let run = || {
        json(
            dir.path(),
            &with_route(
                "create",
                &[
                    "--data",
                    order,
                    "--entities",
                    mappings,
                    "--actor",
                    "a",
                    "--reason",
                    "r",
                ],
            ),
        )
    };
    assert_eq!(run()["entityResults"][0]["operation"], "created");
    assert_eq!(run()["entityResults"][0]["operation"], "unchanged");
    let customer = json(
        dir.path(),
        &[
            "get",
            "--tenant",
            "tenant-a",
            "--collection",
            "customers",
            "C-1",
        ],
    );
    assert_eq!(customer["name"], "Ada");
}

/// Writes `text` as a configuration file and runs `chronos config check` on it with `extra`
/// arguments and environment.
fn check_config(dir: &Path, text: &str, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let file = dir.join("config.json");
    std::fs::write(&file, text).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chronos"));
    cmd.args(["config", "check"])
        .arg(&file)
        .args(extra)
        .stdin(Stdio::null())
        .env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the chronos binary runs")
}

#[test]
fn config_check_refuses_arrays_and_duplicate_keys() {
    let dir = tempfile::tempdir().unwrap();
    for text in ["[]", r#"[{"dbConnections": {}}]"#] {
        let o = check_config(dir.path(), text, &[], &[]);
        assert_eq!(o.status.code(), Some(1), "{text}");
        let err = stderr(&o);
        assert!(
            err.contains(
                "CONFIG_ERROR: invalid config: $: the configuration must be a JSON object"
            ),
            "{err}"
        );
    }
    let o = check_config(
        dir.path(),
        r#"{"logicalDelete": {"enabled": true, "enabled": false}}"#,
        &[],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("$.logicalDelete.enabled: the key is given twice"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn entity_mappings_must_be_objects() {
    let dir = tempfile::tempdir().unwrap();
    let o = chronos(
        dir.path(),
        &with_route(
            "create",
            &[
                "--data",
                r#"{"customer":{"customerId":"C-1"}}"#,
                "--entities",
                r#"[["customer","customers","customerId"]]"#,
            ],
        ),
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with("error: VALIDATION_ERROR: --entities"),
        "{err}"
    );
    assert!(err.contains("expected an entity mapping object"), "{err}");
}

/// Runs the binary with exactly these arguments and extra environment.
fn run_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chronos"));
    cmd.args(args).stdin(Stdio::null()).env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the chronos binary runs")
}

/// A port on 127.0.0.1 with nothing listening.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    port
}

/// Neither stdout nor stderr of any run mentions the secret, at any log level.
fn never_shows(secret: &str, config: &Value, dir: &Path) -> Vec<Output> {
    let file = dir.join("secret-config.json");
    std::fs::write(&file, config.to_string()).unwrap();
    let file = file.to_str().unwrap();
    let mut outputs = Vec::new();
    for level in ["", "trace"] {
        let env: &[(&str, &str)] = if level.is_empty() {
            &[]
        } else {
            &[("RUST_LOG", level)]
        };
        for args in [
            vec!["config", "check", file],
            vec!["config", "check", file, "--connect"],
            vec!["--config", file, "admin", "buckets"],
            vec!["--config", file, "admin", "buckets", "--create"],
        ] {
            let o = run_with_env(&args, env);
            for (name, text) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
                let text = String::from_utf8_lossy(text);
                assert!(
                    !text.contains(secret),
                    "chronos {args:?} (RUST_LOG={level}) printed the secret on {name}:\n{text}"
                );
            }
            outputs.push(o);
        }
    }
    outputs
}

fn secret_config(space: Value, db: Value) -> Value {
    serde_json::json!({
        "dbConnections": {"m": db},
        "spacesConnections": {"s3": space},
        "databases": {"runtime": {"tenantDatabases": [
            {"tenantId": "t1", "dbConnRef": "m", "spaceConnRef": "s3", "bucket": "chronos-t1", "dbName": "rt_t1"}]}}
    })
}

#[test]
fn a_credential_in_an_endpoint_is_refused_and_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let config = secret_config(
        serde_json::json!({"provider": "s3", "endpoint": "http://user:SUPERSECRET@127.0.0.1:9",
                           "region": "us-east-1", "timeoutMs": 2000, "maxRetries": 0}),
        serde_json::json!({"sqliteDir": dir.path().join("meta")}),
    );
    for o in never_shows("SUPERSECRET", &config, dir.path()) {
        assert_eq!(o.status.code(), Some(1));
        let err = stderr(&o);
        assert!(
            err.contains("$.spacesConnections.s3.endpoint: must not contain credentials"),
            "{err}"
        );
    }
}

#[test]
fn keys_and_passwords_of_unreachable_backends_are_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let config = secret_config(
        serde_json::json!({"provider": "s3", "endpoint": format!("http://127.0.0.1:{}", closed_port()),
                           "region": "us-east-1", "accessKey": "AKIDSUPERSECRET0",
                           "secretKey": "SUPERSECRET-key", "timeoutMs": 2000, "maxRetries": 0}),
        serde_json::json!({"mongoUri": format!("mongodb://chronos:SUPERSECRET-pw@127.0.0.1:{}/?directConnection=true", closed_port()),
                           "timeoutMs": 1000}),
    );
    let outputs = never_shows("SUPERSECRET", &config, dir.path());
    // The connection checks ran and failed (so their messages were printed).
    let connect = &outputs[1];
    assert_eq!(connect.status.code(), Some(1), "{}", stderr(connect));
    let checks: Value = serde_json::from_slice(&connect.stdout).unwrap();
    assert!(
        checks
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["ok"] == false && !c["message"].as_str().unwrap().is_empty()),
        "{checks}"
    );
    let traced = &outputs[5];
    assert!(
        stderr(traced).contains("TRACE") || stderr(traced).contains("DEBUG"),
        "trace logging was on: {}",
        stderr(traced)
    );
}

#[test]
fn a_secret_of_the_wrong_type_is_not_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let o = check_config(
        dir.path(),
        r#"{"spacesConnections": {"s3": {"provider": "s3", "accessKey": "ak", "secretKey": 12345678}}}"#,
        &[],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("$.spacesConnections.s3.secretKey: must be a string (value not shown)"),
        "{err}"
    );
    assert!(!err.contains("12345678"), "{err}");
}

#[test]
fn a_filesystem_root_or_system_directory_is_not_a_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    for (config, path) in [
        (
            serde_json::json!({"dbConnections": {"m": {"sqliteDir": "/"}}}),
            "$.dbConnections.m.sqliteDir: '/' is the filesystem root",
        ),
        (
            serde_json::json!({"spacesConnections": {"l": {"provider": "local", "basePath": "/tmp/../etc"}}}),
            "$.spacesConnections.l.basePath: '/tmp/../etc' is a system directory (/etc)",
        ),
        (
            serde_json::json!({"localStorage": {"enabled": true, "basePath": "/"}}),
            "$.localStorage.basePath: '/' is the filesystem root",
        ),
    ] {
        let o = check_config(dir.path(), &config.to_string(), &[], &[]);
        assert_eq!(o.status.code(), Some(1), "{config}");
        assert!(stderr(&o).contains(path), "{}", stderr(&o));
    }
}

#[test]
fn a_tenant_id_too_long_for_the_default_template_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = "t".repeat(60);
    let o = chronos(
        dir.path(),
        &[
            "create",
            "--tenant",
            &tenant,
            "--collection",
            "users",
            "--data",
            "{}",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "tenant id '{tenant}' (60 chars) makes the database name 'runtime_tenant_"
        )),
        "{err}"
    );
    assert!(err.contains("longer than 63 characters"), "{err}");
}

#[test]
fn gcs_takes_the_service_account_key_alone() {
    let dir = tempfile::tempdir().unwrap();
    let key = serde_json::json!({"type": "service_account", "client_email": "x@y.iam.gserviceaccount.com",
                                 "private_key": "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n"});
    let config = serde_json::json!({"spacesConnections": {"g": {"provider": "gcs", "secretKey": key.to_string()}}});
    let o = check_config(dir.path(), &config.to_string(), &[], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let config = serde_json::json!({"spacesConnections": {"g": {"provider": "gcs", "accessKey": "a", "secretKey": key.to_string()}}});
    let o = check_config(dir.path(), &config.to_string(), &[], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("$.spacesConnections.g.accessKey: is not used by provider 'gcs'"),
        "{}",
        stderr(&o)
    );
}

/// `chronos bench` at tiny, odd sizes: every run completes and prints its ratio lines. No
/// timing is asserted (figures depend on the machine; this is a debug build).
#[test]
fn bench_runs_at_tiny_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["bench", "--quick"];
        all.extend_from_slice(args);
        let o = chronos(dir.path(), &all);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "chronos {all:?} failed: {}\n{out}",
            stderr(&o)
        );
        out
    };

    // 73 items: fewer than 100 groups' worth; every page must still be what the data holds.
    let standard = run(&[
        "--ops",
        "3",
        "--deep-versions",
        "3",
        "--list-items",
        "73",
        "--restore-items",
        "3",
    ]);
    for line in [
        "over distinct items) in 1 round, get_latest and the list pages in 1 round,",
        "create ops/s / raw floor ops/s",
        "update ops/s / raw floor ops/s",
        "enrich ops/s / raw floor ops/s",
        "get_as_of p50 / get_latest p50",
        "list_by_meta indexed eq page p50 / get_latest p50",
        "list_by_meta range+sort page p50 / get_latest p50",
        "list_by_meta_json indexed eq page p50 / get_latest p50",
        "list_by_meta_json range+sort page p50 / get_latest p50",
        "restore_collection per item / update per item (sequential)",
    ] {
        assert!(standard.contains(line), "no '{line}' in:\n{standard}");
    }

    let scale_and_memory = run(&[
        "--ops",
        "3",
        "--scale",
        "--scale-sizes",
        "60,120",
        "--memory",
        "--memory-items",
        "130",
        "--memory-restore-items",
        "7",
    ]);
    for line in [
        "durability processCrash",
        "create: p50 at largest / p50 at smallest",
        "get_latest: p50 at largest / p50 at smallest",
        "get_as_of: p50 at largest / p50 at smallest",
        "list eq (50): p50 at largest / p50 at smallest",
        "list range+sort (50): p50 at largest / p50 at smallest",
        "json eq (50): p50 at largest / p50 at smallest",
        "json range+sort (50): p50 at largest / p50 at smallest",
        "restore_collection: peak resident MiB",
        "list_by_meta paging: peak resident MiB",
    ] {
        assert!(
            scale_and_memory.contains(line),
            "no '{line}' in:\n{scale_and_memory}"
        );
    }
}

/// `chronos bench --http --quick`: library and HTTP side by side (the server in the bench's
/// process), both ratio lines printed. No timing is asserted (this is a debug build).
#[test]
fn bench_http_quick_prints_both_ratios() {
    let dir = tempfile::tempdir().unwrap();
    let o = chronos(dir.path(), &["bench", "--http", "--quick"]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "failed: {}\n{out}", stderr(&o));
    for line in [
        "HTTP run, durability processCrash",
        "create (library, concurrency 32)",
        "create (HTTP POST, concurrency 32)",
        "get_latest (library, concurrency 32)",
        "get_latest (HTTP GET, concurrency 32)",
        "create HTTP ops/s / library ops/s",
        "get_latest HTTP ops/s / library ops/s",
    ] {
        assert!(out.contains(line), "no '{line}' in:\n{out}");
    }
    assert_eq!(out.matches("(target >= 0.7: ").count(), 2, "{out}");
    // The run's temporary directories are gone.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("chronos-bench-")
        })
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Every bench size is bounded by clap: out-of-range or inconsistent sizes are usage errors.
#[test]
fn bench_sizes_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["bench", "--list-items", "49"][..],
        &["bench", "--ops", "0"],
        &["bench", "--restore-items", "0"],
        &["bench", "--scale", "--scale-sizes", "120,60"],
        &["bench", "--scale", "--scale-sizes", "60"],
        &["bench", "--scale", "--scale-sizes", "10,120"],
        &["bench", "--scale", "--scale-sizes", "60,x"],
        &["bench", "--scale-sizes", "60,120"],
        &["bench", "--memory", "--memory-items", "0"],
        &["bench", "--memory-restore-items", "5"],
        &["bench", "--scale", "--list-items", "100"],
        &["bench", "--backend", "sqlite"],
        &["bench", "--http", "--backend", "mongo-s3"],
        &["bench", "--http", "--backend", "mongo-azure"],
        &["bench", "--http", "--scale"],
        &["bench", "--http", "--memory"],
        &["bench", "--http", "--list-items", "100"],
    ] {
        let o = chronos(dir.path(), args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
    let help = chronos(dir.path(), &["bench", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--backend",
        "--quick",
        "--ops",
        "--deep-versions",
        "--list-items",
        "--restore-items",
        "--scale",
        "--scale-sizes",
        "--memory",
        "--memory-items",
        "--memory-restore-items",
        "--http",
    ] {
        assert!(help.contains(flag), "--help does not document {flag}");
    }
}

/// `chronos counters`: totals in the chronos-db v2 shape, distinct values in pages, a reset; a
/// configuration without counter rules gets a clear error.
#[test]
fn counters_totals_uniques_and_reset() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut cfg =
        serde_json::to_value(chronos_db::config::ChronosConfig::embedded(d.join("data"))).unwrap();
    cfg["counterRules"] = serde_json::json!({"rules": [
        {"name": "user_logins", "on": ["CREATE"], "when": {"action": "login"}, "countUnique": ["sessionId"]}
    ]});
    let cfg_path = d.join("chronos.json");
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let cfg_arg = cfg_path.to_str().unwrap();
    let run = |args: &[&str]| -> Output {
        Command::new(env!("CARGO_BIN_EXE_chronos"))
            .arg("--config")
            .arg(cfg_arg)
            .args(args)
            .stdin(Stdio::null())
            .env_remove("RUST_LOG")
            .output()
            .expect("the chronos binary runs")
    };
    let ok = |args: &[&str]| -> Value {
        let o = run(args);
        assert!(
            o.status.success(),
            "chronos {args:?} failed: {}",
            stderr(&o)
        );
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let route = ["--tenant", "tenant-a", "-c", "events"];
    for s in ["s1", "s2", "s1", "s3"] {
        let data = format!(r#"{{"action":"login","sessionId":"{s}"}}"#);
        let mut args = vec!["create"];
        args.extend_from_slice(&route);
        args.extend_from_slice(&["--data", &data]);
        ok(&args);
    }
    let mut totals = vec!["counters", "totals"];
    totals.extend_from_slice(&route);
    let bare = ok(&totals);
    assert_eq!(bare["created"], 4);
    assert!(bare.get("rules").is_none());
    totals.push("--rules");
    let t = ok(&totals);
    assert_eq!(t["rules"]["user_logins"]["created"], 4);
    assert_eq!(t["rules"]["user_logins"]["unique"]["sessionId"], 3);

    let mut uniques = vec!["counters", "uniques"];
    uniques.extend_from_slice(&route);
    uniques.extend_from_slice(&[
        "--rule",
        "user_logins",
        "--property",
        "sessionId",
        "--limit",
        "2",
    ]);
    let page = ok(&uniques);
    assert_eq!(page["values"].as_array().unwrap().len(), 2);
    let next = page["next"].as_str().unwrap().to_string();
    uniques.extend_from_slice(&["--cursor", &next]);
    let last = ok(&uniques);
    assert_eq!(last["values"].as_array().unwrap().len(), 1);
    assert!(last.get("next").is_none());

    let mut reset = vec!["counters", "reset"];
    reset.extend_from_slice(&route);
    reset.extend_from_slice(&["--reason", "test"]);
    let done = ok(&reset);
    assert!(done["logId"].is_string());
    assert_eq!(ok(&totals)["created"], 0);

    // An unknown rule is a validation error (exit 1, a message naming it).
    let mut unknown = vec!["counters", "totals"];
    unknown.extend_from_slice(&route);
    unknown.extend_from_slice(&["--rule", "nope"]);
    let o = run(&unknown);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("nope"), "{}", stderr(&o));

    // Without counter rules: a clear error, not zeros.
    let o = chronos(
        d,
        &["counters", "totals", "--tenant", "tenant-a", "-c", "events"],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("counters are off"), "{}", stderr(&o));
}

/// `chronos analytics run` and `results`: a time-based and a cross-tenant rule over tenants'
/// data; `--every` runs at once and then on its interval (one JSON line per run).
#[test]
fn analytics_run_and_results() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut cfg =
        serde_json::to_value(chronos_db::config::ChronosConfig::embedded(d.join("data"))).unwrap();
    cfg["analytics"] = serde_json::json!({
        "tenants": ["tenant-a", "tenant-b"],
        "timeBasedRules": [{"name": "revenue", "collection": "tx", "operation": "sum", "field": "amount",
                            "saveMode": "global"}],
        "crossTenantRules": [{"name": "active", "collection": "tx", "mode": "boolean", "masterTenantId": "tenant-a"}],
    });
    let cfg_path = d.join("chronos.json");
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let cfg_arg = cfg_path.to_str().unwrap().to_string();
    let command = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_chronos"));
        c.arg("--config")
            .arg(&cfg_arg)
            .args(args)
            .env_remove("RUST_LOG");
        c
    };
    let ok = |args: &[&str]| -> Value {
        let o = command(args).stdin(Stdio::null()).output().unwrap();
        assert!(
            o.status.success(),
            "chronos {args:?} failed: {}",
            stderr(&o)
        );
        serde_json::from_slice(&o.stdout).unwrap()
    };
    for amount in ["5", "7"] {
        let data = format!(r#"{{"amount":{amount}}}"#);
        ok(&[
            "create", "--tenant", "tenant-a", "-c", "tx", "--data", &data,
        ]);
    }
    let report = ok(&["analytics", "run"]);
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(
        runs.len(),
        3,
        "revenue for 2 tenants, and the cross-tenant rule"
    );
    assert!(runs.iter().all(|r| r["status"] == "done"));
    let results = ok(&["analytics", "results", "--tenant", "tenant-a"]);
    assert_eq!(results[0]["value"], 12.0);
    assert_eq!(
        ok(&["analytics", "results", "--tenant", "tenant-b"])[0]["value"],
        Value::Null
    );
    let cross = ok(&[
        "analytics",
        "results",
        "--tenant",
        "tenant-a",
        "--cross-tenant",
    ]);
    assert_eq!(cross[0]["value"], 1.0);
    assert_eq!(
        ok(&[
            "analytics",
            "results",
            "--tenant",
            "tenant-b",
            "--cross-tenant"
        ]),
        serde_json::json!([])
    );

    // Bad input: an unknown rule, an interval under a minute, a bad timeframe.
    for (args, want) in [
        (vec!["analytics", "run", "--rule", "nope"], "nope"),
        (
            vec!["analytics", "run", "--every", "10s"],
            "shorter than a minute",
        ),
        (
            vec![
                "analytics",
                "results",
                "--tenant",
                "tenant-a",
                "--timeframe",
                "yearly",
            ],
            "yearly",
        ),
    ] {
        let o = command(&args).stdin(Stdio::null()).output().unwrap();
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }

    // --every: the first run at once, as a line of JSON; stopped by a signal.
    let mut child = command(&["analytics", "run", "--every", "1h", "--rule", "revenue"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let first: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(first["runs"].as_array().unwrap().len(), 2);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The CLI over a configuration file: the embedded default with `tweak` applied.
struct Configured {
    _dir: tempfile::TempDir,
    config: String,
    env: Vec<(String, String)>,
}

impl Configured {
    fn new(tweak: impl FnOnce(&mut Value)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = serde_json::to_value(chronos_db::config::ChronosConfig::embedded(
            dir.path().join("data"),
        ))
        .unwrap();
        tweak(&mut cfg);
        let path = dir.path().join("chronos.json");
        std::fs::write(&path, cfg.to_string()).unwrap();
        Configured {
            config: path.to_str().unwrap().to_string(),
            _dir: dir,
            env: Vec::new(),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_chronos"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    }

    /// Runs a command that must succeed; its JSON output.
    fn ok(&self, args: &[&str]) -> Value {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "chronos {args:?} failed: {}",
            stderr(&o)
        );
        serde_json::from_slice(&o.stdout).unwrap()
    }
}

/// `chronos admin retention`: a dry run by default, `--delete` prunes; an older version is
/// then refused as beyond retention (exit 1, code BEYOND_RETENTION).
#[test]
fn admin_retention_dry_run_then_delete() {
    let cli = Configured::new(|cfg| {
        cfg["retention"] = serde_json::json!({"ver": {"maxPerItem": 1}});
    });
    let run = |args: &[&str]| cli.run(args);
    let ok = |args: &[&str]| cli.ok(args);
    let route = ["--tenant", "tenant-a", "-c", "docs"];
    let mut create = vec!["create", "--id", "d-1", "--data", r#"{"n":0}"#];
    create.extend_from_slice(&route);
    ok(&create);
    let mut update = vec![
        "update",
        "d-1",
        "--expected-ov",
        "0",
        "--data",
        r#"{"n":1}"#,
    ];
    update.extend_from_slice(&route);
    ok(&update);
    let mut retention = vec!["admin", "retention"];
    retention.extend_from_slice(&route);
    let dry = ok(&retention);
    assert_eq!(
        (dry["dryRun"].clone(), dry["versionsRemoved"].clone()),
        (Value::Bool(true), 1.into())
    );
    retention.push("--delete");
    let done = ok(&retention);
    assert_eq!(done["versionsRemoved"], 1);
    let mut old = vec!["get", "d-1", "--ov", "0"];
    old.extend_from_slice(&route);
    let o = run(&old);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("BEYOND_RETENTION"), "{}", stderr(&o));
}

/// `chronos admin compact`: after retention pruned most versions, the tenant's database is
/// compacted (smaller, the current page size) and reads as before; a listed database not
/// written yet is left absent (not created); the templates not visited are named.
#[test]
fn admin_compact_gives_pruned_space_back() {
    let cli = Configured::new(|cfg| {
        cfg["retention"] = serde_json::json!({"ver": {"maxPerItem": 1}});
    });
    let route = ["--tenant", "tenant-a", "-c", "docs"];
    let text = "y".repeat(1_500);
    for i in 0..40 {
        let id = format!("d-{i}");
        for ov in 0..4 {
            let data = format!(r#"{{"n":{ov},"text":"{text}"}}"#);
            let mut args = if ov == 0 {
                vec!["create", "--id", &id, "--data", &data]
            } else {
                vec!["update", &id, "--data", &data]
            };
            let expected = (ov - 1).to_string();
            if ov > 0 {
                args.extend_from_slice(&["--expected-ov", &expected]);
            }
            args.extend_from_slice(&route);
            cli.ok(&args);
        }
    }
    let mut prune = vec!["admin", "retention", "--delete"];
    prune.extend_from_slice(&route);
    cli.ok(&prune);
    let unnamed = cli.ok(&["admin", "compact"]);
    assert!(
        unnamed["templatesNotListed"]
            .as_array()
            .is_some_and(|t| !t.is_empty()),
        "{unnamed}"
    );
    let report = cli.ok(&["admin", "compact", "--tenant", "tenant-a"]);
    let databases = report["databases"].as_array().unwrap();
    let tenant = databases
        .iter()
        .find(|d| d["outcome"] == "compacted")
        .unwrap_or_else(|| panic!("{report}"));
    assert!(
        tenant["database"].as_str().unwrap().contains("tenant-a"),
        "{report}"
    );
    assert_eq!(tenant["pageSizeAfter"], 8192, "{report}");
    assert!(
        tenant["bytesAfter"].as_u64().unwrap() < tenant["bytesBefore"].as_u64().unwrap(),
        "{report}"
    );
    assert!(
        databases.iter().any(|d| d["outcome"] == "absent"),
        "{report}"
    );
    let mut get = vec!["get", "d-7"];
    get.extend_from_slice(&route);
    let item = cli.ok(&get);
    assert_eq!(item["n"], 3);
    assert_eq!(item["text"], text.as_str());
}

/// `chronos admin retention-sweep`: every collection of collectionMaps with a policy, in the
/// tenants named (here by `retention.schedule`, then by --tenant); a dry run by default.
#[test]
fn admin_retention_sweep_covers_named_tenants() {
    let cli = Configured::new(|cfg| {
        cfg["retention"] = serde_json::json!({"ver": {"maxPerItem": 1},
            "schedule": {"every": "PT6H", "tenants": ["tenant-a"]}});
        cfg["collectionMaps"] = serde_json::json!({"docs": {}});
    });
    for tenant in ["tenant-a", "tenant-b"] {
        let route = ["--tenant", tenant, "-c", "docs"];
        let mut create = vec!["create", "--id", "d-1", "--data", r#"{"n":0}"#];
        create.extend_from_slice(&route);
        cli.ok(&create);
        let mut update = vec![
            "update",
            "d-1",
            "--expected-ov",
            "0",
            "--data",
            r#"{"n":1}"#,
        ];
        update.extend_from_slice(&route);
        cli.ok(&update);
    }
    let swept = |report: &Value| -> Vec<String> {
        report["collections"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["report"]["versionsRemoved"] != 0)
            .map(|c| c["route"]["tenantId"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let dry = cli.ok(&["admin", "retention-sweep"]);
    assert_eq!(
        (dry["dryRun"].clone(), dry["versionsRemoved"].clone()),
        (Value::Bool(true), 1.into()),
        "{dry}"
    );
    assert_eq!(swept(&dry), ["tenant-a"]);
    let done = cli.ok(&[
        "admin",
        "retention-sweep",
        "--delete",
        "--tenant",
        "tenant-b",
    ]);
    assert_eq!(
        (done["versionsRemoved"].clone(), done["failed"].clone()),
        (1.into(), 0.into()),
        "{done}"
    );
    assert_eq!(swept(&done), ["tenant-b"]);
    let o = cli.run(&[
        "get", "d-1", "--ov", "0", "--tenant", "tenant-b", "-c", "docs",
    ]);
    assert!(stderr(&o).contains("BEYOND_RETENTION"), "{}", stderr(&o));
    cli.ok(&[
        "get", "d-1", "--ov", "0", "--tenant", "tenant-a", "-c", "docs",
    ]);
}

/// `chronos erase`, `erase-subject` and `erasure verify`: an erased item answers ERASED, its
/// receipt verifies until it is rewritten, a subject found in an old version is erased, and
/// the receipt key (given through the environment) is never printed.
#[test]
fn erase_erase_subject_and_verify() {
    const KEY: &str = "cli-test-receipt-key-0123456789abcdef";
    let mut cli = Configured::new(|cfg| {
        cfg["erasure"] = serde_json::json!({"receiptKey": "${env:CHRONOS_TEST_RECEIPT_KEY}"});
        cfg["collectionMaps"] = serde_json::json!({"customers": {
            "indexedProps": ["customerId"], "subjectProps": ["customerId"]}});
    });
    cli.env
        .push(("CHRONOS_TEST_RECEIPT_KEY".into(), KEY.into()));
    let with = |args: &[&'static str]| in_tenant_a("customers", args);
    cli.ok(&with(&[
        "create",
        "--id",
        "c-1",
        "--data",
        r#"{"customerId":"k-1"}"#,
    ]));
    let erased = cli.ok(&with(&[
        "erase", "c-1", "--actor", "dpo", "--reason", "art. 17",
    ]));
    assert_eq!(erased["complete"], true);
    let receipt = erased["receiptId"].as_str().unwrap().to_string();
    let read = cli.run(&with(&["get", "c-1", "--ov", "0"]));
    assert!(!read.status.success());
    assert!(stderr(&read).contains("ERASED"), "{}", stderr(&read));
    let check = cli.ok(&["erasure", "verify", &receipt]);
    assert_eq!(check["valid"], true);

    // Rewriting the receipt shows.
    let mut rewritten = check["receipt"].clone();
    rewritten["objectsRemoved"] = 0.into();
    let data = rewritten.to_string();
    cli.ok(&[
        "update",
        &receipt,
        "--db",
        "logs",
        "-c",
        "erasures",
        "--expected-ov",
        "0",
        "--data",
        &data,
    ]);
    let tampered = cli.run(&["erasure", "verify", &receipt]);
    assert!(!tampered.status.success());
    assert!(
        stderr(&tampered).contains("RECEIPT_INVALID"),
        "{}",
        stderr(&tampered)
    );
    let missing = cli.run(&["erasure", "verify", "er-nothing"]);
    assert!(
        stderr(&missing).contains("NOT_FOUND"),
        "{}",
        stderr(&missing)
    );

    // A subject held by an old version only.
    cli.ok(&with(&[
        "create",
        "--id",
        "c-2",
        "--data",
        r#"{"customerId":"k-2"}"#,
    ]));
    cli.ok(&with(&[
        "update",
        "c-2",
        "--expected-ov",
        "0",
        "--data",
        r#"{"customerId":"k-3"}"#,
    ]));
    let subject = ["erase-subject", "--tenant", "tenant-a", "k-2"];
    let mut dry = subject.to_vec();
    dry.push("--dry-run");
    let plan = cli.ok(&dry);
    assert_eq!(plan["collections"][0]["ids"], serde_json::json!(["c-2"]));
    assert!(cli.run(&with(&["get", "c-2"])).status.success());
    let done = cli.ok(&subject);
    assert_eq!(done["items"], 1);
    assert!(!cli.run(&with(&["get", "c-2"])).status.success());
    let resumed = cli.ok(&with(&["erasure", "resume"]));
    assert_eq!(
        (
            resumed["erasedItems"].clone(),
            resumed["objectsDeleted"].clone()
        ),
        (2.into(), 0.into())
    );
    let mut typed = subject.to_vec();
    typed.extend_from_slice(&["--json", "{\"a\":1}"]);
    typed.retain(|a| *a != "k-2");
    let refused = cli.run(&typed);
    assert!(
        stderr(&refused).contains("VALIDATION_ERROR"),
        "{}",
        stderr(&refused)
    );

    // Without a receipt key, erasure is refused before anything changes.
    let bare = Configured::new(|_| {});
    bare.ok(&with(&["create", "--id", "c-1", "--data", "{}"]));
    let refused = bare.run(&with(&["erase", "c-1"]));
    assert!(
        stderr(&refused).contains("erasure.receiptKey"),
        "{}",
        stderr(&refused)
    );
    assert!(bare.run(&with(&["get", "c-1"])).status.success());
    for o in [&read, &tampered, &missing, &refused] {
        assert!(!String::from_utf8_lossy(&o.stdout).contains(KEY));
        assert!(!stderr(o).contains(KEY));
    }
}

/// Encryption at rest from the CLI: no plaintext under the data directory, a wrong master
/// key is ENCRYPTION_ERROR (and never printed), rotation, and a shred that needs --yes.
#[test]
fn encryption_rotation_and_shredding() {
    const OLD: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const NEW: &str = "2222222222222222222222222222222222222222222222222222222222222222";
    let mut cli = Configured::new(|cfg| {
        cfg["encryption"] = serde_json::json!({"enabled": true,
            "masterKey": "${env:CHRONOS_TEST_MASTER}",
            "previousMasterKeys": ["${env:CHRONOS_TEST_PREVIOUS}"]});
        // Indexed properties stay in plaintext (queries need them): the text is not one.
        cfg["collectionMaps"] = serde_json::json!({"notes": {"indexedProps": ["kind"]}});
    });
    let set = |cli: &mut Configured, master: &str, previous: &str| {
        cli.env = vec![
            ("CHRONOS_TEST_MASTER".into(), master.into()),
            ("CHRONOS_TEST_PREVIOUS".into(), previous.into()),
        ];
    };
    set(&mut cli, OLD, OLD);
    let with = |args: &[&'static str]| in_tenant_a("notes", args);
    cli.ok(&with(&[
        "create",
        "--id",
        "n-1",
        "--data",
        r#"{"text":"PLAINTEXT-CANARY"}"#,
    ]));
    assert_eq!(cli.ok(&with(&["get", "n-1"]))["text"], "PLAINTEXT-CANARY");
    let mut found = false;
    for entry in walk(std::path::Path::new(&cli.config).parent().unwrap()) {
        let bytes = std::fs::read(&entry).unwrap();
        found |= entry.to_string_lossy().ends_with("item.json");
        assert!(
            !bytes.windows(16).any(|w| w == b"PLAINTEXT-CANARY"),
            "{} holds plaintext",
            entry.display()
        );
    }
    assert!(found, "no object was written");

    // Another master key: a clear error that shows neither key.
    set(&mut cli, NEW, NEW);
    let wrong = cli.run(&with(&["get", "n-1"]));
    assert!(
        stderr(&wrong).contains("ENCRYPTION_ERROR"),
        "{}",
        stderr(&wrong)
    );
    // The new key with the old one as previous, then rotation: the old key can go.
    set(&mut cli, NEW, OLD);
    let unnamed = cli.ok(&["admin", "rotate-master-key"]);
    assert_eq!(unnamed["keysRewrapped"], 0, "{unnamed}");
    assert!(unnamed["templatesNotListed"]
        .as_array()
        .is_some_and(|t| !t.is_empty()));
    let rotated = cli.ok(&["admin", "rotate-master-key", "--tenant", "tenant-a"]);
    assert!(rotated["keysRewrapped"].as_u64().unwrap() >= 1, "{rotated}");
    set(&mut cli, NEW, NEW);
    assert_eq!(cli.ok(&with(&["get", "n-1"]))["text"], "PLAINTEXT-CANARY");

    let unconfirmed = cli.run(&["admin", "shred-tenant", "--tenant", "tenant-a"]);
    assert!(
        stderr(&unconfirmed).contains("--yes"),
        "{}",
        stderr(&unconfirmed)
    );
    assert!(cli.run(&with(&["get", "n-1"])).status.success());
    let shred = cli.ok(&[
        "admin",
        "shred-tenant",
        "--tenant",
        "tenant-a",
        "--yes",
        "--actor",
        "dpo",
    ]);
    assert!(shred["keysDestroyed"].as_u64().unwrap() >= 1);
    let gone = cli.run(&with(&["get", "n-1"]));
    assert!(stderr(&gone).contains("ERASED"), "{}", stderr(&gone));
    for o in [&wrong, &unconfirmed, &gone] {
        for key in [OLD, NEW] {
            assert!(!stderr(o).contains(key) && !String::from_utf8_lossy(&o.stdout).contains(key));
        }
    }
}

/// Every file under a directory.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
