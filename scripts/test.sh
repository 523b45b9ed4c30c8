#!/bin/sh
# Set up and run the test suite (real mosquitto, real GStreamer RTSP server, real ONNX model and footage,
# real PostgreSQL), then the linters.
#
# PostgreSQL: the store, outbox and case engine tests run on SQLite and on PostgreSQL. Unless
# SENTINEL_TEST_DATABASE_URL is set already, this script makes sure a local server runs on 127.0.0.1:5432
# (SENTINEL_PG_PORT) -- installing Debian's `postgresql` and starting (or creating) a cluster when it has to,
# as root -- creates the role/database `sentinel_test` and exports the URL. When that cannot be done it says
# why, and the PostgreSQL variants of the tests skip with the reason (the SQLite ones still run).
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh --test

PG_PORT="${SENTINEL_PG_PORT:-5432}"
PG_ROLE=sentinel_test

pg_answers() {
    .venv/bin/python -c "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1).close()" \
        "$PG_PORT" 2>/dev/null
}

as_postgres() {  # run a command as the cluster owner
    su postgres -s /bin/sh -c "$1"
}

start_postgres() {
    # Returns 0 with a server answering on PG_PORT and the role/database created; 1 (with PG_WHY) if not.
    if [ "$(id -u)" -ne 0 ]; then
        PG_WHY="not root: cannot install, start or configure a local PostgreSQL"
        return 1
    fi
    if ! pg_answers; then
        if ! command -v pg_lsclusters >/dev/null 2>&1; then
            echo "test: installing PostgreSQL (Debian package postgresql)"
            if ! { env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null &&
                env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >/dev/null; }; then
                PG_WHY="apt-get install postgresql failed"
                return 1
            fi
        fi
        cluster=$(pg_lsclusters -h 2>/dev/null | awk -v port="$PG_PORT" '$3 == port {print $1, $2; exit}')
        if [ -z "$cluster" ]; then
            version=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1)
            if [ -z "$version" ]; then
                PG_WHY="no PostgreSQL server binaries under /usr/lib/postgresql"
                return 1
            fi
            name=main
            [ ! -d "/etc/postgresql/$version/main" ] || name=sentinel
            echo "test: creating PostgreSQL cluster $version/$name on port $PG_PORT"
            pg_createcluster -p "$PG_PORT" "$version" "$name" >/dev/null || { PG_WHY="pg_createcluster failed"; return 1; }
            cluster="$version $name"
        fi
        echo "test: starting PostgreSQL cluster $cluster"
        # shellcheck disable=SC2086
        pg_ctlcluster $cluster start || { PG_WHY="pg_ctlcluster $cluster start failed"; return 1; }
        tries=0
        until pg_answers; do
            tries=$((tries + 1))
            if [ "$tries" -gt 60 ]; then
                PG_WHY="the cluster $cluster started but does not answer on 127.0.0.1:$PG_PORT"
                return 1
            fi
            sleep 0.5
        done
    fi
    if ! id postgres >/dev/null 2>&1; then
        PG_WHY="a server answers on 127.0.0.1:$PG_PORT but there is no local postgres account to configure it"
        return 1
    fi
    # The role may create (and drop) the per-session test databases and the roles of the secrets test.
    if ! as_postgres "psql -X -q -p $PG_PORT -v ON_ERROR_STOP=1 -d postgres" >/dev/null 2>&1 <<SQL
DO \$\$ BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') THEN
    ALTER ROLE $PG_ROLE LOGIN CREATEDB CREATEROLE PASSWORD '$PG_ROLE';
  ELSE
    CREATE ROLE $PG_ROLE LOGIN CREATEDB CREATEROLE PASSWORD '$PG_ROLE';
  END IF;
END \$\$;
SELECT 'CREATE DATABASE $PG_ROLE OWNER $PG_ROLE' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_ROLE')
\gexec
SQL
    then
        PG_WHY="a server answers on 127.0.0.1:$PG_PORT but is not a local cluster this script can configure"
        return 1
    fi
    return 0
}

if [ -n "${SENTINEL_TEST_DATABASE_URL:-}" ]; then
    echo "test: PostgreSQL tests use SENTINEL_TEST_DATABASE_URL"
elif start_postgres; then
    SENTINEL_TEST_DATABASE_URL="postgresql://$PG_ROLE:$PG_ROLE@127.0.0.1:$PG_PORT/$PG_ROLE"
    export SENTINEL_TEST_DATABASE_URL
    echo "test: PostgreSQL on 127.0.0.1:$PG_PORT (role $PG_ROLE)"
else
    echo "test: no PostgreSQL for the tests ($PG_WHY): the PostgreSQL variants skip, saying so"
fi

.venv/bin/ruff check sentinel tests bench tools
.venv/bin/mypy sentinel
# four pytest workers on two cores: most of the wall time is real-time waiting (paced streams, outages,
# debounces), so two workers kept the CPU half idle (11 min); four take 6-7 min (SENTINEL_TEST_JOBS to change)
exec .venv/bin/python -m pytest -q -p no:cacheprovider -n "${SENTINEL_TEST_JOBS:-4}" "$@"
