//! The raw floors: what one write costs the storage itself, built directly with the drivers
//! (not through the library), with the settings the library uses. Embedded: one SQLite insert
//! plus one flushed file put. Remote: one MongoDB insert plus one object PUT. The standard run
//! times the floor's writes in rounds alternating with the library's (see `workloads`).

use crate::backends::{run_suffix, BenchBackend, REMOTE_BUCKET};
use crate::data::{doc, GROUPS};
use crate::Error;
use chronos_db::config::{ChronosConfig, Provider, SpacesConnection};
use object_store::ObjectStoreExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The raw floor of one backend: the storage the library would use, opened directly, to
/// which [`RawFloor::write`] makes one write of item `i` (so that the floor can be measured
/// in rounds alternating with the library's writes).
pub(crate) enum RawFloor {
    /// One SQLite insert with the same WAL settings and page size (8 KiB, the library's
    /// `PAGE_SIZE` in `meta/sqlite/connection.rs`) plus one file written through the same
    /// `object_store` filesystem backend, flushed as durability `powerLoss` flushes.
    Embedded {
        conn: Arc<Mutex<rusqlite::Connection>>,
        fs: object_store::local::LocalFileSystem,
    },
    /// One MongoDB insert plus one object PUT, with the same driver and the same
    /// object_store client settings.
    Remote {
        coll: mongodb::Collection<mongodb::bson::Document>,
        store: Arc<dyn object_store::ObjectStore>,
    },
}

impl RawFloor {
    /// The name of the floor's row in the report.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            RawFloor::Embedded { .. } => "raw floor (sqlite insert + file put)",
            RawFloor::Remote { .. } => "raw floor (mongo insert + object put)",
        }
    }

    /// Opens the floor of `backend`: `dir` holds the embedded floor's files; `cfg` names
    /// the remote servers.
    pub(crate) async fn open(
        backend: BenchBackend,
        dir: &Path,
        cfg: &ChronosConfig,
    ) -> Result<Self, Error> {
        match backend {
            BenchBackend::Embedded => {
                let conn = rusqlite::Connection::open(dir.join("raw.sqlite"))?;
                conn.execute_batch(
                    "PRAGMA page_size=8192; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
                     CREATE TABLE raw (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;",
                )?;
                let files_dir = dir.join("raw-files");
                std::fs::create_dir_all(&files_dir)?;
                Ok(RawFloor::Embedded {
                    conn: Arc::new(Mutex::new(conn)),
                    fs: object_store::local::LocalFileSystem::new_with_prefix(&files_dir)?,
                })
            }
            _ => {
                let uri = cfg
                    .db_connections
                    .get("m")
                    .and_then(|c| c.mongo_uri.clone())
                    .ok_or("the bench configuration has no mongoUri")?;
                // The same driver with the same bounded timeouts the library uses.
                let mut options = mongodb::options::ClientOptions::parse(&uri).await?;
                options.server_selection_timeout = Some(Duration::from_secs(5));
                options.connect_timeout = Some(Duration::from_secs(5));
                let client = mongodb::Client::with_options(options)?;
                let coll = client
                    .database(&format!("raw{}", run_suffix()))
                    .collection::<mongodb::bson::Document>("raw_floor");
                let space = cfg
                    .spaces_connections
                    .get("s")
                    .ok_or("the bench configuration has no spaces connection")?;
                Ok(RawFloor::Remote {
                    coll,
                    store: raw_object_store(space, REMOTE_BUCKET)?,
                })
            }
        }
    }

    /// One write of the floor: item `i`'s document as one metadata row and one object.
    pub(crate) async fn write(&self, i: usize) -> Result<(), Error> {
        let body = serde_json::to_vec(&doc(i, GROUPS))?;
        match self {
            RawFloor::Embedded { conn, fs } => {
                let key = object_store::path::Path::from(format!("raw/{i}/item.json"));
                fs.put(&key, bytes::Bytes::from(body.clone()).into())
                    .await?;
                // Flushed like the embedded store flushes (durability powerLoss, the
                // default): the file and each directory up to the root.
                let file = fs.path_to_filesystem(&key)?;
                tokio::task::spawn_blocking(move || flush_to_disk(&file, 3)).await??;
                let c = conn.clone();
                tokio::task::spawn_blocking(move || -> Result<(), Error> {
                    let c = c
                        .lock()
                        .map_err(|_| "the raw floor's SQLite lock is poisoned")?;
                    c.execute(
                        "INSERT INTO raw (id, body) VALUES (?1, ?2)",
                        rusqlite::params![format!("{i}"), String::from_utf8_lossy(&body)],
                    )?;
                    Ok(())
                })
                .await??;
            }
            RawFloor::Remote { coll, store } => {
                store
                    .put(
                        &object_store::path::Path::from(format!("rawfloor/{i}/item.json")),
                        bytes::Bytes::from(body.clone()).into(),
                    )
                    .await?;
                coll.insert_one(mongodb::bson::doc! {
                    "i": i as i64,
                    "body": String::from_utf8_lossy(&body).to_string(),
                })
                .await?;
            }
        }
        Ok(())
    }

    /// Drops what the floor wrote on the servers (best effort: the rows are of no further
    /// use); the embedded floor's files go with the run's directory.
    pub(crate) async fn finish(&self) {
        if let RawFloor::Remote { coll, .. } = self {
            let _ = coll.drop().await;
        }
    }
}

/// The object store of the raw floor, built directly with object_store (the floor measures
/// the service, not the library): S3 path-style or Azure at the configured endpoint.
fn raw_object_store(
    conn: &SpacesConnection,
    bucket: &str,
) -> Result<Arc<dyn object_store::ObjectStore>, Error> {
    let endpoint = conn
        .endpoint
        .clone()
        .ok_or("the spaces connection has no endpoint")?;
    let options =
        object_store::ClientOptions::new().with_allow_http(endpoint.starts_with("http://"));
    let key = |k: &Option<String>| k.clone().ok_or("the spaces connection misses a key");
    Ok(match conn.effective_provider() {
        Provider::Azure => Arc::new(
            object_store::azure::MicrosoftAzureBuilder::new()
                .with_account(key(&conn.access_key)?)
                .with_access_key(key(&conn.secret_key)?)
                .with_container_name(bucket)
                .with_endpoint(endpoint)
                .with_client_options(options)
                .build()?,
        ),
        _ => Arc::new(
            object_store::aws::AmazonS3Builder::new()
                .with_endpoint(endpoint)
                .with_region(conn.region.clone().unwrap_or_else(|| "us-east-1".into()))
                .with_access_key_id(key(&conn.access_key)?)
                .with_secret_access_key(key(&conn.secret_key)?)
                .with_bucket_name(bucket)
                .with_virtual_hosted_style_request(false)
                .with_client_options(options)
                .build()?,
        ),
    })
}

/// Flushes a file and the directories above it (as the embedded store does with durability
/// `powerLoss`), so the raw floor pays the same disk flushes.
fn flush_to_disk(file: &Path, dir_levels: usize) -> std::io::Result<()> {
    let flush = |p: &Path| std::fs::File::open(p).and_then(|f| f.sync_all());
    flush(file)?;
    if cfg!(unix) {
        let mut dir = file.parent();
        for _ in 0..dir_levels {
            let Some(d) = dir else { break };
            flush(d)?;
            dir = d.parent();
        }
    }
    Ok(())
}
