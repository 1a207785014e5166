//! The OpenAPI 3.1 document, generated from the handlers' annotations and types.
//!
//! Collection endpoints are annotated once, under the tenant prefix; [`document`] copies each
//! to the generic, domain and logs prefixes, adjusting the path parameters, so the document
//! lists every path the router serves (a test holds the two together).

use crate::routes::{
    analytics, blobs, changes, collection, counters, erasure, fetch, history, items, system,
};
use crate::target::PREFIXES;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Chronos-DB",
        description = "Versioned, multi-tenant JSON persistence: every write is an immutable version; \
            time travel, restores, enrichment, lineage and tiered databases. Errors are RFC 9457 \
            `application/problem+json` documents with a stable `code`.",
    ),
    paths(
        items::create, items::get, items::update, items::delete, items::enrich,
        items::versions, history::diff, history::blame, history::field_history, items::restore, collection::query, history::by_actor, changes::changes, collection::restore, collection::gc,
        counters::totals, counters::unique, counters::reset,
        analytics::time_based, analytics::cross_tenant, analytics::run,
        erasure::erase, erasure::erase_subject, erasure::verify,
        fetch::fetch, blobs::get, system::healthz, system::readyz, system::metrics, system::openapi,
    ),
    modifiers(&BearerKeys),
    security(("apiKey" = [])),
    tags(
        (name = "items", description = "One item: writes, reads, versions, diffs, blame, field history, restore"),
        (name = "collections", description = "Queries, collection restores, the change feed, the versions an actor wrote"),
        (name = "counters", description = "Real-time totals and distinct values of a collection"),
        (name = "analytics", description = "Time-based and cross-tenant rules: runs and results"),
        (name = "erasure", description = "Erasure of items and data subjects, and its receipts"),
        (name = "tiered", description = "Fetch across the generic, domain and tenant tiers"),
        (name = "system", description = "Health, readiness, metrics, this document"),
    )
)]
struct ApiDoc;

struct BearerKeys;

impl Modify for BearerKeys {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.description = Some(
            "An API key from `chronos keys new`, whose scopes (`databaseType:tier:scopeId:permission`) \
             decide what it may do. A route outside them answers 404, like a missing item."
                .into(),
        );
        components.add_security_scheme("apiKey", SecurityScheme::Http(http));
    }
}

/// How one copy of a tenant-prefixed path differs.
struct Variant {
    prefix: &'static str,
    suffix: &'static str,
    /// The tenant parameter becomes this one, or goes.
    tenant_param: Option<(&'static str, &'static str)>,
    /// Whether `databaseType` stays a parameter.
    database_type: bool,
}

const VARIANTS: [Variant; 4] = [
    Variant {
        prefix: PREFIXES[0],
        suffix: "Generic",
        tenant_param: None,
        database_type: true,
    },
    Variant {
        prefix: PREFIXES[1],
        suffix: "Domain",
        tenant_param: Some((
            "domain",
            "The domain (lower-case letters, digits, `_`, `-`).",
        )),
        database_type: true,
    },
    Variant {
        prefix: PREFIXES[2],
        suffix: "Tenant",
        tenant_param: Some((
            "tenantId",
            "The tenant (lower-case letters, digits, `_`, `-`).",
        )),
        database_type: true,
    },
    Variant {
        prefix: PREFIXES[3],
        suffix: "Logs",
        tenant_param: None,
        database_type: false,
    },
];

fn adapt(mut op: Operation, v: &Variant) -> Operation {
    if let Some(id) = &mut op.operation_id {
        id.push_str(v.suffix);
    }
    if let Some(params) = &mut op.parameters {
        params.retain(|p| {
            !(p.parameter_in == ParameterIn::Path
                && ((p.name == "tenantId" && v.tenant_param.is_none())
                    || (p.name == "databaseType" && !v.database_type)))
        });
        for p in params.iter_mut() {
            if let (true, Some((name, description))) = (
                p.parameter_in == ParameterIn::Path && p.name == "tenantId",
                v.tenant_param,
            ) {
                p.name = name.into();
                p.description = Some(description.into());
            }
            if p.parameter_in == ParameterIn::Path && p.name == "databaseType" {
                p.description = Some(match v.suffix {
                    "Generic" | "Domain" => "`metadata` or `knowledge`.".into(),
                    _ => "`runtime`, `knowledge` or `metadata`.".into(),
                });
            }
        }
    }
    op
}

fn adapt_item(mut item: PathItem, v: &Variant) -> PathItem {
    for op in [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ] {
        *op = op.take().map(|o| adapt(o, v));
    }
    item
}

/// The answers every keyed endpoint can give whatever it does (see `problem.rs`).
const COMMON_PROBLEMS: [(&str, &str); 6] = [
    (
        "400",
        "Bad input (the problem names the JSON path or parameter)",
    ),
    ("401", "No API key, or not a valid one"),
    (
        "404",
        "No such item, version or route, or a route outside the key's scopes",
    ),
    (
        "413",
        "The body is larger than server.maxBodyBytes (or the data than limits.maxPayloadBytes)",
    ),
    (
        "423",
        "Another writer holds the item's lease (locks.enabled); try again",
    ),
    (
        "503",
        "A backend did not answer, or the request ran out of time (Retry-After)",
    ),
];

/// Adds the common problem answers to every `/v1` operation that does not list them.
fn add_common_problems(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    for (path, item) in doc.paths.paths.iter_mut() {
        if !path.starts_with("/v1/") || path.starts_with("/v1/blobs/") {
            continue;
        }
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            for (status, description) in COMMON_PROBLEMS {
                op.responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| {
                        ResponseBuilder::new()
                            .description(description)
                            .content(
                                "application/problem+json",
                                ContentBuilder::new()
                                    .schema(Some(Ref::from_schema_name("Problem")))
                                    .build(),
                            )
                            .build()
                            .into()
                    });
            }
        }
    }
}

/// The OpenAPI 3.1 document of the server.
pub(crate) fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    let tenant = PREFIXES[2];
    let paths = std::mem::take(&mut doc.paths.paths);
    for (path, item) in paths {
        match path.strip_prefix(tenant) {
            Some(rest) => {
                for v in &VARIANTS {
                    doc.paths
                        .paths
                        .insert(format!("{}{rest}", v.prefix), adapt_item(item.clone(), v));
                }
            }
            None => {
                doc.paths.paths.insert(path, item);
            }
        }
    }
    add_common_problems(&mut doc);
    doc
}
