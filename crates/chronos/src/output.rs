//! What the CLI prints: results as JSON on stdout, failures as one line on stderr. No
//! output path panics, whatever stdout and stderr are.

use std::io::Write;

/// A failure as the CLI reports it: `error: <code>: <message>`.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }
}

impl From<chronos_db::Error> for Failure {
    fn from(e: chronos_db::Error) -> Self {
        Failure::new(e.code(), e.to_string())
    }
}

impl From<chronos_db::config::ConfigError> for Failure {
    fn from(e: chronos_db::config::ConfigError) -> Self {
        chronos_db::Error::from(e).into()
    }
}

impl From<chronos_db::routing::RouteError> for Failure {
    fn from(e: chronos_db::routing::RouteError) -> Self {
        chronos_db::Error::from(e).into()
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // One line, whatever the message: multi-line errors (config problems) are joined.
        let mut message = String::new();
        for line in self
            .message
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            if !message.is_empty() {
                message.push_str(if message.ends_with(':') { " " } else { "; " });
            }
            message.push_str(line);
        }
        write!(f, "error: {}: {}", self.code, message)
    }
}

/// Prints a value as pretty JSON on stdout. A closed pipe (`| head`) is not an error.
pub(crate) fn print_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::new("INTERNAL_ERROR", format!("cannot encode the output: {e}")))?;
    print_text(&text)
}

/// Prints a line on stdout. A closed pipe (`| head`) is not an error; any other write
/// failure (a full disk) is reported, never a panic.
pub(crate) fn print_text(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Failure::new(
            "IO_ERROR",
            format!("cannot write to stdout: {e}"),
        )),
        _ => Ok(()),
    }
}
