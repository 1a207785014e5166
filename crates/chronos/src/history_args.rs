//! Arguments of the history tools: diff, change feed, blame, field history, versions by
//! actor (the `Command` variants that carry them are in `args.rs`).

use crate::args::{parse_time, RouteArgs};
use chronos_db::Timestamp;
use clap::Args;

#[derive(Args, Debug)]
pub(crate) struct DiffArgs {
    #[command(flatten)]
    pub(crate) route: RouteArgs,
    /// Item id.
    pub(crate) id: String,
    /// The version compared from: an ov, an RFC 3339 time or `latest`.
    #[arg(long, value_name = "VERSION")]
    pub(crate) from: chronos_db::ops::ReadAt,
    /// The version compared to: an ov, an RFC 3339 time or `latest`.
    #[arg(long, value_name = "VERSION", default_value = "latest")]
    pub(crate) to: chronos_db::ops::ReadAt,
}

#[derive(Args, Debug)]
pub(crate) struct ChangesArgs {
    #[command(flatten)]
    pub(crate) route: RouteArgs,
    /// Changes with a cv above this one (0: from the start).
    #[arg(long, value_name = "CV", default_value_t = 0)]
    pub(crate) since_cv: u64,
    /// Changes per page (1-1000, default 50).
    #[arg(long, value_name = "N")]
    pub(crate) limit: Option<usize>,
    /// Only these operations, comma-separated (CREATE,UPDATE,ENRICH,DELETE,RESTORE,ERASE).
    #[arg(long, value_name = "OPS", value_delimiter = ',', value_parser = parse_op)]
    pub(crate) ops: Option<Vec<chronos_db::Op>>,
    /// The content each change carries.
    #[arg(long, value_enum, default_value_t = IncludeArg::None)]
    pub(crate) include: IncludeArg,
    /// Keep following: print each change as one JSON line when it commits.
    #[arg(long)]
    pub(crate) follow: bool,
    /// With --follow, how long to wait between polls when nothing is ready (milliseconds).
    #[arg(long, value_name = "MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub(crate) poll_ms: u64,
}

/// `--include` values.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub(crate) enum IncludeArg {
    /// No content.
    None,
    /// The version's content.
    After,
    /// The previous version's content and the version's.
    BeforeAfter,
}

pub(crate) fn parse_op(s: &str) -> Result<chronos_db::Op, String> {
    chronos_db::Op::parse(&s.to_ascii_uppercase()).ok_or_else(|| {
        format!("'{s}' is not an operation (CREATE, UPDATE, ENRICH, DELETE, RESTORE, ERASE)")
    })
}

#[derive(Args, Debug)]
pub(crate) struct BlameArgs {
    #[command(flatten)]
    pub(crate) route: RouteArgs,
    /// Item id.
    pub(crate) id: String,
    /// The version blamed: an ov, an RFC 3339 time or `latest`.
    #[arg(long, value_name = "VERSION", default_value = "latest")]
    pub(crate) at: chronos_db::ops::ReadAt,
}

#[derive(Args, Debug)]
pub(crate) struct FieldHistoryArgs {
    #[command(flatten)]
    pub(crate) route: RouteArgs,
    /// Item id.
    pub(crate) id: String,
    /// The path: a JSON Pointer (/address/city) or a dot path (address.city).
    pub(crate) path: String,
    /// Changes per page (1-1000, default 50).
    #[arg(long, value_name = "N")]
    pub(crate) limit: Option<usize>,
    /// Only versions below this ov (the `nextBeforeOv` of the previous page).
    #[arg(long, value_name = "N")]
    pub(crate) before_ov: Option<u64>,
}

#[derive(Args, Debug)]
pub(crate) struct VersionsByActorArgs {
    #[command(flatten)]
    pub(crate) route: RouteArgs,
    /// The actor, as its writes passed it.
    pub(crate) actor: String,
    /// Only versions committed at or after this time (RFC 3339).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub(crate) from: Option<Timestamp>,
    /// Only versions committed at or before this time (RFC 3339).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub(crate) to: Option<Timestamp>,
    /// Page size (1-1000, default 50).
    #[arg(long, value_name = "N")]
    pub(crate) limit: Option<usize>,
    /// The `nextCursor` of the previous page.
    #[arg(long, value_name = "CURSOR")]
    pub(crate) cursor: Option<String>,
}
