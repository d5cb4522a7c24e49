#!/usr/bin/env bash
# Project-local PostgreSQL (port 54329) and Redis (port 63799) under .var/.
#
#   scripts/services.sh start   start them, or reuse the ones already running; write .var/env
#   scripts/services.sh stop    stop them
#
# DATABASE_URL / REDIS_URL in the environment point at servers elsewhere: the matching local
# server is then neither started nor stopped. Servers of the machine on the standard ports
# are never touched.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
VAR=$ROOT/.var
PGDATA=$VAR/postgres/data
PG_PORT=${MERGEGUARD_PG_PORT:-54329}
REDIS_DIR=$VAR/redis
REDIS_PORT=${MERGEGUARD_REDIS_PORT:-63799}
OWNER=mergeguard  # PostgreSQL refuses to run as root: as root, the cluster belongs to this user

is_root() { [ "$(id -u)" = 0 ]; }
as_owner() { if is_root; then runuser -u "$OWNER" -- "$@"; else "$@"; fi; }
say() { echo "services: $*"; }

# A port is taken when something listens on it, and also when an outgoing connection uses it as
# its local port (54329 lies in Linux's ephemeral range): a server could not bind it then either.
port_in_use() {
    if command -v ss >/dev/null; then
        [ -n "$(ss -Htan "( sport = :$1 )" 2>/dev/null)" ]
    else
        (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}

# The wanted port, or the next free one when another program holds it.
free_port_from() {
    local port=$1
    while port_in_use "$port"; do port=$((port + 1)); done
    echo "$port"
}

apt_install() {
    if is_root && command -v apt-get >/dev/null; then
        say "installing $*"
        apt-get update -qq
        apt-get install -y -qq "$@" >/dev/null
    else
        echo "services: please install $* (or set DATABASE_URL / REDIS_URL)" >&2
        exit 1
    fi
}

pg_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

# A quarter of the machine's memory for PostgreSQL's buffer cache, as its documentation advises
# for a dedicated server, between its 128MB default and 2GB: a load of a million customers
# keeps its indexes in it instead of copying their pages in and out of the kernel's cache.
shared_buffers() {
    local kb
    kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo 2>/dev/null || echo 0)
    kb=$((kb / 4 / 1024))
    [ "$kb" -gt 2048 ] && kb=2048
    [ "$kb" -lt 128 ] && kb=128
    echo "${kb}MB"
}

pg_extension_dir() {
    local version
    version=$(basename "$(dirname "$1")")
    echo "/usr/share/postgresql/$version/extension"
}

ensure_postgres_installed() {
    local bin
    bin=$(pg_bin)
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
        apt_install postgresql postgresql-contrib
        bin=$(pg_bin)
    fi
    if [ ! -f "$(pg_extension_dir "$bin")/pg_trgm.control" ]; then
        apt_install postgresql-contrib
    fi
}

# Under root the cluster's owner must be able to reach .var: every folder above it needs o+x.
open_path_for_owner() {
    id -u "$OWNER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$OWNER"
    local dir=$VAR
    while [ "$dir" != / ]; do
        dir=$(dirname "$dir")
        runuser -u "$OWNER" -- test -x "$dir" || chmod o+x "$dir"
    done
}

start_postgres() {
    ensure_postgres_installed
    local bin
    bin=$(pg_bin)
    mkdir -p "$VAR/postgres"
    if is_root; then
        open_path_for_owner
        chown "$OWNER": "$VAR/postgres"
    fi
    if [ ! -f "$PGDATA/PG_VERSION" ]; then
        say "creating a PostgreSQL cluster in $PGDATA"
        as_owner "$bin/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
        # TCP on 127.0.0.1 only (no socket: the path could be too long); fast, not durable: dev and tests only.
        cat <<CONF | as_owner tee -a "$PGDATA/postgresql.conf" >/dev/null
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
# An import batch locks every value it carries (advisory locks) in one transaction.
max_locks_per_transaction = 1024
CONF
    fi
    if as_owner "$bin/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
        PG_PORT=$(cat "$VAR/postgres/port" 2>/dev/null || echo "$PG_PORT")
        say "PostgreSQL already running on 127.0.0.1:$PG_PORT"
    else
        # A port can still be taken between the check and the start: then the next one.
        local tries=0
        PG_PORT=$(free_port_from "$PG_PORT")
        until as_owner truncate -s 0 "$VAR/postgres/server.log" \
                && as_owner "$bin/pg_ctl" -D "$PGDATA" -l "$VAR/postgres/server.log" \
                    -o "-p $PG_PORT -c shared_buffers=$(shared_buffers)" -w -t 60 start >/dev/null; do
            tries=$((tries + 1))
            if [ "$tries" -ge 5 ] || ! grep -q "Address already in use" "$VAR/postgres/server.log"; then
                echo "services: see $VAR/postgres/server.log" >&2
                exit 1
            fi
            PG_PORT=$(free_port_from $((PG_PORT + 1)))
        done
        echo "$PG_PORT" > "$VAR/postgres/port"
        say "PostgreSQL started on 127.0.0.1:$PG_PORT"
    fi
    local psql=(env PGOPTIONS="-c client_min_messages=warning" "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qtA)
    if [ -z "$("${psql[@]}" -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'mergeguard'")" ]; then
        "$bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres mergeguard
    fi
    # template1 too, so the test database pytest creates has it without superuser tricks.
    "${psql[@]}" -d template1 -c 'CREATE EXTENSION IF NOT EXISTS pg_trgm'
    "${psql[@]}" -d mergeguard -c 'CREATE EXTENSION IF NOT EXISTS pg_trgm'
}

stop_postgres() {
    local bin
    bin=$(pg_bin)
    if [ -n "$bin" ] && [ -f "$PGDATA/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
        as_owner "$bin/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
        say "PostgreSQL stopped"
    fi
}

redis_ping() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

start_redis() {
    command -v redis-server >/dev/null || apt_install redis-server
    mkdir -p "$REDIS_DIR"
    if [ -f "$REDIS_DIR/redis.pid" ] && kill -0 "$(cat "$REDIS_DIR/redis.pid")" 2>/dev/null; then
        REDIS_PORT=$(cat "$REDIS_DIR/port" 2>/dev/null || echo "$REDIS_PORT")
        if redis_ping; then
            say "Redis already running on 127.0.0.1:$REDIS_PORT"
            return
        fi
    fi
    REDIS_PORT=$(free_port_from "$REDIS_PORT")
    echo "$REDIS_PORT" > "$REDIS_DIR/port"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --dir "$REDIS_DIR" \
        --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" --save '' --appendonly no
    for _ in $(seq 50); do redis_ping && break; sleep 0.1; done
    redis_ping || { echo "services: Redis did not start, see $REDIS_DIR/redis.log" >&2; exit 1; }
    say "Redis started on 127.0.0.1:$REDIS_PORT"
}

stop_redis() {
    local pidfile=$REDIS_DIR/redis.pid
    [ -f "$pidfile" ] || return 0
    kill "$(cat "$pidfile")" 2>/dev/null || true
    # Redis removes its pidfile on exit; the process may linger a moment after that.
    for _ in $(seq 100); do [ -f "$pidfile" ] || break; sleep 0.1; done
    rm -f "$pidfile"
    say "Redis stopped"
}

case "${1:-start}" in
    start)
        mkdir -p "$VAR"
        if [ -z "${DATABASE_URL:-}" ]; then
            start_postgres
            database_url=postgres://postgres@127.0.0.1:$PG_PORT/mergeguard
        else
            database_url=$DATABASE_URL
        fi
        if [ -z "${REDIS_URL:-}" ]; then
            start_redis
            redis_url=redis://127.0.0.1:$REDIS_PORT/0
        else
            redis_url=$REDIS_URL
        fi
        # A key for this checkout's development and test runs, made once; production sets its own.
        [ -s "$VAR/secret_key" ] || head -c 48 /dev/urandom | base64 | tr -d '\n/+=' > "$VAR/secret_key"
        printf 'DATABASE_URL=%s\nREDIS_URL=%s\nSECRET_KEY=%s\n' \
            "$database_url" "$redis_url" "${SECRET_KEY:-$(cat "$VAR/secret_key")}" > "$VAR/env"
        ;;
    stop)
        [ -n "${DATABASE_URL:-}" ] || stop_postgres
        [ -n "${REDIS_URL:-}" ] || stop_redis
        ;;
    *)
        echo "usage: $0 start|stop" >&2
        exit 2
        ;;
esac
