//! Helpers shared by the integration test binaries (each includes this file as `mod common`).

/// The values of the `CHRONOS_TEST_*` variables that locate a test server (set by
/// `eval "$(scripts/test-servers.sh env)"`), or `None` when one is missing: the test is then
/// skipped with a printed reason, except under CI (`CI=true`), where a missing server fails
/// the test — a server-backed test never passes silently there.
///
/// ```ignore
/// let Some([uri]) = common::servers(["CHRONOS_TEST_MONGO_URI"]) else { return };
/// ```
pub fn servers<const N: usize>(names: [&str; N]) -> Option<[String; N]> {
    let values = names.map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()));
    let missing: Vec<&str> = names
        .iter()
        .zip(&values)
        .filter(|(_, v)| v.is_none())
        .map(|(n, _)| *n)
        .collect();
    if missing.is_empty() {
        return Some(values.map(Option::unwrap_or_default));
    }
    let what = missing.join(", ");
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{what} is required in CI: start the servers with scripts/test-servers.sh");
    }
    eprintln!(
        "skipped: {what} is not set (run: scripts/test-servers.sh start && eval \"$(scripts/test-servers.sh env)\")"
    );
    None
}
