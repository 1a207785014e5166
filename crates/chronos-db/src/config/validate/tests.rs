//! Unit tests of the cross-field configuration checks.

use crate::config::ChronosConfig;

fn err_of(json: &str) -> String {
    ChronosConfig::from_json_str(json).unwrap_err().to_string()
}

#[test]
fn dangling_refs_duplicates_and_bad_names() {
    let e = err_of(
        r#"{"dbConnections":{"m":{"mongoUri":"mongodb://127.0.0.1"}},
            "spacesConnections":{"s":{"provider":"local","basePath":"/tmp/x"}},
            "databases":{"runtime":{"tenantDatabases":[
              {"tenantId":"a","dbConnRef":"m","spaceConnRef":"nope","bucket":"b-a","dbName":"db_a"},
              {"tenantId":"a","dbConnRef":"m","spaceConnRef":"s","bucket":"B_A","dbName":"db.a"}]}}}"#,
    );
    assert!(
        e.contains("$.databases.runtime.tenantDatabases[0].spaceConnRef: connection 'nope'"),
        "{e}"
    );
    assert!(
        e.contains("$.databases.runtime.tenantDatabases[1].tenantId: tenant 'a' is listed twice"),
        "{e}"
    );
    assert!(
        e.contains("$.databases.runtime.tenantDatabases[1].bucket"),
        "{e}"
    );
    assert!(
        e.contains("$.databases.runtime.tenantDatabases[1].dbName"),
        "{e}"
    );
}

const CONNS: &str = r#""dbConnections":{"m":{"sqliteDir":"/tmp/m"},"m2":{"sqliteDir":"/tmp/m2"}},
    "spacesConnections":{"s":{"provider":"local","basePath":"/tmp/x"}}"#;

#[test]
fn connection_lists_report_each_bad_ref_with_its_index() {
    let e = err_of(&format!(
        r#"{{{CONNS},
            "databases":{{"runtime":{{
              "tenantDatabases":[
                {{"tenantId":"a","dbConnRef":["m","nope","m2"],"spaceConnRef":["s","s"],"bucket":"b-a","dbName":"db_a"}},
                {{"tenantId":"b","dbConnRef":[],"spaceConnRef":"gone","bucket":"b-b","dbName":"db_b"}}],
              "tenantTemplate":{{"dbConnRef":["m2","m","m2"],"spaceConnRef":["x"],
                                "bucket":"rt-{{tenantId}}","dbName":"rt_{{tenantId}}"}}}}}}}}"#
    ));
    for want in [
        "$.databases.runtime.tenantDatabases[0].dbConnRef[1]: connection 'nope' is not defined in dbConnections",
        "$.databases.runtime.tenantDatabases[0].spaceConnRef[1]: connection 's' is listed twice",
        "$.databases.runtime.tenantDatabases[1].dbConnRef: must name at least one connection",
        "$.databases.runtime.tenantDatabases[1].spaceConnRef: connection 'gone' is not defined in spacesConnections",
        "$.databases.runtime.tenantTemplate.dbConnRef[2]: connection 'm2' is listed twice",
        "$.databases.runtime.tenantTemplate.spaceConnRef[0]: connection 'x' is not defined",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
    assert!(!e.contains("dbConnRef[0]"), "{e}");
    assert!(!e.contains("dbConnRef[2]: connection 'm2' is not"), "{e}");
}

#[test]
fn connection_lists_everywhere_and_bad_types() {
    let ok = ChronosConfig::from_json_str(&format!(
        r#"{{{CONNS},
            "databases":{{
              "metadata":{{"genericDatabase":{{"dbConnRef":["m","m2"],"spaceConnRef":["s"],"bucket":"gen","dbName":"g"}},
                          "domainsDatabases":[{{"domain":"d","dbConnRef":["m2","m"],"spaceConnRef":"s","bucket":"dom","dbName":"d"}}],
                          "domainTemplate":{{"dbConnRef":["m","m2"],"spaceConnRef":"s","bucket":"x-{{domain}}","dbName":"x_{{domain}}"}}}},
              "logs":{{"dbConnRef":["m2"],"spaceConnRef":"s","bucket":"logs","dbName":"logs"}}}}}}"#
    ))
    .unwrap();
    let logs = ok.databases.logs.unwrap();
    assert_eq!(logs.db_conn_ref.as_slice(), ["m2"]);
    assert!(logs.db_conn_ref.is_list());

    let e = err_of(&format!(
        r#"{{{CONNS},"databases":{{"logs":{{"dbConnRef":5,"spaceConnRef":"s","bucket":"l","dbName":"l"}}}}}}"#
    ));
    assert!(e.contains("$.databases.logs.dbConnRef"), "{e}");
    assert!(
        e.contains("a string or a non-empty array of strings"),
        "{e}"
    );
    let e = err_of(&format!(
        r#"{{{CONNS},"databases":{{"logs":{{"dbConnRef":["m",7],"spaceConnRef":"s","bucket":"l","dbName":"l"}}}}}}"#
    ));
    assert!(e.contains("$.databases.logs.dbConnRef[1]"), "{e}");
    let e = err_of(&format!(
        r#"{{{CONNS},"databases":{{"metadata":{{"domainsDatabases":[
            {{"domain":"d","dbConnRef":"m","spaceConnRef":["s","nope"],"bucket":"d","dbName":"d"}}]}}}}}}"#
    ));
    assert!(
        e.contains("$.databases.metadata.domainsDatabases[0].spaceConnRef[1]: connection 'nope'"),
        "{e}"
    );
}

#[test]
fn choose_key_is_checked() {
    let e = err_of(r#"{"routing":{"hashAlgo":"jump","chooseKey":"tenantId|objectId"}}"#);
    assert!(
        e.contains("$.routing.chooseKey: unknown token 'objectId'"),
        "{e}"
    );
    let e = err_of(r#"{"routing":{"chooseKey":"tenantId||collection"}}"#);
    assert!(
        e.contains("$.routing.chooseKey: has an empty alternative"),
        "{e}"
    );
    let e = err_of(r#"{"routing":{"hashAlgo":"maglev"}}"#);
    assert!(e.contains("$.routing.hashAlgo"), "{e}");
    let ok = ChronosConfig::from_json_str(
        r#"{"routing":{"hashAlgo":"jump","chooseKey":"tenantId|domain|collection|databaseType"}}"#,
    )
    .unwrap();
    assert_eq!(ok.routing.hash_algo, crate::config::HashAlgo::Jump);
}

#[test]
fn schema_accepts_a_string_or_a_non_empty_list() {
    let schema = ChronosConfig::json_schema();
    let text = schema.to_string();
    assert!(
        text.contains("dbConnRef") && text.contains("spaceConnRef"),
        "{text}"
    );
    let defs = schema.get("$defs").and_then(|d| d.as_object()).unwrap();
    let refs = defs
        .iter()
        .find(|(name, _)| name.starts_with("OneOrMany"))
        .map(|(_, s)| s.to_string())
        .unwrap_or_else(|| panic!("no OneOrMany definition in {:?}", defs.keys()));
    assert!(refs.contains(r#""minItems":1"#), "{refs}");
    assert!(refs.contains(r#""type":"string""#), "{refs}");
    assert!(refs.contains(r#""type":"array""#), "{refs}");
}

#[test]
fn durations_are_bounded() {
    let cfg = serde_json::json!({
        "dbConnections": {"m": {"sqliteDir": "/tmp/x/meta", "timeoutMs": 18446744073709551615u64}},
        "spacesConnections": {"s": {"provider": "local", "basePath": "/tmp/x/o",
                                    "timeoutMs": 3600001}},
        "locks": {"enabled": true, "leaseMs": 86400001, "waitMs": 18446744073709551615u64},
    });
    let e = ChronosConfig::from_json_value(cfg).unwrap_err().to_string();
    for path in [
        "$.dbConnections.m.timeoutMs",
        "$.locks.leaseMs",
        "$.locks.waitMs",
    ] {
        assert!(e.contains(path), "{path}: {e}");
    }
}

#[test]
fn server_limits_are_bounded() {
    let cfg = serde_json::json!({
        "dbConnections": {"m": {"sqliteDir": "/tmp/x/meta"}},
        "spacesConnections": {"s": {"provider": "local", "basePath": "/tmp/x/o"}},
        "server": {"maxConcurrentRequests": 0, "maxEventStreams": 1000001, "maxEventStreamsPerKey": 0},
    });
    let e = ChronosConfig::from_json_value(cfg).unwrap_err().to_string();
    for path in [
        "$.server.maxConcurrentRequests",
        "$.server.maxEventStreams",
        "$.server.maxEventStreamsPerKey",
    ] {
        assert!(
            e.contains(&format!("{path}: must be between 1 and 1000000")),
            "{path}: {e}"
        );
    }
}

#[test]
fn endpoints_must_be_plain_urls() {
    for endpoint in [
        "http://127.0.0.1:9 ",
        "http://127.0.0.1:9/a b",
        "http://exa mple:9",
        "http://127.0.0.1:9/a<b>",
        "http://admin:hunter2 LEAKME@127.0.0.1:9",
        "http://admin:\"hunter2LEAKME\"@127.0.0.1:9",
        "http://",
    ] {
        let cfg = serde_json::json!({
            "spacesConnections": {"s": {"provider": "s3", "endpoint": endpoint,
                                        "accessKey": "k", "secretKey": "s"}},
        });
        let e = ChronosConfig::from_json_value(cfg).unwrap_err().to_string();
        assert!(
            e.contains("$.spacesConnections.s.endpoint"),
            "{endpoint}: {e}"
        );
        assert!(!e.contains("LEAKME") && !e.contains("127.0.0.1"), "{e}");
    }
    let ok = serde_json::json!({"spacesConnections": {"s": {"provider": "s3",
        "endpoint": "http://127.0.0.1:9000/", "accessKey": "k", "secretKey": "s"}}});
    assert!(ChronosConfig::from_json_value(ok).is_ok());
}

#[test]
fn endpoints_must_not_carry_credentials() {
    for endpoint in [
        "http://user:SUPERSECRET@127.0.0.1:9",
        "https://SUPERSECRET@s3.example.com",
        "https://acct.blob.core.windows.net/?sv=2024-01-01&sig=SUPERSECRET",
        "https://s3.example.com/?X-Amz-Security-Token=SUPERSECRET",
    ] {
        let e = err_of(&format!(
            r#"{{"spacesConnections":{{"s3":{{"provider":"s3","endpoint":"{endpoint}"}}}}}}"#
        ));
        assert!(
            e.contains("$.spacesConnections.s3.endpoint: must not contain credentials"),
            "{e}"
        );
        assert!(e.contains("use accessKey/secretKey"), "{e}");
        assert!(!e.contains("SUPERSECRET"), "{e}");
    }
    ChronosConfig::from_json_str(
        r#"{"spacesConnections":{"s3":{"provider":"s3","endpoint":"https://s3.example.com/x?region=1"}}}"#,
    )
    .unwrap();
}

#[test]
fn data_directories_must_be_their_own() {
    let up = "../".repeat(40);
    let mut cases = vec![
        ("/".to_string(), "'/' is the filesystem root;"),
        ("//".to_string(), "the filesystem root (/)"),
        ("/etc".to_string(), "'/etc' is a system directory;"),
        ("/usr/".to_string(), "'/usr/' is a system directory;"),
        (
            "/tmp/x/../../boot".to_string(),
            "a system directory (/boot)",
        ),
        ("/proc/self".to_string(), "inside /proc"),
        ("/sys/fs".to_string(), "inside /sys"),
        ("/dev/sda1".to_string(), "inside /dev"),
        ("C:\\".to_string(), "the filesystem root (c:/)"),
        ("c:/Windows/".to_string(), "a system directory (c:/windows)"),
        (up.clone(), "the filesystem root (/)"),
        (format!("{up}bin"), "a system directory (/bin)"),
    ];
    if let Some(home) = std::env::var("HOME").ok().filter(|h| h.len() > 1) {
        cases.push((home.clone(), "is the home directory"));
        cases.push((format!("{home}/x/.."), "the home directory"));
    }
    for (dir, what) in cases {
        for (field, json) in [
            (
                "$.dbConnections.m.sqliteDir",
                serde_json::json!({"dbConnections": {"m": {"sqliteDir": dir}}}),
            ),
            (
                "$.spacesConnections.l.basePath",
                serde_json::json!({"spacesConnections": {"l": {"provider": "local", "basePath": dir}}}),
            ),
            (
                "$.localStorage.basePath",
                serde_json::json!({"localStorage": {"enabled": true, "basePath": dir}}),
            ),
        ] {
            let e = ChronosConfig::from_json_value(json)
                .unwrap_err()
                .to_string();
            assert!(e.contains(&format!("{field}: '")), "{dir}: {e}");
            assert!(e.contains(what), "{dir}: {e}");
        }
    }
    for dir in [
        "/var/lib/chronos",
        "/tmp/x",
        "/dev/shm/chronos",
        "data",
        "./chronos-data",
        "/home/app/chronos",
        "D:\\chronos",
    ] {
        ChronosConfig::from_json_value(serde_json::json!({
            "dbConnections": {"m": {"sqliteDir": dir}},
            "spacesConnections": {"l": {"provider": "local", "basePath": dir}},
            "localStorage": {"enabled": true, "basePath": dir}}))
        .unwrap_or_else(|e| panic!("{dir}: {e}"));
    }
}

#[test]
fn listed_tenants_and_domains_must_fit_the_other_types_templates() {
    let t = "x".repeat(60);
    let d = "d".repeat(50);
    let e = err_of(&format!(
        r#"{{"dbConnections":{{"m":{{"sqliteDir":"/tmp/m"}}}},
            "spacesConnections":{{"s":{{"provider":"local","basePath":"/tmp/x"}}}},
            "databases":{{
              "runtime":{{"tenantDatabases":[
                {{"tenantId":"{t}","dbConnRef":"m","spaceConnRef":"s","bucket":"rt-x","dbName":"rt_x"}}]}},
              "metadata":{{
                "domainsDatabases":[{{"domain":"{d}","dbConnRef":"m","spaceConnRef":"s","bucket":"md-d","dbName":"md_d"}}],
                "tenantTemplate":{{"dbConnRef":"m","spaceConnRef":"s","bucket":"md-t","prefix":"{{tenantId}}","dbName":"metadata_tenant_{{tenantId}}"}}}},
              "knowledge":{{
                "domainTemplate":{{"dbConnRef":"m","spaceConnRef":"s","bucket":"kn-d","prefix":"{{domain}}","dbName":"kn_{{domain}}"}}}}}}}}"#
    ));
    assert!(
        e.contains(&format!(
            "$.databases.runtime.tenantDatabases[0].tenantId: tenant id '{t}' (60 chars) makes the database name 'metadata_tenant_{}…' longer than 63 characters (with $.databases.metadata.tenantTemplate)",
            &t[..48]
        )),
        "{e}"
    );
    // The domain fits knowledge's template (53 characters).
    assert!(!e.contains("domainsDatabases"), "{e}");
    let ok = ChronosConfig::from_json_str(&format!(
        r#"{{"dbConnections":{{"m":{{"sqliteDir":"/tmp/m"}}}},
            "spacesConnections":{{"s":{{"provider":"local","basePath":"/tmp/x"}}}},
            "databases":{{
              "runtime":{{"tenantDatabases":[
                {{"tenantId":"{t}","dbConnRef":"m","spaceConnRef":"s","bucket":"rt-x","dbName":"rt_x"}}],
                "tenantTemplate":{{"dbConnRef":"m","spaceConnRef":"s","bucket":"rt-t","prefix":"{{tenantId}}","dbName":"runtime_tenant_{{tenantId}}"}}}}}}}}"#
    ));
    assert!(
        ok.is_ok(),
        "a listed tenant does not use its own type's template: {ok:?}"
    );
}

#[test]
fn each_provider_takes_its_own_fields() {
    // GCS: the service-account key alone (or nothing: the environment's credentials).
    let key = serde_json::json!({"type": "service_account", "private_key": "k"}).to_string();
    let cfg = ChronosConfig::from_json_value(serde_json::json!({"spacesConnections": {
        "g": {"provider": "gcs", "secretKey": key, "timeoutMs": 1000},
        "g2": {"provider": "gcs"},
        "s": {"provider": "s3", "endpoint": "http://127.0.0.1:9000", "region": "r",
              "accessKey": "a", "secretKey": "s", "forcePathStyle": true, "maxRetries": 0},
        "a": {"provider": "azure", "endpoint": "http://127.0.0.1:10000", "accessKey": "acct",
              "secretKey": "a2V5"},
        "l": {"provider": "local", "basePath": "/tmp/x"},
        "m": {"provider": "memory"}}}));
    assert!(cfg.is_ok(), "{cfg:?}");
    let e = err_of(
        r#"{"spacesConnections": {
            "g": {"provider": "gcs", "accessKey": "a", "secretKey": "not-json-SECRET", "endpoint": "https://x"},
            "s": {"provider": "s3", "accessKey": "a", "basePath": "/tmp/x"},
            "a": {"provider": "azure", "accessKey": "acct", "secretKey": "%%SECRET%%", "region": "r"},
            "l": {"provider": "local", "basePath": "/tmp/x", "secretKey": "SECRET"},
            "m": {"provider": "memory", "timeoutMs": 5}}}"#,
    );
    for want in [
        "$.spacesConnections.g.accessKey: is not used by provider 'gcs' (it uses secretKey, timeoutMs, maxRetries)",
        "$.spacesConnections.g.endpoint: is not used by provider 'gcs'",
        "$.spacesConnections.g.secretKey: must be the service-account key JSON document (value not shown)",
        "$.spacesConnections.s: accessKey and secretKey must be given together",
        "$.spacesConnections.s.basePath: is not used by provider 's3'",
        "$.spacesConnections.a.secretKey: must be the storage account key, in base64 (value not shown)",
        "$.spacesConnections.a.region: is not used by provider 'azure'",
        "$.spacesConnections.l.secretKey: is not used by provider 'local' (it uses basePath)",
        "$.spacesConnections.m.timeoutMs: is not used by provider 'memory' (it uses no other field)",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
    assert!(!e.contains("SECRET"), "{e}");
    assert!(
        !e.contains("$.spacesConnections.g: accessKey and secretKey"),
        "{e}"
    );
}

#[test]
fn connection_kinds() {
    let e = err_of(r#"{"dbConnections":{"m":{}, "n":{"mongoUri":"http://x"}}}"#);
    assert!(
        e.contains("$.dbConnections.m: set one of mongoUri or sqliteDir"),
        "{e}"
    );
    assert!(e.contains("$.dbConnections.n.mongoUri"), "{e}");
    let e = err_of(r#"{"spacesConnections":{"l":{"provider":"local"}}}"#);
    assert!(
        e.contains("$.spacesConnections.l: provider 'local' needs basePath"),
        "{e}"
    );
}

#[test]
fn templates_must_separate_tenants() {
    let e = err_of(
        r#"{"dbConnections":{"m":{"sqliteDir":"/tmp/m"}},
            "spacesConnections":{"s":{"provider":"local","basePath":"/tmp/x"}},
            "databases":{"runtime":{"tenantTemplate":
              {"dbConnRef":"m","spaceConnRef":"s","bucket":"shared","dbName":"rt_shared"}}}}"#,
    );
    assert!(
        e.contains("$.databases.runtime.tenantTemplate.dbName: must contain {tenantId}"),
        "{e}"
    );
    assert!(e.contains("$.databases.runtime.tenantTemplate.bucket: the bucket or the prefix must contain {tenantId}"), "{e}");
}

#[test]
fn templates_are_checked() {
    let e = err_of(
        r#"{"dbConnections":{"m":{"sqliteDir":"/tmp/m"}},
            "spacesConnections":{"s":{"provider":"local","basePath":"/tmp/x"}},
            "databases":{"runtime":{"tenantTemplate":
              {"dbConnRef":"m","spaceConnRef":"s","bucket":"rt-{tenant}","dbName":"rt_{tenantId}"}}}}"#,
    );
    assert!(
        e.contains("$.databases.runtime.tenantTemplate.bucket: unknown placeholder '{tenant}'"),
        "{e}"
    );
}

#[test]
fn collection_maps() {
    let e = err_of(
        r#"{"collectionMaps":{"users":{"indexedProps":["a..b"],"base64Props":{"f[]":{"contentType":""}}}}}"#,
    );
    assert!(e.contains("$.collectionMaps.users.indexedProps[0]"), "{e}");
    assert!(
        e.contains("$.collectionMaps.users.base64Props.f[]: base64 properties cannot be arrays"),
        "{e}"
    );
}

#[test]
fn keys_per_subject_need_a_receipt_key_and_subject_properties() {
    let key = "ab".repeat(32);
    let e = err_of(&format!(
        r#"{{"encryption":{{"enabled":true,"masterKey":"{key}","scope":"subject"}}}}"#
    ));
    assert!(e.contains("needs erasure.receiptKey"), "{e}");
    assert!(e.contains("needs collectionMaps.<c>.subjectProps"), "{e}");
    let e = err_of(&format!(
        r#"{{"encryption":{{"enabled":true,"masterKey":"{key}","scope":"user"}}}}"#
    ));
    assert!(e.contains("must be `tenant` or `subject`"), "{e}");
    let ok = format!(
        r#"{{"encryption":{{"enabled":true,"masterKey":"{key}","scope":"subject"}},
            "erasure":{{"receiptKey":"{}"}},
            "collectionMaps":{{"c":{{"indexedProps":["email"],"subjectProps":["email"]}}}}}}"#,
        "k".repeat(32)
    );
    ChronosConfig::from_json_str(&ok).expect("a complete subject-key configuration");
}
