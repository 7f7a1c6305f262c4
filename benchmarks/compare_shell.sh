#!/usr/bin/env bash
# The baseline for benchmarks/bench_stages.py: agent_executor's integration run
# done the way seed 004's run-tests.sh does it, in plain bash:
#   compose up -d, poll until every container is healthy, psql the migrations,
#   pytest with coverage and junit, compose down -v.
# It prints one "stage <name> <seconds>" line per stage for the benchmark to read.
# Unlike the seed it publishes dynamic ports (the seed's are pinned) so it can
# run next to anything else; it reads them back with `compose port`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVICE_DIR="$ROOT/services/agent_executor"
COMPOSE_FILE="$ROOT/compose/agent_executor.yml"
PROJECT="bench-shell-$$"
OUT="${BENCH_OUT:-$(mktemp -d)}"
PYTHON="${PYTHON:-python3}"

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
deadline=$((SECONDS + 60))
for svc in postgres dragonfly nats; do
    cid="$(compose ps -q "$svc")"
    until [ "$(docker inspect -f '{{.State.Health.Status}}' "$cid")" = healthy ]; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "$svc not healthy after 60s" >&2
            exit 3
        fi
        sleep 1
    done
done
end wait

port() { compose port "$1" "$2" | awk -F: '{print $NF}'; }
export POSTGRES_HOST=127.0.0.1 POSTGRES_PORT="$(port postgres 5432)"
export POSTGRES_USER=test POSTGRES_PASSWORD=test POSTGRES_DB=agent_executor_test
export DRAGONFLY_HOST=127.0.0.1 DRAGONFLY_PORT="$(port dragonfly 6379)"
export NATS_URL="nats://127.0.0.1:$(port nats 4222)"
export DISABLE_VAULT_AUTH=true TESTING=true
export OPENAI_API_KEY="${OPENAI_API_KEY:-sk-local-placeholder}"

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
