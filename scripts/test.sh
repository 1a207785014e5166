#!/usr/bin/env bash
# The full test suite: the one command README.md gives, and what CI runs.
# Builds once in debug (tests) into a target dir kept between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${CHRONOS_CACHE_DIR:-$HOME/.cache/chronos-db}/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
cargo fmt --all -- --check
cargo test --workspace --all-targets
cargo test --workspace --doc
