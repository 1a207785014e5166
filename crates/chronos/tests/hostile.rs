//! The `chronos` binary under hostile and careless use: no input, output failure or read may
//! panic (exit 101), change acknowledged data or create state.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn command(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_chronos"));
    c.arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .env_remove("RUST_LOG");
    c
}

fn run(dir: &Path, args: &[&str]) -> Output {
    command(dir, args)
        .output()
        .expect("the chronos binary runs")
}

/// Runs the binary with `--config file`.
fn run_with_config(file: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chronos"))
        .arg("--config")
        .arg(file)
        .args(args)
        .stdin(Stdio::null())
        .env_remove("RUST_LOG")
        .output()
        .expect("the chronos binary runs")
}

fn ok_json(dir: &Path, args: &[&str]) -> Value {
    let o = run(dir, args);
    assert!(
        o.status.success(),
        "chronos {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("JSON output")
}

/// Every file and directory under `dir`.
fn tree(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.insert(p);
        }
    }
    out
}

#[test]
fn huge_ages_are_refused_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    for age in [
        "100000000d",
        "18446744073709551615h",
        "99999999999999999999s",
    ] {
        let o = run(
            dir.path(),
            &[
                "admin",
                "gc",
                "-c",
                "c",
                "--tenant",
                "t",
                "--older-than",
                age,
            ],
        );
        assert_eq!(o.status.code(), Some(2), "{age}: {o:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("maximum age"), "{age}: {err}");
    }
    // The largest accepted age runs (and finds nothing).
    let report = ok_json(
        dir.path(),
        &[
            "admin",
            "gc",
            "-c",
            "c",
            "--tenant",
            "t",
            "--older-than",
            "36500d",
        ],
    );
    assert_eq!(report["objectsScanned"], 0);
}

#[test]
fn unwritable_output_is_a_failure_not_a_panic() {
    if !Path::new("/dev/full").exists() {
        eprintln!("skipped: no /dev/full on this system");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    // A failing command whose error line cannot be written.
    let o = command(dir.path(), &["get", "--tenant", "t", "-c", "c", "nope"])
        .stderr(full())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    // The same with log lines to write (warnings and more).
    let o = command(dir.path(), &["get", "--tenant", "t", "-c", "c", "nope"])
        .env("RUST_LOG", "trace")
        .stderr(full())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    // A successful command whose result cannot be written: reported on stderr, exit 1.
    let o = command(
        dir.path(),
        &["create", "--tenant", "t", "-c", "c", "--data", "{}"],
    )
    .stdout(full())
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot write to stdout"));
    // Help and version that cannot be written.
    for args in [
        &["--help"][..],
        &["--version"][..],
        &["serve", "--help"][..],
    ] {
        let o = command(dir.path(), args).stdout(full()).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{args:?}: {o:?}");
    }
    // Neither stream writable.
    for args in [
        &["config", "schema"][..],
        &["get", "--tenant", "t", "-c", "c", "nope"][..],
    ] {
        let o = command(dir.path(), args)
            .stdout(full())
            .stderr(full())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{args:?}: {o:?}");
    }
}

#[test]
fn numbers_read_back_exactly_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = r#"{"n":18446744073709551616,"m":-9223372036854775809,"f":0.1000000000000000000001,"e":1e30}"#;
    let created = ok_json(
        d,
        &[
            "create", "--tenant", "t", "-c", "c", "--id", "n1", "--data", data,
        ],
    );
    assert_eq!(created["ov"], 0);
    let o = run(d, &["get", "--tenant", "t", "-c", "c", "n1"]);
    let text = String::from_utf8_lossy(&o.stdout);
    for digits in [
        "18446744073709551616",
        "-9223372036854775809",
        "0.1000000000000000000001",
        "1e+30",
    ] {
        assert!(text.contains(digits), "{digits} in {text}");
    }
    let o = run(
        d,
        &[
            "create",
            "--tenant",
            "t",
            "-c",
            "c",
            "--data",
            r#"{"n":1e400}"#,
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("VALIDATION_ERROR"));
}

#[test]
fn payload_id_is_refused_without_the_id_option() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        dir.path(),
        &[
            "create",
            "--tenant",
            "t",
            "-c",
            "c",
            "--data",
            r#"{"_id":"chosen"}"#,
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("VALIDATION_ERROR") && err.contains("--id"),
        "{err}"
    );
    let o = run(dir.path(), &["get", "--tenant", "t", "-c", "c", "chosen"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("NOT_FOUND"));
}

/// Reads of tenants, tiers and items that do not exist create no file or directory: not on
/// a fresh machine, and not next to existing data.
#[test]
fn reads_create_no_files() {
    let parent = tempfile::tempdir().unwrap();
    let fresh = parent.path().join("never-written");
    let reads: Vec<Vec<&str>> = vec![
        vec!["get", "--tenant", "ghost", "-c", "users", "x"],
        vec!["get", "--tenant", "ghost", "-c", "users", "x", "--ov", "3"],
        vec![
            "get",
            "--tenant",
            "ghost",
            "-c",
            "users",
            "x",
            "--as-of",
            "2030-01-01T00:00:00Z",
        ],
        vec!["history", "--tenant", "ghost", "-c", "users", "x"],
        vec!["query", "--tenant", "ghost", "-c", "users"],
        vec![
            "query",
            "--db",
            "knowledge",
            "--domain",
            "ghost-domain",
            "--tier",
            "domain",
            "-c",
            "kb",
        ],
        vec!["query", "--db", "logs", "-c", "events"],
        vec![
            "fetch",
            "-c",
            "flags",
            "--filter",
            "{}",
            "--tenant",
            "ghost",
            "--domain",
            "ghost-domain",
        ],
        vec!["admin", "gc", "-c", "users", "--tenant", "ghost"],
        vec![
            "restore-collection",
            "--tenant",
            "ghost",
            "-c",
            "users",
            "--cv",
            "1",
            "--dry-run",
        ],
    ];
    for args in &reads {
        let o = run(&fresh, args);
        assert_ne!(o.status.code(), Some(101), "{args:?}: {o:?}");
    }
    assert!(!fresh.exists(), "a read created {}", fresh.display());

    // Next to existing data: the tree is unchanged by the same reads.
    let dir = tempfile::tempdir().unwrap();
    ok_json(
        dir.path(),
        &[
            "create",
            "--tenant",
            "real",
            "-c",
            "users",
            "--data",
            r#"{"a":1}"#,
        ],
    );
    let before = tree(dir.path());
    for args in &reads {
        let o = run(dir.path(), args);
        assert_ne!(o.status.code(), Some(101), "{args:?}: {o:?}");
    }
    let after = tree(dir.path());
    let created: Vec<_> = after.difference(&before).collect();
    assert!(created.is_empty(), "reads created {created:?}");
}

/// A key given twice in a payload, filter or sort is refused (it would lose a value).
#[test]
fn duplicate_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        dir.path(),
        &[
            "create",
            "--tenant",
            "t",
            "-c",
            "c",
            "--data",
            r#"{"a":1,"b":{"x":1,"x":2}}"#,
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("$.b.x") && err.contains("twice"), "{err}");
    let o = run(
        dir.path(),
        &[
            "query",
            "--tenant",
            "t",
            "-c",
            "c",
            "--filter",
            r#"{"a":1,"a":2}"#,
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("twice"));
    assert!(!dir.path().join("meta").exists(), "nothing was written");
}

/// An endless payload source is refused after a bounded read, not read into memory.
#[test]
fn endless_payload_input_is_refused() {
    if !Path::new("/dev/zero").exists() {
        eprintln!("skipped: no /dev/zero on this system");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        dir.path(),
        &[
            "create",
            "--tenant",
            "t",
            "-c",
            "c",
            "--data-file",
            "/dev/zero",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("PAYLOAD_TOO_LARGE"));
}

/// Configuration values at the edge of their types never make an operation panic.
#[test]
fn extreme_configuration_values_do_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut cfg = serde_json::json!({
        "dbConnections": {"m": {"sqliteDir": d.join("meta")}},
        "spacesConnections": {"s": {"provider": "local", "basePath": d.join("objects")}},
        "databases": {"runtime": {"tenantTemplate": {"dbConnRef": "m", "spaceConnRef": "s",
            "bucket": "rt-{tenantId}", "dbName": "rt_{tenantId}"}}},
    });
    cfg["devShadow"] = serde_json::json!({"enabled": true, "ttlHours": 4294967295u64});
    let file = d.join("c.json");
    std::fs::write(&file, cfg.to_string()).unwrap();
    let with_config = |args: &[&str]| run_with_config(&file, args);
    let o = with_config(&[
        "create",
        "--tenant",
        "t",
        "-c",
        "c",
        "--id",
        "x",
        "--data",
        r#"{"a":1}"#,
    ]);
    assert!(o.status.success(), "{o:?}");
    let o = with_config(&["get", "--tenant", "t", "-c", "c", "x"]);
    assert!(o.status.success(), "{o:?}");
    let o = with_config(&["query", "--tenant", "t", "-c", "c"]);
    assert!(o.status.success(), "{o:?}");

    // An endpoint the HTTP client could not send (a trailing space) is a config error.
    cfg["spacesConnections"]["s"] = serde_json::json!({"provider": "s3",
        "endpoint": "http://127.0.0.1:9 ", "accessKey": "k", "secretKey": "s"});
    std::fs::write(&file, cfg.to_string()).unwrap();
    let o = with_config(&["create", "--tenant", "t", "-c", "c", "--data", "{}"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("endpoint"));
}

/// `config check --connect` checks without creating: no database file, bucket directory or
/// probe directory appears.
#[test]
fn connection_checks_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = serde_json::json!({
        "dbConnections": {"m": {"sqliteDir": d.join("meta")}},
        "spacesConnections": {"s": {"provider": "local", "basePath": d.join("objects")}},
        "databases": {"knowledge": {"genericDatabase": {"dbConnRef": "m", "spaceConnRef": "s",
            "bucket": "kgeneric", "dbName": "kg"}}},
    });
    let file = d.join("c.json");
    std::fs::write(&file, cfg.to_string()).unwrap();
    let before = tree(d);
    let path = file.to_string_lossy().into_owned();
    let o = run_with_config(&file, &["config", "check", "--connect", &path]);
    assert!(o.status.success(), "{o:?}");
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        report.to_string().contains("the first write creates it"),
        "{report}"
    );
    assert_eq!(tree(d), before, "the check created files");
    // Once the directory exists, the probe runs and leaves nothing behind.
    std::fs::create_dir_all(d.join("objects").join("kgeneric")).unwrap();
    let before = tree(d);
    let path = file.to_string_lossy().into_owned();
    let o = run_with_config(&file, &["config", "check", "--connect", &path]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(tree(d), before, "the probe left files behind");
}
