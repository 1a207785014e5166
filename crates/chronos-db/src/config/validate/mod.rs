//! Cross-field checks of a deserialized configuration. Each problem is `path: message`.

use super::entries::{DatabaseEntry, Entry, Serves};
use super::types::*;
use crate::names;
use crate::tiers::Tier;
use std::collections::HashSet;

pub(super) fn problems(cfg: &ChronosConfig) -> Vec<String> {
    let mut p = Problems(Vec::new());
    let retentions = cfg
        .retention
        .ver
        .iter()
        .map(|r| ("$.retention.ver".to_string(), r))
        .chain(cfg.collection_maps.iter().filter_map(|(c, m)| {
            m.retention
                .as_ref()
                .map(|r| (format!("$.collectionMaps.{c}.retention"), r))
        }));
    for (path, r) in retentions {
        if r.max_per_item == Some(0) {
            p.add(
                &format!("{path}.maxPerItem"),
                "must be at least 1 (the head is always kept)",
            );
        }
        if r.days == Some(0) {
            p.add(&format!("{path}.days"), "must be at least 1");
        }
    }
    if let Some(c) = &cfg.retention.counters {
        for (name, n) in [("days", c.days), ("weeks", c.weeks), ("months", c.months)] {
            if n == Some(0) {
                p.add(
                    &format!("$.retention.counters.{name}"),
                    "must be at least 1 (the current bucket is always kept)",
                );
            }
        }
    }
    // `server.apiKeys` is checked by `access::check_config` (scopes name routes, a layer
    // above the configuration).
    if let Some(server) = &cfg.server {
        if server.max_body_bytes == Some(0) {
            p.add("$.server.maxBodyBytes", "must be at least 1");
        }
        if server.request_timeout_ms == Some(0) {
            p.add("$.server.requestTimeoutMs", "must be at least 1");
        }
        for (path, value) in [
            (
                "$.server.maxConcurrentRequests",
                server.max_concurrent_requests,
            ),
            ("$.server.maxEventStreams", server.max_event_streams),
            (
                "$.server.maxEventStreamsPerKey",
                server.max_event_streams_per_key,
            ),
        ] {
            if value.is_some_and(|n| n == 0 || n > 1_000_000) {
                p.add(path, "must be between 1 and 1000000");
            }
        }
        if let Some(url) = &server.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://"))
                || check_endpoint_syntax(url).is_err()
                || crate::redact::url_has_credentials(url)
            {
                p.add(
                    "$.server.publicUrl",
                    "must be an http:// or https:// URL without credentials",
                );
            }
        }
    }
    for (name, conn) in &cfg.db_connections {
        let path = format!("$.dbConnections.{name}");
        match (&conn.mongo_uri, &conn.sqlite_dir) {
            (Some(_), Some(_)) => {
                p.add(&path, "set exactly one of mongoUri or sqliteDir, not both")
            }
            (None, None) => p.add(&path, "set one of mongoUri or sqliteDir"),
            (Some(uri), None)
                if !(uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://")) =>
            {
                p.add(
                    &format!("{path}.mongoUri"),
                    "must start with mongodb:// or mongodb+srv://",
                )
            }
            (None, Some(dir)) if dir.is_empty() => {
                p.add(&format!("{path}.sqliteDir"), "must not be empty")
            }
            (None, Some(dir)) => data_dir(&mut p, &format!("{path}.sqliteDir"), dir),
            _ => {}
        }
    }
    if let Some(f) = cfg.fallback.as_ref().filter(|f| f.enabled) {
        fallback(&mut p, cfg, f);
    }
    if let Some(w) = &cfg.write_optimization {
        if w.batch_size.is_some_and(|n| !(1..=10_000).contains(&n)) {
            p.add("$.writeOptimization.batchSize", "must be 1-10000");
        }
    }
    for (name, conn) in &cfg.spaces_connections {
        let path = format!("$.spacesConnections.{name}");
        provider_fields(&mut p, &path, conn);
        match conn.effective_provider() {
            Provider::Local => match conn.base_path.as_deref() {
                None | Some("") => p.add(&path, "provider 'local' needs basePath"),
                Some(dir) => data_dir(&mut p, &format!("{path}.basePath"), dir),
            },
            Provider::Memory => {}
            Provider::S3 | Provider::Azure | Provider::Gcs => {
                if let Some(endpoint) = &conn.endpoint {
                    // The endpoint is shown in messages and logs; keys have their own fields,
                    // which are kept out of both. The URL itself is not repeated here.
                    // Checked first: a URL with a space or a quote may hide a password the
                    // credential check cannot see, and the HTTP client cannot send it.
                    if let Err(why) = check_endpoint_syntax(endpoint) {
                        p.add(&format!("{path}.endpoint"), why);
                    } else if crate::redact::url_has_credentials(endpoint) {
                        p.add(
                            &format!("{path}.endpoint"),
                            "must not contain credentials (user:password@ or a signature or \
                             token parameter); use accessKey/secretKey",
                        );
                    } else if !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
                    {
                        p.add(
                            &format!("{path}.endpoint"),
                            "must be an http:// or https:// URL",
                        );
                    }
                }
                match conn.effective_provider() {
                    Provider::Azure => {
                        for (field, v) in [
                            ("accessKey", &conn.access_key),
                            ("secretKey", &conn.secret_key),
                        ] {
                            if v.as_deref().unwrap_or("").is_empty() {
                                p.add(
                                    &format!("{path}.{field}"),
                                    "is required for Azure (account name / key)",
                                );
                            }
                        }
                        let key = conn.secret_key.as_deref().unwrap_or_default();
                        if !key.is_empty() && !is_base64(key) {
                            p.add(
                                &format!("{path}.secretKey"),
                                "must be the storage account key, in base64 (value not shown)",
                            );
                        }
                    }
                    // secretKey alone: the service-account key; without it, the
                    // environment's credentials.
                    Provider::Gcs => {
                        let is_key_document = |k: &str| {
                            matches!(
                                serde_json::from_str::<serde_json::Value>(k),
                                Ok(serde_json::Value::Object(_))
                            )
                        };
                        if conn
                            .secret_key
                            .as_deref()
                            .is_some_and(|k| !is_key_document(k))
                        {
                            p.add(
                                &format!("{path}.secretKey"),
                                "must be the service-account key JSON document (value not shown)",
                            );
                        }
                    }
                    _ => {
                        if conn.access_key.is_some() != conn.secret_key.is_some() {
                            p.add(&path, "accessKey and secretKey must be given together");
                        }
                    }
                }
            }
        }
    }
    if let Some(ls) = &cfg.local_storage {
        if ls.enabled && ls.base_path.is_empty() {
            p.add("$.localStorage.basePath", "must not be empty");
        } else if !ls.base_path.is_empty() {
            data_dir(&mut p, "$.localStorage.basePath", &ls.base_path);
        }
    }

    // Listed domains and tenants: valid names, each listed once per database type.
    let mut listed: HashSet<(&str, &str, &str)> = HashSet::new();
    for e in cfg.databases.entries() {
        let ty = e.database_type.as_str();
        let scope = match e.serves {
            Serves::Domain(d) => Some(("domain", d)),
            Serves::Tenant(t) => Some(("tenantId", t)),
            _ => None,
        };
        if let Some((field, name)) = scope {
            let at = format!("{}.{field}", e.path);
            if let Err(err) = names::check_scope_name(field, name) {
                p.add(&at, &err);
            }
            if !listed.insert((ty, field, name)) {
                let kind = if field == "domain" {
                    "domain"
                } else {
                    "tenant"
                };
                p.add(&at, &format!("{kind} '{name}' is listed twice"));
            }
        }
        match e.serves.template() {
            Some(tpl) => template(&mut p, cfg, &e.path, tpl, ty),
            None => entry(&mut p, cfg, &e.path, e.db),
        }
    }

    for (coll, map) in &cfg.collection_maps {
        let path = format!("$.collectionMaps.{coll}");
        if let Err(e) = names::check_name("collection", coll) {
            p.add(&path, &e);
        }
        for (i, prop) in map.indexed_props.iter().enumerate() {
            if let Err(e) = names::check_prop_path(prop) {
                p.add(&format!("{path}.indexedProps[{i}]"), &e);
            }
        }
        for (prop, spec) in &map.base64_props {
            let ppath = format!("{path}.base64Props.{prop}");
            if prop.ends_with("[]") {
                p.add(&ppath, "base64 properties cannot be arrays");
            } else if let Err(e) = names::check_prop_path(prop) {
                p.add(&ppath, &e);
            }
            if spec.content_type.is_empty() {
                p.add(&format!("{ppath}.contentType"), "must not be empty");
            }
            if let Some(cs) = &spec.text_charset {
                let cs = cs.to_ascii_lowercase();
                if cs != "utf8" && cs != "utf-8" {
                    p.add(&format!("{ppath}.textCharset"), "only utf-8 is supported");
                }
            }
        }
        for (i, prop) in map.subject_props.iter().enumerate() {
            let indexed = if map.indexed_props.is_empty() {
                // Every top-level property is indexed, blobs excepted.
                !prop.contains('.') && !prop.ends_with("[]") && !map.base64_props.contains_key(prop)
            } else {
                map.indexed_props.contains(prop)
            };
            if !indexed {
                p.add(
                    &format!("{path}.subjectProps[{i}]"),
                    "must be one of the collection's indexed properties (erasure finds subjects \
                     through the index)",
                );
            }
        }
        if let Some(v) = &map.validation {
            for (i, req) in v.required_indexed.iter().enumerate() {
                if let Err(e) = names::check_prop_path(req) {
                    p.add(&format!("{path}.validation.requiredIndexed[{i}]"), &e);
                }
            }
        }
    }
    if let Some(enc) = &cfg.encryption {
        for (path, key) in std::iter::once(("$.encryption.masterKey".to_string(), &enc.master_key))
            .chain(
                enc.previous_master_keys
                    .iter()
                    .enumerate()
                    .map(|(i, k)| (format!("$.encryption.previousMasterKeys[{i}]"), k)),
            )
        {
            if let Err(e) = crate::crypto::MasterKey::parse(key) {
                p.add(&path, &e);
            }
        }
        match enc.scope.as_deref() {
            None | Some("tenant") => {}
            Some("subject") => {
                // Subject keys are named by the keyed hash of the subject value, the one
                // receipts carry.
                if cfg.erasure.is_none() {
                    p.add(
                        "$.encryption.scope",
                        "`subject` needs erasure.receiptKey (subject keys are named by the \
                         subject value's keyed hash)",
                    );
                }
                if cfg
                    .collection_maps
                    .values()
                    .all(|m| m.subject_props.is_empty())
                {
                    p.add(
                        "$.encryption.scope",
                        "`subject` needs collectionMaps.<c>.subjectProps: no collection says \
                         which property names its data subject",
                    );
                }
            }
            Some(_) => p.add("$.encryption.scope", "must be `tenant` or `subject`"),
        }
    }
    if let Some(erasure) = &cfg.erasure {
        if erasure.receipt_key.chars().count() < 32 {
            p.add(
                "$.erasure.receiptKey",
                "must be at least 32 characters (give a random secret, e.g. ${env:NAME})",
            );
        }
    }
    if let Some(key) = &cfg.routing.choose_key {
        if let Err(e) = super::check_choose_key(key) {
            p.add("$.routing.chooseKey", &e);
        }
    }
    if cfg.limits.max_payload_bytes == 0 {
        p.add("$.limits.maxPayloadBytes", "must be greater than 0");
    }
    if cfg.locks.lease_ms < 100 {
        p.add("$.locks.leaseMs", "must be at least 100");
    }
    // Durations are added to clocks by the drivers and timers below us: bounded here, so no
    // configuration can make one overflow.
    const DAY_MS: u64 = 86_400_000;
    const HOUR_MS: u64 = 3_600_000;
    let bounded = [
        (
            "$.locks.leaseMs".to_string(),
            Some(cfg.locks.lease_ms),
            DAY_MS,
        ),
        (
            "$.locks.waitMs".to_string(),
            Some(cfg.locks.wait_ms),
            DAY_MS,
        ),
    ]
    .into_iter()
    .chain(cfg.db_connections.iter().map(|(name, c)| {
        (
            format!("$.dbConnections.{name}.timeoutMs"),
            c.timeout_ms,
            HOUR_MS,
        )
    }))
    .chain(cfg.spaces_connections.iter().map(|(name, c)| {
        (
            format!("$.spacesConnections.{name}.timeoutMs"),
            c.timeout_ms,
            HOUR_MS,
        )
    }));
    for (path, value, max) in bounded {
        if value.is_some_and(|v| v > max) {
            p.add(&path, &format!("must be at most {max} (milliseconds)"));
        }
    }
    for (name, c) in &cfg.spaces_connections {
        if c.max_retries.is_some_and(|r| r > 100) {
            p.add(
                &format!("$.spacesConnections.{name}.maxRetries"),
                "must be at most 100",
            );
        }
    }
    if cfg.limits.max_depth == 0 {
        p.add("$.limits.maxDepth", "must be greater than 0");
    }
    // These compare and derive names, so only once they are valid.
    if p.0.is_empty() {
        listed_scopes_fit_templates(&mut p, cfg);
    }
    if p.0.is_empty() {
        for (path, message) in super::isolation::database_collisions(cfg) {
            p.add(&path, &message);
        }
    }
    p.0
}

fn is_base64(text: &str) -> bool {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .is_ok()
}

/// The fields each provider uses. Any other is refused rather than silently ignored (a key
/// under the wrong provider is a misconfiguration, not an option).
fn provider_fields(p: &mut Problems, path: &str, conn: &SpacesConnection) {
    let provider = conn.effective_provider();
    let used: &[&str] = match provider {
        Provider::S3 => &[
            "endpoint",
            "region",
            "accessKey",
            "secretKey",
            "forcePathStyle",
            "timeoutMs",
            "maxRetries",
        ],
        Provider::Azure => &[
            "endpoint",
            "accessKey",
            "secretKey",
            "timeoutMs",
            "maxRetries",
        ],
        Provider::Gcs => &["secretKey", "timeoutMs", "maxRetries"],
        Provider::Local => &["basePath"],
        Provider::Memory => &[],
    };
    let given = [
        ("endpoint", conn.endpoint.is_some()),
        ("region", conn.region.is_some()),
        ("accessKey", conn.access_key.is_some()),
        ("secretKey", conn.secret_key.is_some()),
        ("forcePathStyle", conn.force_path_style.is_some()),
        ("basePath", conn.base_path.is_some()),
        ("timeoutMs", conn.timeout_ms.is_some()),
        ("maxRetries", conn.max_retries.is_some()),
    ];
    let name = serde_json::to_value(provider)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    for (field, _) in given.iter().filter(|(f, set)| *set && !used.contains(f)) {
        let uses = if used.is_empty() {
            "no other field".to_string()
        } else {
            used.join(", ")
        };
        p.add(
            &format!("{path}.{field}"),
            &format!("is not used by provider '{name}' (it uses {uses})"),
        );
    }
}

/// The fallback queue's settings: a journal directory it can find, delays that make sense,
/// a dead-letter table name SQLite takes verbatim.
fn fallback(p: &mut Problems, cfg: &ChronosConfig, f: &crate::config::Fallback) {
    match (&f.queue_dir, cfg.fallback_queue_dir()) {
        (Some(dir), _) if dir.is_empty() => p.add("$.fallback.queueDir", "must not be empty"),
        (Some(dir), _) => data_dir(p, "$.fallback.queueDir", dir),
        (None, None) => p.add(
            "$.fallback.queueDir",
            "is required: no connection has a sqliteDir to put the journal beside",
        ),
        (None, Some(_)) => {}
    }
    if let Some(name) = &f.dead_letter_collection {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !name.starts_with("sqlite_")
            && name != crate::config::FALLBACK_OPS_TABLE;
        if !ok {
            p.add(
                "$.fallback.deadLetterCollection",
                "must be 1-64 letters, digits or '_' (and not a table of the journal)",
            );
        }
    }
    if f.retry_delay_ms == Some(0) {
        p.add("$.fallback.retryDelayMs", "must be at least 1");
    }
    if let (Some(first), Some(max)) = (f.retry_delay_ms, f.max_delay_ms) {
        if max < first {
            p.add(
                "$.fallback.maxDelayMs",
                "must not be less than retryDelayMs",
            );
        }
    }
    if f.lease_ms.is_some_and(|l| !(100..=3_600_000).contains(&l)) {
        p.add("$.fallback.leaseMs", "must be 100-3600000 (an hour)");
    }
    if f.max_delay_ms.is_some_and(|d| d > 86_400_000) {
        p.add("$.fallback.maxDelayMs", "must be at most 86400000 (a day)");
    }
    if f.retry_delay_ms.is_some_and(|d| d > 86_400_000) {
        p.add(
            "$.fallback.retryDelayMs",
            "must be at most 86400000 (a day)",
        );
    }
    if f.max_retries.is_some_and(|r| r > 1000) {
        p.add("$.fallback.maxRetries", "must be at most 1000");
    }
}

/// A directory Chronos-DB writes into (and whose files the orphan sweeper may delete) must
/// be one of its own: not a filesystem root, a system directory or the home directory.
fn data_dir(p: &mut Problems, path: &str, dir: &str) {
    if let Some(what) = dangerous_dir(dir) {
        p.add(
            path,
            &format!(
                "'{}' is {what}; give Chronos-DB a directory of its own (such as /var/lib/chronos)",
                names::printable(dir)
            ),
        );
    }
}

/// Directories that hold the system or everybody's files.
const SYSTEM_DIRS: &[&str] = &[
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/home",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/media",
    "/mnt",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/srv",
    "/sys",
    "/usr",
    "/usr/bin",
    "/usr/lib",
    "/usr/local",
    "/usr/sbin",
    "/usr/share",
    "/var",
    "/var/lib",
    "/Applications",
    "/Library",
    "/System",
    "/Users",
    "/Volumes",
    "/private",
];

/// Trees of pseudo-files (kernel and device interfaces), never storage.
const PSEUDO_TREES: &[&str] = &["/proc/", "/sys/", "/dev/"];

/// Windows directories (compared lower-case, after the drive letter).
const WINDOWS_DIRS: &[&str] = &[
    "/windows",
    "/program files",
    "/program files (x86)",
    "/programdata",
    "/users",
];

/// What makes `dir` unfit for data, if anything. Relative paths are taken from the current
/// directory, and `.` / `..` are resolved without looking at the filesystem (symbolic links
/// are not followed).
fn dangerous_dir(dir: &str) -> Option<String> {
    let full = normalize_dir(dir);
    // The resolved path is shown when it is not what was written.
    let trimmed = dir.trim_end_matches(['/', '\\']);
    let shown = if full == trimmed || (trimmed.is_empty() && dir == "/") {
        String::new()
    } else {
        format!(" ({full})")
    };
    let home = ["HOME", "USERPROFILE"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .filter(|h| !h.is_empty())
        .any(|h| normalize_dir(&h) == full);
    let what = if full == "/" || (full.len() == 3 && full.ends_with(":/")) {
        "the filesystem root".to_string()
    } else if home {
        "the home directory".to_string()
    } else if let Some(tree) = PSEUDO_TREES
        .iter()
        .find(|t| full.starts_with(*t) && !full.starts_with("/dev/shm/"))
    {
        format!(
            "inside {} (a system pseudo-filesystem)",
            tree.trim_end_matches('/')
        )
    } else if SYSTEM_DIRS.contains(&full.as_str())
        || full
            .split_once(":/")
            .is_some_and(|(_, rest)| WINDOWS_DIRS.contains(&format!("/{rest}").as_str()))
    {
        "a system directory".to_string()
    } else {
        return None;
    };
    Some(format!("{what}{shown}"))
}

/// `dir` as an absolute path with `.` and `..` resolved: `/a/b`, or `c:/a/b` (lower-case)
/// for a Windows path.
fn normalize_dir(dir: &str) -> String {
    let windows = |t: &str| {
        let b = t.as_bytes();
        (b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':') || t.starts_with("\\\\")
    };
    let mut text = dir.to_string();
    if !windows(&text) && !text.starts_with(['/', '\\']) {
        if let Ok(cwd) = std::env::current_dir() {
            text = format!("{}/{text}", cwd.display());
        }
    }
    let (root, rest) = if windows(&text) {
        let t = text.replace('\\', "/").to_lowercase();
        match t.split_once(':') {
            Some((drive, rest)) if drive.len() == 1 => (format!("{drive}:"), rest.to_string()),
            _ => (String::new(), t),
        }
    } else {
        (String::new(), text)
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in rest.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("{root}/{}", parts.join("/"))
}

/// A tenant (domain) listed for one database type is served by the tenant (domain) templates
/// of the types that do not list it: each of those must give it valid names. Scope names
/// may be longer than a template leaves room for (a 60-character tenant id and
/// `runtime_tenant_{tenantId}` make a 75-character database name).
fn listed_scopes_fit_templates(p: &mut Problems, cfg: &ChronosConfig) {
    use std::collections::HashMap;
    let entries = cfg.databases.entries();
    for tier in [Tier::Tenant, Tier::Domain] {
        let field = if tier == Tier::Tenant {
            "tenantId"
        } else {
            "domain"
        };
        fn listed<'a>(tier: Tier, e: &Entry<'a>) -> Option<&'a str> {
            match (tier, e.serves) {
                (Tier::Tenant, Serves::Tenant(name)) | (Tier::Domain, Serves::Domain(name)) => {
                    Some(name)
                }
                _ => None,
            }
        }
        // Each name once, at the first place it is listed.
        let mut first: HashMap<&str, String> = HashMap::new();
        for e in &entries {
            if let Some(name) = listed(tier, e) {
                first
                    .entry(name)
                    .or_insert_with(|| format!("{}.{field}", e.path));
            }
        }
        let mut names: Vec<(&str, String)> = first.into_iter().collect();
        names.sort_by(|a, b| a.1.cmp(&b.1));
        for e in entries.iter().filter(|e| e.serves.tier() == tier) {
            let Some(template) = e.serves.template() else {
                continue;
            };
            let ty = e.database_type;
            let here: HashSet<&str> = entries
                .iter()
                .filter(|other| other.database_type == ty)
                .filter_map(|other| listed(tier, other))
                .collect();
            for (name, path) in &names {
                if here.contains(name) {
                    continue;
                }
                let (tenant, domain) = match tier {
                    Tier::Tenant => (Some(*name), None),
                    _ => (None, Some(*name)),
                };
                if let Err(err) = super::template_names(template, ty.as_str(), tenant, domain) {
                    p.add(path, &format!("{err} (with {})", e.path));
                }
            }
        }
    }
}

/// An endpoint must be a plain absolute URL: no whitespace, quotes, angle brackets or other
/// characters a URL may not hold, and an `@` only as part of credentials (refused later).
/// The message never repeats the URL.
fn check_endpoint_syntax(endpoint: &str) -> Result<(), &'static str> {
    let forbidden = |c: char| c.is_whitespace() || c.is_control() || "\"'<>{}|\\^`".contains(c);
    if endpoint.chars().any(forbidden) {
        return Err("must be a URL without spaces, quotes or characters such as < > { } | \\ ^ `");
    }
    match reqwest::Url::parse(endpoint) {
        Ok(url) if url.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        _ => Err(
            "must be a valid absolute URL with a host (e.g. https://s3.eu-west-1.amazonaws.com)",
        ),
    }
}

struct Problems(Vec<String>);

impl Problems {
    fn add(&mut self, path: &str, msg: &str) {
        self.0.push(format!("{path}: {msg}"));
    }
}

#[allow(clippy::too_many_arguments)]
fn entry(p: &mut Problems, cfg: &ChronosConfig, path: &str, e: &dyn DatabaseEntry) {
    let (bucket, db_name, prefix, analytics) =
        (e.bucket(), e.db_name(), e.prefix(), e.analytics_db_name());
    refs(p, cfg, path, e.db_conn_ref(), e.space_conn_ref());
    if let Err(e) = names::check_bucket(bucket) {
        p.add(&format!("{path}.bucket"), &e);
    }
    if let Err(e) = names::check_db_name(db_name) {
        p.add(&format!("{path}.dbName"), &e);
    }
    if let Some(prefix) = prefix {
        if let Err(e) = names::check_prefix(prefix) {
            p.add(&format!("{path}.prefix"), &e);
        }
    }
    if let Some(a) = analytics {
        if let Err(e) = names::check_db_name(a) {
            p.add(&format!("{path}.analyticsDbName"), &e);
        }
    }
}

fn refs(
    p: &mut Problems,
    cfg: &ChronosConfig,
    path: &str,
    db_ref: &ConnRefs,
    space_ref: &ConnRefs,
) {
    ref_list(
        p,
        &format!("{path}.dbConnRef"),
        db_ref,
        |r| cfg.db_connections.contains_key(r),
        "dbConnections",
    );
    ref_list(
        p,
        &format!("{path}.spaceConnRef"),
        space_ref,
        |r| cfg.spaces_connections.contains_key(r),
        "spacesConnections",
    );
}

/// One `dbConnRef` / `spaceConnRef`: a name, or a non-empty list of distinct names, each of
/// which must be defined. List problems are reported at `path[i]`.
fn ref_list(
    p: &mut Problems,
    path: &str,
    refs: &ConnRefs,
    defined: impl Fn(&str) -> bool,
    map: &str,
) {
    if refs.is_empty() {
        p.add(path, "must name at least one connection");
        return;
    }
    let mut seen = HashSet::new();
    for (i, r) in refs.iter().enumerate() {
        let at = if refs.is_list() {
            format!("{path}[{i}]")
        } else {
            path.to_owned()
        };
        if !defined(r) {
            p.add(
                &at,
                &format!(
                    "connection '{}' is not defined in {map}",
                    names::printable(r)
                ),
            );
        }
        if !seen.insert(r.as_str()) {
            p.add(
                &at,
                &format!("connection '{}' is listed twice", names::printable(r)),
            );
        }
    }
}

/// A template must expand to valid names for a representative tenant and domain.
fn template(p: &mut Problems, cfg: &ChronosConfig, path: &str, tpl: &DatabaseTemplate, ty: &str) {
    refs(p, cfg, path, &tpl.db_conn_ref, &tpl.space_conn_ref);
    // Isolation: every tenant (domain) must get its own database and its own key space.
    let key = if path.ends_with("domainTemplate") {
        "{domain}"
    } else {
        "{tenantId}"
    };
    if !tpl.db_name.contains(key) {
        p.add(
            &format!("{path}.dbName"),
            &format!(
                "must contain {key}, or every {} would share one database",
                &key[1..key.len() - 1]
            ),
        );
    }
    if !tpl.bucket.contains(key) && !tpl.prefix.as_deref().is_some_and(|x| x.contains(key)) {
        p.add(&format!("{path}.bucket"), &format!("the bucket or the prefix must contain {key}, or objects of different {}s would share keys", &key[1..key.len() - 1]));
    }
    for (field, text) in [
        ("dbName", Some(&tpl.db_name)),
        ("bucket", Some(&tpl.bucket)),
        ("prefix", tpl.prefix.as_ref()),
        ("analyticsDbName", tpl.analytics_db_name.as_ref()),
    ] {
        let Some(text) = text else { continue };
        if let Err(e) = check_placeholders(text) {
            p.add(&format!("{path}.{field}"), &e);
            continue;
        }
        let sample = expand_template(text, ty, Some("tenant-1"), Some("domain-1"));
        let check = match field {
            "bucket" => names::check_bucket(&sample),
            "prefix" => names::check_prefix(&sample),
            _ => names::check_db_name(&sample),
        };
        if let Err(e) = check {
            p.add(
                &format!("{path}.{field}"),
                &format!("expands to an invalid name: {e}"),
            );
        }
    }
}

fn check_placeholders(text: &str) -> Result<(), String> {
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let Some(end) = rest[start..].find('}') else {
            return Err("unterminated '{' placeholder".into());
        };
        let name = &rest[start + 1..start + end];
        if !matches!(name, "tenantId" | "domain" | "databaseType") {
            return Err(format!("unknown placeholder '{{{name}}}' (use {{tenantId}}, {{domain}} or {{databaseType}})"));
        }
        rest = &rest[start + end + 1..];
    }
    Ok(())
}

/// Fills `{tenantId}`, `{domain}` and `{databaseType}`. Tenant and domain names are
/// already validated, so the result only needs the final name check. Bucket names are
/// lower-case, so values are lower-cased there by the caller when needed.
pub(crate) fn expand_template(
    text: &str,
    ty: &str,
    tenant: Option<&str>,
    domain: Option<&str>,
) -> String {
    text.replace("{databaseType}", ty)
        .replace("{tenantId}", tenant.unwrap_or(""))
        .replace("{domain}", domain.unwrap_or(""))
}

#[cfg(test)]
mod tests;
