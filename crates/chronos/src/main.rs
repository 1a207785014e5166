//! `chronos`: a thin command-line shell over the chronos-db library.
//!
//! Every command opens a [`Chronos`] instance (from `--config FILE`, or the embedded default
//! under `--data-dir`), performs one library call and prints its result as pretty JSON on
//! stdout. Failures print one line, `error: <CODE>: <message>`, on stderr and exit with 1;
//! usage errors are clap's (exit 2). A write the fallback queue took prints the queued write
//! on stdout and `error: QUEUED: ...` on stderr, and exits with 3.

mod args;
mod commands;
mod demo;
mod history_args;
mod output;
mod redacting_writer;

use args::*;
use chronos_db::config::ChronosConfig;
use clap::{CommandFactory, Parser};
use commands::*;
use output::{print_json, Failure};
use std::io::Write;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help, --version and usage errors: clap's text and exit code, unless the text
        // cannot be written (a full disk, a closed stream), which is a failure.
        Err(e) => {
            return match e.print() {
                Ok(()) => ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2)),
                Err(_) => ExitCode::FAILURE,
            }
        }
    };
    if matches!(cli.command, Command::Demo) && cli.config.is_some() {
        Cli::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "the demo runs on the embedded default; use --data-dir DIR instead of --config",
            )
            .exit();
    }
    if matches!(cli.command, Command::Bench(_)) && cli.config.is_some() {
        Cli::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "the bench configures its own backend (--backend); --config does not apply \
                 (--data-dir DIR sets where its temporary directories are made)",
            )
            .exit();
    }
    if let Command::Bench(a) = &cli.command {
        if a.http && a.backend != "embedded" {
            Cli::command()
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!(
                        "--http measures the embedded backend only (library and server side by side \
                         in one process); drop --backend {}",
                        a.backend
                    ),
                )
                .exit();
        }
    }
    // A server logs each request; the other commands only what goes wrong.
    init_logging(
        if matches!(
            cli.command,
            Command::Serve(_)
                | Command::Queue {
                    command: QueueCommand::Work
                }
        ) {
            "info"
        } else {
            "warn"
        },
    );
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        // Accepted, not committed: the queued write was printed on stdout.
        Err(failure) if failure.code == "QUEUED" => {
            let _ = writeln!(std::io::stderr().lock(), "{failure}");
            ExitCode::from(3)
        }
        Err(failure) => {
            // A closed or full stderr must not turn a clean failure into a panic.
            let _ = writeln!(std::io::stderr().lock(), "{failure}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(redacting_writer::Redacting(std::io::stderr))
        // Its fallback report of a failed write is an `eprintln!`, which panics when stderr
        // itself is the problem (closed, or a full disk).
        .log_internal_errors(false)
        .init();
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let global = Global {
        config: cli.config,
        data_dir: cli.data_dir,
    };
    match cli.command {
        Command::Create(a) => create(&global, a).await,
        Command::Get(a) => get(&global, a).await,
        Command::Update(a) => update(&global, a).await,
        Command::Delete(a) => delete(&global, a).await,
        Command::Enrich(a) => enrich(&global, a).await,
        Command::History(a) => history(&global, a).await,
        Command::Diff(a) => diff(&global, a).await,
        Command::VersionsByActor(a) => versions_by_actor(&global, a).await,
        Command::Changes(a) => changes(&global, a).await,
        Command::Blame(a) => blame(&global, a).await,
        Command::FieldHistory(a) => field_history(&global, a).await,
        Command::Restore(a) => restore(&global, a).await,
        Command::RestoreCollection(a) => restore_collection(&global, a).await,
        Command::Query(a) => query(&global, a).await,
        Command::Fetch(a) => fetch(&global, a).await,
        Command::Config {
            command: ConfigCommand::Check { file, connect },
        } => config_check(&file, connect).await,
        Command::Config {
            command: ConfigCommand::Schema,
        } => print_json(&ChronosConfig::json_schema()),
        Command::Demo => demo::run(global.data_dir.as_deref()).await,
        Command::Admin {
            command: AdminCommand::Gc(a),
        } => {
            let coll = global.collection(&a.route).await?;
            let report = coll.sweep_orphans(a.older_than, !a.delete).await?;
            print_json(&report)
        }
        Command::Admin {
            command: AdminCommand::Retention(a),
        } => admin_retention(&global, a).await,
        Command::Admin {
            command: AdminCommand::RetentionSweep(a),
        } => admin_retention_sweep(&global, a).await,
        Command::Admin {
            command: AdminCommand::Buckets(a),
        } => admin_buckets(&global, a.create && !a.check).await,
        Command::Admin {
            command: AdminCommand::ShredTenant(a),
        } => admin_shred_tenant(&global, a).await,
        Command::Admin {
            command: AdminCommand::RotateMasterKey(a),
        } => {
            let tenants: Vec<String> = a.tenants.iter().map(|t| t.to_string()).collect();
            print_json(&global.open().await?.rotate_master_key(&tenants).await?)
        }
        Command::Admin {
            command: AdminCommand::Compact(a),
        } => admin_compact(&global, a).await,
        Command::Bench(a) => bench(global.data_dir, a).await,
        Command::Serve(a) => serve(&global, a).await,
        Command::Openapi => print_json(&chronos_server::openapi_json()),
        Command::Keys {
            command: KeysCommand::New(a),
        } => keys_new(a),
        Command::Counters { command } => counters(&global, command).await,
        Command::Queue { command } => queue(&global, command).await,
        Command::Erase(a) => erase(&global, a).await,
        Command::EraseSubject(a) => erase_subject(&global, a).await,
        Command::Erasure {
            command: ErasureCommand::Verify { receipt_id },
        } => erasure_verify(&global, &receipt_id).await,
        Command::Erasure {
            command: ErasureCommand::Resume { route },
        } => {
            let coll = global.collection(&route).await?;
            print_json(&coll.resume_erasures().await?)
        }
        Command::Analytics { command } => analytics(&global, command).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chronos_db::{DatabaseType, Route};

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn failures_print_on_one_line() {
        let f = Failure::new("CONFIG_ERROR", "invalid config:\n$.a: bad\n$.b: worse");
        assert_eq!(
            f.to_string(),
            "error: CONFIG_ERROR: invalid config: $.a: bad; $.b: worse"
        );
    }

    #[test]
    fn tier_defaults_follow_the_database_type() {
        let cli = Cli::parse_from(["chronos", "get", "--collection", "c", "--tenant", "t", "x"]);
        let Command::Get(a) = cli.command else {
            panic!("parsed as get")
        };
        assert_eq!(
            a.route.route(),
            Route::tenant(DatabaseType::Runtime, "t", "c").unwrap()
        );
        let cli = Cli::parse_from(["chronos", "get", "--db", "logs", "--collection", "c", "x"]);
        let Command::Get(a) = cli.command else {
            panic!("parsed as get")
        };
        assert_eq!(a.route.route(), Route::logs("c").unwrap());
    }
}
