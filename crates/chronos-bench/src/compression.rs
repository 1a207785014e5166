//! The compression run: what `writeOptimization.compressionEnabled` saves in storage and
//! costs `create` and `get_latest`, on a corpus of realistic JSON documents.
//!
//! The corpus: order documents of 4 to 120 lines (about 0.8 to 25 KB of JSON each: SKUs,
//! names, quantities, prices, tags, addresses), the kind of document a backend team stores.
//! Two instances of the backend, the same configuration except compression, both without
//! inline copies (so every read decodes the object), in alternating rounds. Reported: the
//! stored bytes of the documents' objects (listed from the store) on each side, and time per
//! operation compressed over plain.

use crate::backends::route;
use crate::drive::timed;
use crate::scratch::Scratch;
use crate::stats::{ratio, ratio_line, table, Stats, Target};
use crate::{BenchOptions, Error};
use chronos_db::config::{Durability, WriteOptimization};
use chronos_db::{Chronos, Collection, CreateOptions, ReadOptions};
use serde_json::{json, Value};

/// The collection (tenant `bench` of the runtime database).
const COLLECTION: &str = "orders";
/// Alternating rounds per operation.
const ROUNDS: usize = 4;

/// Order document `i` of the corpus.
pub(crate) fn order(i: usize) -> Value {
    const CITIES: [&str; 4] = ["Berlin", "Lyon", "Austin", "Osaka"];
    const COUNTRIES: [&str; 4] = ["DE", "FR", "US", "JP"];
    const STATUSES: [&str; 4] = ["open", "paid", "shipped", "delivered"];
    const SIZES: [&str; 4] = ["S", "M", "L", "XL"];
    let (city, country, status) = (CITIES[i % 4], COUNTRIES[i % 4], STATUSES[i % 4]);
    let lines = 4 + (i * 37) % 117;
    json!({
        "orderId": format!("ORD-{i:08}"),
        "customer": {
            "id": format!("CUST-{:06}", i % 5000),
            "name": format!("Customer {}", i % 5000),
            "email": format!("customer{}@example.com", i % 5000),
            "shipping": {"street": format!("{} Market Street", i % 900 + 1), "city": city, "postcode": format!("{:05}", (i * 13) % 99999), "country": country}
        },
        "status": status,
        "currency": "EUR",
        "lines": (0..lines).map(|l| json!({
            "sku": format!("SKU-{:05}", (i * 31 + l * 7) % 20000),
            "name": format!("Widget model {} size {}", (i + l) % 40, SIZES[l % 4]),
            "quantity": l % 5 + 1,
            "unitPrice": ((i + l) % 500) as f64 + 0.99,
            "tags": ["hardware", format!("catalog-{}", l % 12)],
        })).collect::<Vec<_>>(),
        "notes": if i % 3 == 0 { "Leave the parcel at the reception desk." } else { "" },
    })
}

/// Runs the compression measurement; returns its report section.
pub(crate) async fn compression(opts: &BenchOptions, scratch: &Scratch) -> Result<String, Error> {
    let backend = opts.backend;
    let n = opts.sizes.ops;
    let k = backend.concurrency();
    let durability = Durability::PowerLoss;
    let open = |compressed: bool| {
        let dir = scratch.dir();
        async move {
            let mut cfg = backend.config(&dir?, durability, &[COLLECTION])?;
            cfg.dev_shadow.enabled = false;
            if compressed {
                cfg.write_optimization = Some(WriteOptimization {
                    compression_enabled: Some(true),
                    ..Default::default()
                });
            }
            let chronos = Chronos::open(cfg).await?;
            Ok::<_, Error>(chronos.with(route(COLLECTION)?)?)
        }
    };
    let plain = open(false).await?;
    let packed = open(true).await?;

    let per_round = (n / ROUNDS).max(1);
    let mut creates = [
        Stats::new(format!("create, plain (concurrency {k})")),
        Stats::new(format!("create, compressed (concurrency {k})")),
    ];
    let mut ids: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    for round in 0..ROUNDS {
        let base = round * per_round;
        for (side, coll) in [&plain, &packed].into_iter().enumerate() {
            let c = coll.clone();
            let (s, made) = timed(
                &format!("create round {}", round + 1),
                per_round,
                k,
                move |i| {
                    let c = c.clone();
                    async move {
                        Ok(
                            c.create(order(base + i), "bench", "create", CreateOptions::default())
                                .await?
                                .id,
                        )
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
        Stats::new(format!("get_latest, compressed (concurrency {k})")),
    ];
    for round in 0..ROUNDS {
        for (side, coll) in [&plain, &packed].into_iter().enumerate() {
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
    let logical: u64 = (0..per_round * ROUNDS)
        .map(|i| {
            serde_json::to_vec(&order(i))
                .map(|b| b.len() as u64)
                .unwrap_or(0)
        })
        .sum();
    let stored_plain = stored_bytes(&plain, &ids[0]).await?;
    let stored_packed = stored_bytes(&packed, &ids[1]).await?;

    let mut out = format!(
        "{} backend, compression run\n\
         {} creates and {} get_latest per side of order documents (4-120 lines, {:.1} KB of JSON on average) \
         at concurrency {k}, in {ROUNDS} alternating rounds, {}; both sides without inline copies; \
         the compressed side: writeOptimization.compressionEnabled (gzip, documents from 1 KiB)\n\n",
        backend.describe(),
        per_round * ROUNDS,
        per_round * ROUNDS,
        logical as f64 / (per_round * ROUNDS) as f64 / 1024.0,
        backend.durability_note(durability),
    );
    out.push_str(&table(&[&creates[0], &creates[1], &reads[0], &reads[1]]));
    out.push_str(&format!(
        "\nstored item.json bytes: plain {stored_plain}, compressed {stored_packed} (documents: {logical})\n"
    ));
    out.push_str("\nratios (same run):\n");
    out.push_str(&ratio_line(
        "stored bytes compressed / plain",
        stored_packed as f64 / stored_plain.max(1) as f64,
        Target::AtMost(0.5),
    ));
    out.push_str(&ratio_line(
        "create time compressed / plain (1 / ops/s ratio)",
        ratio(creates[0].ops_per_sec(), creates[1].ops_per_sec()),
        Target::AtMost(1.2),
    ));
    out.push_str(&ratio_line(
        "get_latest time compressed / plain (1 / ops/s ratio)",
        ratio(reads[0].ops_per_sec(), reads[1].ops_per_sec()),
        Target::AtMost(1.2),
    ));
    Ok(out)
}

/// The stored size of the items' `item.json` objects, from the versions' payload keys.
async fn stored_bytes(c: &Collection, ids: &[String]) -> Result<u64, Error> {
    let mut total = 0;
    for id in ids {
        total += c
            .stored_objects(id)
            .await?
            .iter()
            .filter(|o| o.key.ends_with("/item.json"))
            .map(|o| o.size)
            .sum::<u64>();
    }
    Ok(total)
}

async fn read(c: &Collection, id: &str) -> Result<(), Error> {
    match c.get_latest(id, ReadOptions::default()).await? {
        Some(_) => Ok(()),
        None => Err(format!("item {id} was not found").into()),
    }
}
