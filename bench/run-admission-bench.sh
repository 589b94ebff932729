#!/usr/bin/env bash
# Issue 4's admission benchmark: non-streaming throughput of a tenant whose plan sets every
# limit (rate limits, concurrency, budgets) as a ratio to a tenant whose plan sets none, on the
# same gateway, first with the local store and then with the Redis store (a real redis-server).
# Runs are interleaved (unlimited, limited, unlimited, limited, ...) and the medians compared.
# Prints a markdown table (also written to bench/results/admission-latest.md).
#
#   bash bench/run-admission-bench.sh
#   ROUNDS=5 DURATION_S=10 CONNECTIONS=64 bash bench/run-admission-bench.sh
#
# SKIP_BUILD=1 uses the binaries in BUILD_DIR (default build/release). Loopback only; every
# process it starts is stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds="${ROUNDS:-3}"
duration_s="${DURATION_S:-5}"
connections="${CONNECTIONS:-64}"
gateway_threads="${GATEWAY_THREADS:-2}"

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  echo "building Release (scripts/build.sh release)..." >&2
  bash scripts/build.sh release >&2
fi
bin="${BUILD_DIR:-build/release}"
tollgate="$bin/src/tollgate"
mock="$bin/bench/mock_upstream/mock_upstream"
for b in "$tollgate" "$mock" /usr/bin/wrk /usr/bin/redis-server; do
  [[ -x "$b" ]] || { echo "missing $b (build first; redis-server comes from scripts/install-deps.sh --test, wrk from apt-get install wrk)" >&2; exit 1; }
done

work="$(mktemp -d /tmp/tollgate-admission-bench.XXXXXX)"
# shellcheck source=bench/lib.sh
source bench/lib.sh

# --- mock upstream and redis-server ---------------------------------------------------------
start_mock

start_redis

# --- tenants: one without limits, one with every limit set high enough never to refuse ------
keys=()
entries=()
for tenant in open limited; do
  out="$("$tollgate" keygen --tenant "$tenant" --name bench)"
  keys+=("$(sed -n 1p <<<"$out")")
  entries+=("$(grep -E '^ *(- name|prefix|sha256|status):' <<<"$out" | sed 's/^/      /')")
done
cat >"$work/tenants.yaml" <<EOF
plans:
  none: {}
  all:
    requests_per_minute: 100000000
    requests_per_day: 1000000000
    tokens_per_minute: 1000000000000
    max_tokens_per_request: 100000
    max_concurrent: 100000
    budget_usd: {daily: 1000000, monthly: 10000000}
tenants:
  open:
    plan: none
    keys:
${entries[0]}
  limited:
    plan: all
    keys:
${entries[1]}
EOF

start_gateway() {  # start_gateway NAME STORE_YAML: starts a gateway, sets gw_pid and gw_port
  local name="$1" store="$2"
  cat >"$work/$name.yaml" <<EOF
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
threads: $gateway_threads
limits:
$store
providers:
  mock: {type: openai, base_url: "http://127.0.0.1:$mock_port/v1"}
models:
  bench-chat: {provider: mock, input_usd_per_mtok: 0.15, output_usd_per_mtok: 0.60}
tenants: tenants.yaml
EOF
  "$tollgate" --check --config "$work/$name.yaml" >&2
  "$tollgate" --config "$work/$name.yaml" >"$work/$name.log" 2>&1 &
  gw_pid=$!
  pids+=("$gw_pid")
  gw_port="$(wait_for_line "$work/$name.log" 's/.*"msg":"listening","api":"127\.0\.0\.1:([0-9]+)".*/\1/p' "$gw_pid")"
}

body='{"model":"bench-chat","max_tokens":16,"messages":[{"role":"user","content":"Hello there"}]}'
write_script() {  # write_script FILE KEY
  cat >"$1" <<EOF
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $2"
EOF
}
write_script "$work/open.lua" "${keys[0]}"
write_script "$work/limited.lua" "${keys[1]}"


measure() {  # measure NAME: interleaved runs against gw_port; sets <NAME>_open and <NAME>_limited
  local name="$1" open_runs=() limited_runs=()
  /usr/bin/wrk -t1 -c"$connections" -d2s -s "$work/open.lua" "http://127.0.0.1:$gw_port/v1/chat/completions" >/dev/null
  for round in $(seq "$rounds"); do
    open_runs+=("$(run_wrk "$gw_port" "$work/open.lua")")
    limited_runs+=("$(run_wrk "$gw_port" "$work/limited.lua")")
    echo "$name round $round: unlimited ${open_runs[-1]} req/s, limited ${limited_runs[-1]} req/s" >&2
  done
  printf -v "${name}_open" '%s' "$(printf '%s\n' "${open_runs[@]}" | median)"
  printf -v "${name}_limited" '%s' "$(printf '%s\n' "${limited_runs[@]}" | median)"
}

start_gateway local "  store: local
  local: {state_dir: $work/state}"
measure local
kill -TERM "$gw_pid"; wait "$gw_pid" 2>/dev/null || true

start_gateway redis "  store: redis
  redis: {url: \"redis://127.0.0.1:$redis_port/0\"}"
measure redis

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN {print (r >= t) ? "PASS" : "MISS"}'; }
local_ratio="$(ratio "$local_limited" "$local_open")"
redis_ratio="$(ratio "$redis_limited" "$redis_open")"

mkdir -p bench/results
table="bench/results/admission-latest.md"
{
  echo "## Admission benchmark (issue 4): non-streaming requests/s, limited vs unlimited tenant"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores shared by wrk (1 thread, $connections connections)," \
       "the gateway (threads: $gateway_threads), the mock (1 thread) and redis-server;" \
       "medians of $rounds interleaved ${duration_s}s runs."
  echo
  echo "| store | unlimited tenant (req/s) | limited tenant (req/s) | ratio | target | |"
  echo "|---|---:|---:|---:|---:|---|"
  echo "| local | $local_open | $local_limited | $local_ratio | >= 0.95 | $(verdict "$local_ratio" 0.95) |"
  echo "| redis | $redis_open | $redis_limited | $redis_ratio | >= 0.70 | $(verdict "$redis_ratio" 0.70) |"
  echo
  echo "Both tenants go through the store on every request (it counts requests and tokens for"
  echo "GET /v1/usage), so the ratios price the limit checks; redis/local unlimited throughput is" \
       "$(ratio "$redis_open" "$local_open")."
} | tee "$table"
