#!/usr/bin/env bash
# Issue 7's HTTP/2 benchmark: h2load (h2c, prior knowledge) through the gateway and through
# nginx (`listen ... http2`, plain proxy_pass with upstream keep-alive and proxy_buffering off)
# to the same mock upstream, in the same run, for 1 connection x 100 streams and 32 connections
# x 10 streams. Runs are interleaved (gateway, nginx, gateway, nginx, ...) and the medians
# compared. Prints a markdown table (also written to bench/results/h2-latest.md).
#
#   bash bench/run-h2-bench.sh
#   ROUNDS=5 REQUESTS=50000 bash bench/run-h2-bench.sh
#
# SKIP_BUILD=1 uses the binaries in BUILD_DIR (default build/release). Needs h2load (Debian
# nghttp2-client) and nginx (apt-get install nginx). Loopback only; every process it starts is
# stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds="${ROUNDS:-3}"
requests="${REQUESTS:-20000}"
gateway_threads="${GATEWAY_THREADS:-2}"

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  echo "building Release (scripts/build.sh release)..." >&2
  bash scripts/build.sh release >&2
fi
bin="${BUILD_DIR:-build/release}"
tollgate="$bin/src/tollgate"
mock="$bin/bench/mock_upstream/mock_upstream"
for b in "$tollgate" "$mock" /usr/bin/h2load /usr/sbin/nginx; do
  [[ -x "$b" ]] || { echo "missing $b (build first; h2load: apt-get install nghttp2-client; nginx: apt-get install nginx)" >&2; exit 1; }
done

work="$(mktemp -d /tmp/tollgate-h2-bench.XXXXXX)"
# shellcheck source=bench/lib.sh
source bench/lib.sh

# --- mock upstream ------------------------------------------------------------------------
start_mock

# --- gateway: local store, file sink, one tenant without limits ----------------------------
write_bench_tenant
cat >"$work/tollgate.yaml" <<EOF
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
threads: $gateway_threads
limits: {local: {state_dir: state}}
usage: {file: {path: usage.jsonl}}
log: {access: off}
providers:
  mock: {type: openai, base_url: "http://127.0.0.1:$mock_port/v1"}
models:
  bench-chat: {provider: mock, input_usd_per_mtok: 0.15, output_usd_per_mtok: 0.60}
tenants: tenants.yaml
EOF
"$tollgate" --check --config "$work/tollgate.yaml" >&2
"$tollgate" --config "$work/tollgate.yaml" >"$work/gateway.log" 2>&1 &
gw_pid=$!
pids+=("$gw_pid")
gw_port="$(wait_for_line "$work/gateway.log" 's/.*"msg":"listening","api":"127\.0\.0\.1:([0-9]+)".*/\1/p' "$gw_pid")"

# --- nginx: h2c listener, plain proxy_pass to the same mock --------------------------------
start_nginx "$gateway_threads" 4096 h2

printf '%s' '{"model":"bench-chat","max_tokens":16,"messages":[{"role":"user","content":"Hello there"}]}' \
  >"$work/body.json"

# h2load_run PORT CLIENTS STREAMS [N]: one run of N (default $requests) requests; prints
# "req_per_s mean_ms". Any failed or non-2xx request makes the run invalid. (A fixed count, not
# -D: h2load counts the requests still in flight when a duration ends as failed.)
h2load_run() {
  local out
  out="$(/usr/bin/h2load -n "${4:-$requests}" -c "$2" -m "$3" -d "$work/body.json" \
    -H 'content-type: application/json' -H "authorization: Bearer $key" \
    "http://127.0.0.1:$1/v1/chat/completions")"
  if ! grep -qE 'requests: .* ([0-9]+) succeeded, 0 failed, 0 errored' <<<"$out" ||
    ! grep -qE 'status codes: [0-9]+ 2xx, 0 3xx, 0 4xx, 0 5xx' <<<"$out"; then
    echo "h2load saw failures:" >&2
    echo "$out" >&2
    exit 1
  fi
  local rps mean
  rps="$(sed -nE 's/^finished in .*, ([0-9.]+) req\/s.*/\1/p' <<<"$out")"
  # "time for request:  min  max  mean  sd  +/- sd", each with its unit (us, ms, s).
  mean="$(awk '/^time for request:/ {v=$6; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else {sub(/s$/,"",v); v*=1000}; print v}' <<<"$out")"
  echo "$rps $mean"
}

rows=()
for shape in "1 100" "32 10"; do
  read -r clients streams <<<"$shape"
  gw_rps=() gw_ms=() ng_rps=() ng_ms=()
  h2load_run "$gw_port" "$clients" "$streams" 2000 >/dev/null || exit 1  # warm-up
  h2load_run "$nginx_port" "$clients" "$streams" 2000 >/dev/null || exit 1
  for _ in $(seq "$rounds"); do
    # Assigned first: a failed run (exit in the command substitution) must stop the script.
    result="$(h2load_run "$gw_port" "$clients" "$streams")" || exit 1
    read -r r m <<<"$result"
    gw_rps+=("$r"); gw_ms+=("$m")
    result="$(h2load_run "$nginx_port" "$clients" "$streams")" || exit 1
    read -r r m <<<"$result"
    ng_rps+=("$r"); ng_ms+=("$m")
  done
  g_rps="$(printf '%s\n' "${gw_rps[@]}" | median)"
  g_ms="$(printf '%s\n' "${gw_ms[@]}" | median)"
  n_rps="$(printf '%s\n' "${ng_rps[@]}" | median)"
  n_ms="$(printf '%s\n' "${ng_ms[@]}" | median)"
  rows+=("$(awk -v c="$clients" -v s="$streams" -v gr="$g_rps" -v gm="$g_ms" -v nr="$n_rps" -v nm="$n_ms" \
    'BEGIN {printf "| %d x %d | %.0f | %.0f | **%.2f** | %.2f | %.2f | **%.2f** |", c, s, gr, nr, gr / nr, gm, nm, nm / gm}')")
done

table="$(
  echo "h2load, h2c, ${requests} requests x ${rounds} interleaved rounds (medians), gateway threads: $gateway_threads, nginx workers: $gateway_threads"
  echo
  echo "| connections x streams | gateway req/s | nginx req/s | throughput ratio (target >= 0.8) | gateway mean ms | nginx mean ms | latency ratio nginx/gateway (target >= 0.8) |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
)"
echo "$table"
mkdir -p bench/results
echo "$table" >bench/results/h2-latest.md
