#!/usr/bin/env bash
# Issue 5's usage-sink benchmark: non-streaming throughput of a gateway whose usage sink is Kafka
# (librdkafka's mock cluster in its own process, bench/kafka_mock) as a ratio to the same gateway
# with the file sink. Both gateways run side by side; wrk runs are interleaved (file, kafka,
# file, kafka, ...) and the medians compared. Prints a markdown table (also written to
# bench/results/usage-latest.md).
#
#   bash bench/run-usage-bench.sh
#   ROUNDS=5 DURATION_S=10 CONNECTIONS=64 bash bench/run-usage-bench.sh
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
kafka="$bin/bench/kafka_mock/kafka_mock"
for b in "$tollgate" "$mock" "$kafka" /usr/bin/wrk; do
  [[ -x "$b" ]] || { echo "missing $b (build first; wrk: apt-get install wrk)" >&2; exit 1; }
done

work="$(mktemp -d /tmp/tollgate-usage-bench.XXXXXX)"
# shellcheck source=bench/lib.sh
source bench/lib.sh

# --- mock upstream and the mock Kafka cluster ------------------------------------------------
start_mock

"$kafka" --brokers 3 --topic llm.usage --partitions 4 >"$work/kafka.out" 2>"$work/kafka.err" &
kafka_pid=$!
pids+=("$kafka_pid")
bootstrap="$(wait_for_line "$work/kafka.out" 's/^bootstrap (.*)$/\1/p' "$kafka_pid")"

out="$("$tollgate" keygen --tenant bench --name bench)"
key="$(sed -n 1p <<<"$out")"
entry="$(grep -E '^ *(- name|prefix|sha256|status):' <<<"$out" | sed 's/^/      /')"
cat >"$work/tenants.yaml" <<YAML
plans:
  none: {}
tenants:
  bench:
    plan: none
    keys:
$entry
YAML

start_gateway() {  # start_gateway NAME USAGE_YAML: starts a gateway; sets <NAME>_pid and <NAME>_port
  local name="$1" usage="$2" pid port
  cat >"$work/$name.yaml" <<YAML
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
threads: $gateway_threads
limits: {store: local, local: {state_dir: $work/state-$name}}
usage:
$usage
providers:
  mock: {type: openai, base_url: "http://127.0.0.1:$mock_port/v1"}
models:
  bench-chat: {provider: mock, input_usd_per_mtok: 0.15, output_usd_per_mtok: 0.60}
tenants: tenants.yaml
YAML
  "$tollgate" --check --config "$work/$name.yaml" >&2
  "$tollgate" --config "$work/$name.yaml" >"$work/$name.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  port="$(wait_for_line "$work/$name.log" 's/.*"msg":"listening","api":"127\.0\.0\.1:([0-9]+)".*/\1/p' "$pid")"
  printf -v "${name}_pid" '%s' "$pid"
  printf -v "${name}_port" '%s' "$port"
}
start_gateway file "  sink: file
  file: {path: $work/usage.jsonl}"
start_gateway kafka "  sink: kafka
  kafka: {brokers: \"$bootstrap\", topic: llm.usage, spool_dir: $work/spool}"

cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"model":"bench-chat","max_tokens":16,"messages":[{"role":"user","content":"Hello there"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $key"
LUA


for port in "$file_port" "$kafka_port"; do  # warm-up (connections, producer metadata)
  /usr/bin/wrk -t1 -c"$connections" -d2s -s "$work/post.lua" "http://127.0.0.1:$port/v1/chat/completions" >/dev/null
done
file_runs=()
kafka_runs=()
for round in $(seq "$rounds"); do
  file_runs+=("$(run_wrk "$file_port" "$work/post.lua")")
  kafka_runs+=("$(run_wrk "$kafka_port" "$work/post.lua")")
  echo "round $round: file ${file_runs[-1]} req/s, kafka ${kafka_runs[-1]} req/s" >&2
done
file_rps="$(printf '%s\n' "${file_runs[@]}" | median)"
kafka_rps="$(printf '%s\n' "${kafka_runs[@]}" | median)"

# Stop both gateways (they flush their sinks), then look at what is left behind.
kill -TERM "$file_pid" "$kafka_pid"
wait "$file_pid" 2>/dev/null || true
wait "$kafka_pid" 2>/dev/null || true
file_events="$(cat "$work"/usage.jsonl* | wc -l)"
spool_bytes="$(find "$work/spool" -name '*.spool' -printf '%s\n' 2>/dev/null | awk '{s += $1} END {print s + 0}')"

ratio="$(awk -v a="$kafka_rps" -v b="$file_rps" 'BEGIN {printf "%.2f", a / b}')"
verdict="$(awk -v r="$ratio" 'BEGIN {print (r >= 0.9) ? "PASS" : "MISS"}')"
mkdir -p bench/results
table="bench/results/usage-latest.md"
{
  echo "## Usage-sink benchmark (issue 5): non-streaming requests/s, kafka sink vs file sink"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores shared by wrk (1 thread, $connections connections)," \
       "two gateways (threads: $gateway_threads each, one loaded at a time), the mock upstream (1 thread) and" \
       "the mock Kafka cluster (3 brokers); medians of $rounds interleaved ${duration_s}s runs."
  echo
  echo "| sink | requests/s | ratio to file | target | |"
  echo "|---|---:|---:|---:|---|"
  echo "| file | $file_rps | 1.00 | | |"
  echo "| kafka (mock cluster) | $kafka_rps | $ratio | >= 0.90 | $verdict |"
  echo
  echo "The file sink wrote $file_events events; the Kafka gateway's spool held $spool_bytes bytes after its shutdown."
} | tee "$table"
