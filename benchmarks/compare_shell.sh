#!/usr/bin/env bash
# The baseline for benchmarks/bench_stages.py: agent_executor's integration run
# done the way seed 004's run-tests.sh does it, in plain bash:
#   compose up -d; `compose port` for each service; poll the servers directly
#   with 1 s sleeps (`until pg_isready ...; do sleep 1; done`, a Redis PING loop,
#   a NATS INFO loop), not Docker's healthchecks; psql the migrations; pytest
#   with coverage and junit; compose down -v.
# It prints one "stage <name> <seconds>" line per stage for the benchmark to
# read. Like the seed it collects no container logs (so it has no collect stage).
# Unlike the seed it publishes dynamic ports (the seed's are pinned) so it can
# run next to anything else, which is why it asks `compose port`. The Redis and
# NATS loops speak the protocol over bash's /dev/tcp (the seed used redis-cli
# and curl; neither is needed for a one-line exchange).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVICE_DIR="$ROOT/services/agent_executor"
COMPOSE_FILE="$ROOT/compose/agent_executor.yml"
PROJECT="bench-shell-$$"
OUT="${BENCH_OUT:-$(mktemp -d)}"
PYTHON="${PYTHON:-python3}"
ATTEMPTS=60

if docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
else
    COMPOSE=(docker-compose)
fi
compose() { "${COMPOSE[@]}" -p "$PROJECT" -f "$COMPOSE_FILE" "$@"; }

now() { date +%s.%N; }
stage_start=0
begin() { stage_start=$(now); }
end() { awk -v a="$(now)" -v b="$stage_start" -v n="$1" 'BEGIN { printf "stage %s %.3f\n", n, a - b }'; }

cleanup() {
    begin
    compose down -v --remove-orphans >/dev/null 2>&1 || true
    end down
}
trap cleanup EXIT

begin
compose up -d >/dev/null 2>&1
end up

begin
port() { compose port "$1" "$2" | awk -F: '{print $NF}'; }
export POSTGRES_HOST=127.0.0.1 POSTGRES_PORT="$(port postgres 5432)"
export POSTGRES_USER=test POSTGRES_PASSWORD=test POSTGRES_DB=agent_executor_test
export DRAGONFLY_HOST=127.0.0.1 DRAGONFLY_PORT="$(port dragonfly 6379)"
NATS_PORT="$(port nats 4222)"
export NATS_URL="nats://127.0.0.1:$NATS_PORT"
export DISABLE_VAULT_AUTH=true TESTING=true
export OPENAI_API_KEY="${OPENAI_API_KEY:-sk-local-placeholder}"

redis_ping() {
    exec 3<>"/dev/tcp/127.0.0.1/$DRAGONFLY_PORT" || return 1
    printf 'PING\r\n' >&3
    local reply=""
    read -r -t 2 reply <&3 || true
    exec 3<&- 3>&-
    [[ "$reply" == "+PONG"* ]]
}
nats_info() {
    exec 3<>"/dev/tcp/127.0.0.1/$NATS_PORT" || return 1
    local reply=""
    read -r -t 2 reply <&3 || true
    exec 3<&- 3>&-
    [[ "$reply" == "INFO "* ]]
}
give_up() { echo "$1 not ready after $ATTEMPTS attempts" >&2; exit 3; }

tries=0
until pg_isready -q -h "$POSTGRES_HOST" -p "$POSTGRES_PORT" -U "$POSTGRES_USER" -d "$POSTGRES_DB"; do
    tries=$((tries + 1)); [ "$tries" -lt "$ATTEMPTS" ] || give_up postgres
    sleep 1
done
tries=0
until redis_ping 2>/dev/null; do
    tries=$((tries + 1)); [ "$tries" -lt "$ATTEMPTS" ] || give_up dragonfly
    sleep 1
done
tries=0
until nats_info 2>/dev/null; do
    tries=$((tries + 1)); [ "$tries" -lt "$ATTEMPTS" ] || give_up nats
    sleep 1
done
end wait

begin
for migration in "$SERVICE_DIR"/migrations/*.sql; do
    PGPASSWORD="$POSTGRES_PASSWORD" psql -q -v ON_ERROR_STOP=1 -h "$POSTGRES_HOST" \
        -p "$POSTGRES_PORT" -U "$POSTGRES_USER" -d "$POSTGRES_DB" -f "$migration" >/dev/null
done
end migrate

begin
printf '[pytest]\n' > "$OUT/pytest.ini"
set +e
(cd "$SERVICE_DIR" && "$PYTHON" -m pytest tests/integration -c "$OUT/pytest.ini" \
    --rootdir="$SERVICE_DIR" -p no:cacheprovider --timeout=300 --tb=short -q \
    --cov=agent_executor --cov-report="xml:$OUT/coverage.xml" \
    --junitxml="$OUT/junit.xml" >"$OUT/pytest.log" 2>&1)
status=$?
set -e
end test
exit "$status"
