#!/usr/bin/env bash
# The full test suite: the one command README.md gives, and what CI runs.
#
# 1. installs (cached) and starts the test servers on 127.0.0.1 — FerretDB (MongoDB wire
#    protocol), s3s-fs (S3 with SigV4 checks) and Azurite (Azure Blob) — and stops them on exit;
# 2. runs every test once in debug, with the servers' addresses in CHRONOS_TEST_*;
# 3. runs the TypeScript client's suites (npm ci from the committed lock file, tsc, node --test)
#    against the debug `chronos` binary.
# Set CHRONOS_SKIP_SERVERS=1 to run without servers (server-backed tests are then skipped,
# except under CI=true, where they fail).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${CHRONOS_CACHE_DIR:-$HOME/.cache/chronos-db}/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

cargo fmt --all -- --check

if [ "${CHRONOS_SKIP_SERVERS:-0}" != "1" ]; then
  trap 'bash scripts/test-servers.sh stop || true' EXIT
  bash scripts/test-servers.sh start
  eval "$(bash scripts/test-servers.sh env)"
  # The tests share one bucket/container and isolate themselves with key prefixes.
  bash scripts/test-servers.sh create-container chronos-test
  curl -fsS -o /dev/null --aws-sigv4 "aws:amz:${CHRONOS_TEST_S3_REGION}:s3" \
    --user "${CHRONOS_TEST_S3_ACCESS_KEY}:${CHRONOS_TEST_S3_SECRET_KEY}" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -X PUT "${CHRONOS_TEST_S3_ENDPOINT}/chronos-test" || true
fi

cargo test --workspace --all-targets
cargo test --workspace --doc

# The TypeScript client, against the `chronos serve` binary the tests above built.
(
  cd clients/typescript
  npm ci --no-audit --no-fund
  npm run typecheck
  CHRONOS_BIN="$CARGO_TARGET_DIR/debug/chronos" npm test
)
