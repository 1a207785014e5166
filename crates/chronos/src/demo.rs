//! `chronos demo`: a narrated walk-through of the main features on the embedded default.
//!
//! Every step checks its own results; the first unexpected result stops the demo with
//! `error: DEMO_FAILED: ...` (exit 1), so the demo doubles as a smoke test.

use crate::Failure;
use chronos_db::{
    Chronos, Collection, CollectionTarget, CreateOptions, DatabaseType, EnrichOptions, Error,
    HistoryOptions, Item, LineageRef, ListOptions, Op, OriginRef, ReadOptions, RestoreOptions,
    RestoreProgress, RestoreTarget, Route, Timestamp,
};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Prints one line on stdout; a closed pipe is ignored (the checks still run).
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

pub(crate) async fn run(data_dir: Option<&Path>) -> Result<(), Failure> {
    let mut _temp = None;
    let dir: PathBuf = match data_dir {
        Some(dir) => {
            say!("Chronos-DB demo, data directory: {}", dir.display());
            dir.to_path_buf()
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("chronos-demo-")
                .tempdir()
                .map_err(|e| {
                    Failure::new(
                        "IO_ERROR",
                        format!("cannot create a temporary directory: {e}"),
                    )
                })?;
            say!(
                "Chronos-DB demo, in a fresh temporary directory: {}",
                t.path().display()
            );
            say!("(it is removed at exit; pass --data-dir DIR to keep the data and explore it afterwards)");
            let path = t.path().to_path_buf();
            _temp = Some(t);
            path
        }
    };
    let chronos = Chronos::embedded(&dir).await?;
    let mut demo = Demo {
        chronos,
        step: 0,
        title: String::new(),
    };
    let result = demo.steps().await;
    match result {
        Ok(()) => {
            say!();
            say!(
                "Demo complete: all {} steps behaved as expected.",
                demo.step
            );
            Ok(())
        }
        Err(f) => Err(Failure::new(
            f.code,
            format!("demo step {} ({}): {}", demo.step, demo.title, f.message),
        )),
    }
}

struct Demo {
    chronos: Chronos,
    step: u32,
    title: String,
}

/// Fails the demo with `msg` unless `cond` holds; prints the check when it does.
fn check(cond: bool, msg: impl Into<String>) -> Result<(), Failure> {
    let msg = msg.into();
    if cond {
        say!("    [ok] {msg}");
        Ok(())
    } else {
        Err(Failure::new("DEMO_FAILED", format!("expected: {msg}")))
    }
}

/// Prints a JSON value, indented under the narration.
fn show(label: &str, value: &impl serde::Serialize) {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    say!("    {label}:");
    for line in text.lines() {
        say!("      {line}");
    }
}

/// Prints a value on one line.
fn show_line(label: &str, value: &impl serde::Serialize) {
    say!(
        "    {label}: {}",
        serde_json::to_string(value).unwrap_or_default()
    );
}

/// An item that must exist.
fn present(item: Option<Item>, what: &str) -> Result<Item, Failure> {
    item.ok_or_else(|| {
        Failure::new(
            "DEMO_FAILED",
            format!("expected {what} to be readable, it was not found"),
        )
    })
}

impl Demo {
    fn begin(&mut self, title: &str) {
        self.step += 1;
        self.title = title.to_string();
        say!();
        say!("==> {}. {title}", self.step);
    }

    fn users(&self, tenant: &str) -> Result<Collection, Failure> {
        Ok(self
            .chronos
            .with(Route::tenant(DatabaseType::Runtime, tenant, "users")?)?)
    }

    async fn steps(&mut self) -> Result<(), Failure> {
        let users = self.users("tenant-a")?;
        let live = ReadOptions::default;

        // 1. create, with origin lineage.
        self.begin(
            "create a user in runtime/tenant/tenant-a/users, imported from Stripe customer cus_123",
        );
        let origin = OriginRef {
            id: "cus_123".into(),
            collection: "customers".into(),
            system: Some("stripe".into()),
        };
        let ada = json!({
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "plan": "free",
            "tags": ["early-adopter"],
            "profile": {"city": "London"}
        });
        let created = users
            .create(
                ada,
                "demo",
                "signup",
                CreateOptions {
                    origin: Some(origin),
                    ..Default::default()
                },
            )
            .await?;
        show_line("create", &created);
        let id = created.id.clone();
        let item = present(users.get_latest(&id, live()).await?, "the new user")?;
        show("get_latest", &item.to_document());
        check(
            created.ov == 0 && item.system.ov == 0,
            "a new item starts at ov 0",
        )?;
        check(
            item.system.origin_id.as_deref() == Some("cus_123"),
            "_system.originId is \"cus_123\"",
        )?;
        check(
            item.system.origin_collection.as_deref() == Some("stripe:customers"),
            "_system.originCollection is \"stripe:customers\"",
        )?;
        // A moment between the create and the update, for the time-travel step.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let between = Timestamp::now();
        tokio::time::sleep(Duration::from_millis(5)).await;

        // 2. update with the optimistic lock.
        self.begin("update the user with expectedOv 0 (upgrade to the pro plan)");
        let v1 = json!({
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "plan": "pro",
            "tags": ["early-adopter"],
            "profile": {"city": "London"}
        });
        let updated = users.update(&id, v1, 0, "demo", "upgrade").await?;
        show_line("update", &updated);
        check(updated.ov == 1, "the update wrote ov 1")?;

        // 3. a stale writer loses.
        self.begin("a second writer still holding ov 0 tries to update: optimistic-lock conflict");
        let stale = users
            .update(
                &id,
                json!({"name": "Ada (stale)", "plan": "free"}),
                0,
                "demo",
                "stale write",
            )
            .await;
        match stale {
            Err(e @ Error::Conflict { .. }) => say!("    refused: {}", Failure::from(e)),
            Err(e) => {
                return Err(Failure::new(
                    "DEMO_FAILED",
                    format!("expected a CONFLICT, got {}", Failure::from(e)),
                ))
            }
            Ok(r) => {
                return Err(Failure::new(
                    "DEMO_FAILED",
                    format!("expected a CONFLICT, the stale update wrote ov {}", r.ov),
                ))
            }
        }
        let item = present(users.get_latest(&id, live()).await?, "the user")?;
        check(
            item.system.ov == 1 && item.data["plan"] == "pro",
            "the item is unchanged (ov 1, plan pro)",
        )?;

        // 4. enrichment: deep merge, array union, provenance.
        self.begin(
            "enrich with functionId \"enricher@v1\": tags are unioned, profile is deep-merged",
        );
        let patch = json!({"tags": ["vip", "early-adopter"], "profile": {"company": "Analytical Engines Ltd"}});
        show_line("patch", &patch);
        let opts = EnrichOptions {
            function_id: Some("enricher@v1".into()),
            actor: "enricher".into(),
            reason: "profile enrichment".into(),
            expected_ov: None,
        };
        let enriched = users.enrich(&id, patch, opts).await?;
        show_line("enrich", &enriched);
        let item = present(users.get_latest(&id, live()).await?, "the enriched user")?;
        show_line("tags", &item.data["tags"]);
        show_line("profile", &item.data["profile"]);
        show_line("_system.functionIds", &item.system.function_ids);
        check(enriched.ov == 2, "the enrichment wrote ov 2")?;
        check(
            item.data["tags"] == json!(["early-adopter", "vip"]),
            "tags are [\"early-adopter\", \"vip\"] (no duplicate)",
        )?;
        check(
            item.data["profile"] == json!({"city": "London", "company": "Analytical Engines Ltd"}),
            "profile keeps city and gains company",
        )?;
        check(
            item.system.function_ids == ["enricher@v1"],
            "_system.functionIds records enricher@v1",
        )?;

        // 5. time travel.
        self.begin(
            "time travel: read ov 0, and the item as of a time between the create and the update",
        );
        let v0 = present(users.get_version(&id, 0, live()).await?, "ov 0")?;
        show_line("get_version(ov 0) plan", &v0.data["plan"]);
        check(
            v0.system.ov == 0 && v0.data["plan"] == "free",
            "ov 0 still says plan free",
        )?;
        say!("    as of {between}:");
        let then = present(
            users.get_as_of(&id, between, live()).await?,
            "the item as of the captured time",
        )?;
        show_line("get_as_of plan", &then.data["plan"]);
        check(
            then.system.ov == 0 && then.data["plan"] == "free",
            "as of that time the item was at ov 0, plan free",
        )?;

        // 6. history.
        self.begin("history: every version, newest first");
        let page = users.history(&id, HistoryOptions::default()).await?;
        for v in &page.versions {
            say!(
                "    ov {}  cv {}  {:<7}  {}  actor={}",
                v.ov,
                v.cv,
                v.op.as_str(),
                v.at,
                v.actor.as_deref().unwrap_or("-")
            );
        }
        let ops: Vec<Op> = page.versions.iter().map(|v| v.op).collect();
        check(
            ops == [Op::Enrich, Op::Update, Op::Create],
            "three versions: ENRICH, UPDATE, CREATE",
        )?;

        // 7. logical delete.
        self.begin("logical delete with expectedOv 2");
        let deleted = users.delete(&id, 2, "demo", "account closed").await?;
        show_line("delete", &deleted);
        check(
            users.get_latest(&id, live()).await?.is_none(),
            "a normal read no longer finds the item",
        )?;
        let tomb = present(
            users.get_latest(&id, with_deleted_opts()).await?,
            "the deleted item (include_deleted)",
        )?;
        show_line(
            "with include_deleted, _system.deleted",
            &tomb.system.deleted,
        );
        check(
            tomb.system.deleted && tomb.system.ov == 3,
            "include_deleted shows it, deleted at ov 3",
        )?;

        // 8. restore one item.
        self.begin("restore the item to ov 2 (its enriched, live state)");
        let restored = users
            .restore_object(&id, RestoreTarget::Ov(2), "demo", "undo delete")
            .await?;
        show_line("restore_object", &restored);
        let item = present(users.get_latest(&id, live()).await?, "the restored user")?;
        check(
            restored.ov == 4 && item.system.ov == 4,
            "the restore appended ov 4 (history is never rewritten)",
        )?;
        check(
            !item.system.deleted && item.op == Op::Restore,
            "the item is live again, written by a RESTORE",
        )?;
        check(
            item.data["tags"] == json!(["early-adopter", "vip"]),
            "it has the content of ov 2",
        )?;

        // 9. queries on indexed properties.
        self.begin("query with list_by_meta: filter {\"plan\": \"pro\"}, sorted by name");
        let grace = users
            .create(
                json!({"name": "Grace Hopper", "plan": "free", "tags": []}),
                "demo",
                "signup",
                Default::default(),
            )
            .await?;
        let linus = users
            .create(
                json!({"name": "Linus Torvalds", "plan": "pro", "tags": []}),
                "demo",
                "signup",
                Default::default(),
            )
            .await?;
        say!(
            "    added Grace ({}, plan free) and Linus ({}, plan pro)",
            grace.id,
            linus.id
        );
        let opts = ListOptions {
            filter: Some(json!({"plan": "pro"})),
            sort: Some(json!({"name": 1})),
            limit: Some(1000),
            ..Default::default()
        };
        let page = users.list_by_meta(opts).await?;
        for i in &page.items {
            say!("    {}  {}  plan={}", i.id, i.data["name"], i.data["plan"]);
        }
        let ids: Vec<&str> = page.items.iter().map(|i| i.id.as_str()).collect();
        check(
            ids.contains(&id.as_str()) && ids.contains(&linus.id.as_str()),
            "Ada and Linus match",
        )?;
        check(
            !ids.contains(&grace.id.as_str()),
            "Grace (plan free) does not",
        )?;
        check(
            page.items.iter().all(|i| i.data["plan"] == "pro"),
            "every result has plan pro",
        )?;

        // 10. parent lineage.
        self.begin("create an order in runtime/tenant/tenant-a/orders whose parent is the user");
        let orders =
            self.chronos
                .with(Route::tenant(DatabaseType::Runtime, "tenant-a", "orders")?)?;
        let parent = LineageRef {
            id: id.clone(),
            collection: "users".into(),
        };
        let order = orders
            .create(
                json!({"userId": id, "total": 42.5, "currency": "EUR"}),
                "demo",
                "checkout",
                CreateOptions {
                    parent: Some(parent),
                    ..Default::default()
                },
            )
            .await?;
        let child = present(orders.get_latest(&order.id, live()).await?, "the order")?;
        show("order _system", &child.system);
        check(
            child.system.parent_id.as_deref() == Some(id.as_str())
                && child.system.parent_collection.as_deref() == Some("users"),
            "_system.parentId / parentCollection point at the user",
        )?;
        check(
            child.system.origin_id.as_deref() == Some(id.as_str())
                && child.system.origin_collection.as_deref() == Some("users"),
            "without an explicit origin, the parent is the origin",
        )?;

        // 11. tenant isolation.
        self.begin("tenant isolation: tenant-b looks for tenant-a's user");
        let other = self.users("tenant-b")?;
        check(
            other.get_latest(&id, with_deleted_opts()).await?.is_none(),
            format!("tenant-b cannot read '{id}'"),
        )?;
        let page = other
            .list_by_meta(ListOptions {
                limit: Some(1000),
                ..Default::default()
            })
            .await?;
        check(
            page.items.iter().all(|i| i.id != id),
            "tenant-b's queries do not return it",
        )?;
        let own = other
            .create(
                json!({"name": "Someone else"}),
                "demo",
                "signup",
                CreateOptions {
                    id: Some(id.clone()),
                    ..Default::default()
                },
            )
            .await?;
        show_line("tenant-b creates its own item with the same id", &own);
        let ada = present(users.get_latest(&id, live()).await?, "tenant-a's user")?;
        check(
            own.ov == 0 && ada.system.ov == 4 && ada.data["name"] == "Ada Lovelace",
            "the two items are independent",
        )?;

        // 12. collection restore, dry run.
        self.begin(&format!("restore_collection dry run: bring tenant-a/users back to cv {} (just after Ada was created)", created.cv));
        let processed = AtomicU64::new(0);
        let on_progress = |p: &RestoreProgress| {
            processed.store(p.processed, Ordering::Relaxed);
            say!("    progress: {}/{} items", p.processed, p.total);
        };
        let opts = RestoreOptions {
            dry_run: true,
            actor: "demo".into(),
            reason: "dry run".into(),
            progress: Some(&on_progress),
            ..Default::default()
        };
        let report = users
            .restore_collection(CollectionTarget::Cv(created.cv), opts)
            .await?;
        show("report", &report);
        check(
            report.dry_run && report.target_cv == created.cv,
            "a dry run to the requested cv",
        )?;
        check(
            report.restored >= 1,
            "Ada would be restored to her ov 0 content",
        )?;
        check(
            report.deleted >= 2,
            "Grace and Linus, created later, would be deleted",
        )?;
        check(
            report.restored + report.deleted + report.unchanged
                == processed.load(Ordering::Relaxed),
            "every item was accounted for",
        )?;
        let ada = present(users.get_latest(&id, live()).await?, "tenant-a's user")?;
        let grace_now = users.get_latest(&grace.id, live()).await?;
        check(
            ada.system.ov == 4 && grace_now.is_some(),
            "nothing was changed",
        )?;
        Ok(())
    }
}

fn with_deleted_opts() -> ReadOptions {
    ReadOptions {
        include_deleted: true,
        ..Default::default()
    }
}
