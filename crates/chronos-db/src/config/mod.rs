//! Configuration: JSON in, validated [`ChronosConfig`] out.
//!
//! Loading runs in three steps, and every error names the JSON path it is about:
//! 1. `${env:NAME}` references in string values are replaced by the environment variable;
//! 2. the document is deserialized into the typed structs (unknown keys and wrong types fail);
//! 3. cross-field checks: connection references exist, names are valid, tenants and domains
//!    are not listed twice, each connection has the fields its kind needs.
//!
//! ```
//! use chronos_db::config::ChronosConfig;
//! let cfg = ChronosConfig::from_json_str(r#"{
//!   "dbConnections": {"local": {"sqliteDir": "/tmp/x/meta"}},
//!   "spacesConnections": {"files": {"provider": "local", "basePath": "/tmp/x/objects"}},
//!   "databases": {"logs": {"dbConnRef": "local", "spaceConnRef": "files",
//!                          "bucket": "logs", "dbName": "logs"}}
//! }"#).unwrap();
//! assert!(cfg.databases.logs.is_some());
//! let err = ChronosConfig::from_json_str(r#"{"databases": {"logz": {}}}"#).unwrap_err();
//! assert!(err.to_string().contains("databases"));
//! ```

mod choose_key;
mod entries;
mod fallback;
mod isolation;
mod lifecycle;
mod secrets;
mod server;
mod templates;
mod types;
mod validate;

pub use choose_key::{check_choose_key, CHOOSE_KEY_TOKENS, DEFAULT_CHOOSE_KEY};
pub use entries::{DatabaseEntry, Entry, Serves};
pub(crate) use isolation::{key_space_is_shared, KeySpace};
pub(crate) use templates::template_names;

pub(crate) use validate::expand_template as validate_expand;

pub use fallback::{Fallback, FALLBACK_OPS_TABLE};
pub use lifecycle::{
    CounterRetention, EncryptionSettings, ErasureSettings, Retention, RetentionSchedule,
    VersionRetention,
};
pub use server::{ApiKeyEntry, ServerSettings};
pub use types::*;

use std::path::Path;

/// A configuration problem, with the JSON path it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read config file {path}: {message}")]
    Io {
        /// The file's path, as given.
        path: String,
        /// The operating system's reason.
        message: String,
    },
    /// The text is not JSON (the parser's message, with line and column).
    #[error("config is not valid JSON: {0}")]
    Syntax(String),
    /// One or more problems, each as `path: message`.
    #[error("invalid config:\n{}", .0.join("\n"))]
    Invalid(Vec<String>),
}

impl ChronosConfig {
    /// Parses and validates a JSON document. A key given twice in one object is an error
    /// (JSON parsers disagree on which of the two counts).
    pub fn from_json_str(text: &str) -> Result<Self, ConfigError> {
        let value = crate::json::parse_unique_keys(text).map_err(|e| match e {
            crate::json::ParseError::Syntax(m) => ConfigError::Syntax(m),
            duplicate => ConfigError::Invalid(vec![duplicate.to_string()]),
        })?;
        Self::from_json_value(value)
    }

    /// Reads, parses and validates a JSON file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_json_str(&text)
    }

    /// Validates an already parsed JSON value.
    ///
    /// No message repeats the value of a secret field (keys, passwords, tokens, connection
    /// strings) or of a `${env:NAME}` reference: those are described, not quoted.
    pub fn from_json_value(mut value: serde_json::Value) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let mut expanded = Vec::new();
        expand_env(&mut value, "$", &mut problems, &mut expanded);
        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems));
        }
        if !value.is_object() {
            return Err(ConfigError::Invalid(vec![
                "$: the configuration must be a JSON object".into(),
            ]));
        }
        let config: ChronosConfig = crate::json::from_value(&value).map_err(|e| {
            let path = json_path(e.path());
            let message = e.inner().to_string();
            let message = if is_secret_path(&path) || expanded.iter().any(|x| x.path == path) {
                without_value(&message)
            } else {
                crate::redact::redact(&message)
            };
            ConfigError::Invalid(vec![format!("{path}: {message}")])
        })?;
        config.validate().map_err(|e| match e {
            ConfigError::Invalid(problems) => ConfigError::Invalid(
                problems
                    .into_iter()
                    .map(|p| hide_expanded(p, &expanded))
                    .collect(),
            ),
            other => other,
        })?;
        Ok(config)
    }

    /// The keys this configuration sets that have no effect in it, so that tools can say so
    /// instead of silently promising them: `writeOptimization.batchSize` and `debounceMs`
    /// act on counters, so without counter rules (`counterRules`, `analytics`) they do
    /// nothing.
    ///
    /// ```
    /// use chronos_db::config::ChronosConfig;
    /// let cfg = ChronosConfig::from_json_str(r#"{
    ///     "writeOptimization": {"compressionEnabled": true, "batchSize": 10}}"#).unwrap();
    /// assert_eq!(cfg.inactive_keys(), ["writeOptimization.batchSize"]);
    /// assert!(ChronosConfig::embedded("/tmp/x").inactive_keys().is_empty());
    /// ```
    pub fn inactive_keys(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let counting = self.counter_rules.is_some() || self.analytics.is_some();
        if let Some(w) = self.write_optimization.as_ref().filter(|_| !counting) {
            if w.batch_size.is_some() {
                out.push("writeOptimization.batchSize");
            }
            if w.debounce_ms.is_some() {
                out.push("writeOptimization.debounceMs");
            }
        }
        out
    }

    /// The directory of the fallback queue's journal: `fallback.queueDir`, else `fallback`
    /// beside the first (by name) connection's `sqliteDir`; `None` when neither exists.
    ///
    /// ```
    /// let cfg = chronos_db::config::ChronosConfig::embedded("/srv/chronos");
    /// assert_eq!(cfg.fallback_queue_dir().unwrap(), std::path::Path::new("/srv/chronos/fallback"));
    /// ```
    pub fn fallback_queue_dir(&self) -> Option<std::path::PathBuf> {
        if let Some(dir) = self.fallback.as_ref().and_then(|f| f.queue_dir.as_ref()) {
            return Some(dir.into());
        }
        let sqlite = self
            .db_connections
            .values()
            .find_map(|c| c.sqlite_dir.as_deref())?;
        let dir = Path::new(sqlite);
        Some(dir.parent().unwrap_or(dir).join("fallback"))
    }

    /// Checks the cross-field rules (references, names, duplicates).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let problems = validate::problems(self);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// The embedded default: SQLite metadata and local-file payloads under `data_dir`, every
    /// database type configured, and templates so that any tenant or domain works without
    /// being listed.
    ///
    /// ```
    /// let cfg = chronos_db::config::ChronosConfig::embedded("./chronos-data");
    /// assert!(cfg.validate().is_ok());
    /// ```
    pub fn embedded(data_dir: impl AsRef<Path>) -> Self {
        let dir = data_dir.as_ref();
        let mut cfg = ChronosConfig::default();
        cfg.db_connections.insert(
            "embedded".into(),
            DbConnection {
                mongo_uri: None,
                sqlite_dir: Some(dir.join("meta").display().to_string()),
                timeout_ms: None,
            },
        );
        cfg.spaces_connections.insert(
            "files".into(),
            SpacesConnection {
                provider: Some(Provider::Local),
                base_path: Some(dir.join("objects").display().to_string()),
                ..Default::default()
            },
        );
        // One bucket per database type; tiers, domains and tenants get their own prefix
        // (prefixes keep the tenant id verbatim, so no two tenants can share one).
        let generic = |ty: &str| GenericDatabase {
            db_conn_ref: "embedded".into(),
            space_conn_ref: "files".into(),
            bucket: format!("chronos-{ty}"),
            db_name: format!("{ty}_generic"),
            prefix: Some("generic".into()),
            analytics_db_name: None,
        };
        let template = |name: &str, prefix: &str| DatabaseTemplate {
            db_conn_ref: "embedded".into(),
            space_conn_ref: "files".into(),
            bucket: "chronos-{databaseType}".into(),
            db_name: name.into(),
            prefix: Some(prefix.into()),
            analytics_db_name: None,
        };
        let tiered = |ty: &str| TieredDatabases {
            generic_database: Some(generic(ty)),
            domains_databases: vec![],
            tenant_databases: vec![],
            domain_template: Some(template(
                "{databaseType}_domain_{domain}",
                "domains/{domain}",
            )),
            tenant_template: Some(template(
                "{databaseType}_tenant_{tenantId}",
                "tenants/{tenantId}",
            )),
        };
        cfg.databases = Databases {
            metadata: Some(tiered("metadata")),
            knowledge: Some(tiered("knowledge")),
            runtime: Some(RuntimeDatabases {
                tenant_databases: vec![],
                tenant_template: Some(DatabaseTemplate {
                    analytics_db_name: Some("analytics_tenant_{tenantId}".into()),
                    ..template("runtime_tenant_{tenantId}", "tenants/{tenantId}")
                }),
            }),
            logs: Some(generic("logs")),
        };
        cfg
    }

    /// The JSON Schema of the configuration document.
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(ChronosConfig)).unwrap_or_default()
    }
}

/// A serde path in the `$.a.b[0]` form of every other message.
fn json_path(path: &serde_path_to_error::Path) -> String {
    match path.to_string().as_str() {
        "." => "$".into(),
        p => format!("$.{p}"),
    }
}

/// Whether the field at the end of a JSON path holds a secret (a key, a password, a token,
/// a connection string that may carry credentials), whose value no message may show.
fn is_secret_path(path: &str) -> bool {
    let field = path
        .rsplit('.')
        .next()
        .unwrap_or(path)
        .split('[')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    [
        "key",
        "secret",
        "password",
        "passwd",
        "pwd",
        "token",
        "credential",
        "uri",
        "url",
        "connectionstring",
        "sas",
    ]
    .iter()
    .any(|word| field.contains(word))
}

/// A deserialization message about a secret value, without the value: serde quotes the
/// value it got ("invalid type: integer `12345678`, expected a string"), so only what was
/// expected is kept. Messages that quote no value (unknown or missing fields) stay.
fn without_value(message: &str) -> String {
    if message.starts_with("unknown field") || message.starts_with("missing field") {
        return message.to_string();
    }
    match message.rsplit_once(", expected ") {
        Some((_, expected)) => format!("must be {expected} (value not shown)"),
        None => "is not valid (value not shown)".to_string(),
    }
}

/// One `${env:NAME}` substitution: where, and what came in.
struct Expanded {
    path: String,
    name: String,
    value: String,
}

/// A validation problem with every value that came from the environment replaced by its
/// `${env:NAME}` reference (the message part only: paths are keys, never expanded).
fn hide_expanded(problem: String, expanded: &[Expanded]) -> String {
    let Some((path, message)) = problem.split_once(": ") else {
        return problem;
    };
    let mut message = message.to_string();
    // Very short values would mask ordinary words; they carry no secret either.
    for x in expanded.iter().filter(|x| x.value.len() >= 4) {
        message = message.replace(&x.value, &format!("${{env:{}}}", x.name));
    }
    format!("{path}: {message}")
}

/// Whether `name` can be an environment variable's name as written in a configuration.
fn is_env_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Replaces `${env:NAME}` inside every string value, recording each substitution. Messages
/// name the variable, never its value (nor text that is not a variable name, which may be
/// a secret written in the wrong place).
fn expand_env(
    value: &mut serde_json::Value,
    path: &str,
    problems: &mut Vec<String>,
    expanded: &mut Vec<Expanded>,
) {
    match value {
        serde_json::Value::String(s) if s.contains("${env:") => {
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(start) = rest.find("${env:") {
                out.push_str(&rest[..start]);
                let after = &rest[start + 6..];
                let Some(end) = after.find('}') else {
                    problems.push(format!("{path}: unterminated ${{env:...}} reference"));
                    return;
                };
                let name = &after[..end];
                if !is_env_name(name) {
                    problems.push(format!(
                        "{path}: ${{env:...}} must name an environment variable \
                         ([A-Za-z_][A-Za-z0-9_]*; the text is not shown)"
                    ));
                    return;
                }
                match std::env::var(name) {
                    Ok(v) => {
                        out.push_str(&v);
                        expanded.push(Expanded {
                            path: path.to_string(),
                            name: name.to_string(),
                            value: v,
                        });
                    }
                    Err(std::env::VarError::NotPresent) => {
                        problems.push(format!("{path}: environment variable '{name}' is not set"));
                        return;
                    }
                    Err(std::env::VarError::NotUnicode(_)) => {
                        problems.push(format!(
                            "{path}: environment variable '{name}' is not valid UTF-8 (value not shown)"
                        ));
                        return;
                    }
                }
                rest = &after[end + 1..];
            }
            out.push_str(rest);
            *s = out;
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                expand_env(item, &format!("{path}[{i}]"), problems, expanded);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                expand_env(v, &format!("{path}.{k}"), problems, expanded);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_valid() {
        ChronosConfig::embedded("/tmp/chronos-test")
            .validate()
            .unwrap();
    }

    #[test]
    fn unknown_key_reports_its_path() {
        let err =
            ChronosConfig::from_json_str(r#"{"databases":{"metadata":{"genericDatabse":{}}}}"#)
                .unwrap_err()
                .to_string();
        assert!(err.contains("$.databases.metadata"), "{err}");
        assert!(err.contains("genericDatabse"), "{err}");
    }

    #[test]
    fn a_configuration_is_an_object_and_so_is_every_section() {
        for text in ["[]", r#"[{"dbConnections": {}}]"#, "null", "1", r#""x""#] {
            let err = ChronosConfig::from_json_str(text).unwrap_err().to_string();
            assert!(
                err.contains("$: the configuration must be a JSON object"),
                "{text}: {err}"
            );
        }
        for (text, path) in [
            (r#"{"logicalDelete": [false]}"#, "$.logicalDelete"),
            (
                r#"{"dbConnections": {"m": ["/tmp/m"]}}"#,
                "$.dbConnections.m",
            ),
            (r#"{"limits": []}"#, "$.limits"),
            (
                r#"{"databases": {"runtime": {"tenantDatabases": [["t", "m", "s", "b", "d"]]}}}"#,
                "$.databases.runtime.tenantDatabases[0]",
            ),
        ] {
            let err = ChronosConfig::from_json_str(text).unwrap_err().to_string();
            assert!(
                err.contains(&format!("{path}: must be a JSON object, not an array")),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let err = ChronosConfig::from_json_str(
            r#"{"spacesConnections": {"s": {"provider": "local", "basePath": "/tmp/a",
                                          "basePath": "/tmp/b"}}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("$.spacesConnections.s.basePath: the key is given twice (line 2"),
            "{err}"
        );
        let err = ChronosConfig::from_json_str(r#"{"versioning": {}, "versioning": {}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("$.versioning: the key is given twice"),
            "{err}"
        );
        let err = ChronosConfig::from_json_str(r#"{"versioning": }"#)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("config is not valid JSON"), "{err}");
    }

    #[test]
    fn wrong_type_reports_its_path() {
        let err = ChronosConfig::from_json_str(r#"{"logicalDelete":{"enabled":"yes"}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("$.logicalDelete.enabled"), "{err}");
    }

    #[test]
    fn env_references_are_expanded_and_missing_ones_reported() {
        std::env::set_var("CHRONOS_TEST_SECRET_X", "s3cr3t");
        let cfg = ChronosConfig::from_json_str(
            r#"{"spacesConnections":{"s3":{"endpoint":"http://127.0.0.1:9000","region":"us-east-1",
                "accessKey":"ak","secretKey":"${env:CHRONOS_TEST_SECRET_X}"}}}"#,
        )
        .unwrap();
        assert_eq!(
            cfg.spaces_connections["s3"].secret_key.as_deref(),
            Some("s3cr3t")
        );
        let err = ChronosConfig::from_json_str(
            r#"{"spacesConnections":{"s3":{"secretKey":"${env:CHRONOS_TEST_MISSING_Y}"}}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("$.spacesConnections.s3.secretKey"), "{err}");
        assert!(err.contains("CHRONOS_TEST_MISSING_Y"), "{err}");
    }

    #[test]
    fn secret_values_are_never_quoted() {
        for (json, path, want) in [
            (
                r#"{"spacesConnections":{"s3":{"secretKey":12345678}}}"#,
                "$.spacesConnections.s3.secretKey",
                "must be a string (value not shown)",
            ),
            (
                r#"{"spacesConnections":{"s3":{"accessKey":["12345678"]}}}"#,
                "$.spacesConnections.s3.accessKey",
                "must be a string (value not shown)",
            ),
            (
                r#"{"dbConnections":{"m":{"mongoUri":{"u":"12345678"}}}}"#,
                "$.dbConnections.m.mongoUri",
                "must be a string (value not shown)",
            ),
            (
                r#"{"dbConnections":{"m":{"mongoUri":true,"sqliteDir":"12345678"}}}"#,
                "$.dbConnections.m.mongoUri",
                "must be a string (value not shown)",
            ),
        ] {
            let err = ChronosConfig::from_json_str(json).unwrap_err().to_string();
            assert!(err.contains(&format!("{path}: {want}")), "{err}");
            assert!(!err.contains("12345678"), "{err}");
        }
        // Elsewhere the value is shown, with any credential in it removed.
        let err = ChronosConfig::from_json_str(
            r#"{"logicalDelete":{"enabled":"mongodb://u:12345678@h"}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("$.logicalDelete.enabled: invalid type: string"),
            "{err}"
        );
        assert!(!err.contains("12345678"), "{err}");
        // An unknown field named like a secret still says which field.
        let err =
            ChronosConfig::from_json_str(r#"{"spacesConnections":{"s3":{"secretKeys":"x"}}}"#)
                .unwrap_err()
                .to_string();
        assert!(err.contains("unknown field `secretKeys`"), "{err}");
    }

    #[test]
    fn values_from_the_environment_are_never_quoted() {
        std::env::set_var("CHRONOS_TEST_ENV_NUMBER", "Secret-From-Env-1");
        std::env::set_var("CHRONOS_TEST_ENV_BUCKET", "Secret_From_Env_2");
        let err = ChronosConfig::from_json_str(
            r#"{"locks":{"leaseMs":"${env:CHRONOS_TEST_ENV_NUMBER}"}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("$.locks.leaseMs: must be u64 (value not shown)"),
            "{err}"
        );
        assert!(!err.contains("Secret-From-Env"), "{err}");
        let err = ChronosConfig::from_json_str(
            r#"{"dbConnections":{"m":{"sqliteDir":"/tmp/m"}},
                "spacesConnections":{"s":{"provider":"memory"}},
                "databases":{"logs":{"dbConnRef":"m","spaceConnRef":"s",
                                     "bucket":"${env:CHRONOS_TEST_ENV_BUCKET}","dbName":"logs"}}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(
                "$.databases.logs.bucket: bucket '${env:CHRONOS_TEST_ENV_BUCKET}' is invalid"
            ),
            "{err}"
        );
        assert!(!err.contains("Secret_From_Env"), "{err}");
        // Text that is not a variable name (a value pasted in the wrong place) is not shown.
        let err = ChronosConfig::from_json_str(
            r#"{"spacesConnections":{"s":{"secretKey":"${env:wJalr/XUtnFEMI=}"}}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(
                "$.spacesConnections.s.secretKey: ${env:...} must name an environment variable"
            ),
            "{err}"
        );
        assert!(!err.contains("wJalr"), "{err}");
    }

    #[test]
    fn schema_lists_top_level_keys() {
        let schema = ChronosConfig::json_schema().to_string();
        for key in [
            "dbConnections",
            "spacesConnections",
            "collectionMaps",
            "logicalDelete",
        ] {
            assert!(schema.contains(key), "{key}");
        }
    }
}

#[cfg(test)]
mod published_schema {
    /// `schema/chronos-config.schema.json` is the published schema; it must match the types.
    /// Regenerate with `cargo run -p chronos -- config schema > schema/chronos-config.schema.json`.
    #[test]
    fn published_schema_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../schema/chronos-config.schema.json");
        let published: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("published schema"))
                .expect("valid JSON");
        assert_eq!(
            published,
            super::ChronosConfig::json_schema(),
            "regenerate {}",
            path.display()
        );
    }
}
