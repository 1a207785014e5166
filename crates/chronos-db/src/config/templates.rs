//! Names made from a template for one tenant or domain (`{tenantId}`, `{domain}`,
//! `{databaseType}`), each checked, with errors that say which input made a name invalid.

use super::validate::expand_template as validate_expand;
use super::DatabaseTemplate;
use crate::names;

/// The names a template gives one tenant or domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateNames {
    pub(crate) db_name: String,
    pub(crate) bucket: String,
    pub(crate) prefix: Option<String>,
    pub(crate) analytics_db_name: Option<String>,
}

/// Fills a template for a tenant (or a domain) of a database type and checks every name it
/// gives. Scope names may be up to 64 characters while database names and buckets may not,
/// so a valid tenant id can still make an invalid name: the error then says which input
/// made which name ("tenant id 'x…' (60 chars) makes the database name 'runtime_tenant_x…'
/// longer than 63 characters").
pub(crate) fn template_names(
    t: &DatabaseTemplate,
    database_type: &str,
    tenant: Option<&str>,
    domain: Option<&str>,
) -> Result<TemplateNames, String> {
    let derive = |text: &str, kind: &str, limit: usize, check: fn(&str) -> Result<(), String>| {
        // No case folding or character mapping here: two tenants must never share a name.
        let name = validate_expand(text, database_type, tenant, domain);
        let Err(e) = check(&name) else {
            return Ok(name);
        };
        let input = match (tenant, domain) {
            (Some(t), _) if text.contains("{tenantId}") => Some(("tenant id", t)),
            (_, Some(d)) if text.contains("{domain}") => Some(("domain", d)),
            _ => None,
        };
        Err(match input {
            Some((what, value)) if name.len() > limit => format!(
                "{what} '{}' ({} chars) makes the {kind} '{}' longer than {limit} characters",
                names::printable(value),
                value.chars().count(),
                names::printable(&name)
            ),
            Some((what, value)) => format!(
                "{what} '{}' makes an invalid {kind}: {e}",
                names::printable(value)
            ),
            None => format!("the template gives an invalid {kind}: {e}"),
        })
    };
    Ok(TemplateNames {
        db_name: derive(
            &t.db_name,
            "database name",
            names::MAX_DB_NAME,
            names::check_db_name,
        )?,
        bucket: derive(&t.bucket, "bucket", names::MAX_BUCKET, names::check_bucket)?,
        prefix: t
            .prefix
            .as_deref()
            .map(|p| derive(p, "prefix", names::MAX_PREFIX, names::check_prefix))
            .transpose()?,
        analytics_db_name: t
            .analytics_db_name
            .as_deref()
            .map(|a| {
                derive(
                    a,
                    "analytics database name",
                    names::MAX_DB_NAME,
                    names::check_db_name,
                )
            })
            .transpose()?,
    })
}
