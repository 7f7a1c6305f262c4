#!/bin/bash
# Entrypoint of the postgres:15 stand-in: the subset of the official image's
# behaviour that test stacks rely on.
#  - first start: initdb (UTF-8, C.UTF-8) with POSTGRES_USER as superuser and
#    POSTGRES_PASSWORD as its password, then create POSTGRES_DB;
#  - runs the server as the unprivileged `postgres` user (PostgreSQL refuses root);
#  - listens on every interface, port 5432, password auth from the network.
# The database is created in single-user mode, so no temporary server ever
# listens: a healthcheck cannot see "ready" before initialisation is done.
set -euo pipefail

if [ "${1:0:1}" = '-' ]; then
    set -- postgres "$@"
fi

if [ "$1" = 'postgres' ] && [ "$(id -u)" = '0' ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown -R postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 0700 "$PGDATA"
    exec gosu postgres "$BASH_SOURCE" "$@"
fi

if [ "$1" = 'postgres' ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    user="${POSTGRES_USER:-postgres}"
    db="${POSTGRES_DB:-$user}"
    if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "${POSTGRES_HOST_AUTH_METHOD:-}" != 'trust' ]; then
        echo "error: POSTGRES_PASSWORD is not set (set POSTGRES_HOST_AUTH_METHOD=trust to allow no password)" >&2
        exit 1
    fi
    pwfile="$(mktemp)"
    printf '%s\n' "${POSTGRES_PASSWORD:-}" > "$pwfile"
    initdb --username="$user" --pwfile="$pwfile" --encoding=UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" \
        -D "$PGDATA" >/dev/null
    rm -f "$pwfile"
    {
        echo "host all all 0.0.0.0/0 ${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
        echo "host all all ::/0 ${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
    } >> "$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
    if [ "$db" != 'postgres' ]; then
        # Identifier quoting: double any double quote in the name.
        quoted="\"${db//\"/\"\"}\""
        echo "CREATE DATABASE $quoted" | postgres --single -D "$PGDATA" -j postgres >/dev/null
    fi
    echo "stand-in: initialised cluster (UTF-8) with user $user, database $db"
fi

exec "$@"
