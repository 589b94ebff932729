#!/usr/bin/env bash
# Issue 8's CPU cost per request: the gateway (threads: 1, local store, file sink, access log off)
# under valgrind's callgrind, in front of the mock upstream (not under valgrind). The gateway
# starts with callgrind's instrumentation off; after start-up and a warm-up it is switched on
# (callgrind_control -i on), REQUESTS non-streaming requests go out with bench/load_gen at a low
# fixed rate, the counters are dumped (callgrind_control -d) and the script reports instructions
# per request = Ir of the dump / REQUESTS, with the top 15 functions by inclusive and by self
# cost (callgrind_annotate). Writes bench/results/callgrind-latest.md and keeps the dump as
# bench/results/callgrind-latest.out.
#
# Why not zero the counters (callgrind_control -z) instead: the frames on the stack at that
# moment (the thread's entry, io_context::run) then come out with their whole inclusive cost as
# self cost. With instrumentation switched on, callgrind starts its call tree there and the
# totals are the same.
#
#   bash bench/callgrind-request.sh
#   REQUESTS=500 bash bench/callgrind-request.sh   # quicker
#
# STORE=redis measures the Redis store instead of the local one (a redis-server of its own on a
# free loopback port; at this rate every admit and settle is a script run of its own, unbatched).
#
# Environment: REQUESTS (2000), RATE (100 requests/s; the gateway under callgrind is ~50x slower,
# and every request must be answered), WARMUP (200 requests); SKIP_BUILD=1 uses the binaries in
# BUILD_DIR (default build/release). Needs valgrind. Loopback only; every process it starts is
# stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

requests="${REQUESTS:-2000}"
rate="${RATE:-100}"
warmup="${WARMUP:-200}"

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  echo "building Release (scripts/build.sh release)..." >&2
  bash scripts/build.sh release >&2
fi
bin="${BUILD_DIR:-build/release}"
tollgate="$bin/src/tollgate"
mock="$bin/bench/mock_upstream/mock_upstream"
load_gen="$bin/bench/load_gen/load_gen"
for b in "$tollgate" "$mock" "$load_gen" /usr/bin/valgrind /usr/bin/callgrind_control /usr/bin/callgrind_annotate; do
  [[ -x "$b" ]] || { echo "missing $b (build first; valgrind: apt-get install valgrind)" >&2; exit 1; }
done

work="$(mktemp -d /tmp/tollgate-callgrind.XXXXXX)"
# shellcheck source=bench/lib.sh
source bench/lib.sh

start_mock

store="${STORE:-local}"
case "$store" in
  local) limits="{store: local, local: {state_dir: $work/state}}" ;;
  redis)
    [[ -x /usr/bin/redis-server ]] || { echo "missing /usr/bin/redis-server (apt-get install redis-server)" >&2; exit 1; }
    start_redis
    limits="{store: redis, redis: {url: \"redis://127.0.0.1:$redis_port\"}}"
    ;;
  *) echo "STORE must be local or redis" >&2; exit 2 ;;
esac

write_bench_tenant
cat >"$work/tollgate.yaml" <<EOF
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
threads: 1
limits: $limits
usage: {sink: file, file: {path: $work/usage.jsonl}}
log: {access: off}
providers:
  mock: {type: openai, base_url: "http://127.0.0.1:$mock_port/v1"}
models:
  bench-chat: {provider: mock, input_usd_per_mtok: 0.15, output_usd_per_mtok: 0.60}
tenants: tenants.yaml
EOF
"$tollgate" --check --config "$work/tollgate.yaml" >&2

/usr/bin/valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/callgrind.out" \
  "$tollgate" --config "$work/tollgate.yaml" >"$work/gateway.log" 2>&1 &
gw_pid=$!
pids+=("$gw_pid")
gw_port="$(wait_for_line "$work/gateway.log" 's/.*"msg":"listening","api":"127\.0\.0\.1:([0-9]+)".*/\1/p' "$gw_pid" 120)"
echo "gateway under callgrind: pid $gw_pid, port $gw_port" >&2

printf '%s' '{"model":"bench-chat","max_tokens":16,"messages":[{"role":"user","content":"Hello there"}]}' \
  >"$work/body.json"
send() {  # send COUNT: COUNT requests at RATE over 4 connections; fails unless every one was ok
  "$load_gen" --target "127.0.0.1:$gw_port" --rate "$rate" --requests "$1" --connections 4 \
    --body-file "$work/body.json" --header "Content-Type: application/json" \
    --header "Authorization: Bearer $key" --timeout-ms 30000 >"$work/load_gen.out" || {
    echo "not every request was answered 2xx:" >&2
    cat "$work/load_gen.out" >&2
    exit 1
  }
}

echo "warm-up: $warmup requests" >&2
send "$warmup"
/usr/bin/callgrind_control -i on "$gw_pid" >&2
echo "measured: $requests requests at $rate/s" >&2
send "$requests"
/usr/bin/callgrind_control -d "$gw_pid" >&2

dumps=("$work"/callgrind.out.*)  # callgrind.out.1: the one dump asked for (the final one comes at exit)
dump="${dumps[-1]}"
[[ -f "$dump" ]] || { echo "callgrind wrote no dump in $work" >&2; exit 1; }
total_ir="$(sed -nE 's/^(summary|totals): *([0-9]+).*/\2/p' "$dump" | head -n1)"
[[ -n "$total_ir" ]] || { echo "no totals in $dump" >&2; exit 1; }
per_request="$(awk -v t="$total_ir" -v n="$requests" 'BEGIN {printf "%.0f", t / n}')"

top() {  # top yes|no: the 15 costliest functions, inclusive or self, as table rows
  # callgrind_annotate's lines: "47,176,219 (99.12%)  file:function [object]".
  /usr/bin/callgrind_annotate --inclusive="$1" --threshold=100 "$dump" 2>/dev/null |
    awk -v n="$requests" '
      /^-+$/ { dashes++; next }
      dashes >= 4 && $1 ~ /^[0-9,]+$/ && !/PROGRAM TOTALS/ && rows < 15 {
        ir = $1; gsub(/,/, "", ir)
        line = $0
        sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, "", line); sub(/ \[[^]]*\]$/, "", line)
        share = $0; sub(/^ *[0-9,]+ +\( */, "", share); sub(/\).*$/, "", share)
        gsub(/\|/, "\\|", line)
        if (length(line) > 150) line = substr(line, 1, 147) "..."
        printf "| %.0f | %s | `%s` |\n", ir / n, share, line
        rows++
      }'
}

mkdir -p bench/results
cp "$dump" bench/results/callgrind-latest.out
table=bench/results/callgrind-latest.md
{
  echo "## Instructions per non-streaming request (issue 8)"
  echo
  echo "$(machine_description). valgrind $(/usr/bin/valgrind --version | sed 's/^valgrind-//'), callgrind;" \
       "gateway threads: 1, $store store, file sink, access log off; instrumentation switched on after" \
       "start-up and $warmup warm-up requests, then $requests requests at $rate/s over 4 keep-alive" \
       "connections. A release build without debug information: functions, not lines."
  echo
  echo "**$per_request instructions per request** (Ir $total_ir over all the gateway's threads / $requests)."
  echo
  echo "Top 15 by inclusive cost (instructions per request):"
  echo
  echo "| Ir / request | share | function |"
  echo "|---:|---:|---|"
  top yes
  echo
  echo "Top 15 by self cost (instructions per request):"
  echo
  echo "| Ir / request | share | function |"
  echo "|---:|---:|---|"
  top no
  echo
  echo "The dump is bench/results/callgrind-latest.out (callgrind_annotate or kcachegrind)."
} >"$table"
echo
cat "$table"
echo
echo "(written to $table)"
