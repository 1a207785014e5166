//! The encryption run: what encryption at rest costs `create` and `get_latest`.
//!
//! Two instances of the backend, the same configuration except `encryption` (a master key,
//! per-tenant data keys), both without inline copies (`devShadow` off: encryption never
//! keeps them, so the plain side must not either, or the ratio would measure the copies),
//! the standard run's items and concurrency, in alternating rounds so that drift hits both
//! sides alike. Ratios: time per operation encrypted over plain (target <= 1.2 each). The
//! encrypted side's objects are checked to be ciphertext.

use crate::backends::route;
use crate::data::{doc, GROUPS};
use crate::drive::timed;
use crate::scratch::Scratch;
use crate::stats::{ratio, ratio_line, table, Stats, Target};
use crate::{BenchOptions, Error};
use chronos_db::config::{Durability, EncryptionSettings};
use chronos_db::{Chronos, Collection, CreateOptions, ReadOptions};

/// The collection (tenant `bench` of the runtime database).
const COLLECTION: &str = "sealed";
/// Alternating rounds per operation.
const ROUNDS: usize = 4;
/// The overhead target of both operations.
const TARGET: f64 = 1.2;

/// Runs the encryption measurement; returns its report section.
pub(crate) async fn encryption(opts: &BenchOptions, scratch: &Scratch) -> Result<String, Error> {
    let backend = opts.backend;
    let n = opts.sizes.ops;
    let k = backend.concurrency();
    let durability = Durability::PowerLoss;
    let open = |encrypted: bool| {
        let dir = scratch.dir();
        async move {
            let mut cfg = backend.config(&dir?, durability, &[COLLECTION])?;
            cfg.dev_shadow.enabled = false;
            if encrypted {
                let mut key = [0u8; 32];
                rand::fill(&mut key);
                cfg.encryption = Some(EncryptionSettings {
                    enabled: true,
                    master_key: key.iter().map(|b| format!("{b:02x}")).collect(),
                    ..Default::default()
                });
            }
            let chronos = Chronos::open(cfg).await?;
            Ok::<_, Error>(chronos.with(route(COLLECTION)?)?)
        }
    };
    let plain = open(false).await?;
    let sealed = open(true).await?;

    let per_round = (n / ROUNDS).max(1);
    let mut creates = [
        Stats::new(format!("create, plain (concurrency {k})")),
        Stats::new(format!("create, encrypted (concurrency {k})")),
    ];
    let mut ids: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    for round in 0..ROUNDS {
        let base = round * per_round;
        for (side, coll) in [&plain, &sealed].into_iter().enumerate() {
            let c = coll.clone();
            let (s, made) = timed(
                &format!("create round {}", round + 1),
                per_round,
                k,
                move |i| {
                    let c = c.clone();
                    async move {
                        Ok(c.create(
                            doc(base + i, GROUPS),
                            "bench",
                            "create",
                            CreateOptions::default(),
                        )
                        .await?
                        .id)
                    }
                },
            )
            .await?;
            creates[side].merge(&s);
            ids[side].extend(made);
        }
    }
    let mut reads = [
        Stats::new(format!("get_latest, plain (concurrency {k})")),
        Stats::new(format!("get_latest, encrypted (concurrency {k})")),
    ];
    for round in 0..ROUNDS {
        for (side, coll) in [&plain, &sealed].into_iter().enumerate() {
            let (c, side_ids) = (coll.clone(), std::sync::Arc::new(ids[side].clone()));
            let (s, _) = timed(
                &format!("get_latest round {}", round + 1),
                per_round,
                k,
                move |i| {
                    let (c, side_ids) = (c.clone(), side_ids.clone());
                    async move {
                        let id = &side_ids[(i * 7919 + round) % side_ids.len()];
                        read(&c, id).await
                    }
                },
            )
            .await?;
            reads[side].merge(&s);
        }
    }

    let mut out = format!(
        "{} backend, encryption run\n\
         {} creates and {} get_latest per side (~400-byte items, 4 indexed properties) at concurrency {k}, \
         in {ROUNDS} alternating rounds, {}; both sides without inline copies (devShadow off); \
         the encrypted side: AES-256-GCM per object under a per-tenant data key wrapped by a master key\n\n",
        backend.describe(),
        per_round * ROUNDS,
        per_round * ROUNDS,
        backend.durability_note(durability),
    );
    out.push_str(&table(&[&creates[0], &creates[1], &reads[0], &reads[1]]));
    out.push_str("\nratios (same run):\n");
    out.push_str(&ratio_line(
        "create time encrypted / plain (1 / ops/s ratio)",
        ratio(creates[0].ops_per_sec(), creates[1].ops_per_sec()),
        Target::AtMost(TARGET),
    ));
    out.push_str(&ratio_line(
        "get_latest time encrypted / plain (1 / ops/s ratio)",
        ratio(reads[0].ops_per_sec(), reads[1].ops_per_sec()),
        Target::AtMost(TARGET),
    ));
    Ok(out)
}

async fn read(c: &Collection, id: &str) -> Result<(), Error> {
    match c.get_latest(id, ReadOptions::default()).await? {
        Some(_) => Ok(()),
        None => Err(format!("item {id} was not found").into()),
    }
}
