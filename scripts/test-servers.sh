#!/usr/bin/env bash
# Install (cached) and run, on 127.0.0.1 only, the real servers that the
# backend tests talk to:
#
#   * FerretDB  (MongoDB wire protocol, SQLite handler)  127.0.0.1:27017
#   * s3s-fs    (S3 API on a local dir, SigV4 checked)   127.0.0.1:9000
#   * Azurite   (Azure Blob service emulator)            127.0.0.1:10000
#
# Usage: scripts/test-servers.sh install|start|stop|status|env|create-container NAME|pause NAME|resume NAME
#
#   install              build/install whatever is missing into the cache
#   start                install if needed, wipe old state, start all three,
#                        wait until each answers (non-zero exit on failure)
#   stop                 stop them (safe to call twice)
#   status               say which are up (exit 0 only if all three are up)
#   env                  print `export` lines for the tests
#   create-container N   create blob container N in Azurite (SharedKey auth)
#   list-containers      list Azurite's blob containers
#   pause NAME           stop one server (ferretdb, s3s, azurite), keeping its data
#   resume NAME          start it again on the same data and wait until it answers
#
# Environment:
#   CHRONOS_CACHE_DIR     cache root (default ~/.cache/chronos-db); binaries go
#                         to $CHRONOS_CACHE_DIR/servers, one dir per pinned version
#   CHRONOS_SERVERS_RUN   runtime state: data, pid files, logs
#                         (default /tmp/chronos-test-servers)
#   CHRONOS_SERVERS_WAIT  seconds to wait for each server to come up (default 60)
#   CHRONOS_SERVERS_DEBUG=1  also write Azurite's (large) debug log
#
# Everything this script says goes to stderr; only `env` (and the listing of
# `list-containers`) write to stdout.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
HELPERS="$SCRIPT_DIR/servers"

CACHE_DIR="${CHRONOS_CACHE_DIR:-$HOME/.cache/chronos-db}/servers"
RUN_DIR="${CHRONOS_SERVERS_RUN:-/tmp/chronos-test-servers}"
WAIT_SECS="${CHRONOS_SERVERS_WAIT:-60}"
AZURITE_DEBUG="${CHRONOS_SERVERS_DEBUG:-}"
[[ "$AZURITE_DEBUG" == 1 ]] || AZURITE_DEBUG=

HOST=127.0.0.1

# Pinned versions.
FERRETDB_VERSION=1.24.2
S3S_FS_VERSION=0.14.1
AZURITE_VERSION=3.35.0

FERRETDB_PORT=27017
S3_PORT=9000
AZURITE_PORT=10000

S3_ACCESS_KEY=chronos-test
S3_SECRET_KEY=chronos-test-secret
S3_REGION=us-east-1

# Azurite's well-known development account (public, documented by Microsoft).
AZURE_ACCOUNT=devstoreaccount1
AZURE_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

# What a finished install writes to its .installed stamp; bump the suffix when
# the install recipe changes, so that caches made by an older one are redone.
FERRETDB_STAMP="$FERRETDB_VERSION-r2"

FERRETDB_DIR="$CACHE_DIR/ferretdb-$FERRETDB_VERSION"
FERRETDB_BIN="$FERRETDB_DIR/bin/ferretdb"
S3S_DIR="$CACHE_DIR/s3s-fs-$S3S_FS_VERSION"
S3S_BIN="$S3S_DIR/bin/s3s-fs"
AZURITE_DIR="$CACHE_DIR/azurite-$AZURITE_VERSION"
AZURITE_MAIN="$AZURITE_DIR/node_modules/azurite/dist/src/blob/main.js"

SERVERS=(ferretdb s3s azurite)

log() { printf '[test-servers] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

need() { command -v "$1" >/dev/null 2>&1 || die "'$1' is required but not on PATH"; }

# ---------------------------------------------------------------- install ---

# Serialise installs (two test runs starting at once must not build twice
# into the same directory).
with_install_lock() {
    mkdir -p "$CACHE_DIR"
    exec 9>"$CACHE_DIR/.install.lock"
    if ! flock -n 9; then
        log "another install is running; waiting for its lock ($CACHE_DIR/.install.lock)"
        flock 9
    fi
    "$@"
    flock -u 9
    exec 9>&-
}

installed() { # DIR VERSION BIN
    [[ -x "$3" && -f "$1/.installed" && "$(cat "$1/.installed")" == "$2" ]]
}

install_ferretdb() {
    if installed "$FERRETDB_DIR" "$FERRETDB_STAMP" "$FERRETDB_BIN"; then
        log "ferretdb $FERRETDB_VERSION: cached at $FERRETDB_BIN"
        return
    fi
    need go
    need python3
    log "ferretdb $FERRETDB_VERSION: building from the Go module (takes a few minutes) ..."
    rm -rf "$FERRETDB_DIR"
    mkdir -p "$FERRETDB_DIR/bin"
    local t0=$SECONDS
    # A plain `go install .../cmd/ferretdb@vX` builds a binary that panics at
    # start ("Invalid build/version/version.txt"): the module ships that file
    # empty and expects the build to fill it in. So fetch the module source
    # through the Go module proxy, write version.txt into a writable copy and
    # build there (with the module's own go.mod/go.sum).
    (
        set -euo pipefail
        export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0
        cd "$FERRETDB_DIR"
        mod_dir="$(go mod download -json "github.com/FerretDB/FerretDB@v$FERRETDB_VERSION" |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
        rm -rf src
        cp -r "$mod_dir" src
        chmod -R u+w src
        echo "v$FERRETDB_VERSION" >src/build/version/version.txt
        cd src
        go build -trimpath -o "$FERRETDB_BIN" ./cmd/ferretdb
        "$FERRETDB_BIN" --version
    ) >"$FERRETDB_DIR/install.log" 2>&1 || {
        tail -n 30 "$FERRETDB_DIR/install.log" >&2
        die "ferretdb build failed (log: $FERRETDB_DIR/install.log)"
    }
    rm -rf "$FERRETDB_DIR/src"
    [[ -x "$FERRETDB_BIN" ]] || die "ferretdb build produced no $FERRETDB_BIN"
    echo "$FERRETDB_STAMP" >"$FERRETDB_DIR/.installed"
    log "ferretdb $FERRETDB_VERSION: built in $((SECONDS - t0)) s"
}

install_s3s() {
    if installed "$S3S_DIR" "$S3S_FS_VERSION" "$S3S_BIN"; then
        log "s3s-fs $S3S_FS_VERSION: cached at $S3S_BIN"
        return
    fi
    need cargo
    log "s3s-fs $S3S_FS_VERSION: building with cargo install (takes a few minutes) ..."
    rm -rf "$S3S_DIR"
    mkdir -p "$S3S_DIR"
    local t0=$SECONDS
    (
        # Build outside the workspace so its toolchain/config files don't apply,
        # and in cargo's own temporary target dir.
        cd "$S3S_DIR"
        unset CARGO_TARGET_DIR CARGO_BUILD_TARGET_DIR
        cargo install "s3s-fs@$S3S_FS_VERSION" --features binary --locked --root "$S3S_DIR"
    ) >"$S3S_DIR/install.log" 2>&1 || {
        tail -n 30 "$S3S_DIR/install.log" >&2
        die "s3s-fs build failed (log: $S3S_DIR/install.log)"
    }
    [[ -x "$S3S_BIN" ]] || die "cargo install produced no $S3S_BIN"
    echo "$S3S_FS_VERSION" >"$S3S_DIR/.installed"
    log "s3s-fs $S3S_FS_VERSION: built in $((SECONDS - t0)) s"
}

install_azurite() {
    if installed "$AZURITE_DIR" "$AZURITE_VERSION" "$AZURITE_DIR/node_modules/.bin/azurite-blob" \
        && [[ -f "$AZURITE_MAIN" ]]; then
        log "azurite $AZURITE_VERSION: cached at $AZURITE_DIR"
        return
    fi
    need node
    need npm
    log "azurite $AZURITE_VERSION: npm install ..."
    rm -rf "$AZURITE_DIR"
    mkdir -p "$AZURITE_DIR"
    local t0=$SECONDS
    (
        cd "$AZURITE_DIR"
        npm install --prefix "$AZURITE_DIR" --no-audit --no-fund --no-save \
            --omit=dev "azurite@$AZURITE_VERSION"
    ) >"$AZURITE_DIR/install.log" 2>&1 || {
        tail -n 30 "$AZURITE_DIR/install.log" >&2
        die "azurite install failed (log: $AZURITE_DIR/install.log)"
    }
    [[ -f "$AZURITE_MAIN" ]] || die "npm install produced no $AZURITE_MAIN"
    echo "$AZURITE_VERSION" >"$AZURITE_DIR/.installed"
    log "azurite $AZURITE_VERSION: installed in $((SECONDS - t0)) s"
}

do_install() {
    local t0=$SECONDS
    install_azurite
    install_s3s
    install_ferretdb
    log "install: done in $((SECONDS - t0)) s (cache: $CACHE_DIR)"
}

cmd_install() { with_install_lock do_install; }

# ---------------------------------------------------------- run / stop ---

port_of() {
    case "$1" in
    ferretdb) echo "$FERRETDB_PORT" ;;
    s3s) echo "$S3_PORT" ;;
    azurite) echo "$AZURITE_PORT" ;;
    esac
}

pidfile() { echo "$RUN_DIR/$1.pid"; }
logfile() { echo "$RUN_DIR/$1.log"; }

# "STATE STARTTIME" of a live pid, from /proc/PID/stat (fields 3 and 22; the
# command name in field 2 may hold spaces or parentheses, so cut after the
# last ')').
proc_state() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    awk '{print $1, $20}' <<<"$stat"
}

# Print the pid of a running server of ours, or fail. The pid file holds
# "PID STARTTIME", so a pid reused by an unrelated process is never taken
# for ours (and never signalled). A zombie counts as not running.
running_pid() {
    local f pid start st
    f="$(pidfile "$1")"
    [[ -f "$f" ]] || return 1
    read -r pid start <"$f" 2>/dev/null || return 1
    [[ "$pid" =~ ^[0-9]+$ && -n "$start" ]] || return 1
    st="$(proc_state "$pid")" || return 1
    [[ "$st" == "${st%% *} $start" && "${st%% *}" != Z && "${st%% *}" != X ]] || return 1
    echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

launch() { # NAME CMD...
    local name="$1"
    shift
    local lf
    lf="$(logfile "$name")"
    log "starting $name: $*"
    # setsid: own session/process group, so stop can signal the whole group
    # and the server outlives this script. No stdin, output to the log.
    setsid nohup "$@" </dev/null >>"$lf" 2>&1 &
    local pid=$! st
    st="$(proc_state "$pid")" || st="? ?"
    echo "$pid ${st#* }" >"$(pidfile "$name")"
}

wait_up() { # NAME
    local name="$1" port pid deadline
    port="$(port_of "$name")"
    deadline=$((SECONDS + WAIT_SECS))
    while :; do
        if ! pid="$(running_pid "$name")"; then
            log "ERROR: $name exited during startup; last lines of $(logfile "$name"):"
            tail -n 40 "$(logfile "$name")" >&2 || true
            return 1
        fi
        if port_open "$port" && ready_check "$name"; then
            log "$name is up on $HOST:$port (pid $pid)"
            return 0
        fi
        if ((SECONDS >= deadline)); then
            log "ERROR: $name did not come up on $HOST:$port within ${WAIT_SECS}s; last lines of $(logfile "$name"):"
            tail -n 40 "$(logfile "$name")" >&2 || true
            return 1
        fi
        sleep 0.5
    done
}

# A protocol-level check beyond "the port accepts connections".
ready_check() {
    case "$1" in
    ferretdb) python3 "$HELPERS/mongo_ping.py" "$HOST" "$FERRETDB_PORT" >/dev/null 2>&1 ;;
    s3s) curl -s -o /dev/null --noproxy "*" --max-time 5 "http://$HOST:$S3_PORT/" ;;
    azurite) curl -s -o /dev/null --noproxy "*" --max-time 5 "http://$HOST:$AZURITE_PORT/$AZURE_ACCOUNT?comp=list" ;;
    esac
}

stop_one() {
    local name="$1" pid i
    if pid="$(running_pid "$name")"; then
        log "stopping $name (pid $pid)"
        # The server leads its own process group (setsid); signal the group.
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            running_pid "$name" >/dev/null || break
            sleep 0.1
        done
        if running_pid "$name" >/dev/null; then
            log "$name did not stop on SIGTERM; sending SIGKILL"
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
            sleep 0.2
        fi
    fi
    rm -f "$(pidfile "$name")"
}

cmd_stop() {
    local s
    for s in "${SERVERS[@]}"; do stop_one "$s"; done
    log "stopped"
}

launch_server() { # NAME: start one server on its existing state
    case "$1" in
    ferretdb)
        launch ferretdb "$FERRETDB_BIN" \
            --handler=sqlite \
            --sqlite-url="file:$RUN_DIR/ferretdb/data/" \
            --state-dir="$RUN_DIR/ferretdb/state" \
            --listen-addr="$HOST:$FERRETDB_PORT" \
            --debug-addr=- \
            --telemetry=disable \
            --log-level=INFO
        ;;
    s3s)
        launch s3s "$S3S_BIN" \
            --host "$HOST" \
            --port "$S3_PORT" \
            --access-key "$S3_ACCESS_KEY" \
            --secret-key "$S3_SECRET_KEY" \
            "$RUN_DIR/s3"
        ;;
    azurite)
        launch azurite node "$AZURITE_MAIN" \
            --blobHost "$HOST" \
            --blobPort "$AZURITE_PORT" \
            --location "$RUN_DIR/azurite" \
            --disableProductStyleUrl \
            --disableTelemetry \
            --skipApiVersionCheck \
            ${AZURITE_DEBUG:+--debug "$RUN_DIR/azurite-debug.log"}
        ;;
    *) die "unknown server: $1 (ferretdb, s3s, azurite)" ;;
    esac
}

# pause NAME / resume NAME: stop one server and start it again on the same data, for tests
# of outages in the middle of a workload.
cmd_pause() { stop_one "$1"; }
cmd_resume() {
    launch_server "$1"
    wait_up "$1"
}

cmd_start() {
    need python3
    need curl
    with_install_lock do_install

    cmd_stop

    local s port
    for s in "${SERVERS[@]}"; do
        port="$(port_of "$s")"
        if port_open "$port"; then
            die "port $HOST:$port (for $s) is already in use by another process"
        fi
    done

    log "wiping old state in $RUN_DIR"
    # Keep the directory itself (someone may hold it open); clear its content.
    mkdir -p "$RUN_DIR"
    find "$RUN_DIR" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
    mkdir -p "$RUN_DIR/ferretdb/data" "$RUN_DIR/ferretdb/state" "$RUN_DIR/s3" "$RUN_DIR/azurite"

    local name
    for name in "${SERVERS[@]}"; do
        launch_server "$name"
    done

    local failed=0
    for s in "${SERVERS[@]}"; do
        wait_up "$s" || failed=1
    done
    if ((failed)); then
        cmd_stop
        die "some servers failed to start (logs in $RUN_DIR)"
    fi
    log "all servers up; state and logs in $RUN_DIR"
}

cmd_status() {
    local s pid port all=0
    for s in "${SERVERS[@]}"; do
        port="$(port_of "$s")"
        if pid="$(running_pid "$s")"; then
            if port_open "$port"; then
                printf '%-9s up       %s:%s (pid %s)\n' "$s" "$HOST" "$port" "$pid" >&2
            else
                printf '%-9s running  pid %s, but %s:%s not accepting connections\n' "$s" "$pid" "$HOST" "$port" >&2
                all=1
            fi
        else
            printf '%-9s down\n' "$s" >&2
            all=1
        fi
    done
    return "$all"
}

cmd_env() {
    cat <<EOF
export CHRONOS_TEST_MONGO_URI=mongodb://$HOST:$FERRETDB_PORT
export CHRONOS_TEST_S3_ENDPOINT=http://$HOST:$S3_PORT
export CHRONOS_TEST_S3_ACCESS_KEY=$S3_ACCESS_KEY
export CHRONOS_TEST_S3_SECRET_KEY=$S3_SECRET_KEY
export CHRONOS_TEST_S3_REGION=$S3_REGION
export CHRONOS_TEST_AZURE_ENDPOINT=http://$HOST:$AZURITE_PORT/$AZURE_ACCOUNT
export CHRONOS_TEST_AZURE_ACCOUNT=$AZURE_ACCOUNT
export CHRONOS_TEST_AZURE_KEY='$AZURE_KEY'
EOF
}

azure_blob() {
    need python3
    python3 "$HELPERS/azure_blob.py" \
        --endpoint "http://$HOST:$AZURITE_PORT/$AZURE_ACCOUNT" \
        --account "$AZURE_ACCOUNT" --key "$AZURE_KEY" "$@"
}

usage() {
    sed -n '9,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

main() {
    [[ $# -ge 1 ]] || usage
    local cmd="$1"
    shift
    case "$cmd" in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) cmd_env ;;
    create-container)
        [[ $# -eq 1 ]] || die "usage: $0 create-container NAME"
        azure_blob create-container "$1"
        ;;
    list-containers) azure_blob list-containers ;;
    pause)
        [[ $# -eq 1 ]] || die "usage: $0 pause NAME"
        cmd_pause "$1"
        ;;
    resume)
        [[ $# -eq 1 ]] || die "usage: $0 resume NAME"
        cmd_resume "$1"
        ;;
    -h | --help | help) usage ;;
    *) log "unknown command: $cmd"; usage ;;
    esac
}

main "$@"
