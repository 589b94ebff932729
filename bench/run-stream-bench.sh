#!/usr/bin/env bash
# Issue 3's streaming benchmark: N concurrent streams (100 chunks, 50 ms apart) straight to the
# mock upstream, then the same through nginx (the reference: plain proxy_pass, proxy_buffering
# off, one worker) and through the gateway (threads: 1); prints the gateway's RSS per stream and
# the per-chunk latency each proxy adds over direct, with the gateway's as a ratio to nginx's, as
# a markdown table (also written to bench/results/stream-latest.md).
#
#   bash bench/run-stream-bench.sh              # 2000 streams
#   STREAMS=200 bash bench/run-stream-bench.sh  # quick run
#
# Environment: STREAMS (2000), RAMP_MS (2000), DEADLINE_S (60, per client run); NGINX=0 skips
# the nginx run (its columns read n/a); UPSTREAM_H2=1 multiplexes the gateway's upstream streams
# over HTTP/2 (the mock with --h2, SETTINGS max-concurrent-streams 2000; the provider with
# http2: on), so the gateway holds one descriptor per stream instead of two (what 10,000 streams
# need under a 20,000 open-file limit; nginx still speaks HTTP/1.1 to the mock); SKIP_BUILD=1
# uses the binaries in BUILD_DIR (default build/release) as they are. Loopback only; every
# process it starts is stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

streams="${STREAMS:-2000}"
ramp_ms="${RAMP_MS:-2000}"
upstream_h2="${UPSTREAM_H2:-0}"
with_nginx="${NGINX:-1}"
deadline_s="${DEADLINE_S:-60}"
tokens=100
chunk_delay_ms=50
target_rss_kib=64
target_p99_us=1000

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  echo "building Release (scripts/build.sh release)..." >&2
  bash scripts/build.sh release >&2
fi
bin="${BUILD_DIR:-build/release}"
tollgate="$bin/src/tollgate"
mock="$bin/bench/mock_upstream/mock_upstream"
client="$bin/bench/stream_bench/stream_bench"
needed=("$tollgate" "$mock" "$client")
[[ "$with_nginx" == 1 ]] && needed+=(/usr/sbin/nginx)
for b in "${needed[@]}"; do
  [[ -x "$b" ]] || { echo "missing $b (build first; nginx: apt-get install nginx, or NGINX=0)" >&2; exit 1; }
done

# Each stream holds a client socket, a proxy downstream and upstream socket and a mock socket.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if (( $(ulimit -n) < 4 * streams + 100 )); then
  echo "warning: ulimit -n is $(ulimit -n); $streams streams may run out of descriptors" >&2
fi

work="$(mktemp -d /tmp/tollgate-stream-bench.XXXXXX)"
# shellcheck source=bench/lib.sh
source bench/lib.sh

# --- mock upstream: one worker --------------------------------------------------------------
if [[ "$upstream_h2" == 1 ]]; then
  start_mock --h2 --max-concurrent-streams 2000
  provider_extra=", http2: \"on\""
  upstream_label="HTTP/2 (h2c, up to 2000 streams per connection)"
else
  start_mock
  provider_extra=""
  upstream_label="HTTP/1.1 (a connection per stream)"
fi

# --- gateway: one worker, a tenant with no limits, the mock as its only provider ------------
keygen="$("$tollgate" keygen --tenant bench --name bench)"
key="$(sed -n 1p <<<"$keygen")"
key_entry="$(grep -E '^ *(- name|prefix|sha256|status):' <<<"$keygen" | sed 's/^/      /')"
mkdir -p "$work/state"
cat >"$work/tollgate.yaml" <<EOF
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
threads: 1
limits:
  store: local
  local: {state_dir: $work/state}
usage:
  sink: file
  file: {path: $work/usage.jsonl}
providers:
  mock: {type: openai, base_url: "http://127.0.0.1:$mock_port/v1"$provider_extra}
models:
  bench-chat: {provider: mock, input_usd_per_mtok: 0.15, output_usd_per_mtok: 0.60}
tenants: tenants.yaml
EOF
cat >"$work/tenants.yaml" <<EOF
plans:
  bench: {}
tenants:
  bench:
    plan: bench
    keys:
$key_entry
EOF
"$tollgate" --check --config "$work/tollgate.yaml" >&2
"$tollgate" --config "$work/tollgate.yaml" >"$work/gateway.log" 2>&1 &
gw_pid=$!
pids+=("$gw_pid")
gw_port="$(wait_for_line "$work/gateway.log" 's/.*"msg":"listening","api":"127\.0\.0\.1:([0-9]+)".*/\1/p' "$gw_pid")"
echo "mock upstream pid $mock_pid port $mock_port; gateway pid $gw_pid port $gw_port; $streams streams" >&2

status_kib() {  # status_kib PID FIELD: VmRSS or VmHWM of a process, in KiB
  awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"
}
cpu_ticks() {  # cpu_ticks PID: user + system CPU time of a process, in clock ticks
  sed -E 's/^.*\) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}
summary_field() {  # summary_field FILE KEY: a value from stream_bench's "summary" line
  sed -nE "s/^summary .*\\b$2=([0-9]+).*/\\1/p" "$1"
}
run_client() {  # run_client OUT PORT [KEY]
  local out="$1" port="$2" key_args=()
  [[ $# -ge 3 ]] && key_args=(--key "$3")
  "$client" --target "127.0.0.1:$port" --path /v1/chat/completions --model bench-chat \
    --streams "$streams" --tokens "$tokens" --chunk-delay-ms "$chunk_delay_ms" \
    --ramp-ms "$ramp_ms" --deadline-s "$deadline_s" "${key_args[@]}" >"$out" 2>&1 || true
  cat "$out" >&2
}

# --- (1) direct to the mock -----------------------------------------------------------------
echo "== direct: $streams streams to the mock" >&2
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
mock_ticks_0="$(cpu_ticks "$mock_pid")"
run_client "$work/direct.txt" "$mock_port"
mock_ticks_1="$(cpu_ticks "$mock_pid")"

# --- (2) through nginx, the reference: one worker, like the gateway's one thread ------------
nginx_ticks=""
if [[ "$with_nginx" == 1 ]]; then
  start_nginx 1 $(( 2 * streams + 512 ))
  nginx_worker=""
  for _ in $(seq 50); do  # the master forks its worker: wait for it
    nginx_worker="$(ps -o pid= --ppid "$nginx_pid" | head -n1 | tr -d ' ')"
    [[ -n "$nginx_worker" ]] && break
    sleep 0.1
  done
  [[ -n "$nginx_worker" ]] || { echo "nginx started no worker" >&2; exit 1; }
  echo "== via nginx (worker pid $nginx_worker): $streams streams" >&2
  nginx_ticks_0="$(cpu_ticks "$nginx_worker")"
  mock_ticks_n0="$(cpu_ticks "$mock_pid")"
  run_client "$work/nginx.txt" "$nginx_port"
  nginx_ticks=$(( $(cpu_ticks "$nginx_worker") - nginx_ticks_0 ))
  mock_ticks_n=$(( $(cpu_ticks "$mock_pid") - mock_ticks_n0 ))
fi

# --- (3) through the gateway, sampling its RSS every 100 ms ---------------------------------
echo "== via gateway: $streams streams" >&2
gw_log_lines_before="$(wc -l <"$work/gateway.log")"
rss_baseline="$(status_kib "$gw_pid" VmRSS)"
(
  while kill -0 "$gw_pid" 2>/dev/null; do
    status_kib "$gw_pid" VmRSS || true
    sleep 0.1
  done
) >"$work/rss.txt" &
sampler_pid=$!
pids+=("$sampler_pid")
gw_ticks_0="$(cpu_ticks "$gw_pid")"
mock_ticks_g0="$(cpu_ticks "$mock_pid")"
run_client "$work/gateway.txt" "$gw_port" "$key"
gw_ticks_1="$(cpu_ticks "$gw_pid")"
mock_ticks_2="$(cpu_ticks "$mock_pid")"
kill -TERM "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
rss_sampled_peak="$(sort -n "$work/rss.txt" | tail -n1)"
rss_hwm="$(status_kib "$gw_pid" VmHWM)"
rss_peak=$(( rss_hwm > rss_sampled_peak ? rss_hwm : rss_sampled_peak ))

# --- the table ------------------------------------------------------------------------------
field() {  # field RUN KEY: a value from the summary line of run direct, nginx or gateway
  summary_field "$work/$1.txt" "$2"
}
runs=(direct gateway)
[[ "$with_nginx" == 1 ]] && runs+=(nginx)
for r in "${runs[@]}"; do
  for k in ok failed p50_us p99_us; do
    [[ -n "$(field "$r" "$k")" ]] || { echo "stream_bench printed no summary line for the $r run (see above)" >&2; exit 1; }
  done
done
nginx_field() {  # nginx_field KEY: the nginx run's value, or n/a
  if [[ "$with_nginx" == 1 ]]; then field nginx "$1"; else echo "n/a"; fi
}
d_failed="$(field direct failed)"; g_failed="$(field gateway failed)"; n_failed="$(nginx_field failed)"
d_p50="$(field direct p50_us)"; g_p50="$(field gateway p50_us)"; n_p50="$(nginx_field p50_us)"
d_p99="$(field direct p99_us)"; g_p99="$(field gateway p99_us)"; n_p99="$(nginx_field p99_us)"
hz="$(getconf CLK_TCK)"
cpu_pct() {  # cpu_pct TICKS WALL_MS: CPU use over a run, in % of one core
  awk -v t="$1" -v hz="$hz" -v w="$2" 'BEGIN {printf "%.0f", (w > 0 ? 100 * t / hz / (w / 1000) : 0)}'
}
cpu_per_chunk() {  # cpu_per_chunk TICKS CHUNKS: CPU time per relayed chunk, in us
  awk -v t="$1" -v hz="$hz" -v c="$2" 'BEGIN {printf "%.1f", (c > 0 ? 1e6 * t / hz / c : 0)}'
}
ratio() {  # ratio A B: A / B with two decimals, or n/a when B is not above 0
  awk -v a="$1" -v b="$2" 'BEGIN {if (b ~ /^-?[0-9]+$/ && b > 0) printf "%.2f", a / b; else print "n/a"}'
}
mock_cpu_direct="$(cpu_pct $(( mock_ticks_1 - mock_ticks_0 )) "$(field direct wall_ms)")"
mock_cpu_gw="$(cpu_pct $(( mock_ticks_2 - mock_ticks_g0 )) "$(field gateway wall_ms)")"
gw_ticks=$(( gw_ticks_1 - gw_ticks_0 ))
gw_cpu="$(cpu_pct "$gw_ticks" "$(field gateway wall_ms)")"
gw_cpu_chunk="$(cpu_per_chunk "$gw_ticks" "$(field gateway chunks)")"
mock_cpu_nginx="n/a"; nginx_cpu="n/a"; nginx_cpu_chunk="n/a"; n_add_p50="n/a"; n_add_p99="n/a"
if [[ "$with_nginx" == 1 ]]; then
  mock_cpu_nginx="$(cpu_pct "$mock_ticks_n" "$(field nginx wall_ms)")"
  nginx_cpu="$(cpu_pct "$nginx_ticks" "$(field nginx wall_ms)")"
  nginx_cpu_chunk="$(cpu_per_chunk "$nginx_ticks" "$(field nginx chunks)")"
  n_add_p50=$(( n_p50 - d_p50 ))
  n_add_p99=$(( n_p99 - d_p99 ))
fi
add_p50=$(( g_p50 - d_p50 ))
add_p99=$(( g_p99 - d_p99 ))
per_stream="$(awk -v p="$rss_peak" -v b="$rss_baseline" -v n="$streams" 'BEGIN {printf "%.1f", (p - b) / n}')"
verdict() { if [[ "$1" == 1 ]]; then echo PASS; else echo MISS; fi; }
rss_verdict="$(verdict "$(awk -v x="$per_stream" -v t="$target_rss_kib" 'BEGIN {print (x <= t) ? 1 : 0}')")"
p99_verdict="$(verdict $(( add_p99 <= target_p99_us )))"
ok_verdict="$(verdict $(( d_failed == 0 && g_failed == 0 )))"
gw_new_log="$(tail -n +"$((gw_log_lines_before + 1))" "$work/gateway.log")"
gw_warn_lines="$(grep -cE '"level":"(warn|error)"' <<<"$gw_new_log" || true)"

mkdir -p bench/results
table="bench/results/stream-latest.md"
{
  echo "## Streaming benchmark (issue 3): $streams streams x $tokens chunks, $chunk_delay_ms ms apart"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores shared by the mock (1 thread), the proxy under" \
       "test (gateway threads: 1; nginx worker_processes 1, proxy_buffering off, one run at a time)" \
       "and the client (1 thread); ramp $ramp_ms ms; load average before the runs $load_before, after" \
       "$(cut -d' ' -f1-3 /proc/loadavg). Gateway to mock: $upstream_label; nginx to mock: HTTP/1.1." \
       "One run each, not an average. Added = via proxy - direct."
  echo
  echo "| | direct to mock | via nginx | via gateway | nginx added | gateway added | gateway added / nginx added | target | |"
  echo "|---|---:|---:|---:|---:|---:|---:|---|---|"
  echo "| streams ok / failed | $(field direct ok) / $d_failed | $(nginx_field ok) / $n_failed | $(field gateway ok) / $g_failed | | | | all ok | $ok_verdict |"
  echo "| peak concurrent streams | $(field direct peak_concurrent) | $(nginx_field peak_concurrent) | $(field gateway peak_concurrent) | | | | $streams | |"
  echo "| per-chunk latency p50 (us) | $d_p50 | $n_p50 | $g_p50 | $n_add_p50 | $add_p50 | $(ratio "$add_p50" "$n_add_p50") | | |"
  echo "| per-chunk latency p99 (us) | $d_p99 | $n_p99 | $g_p99 | $n_add_p99 | $add_p99 | $(ratio "$add_p99" "$n_add_p99") | <= $target_p99_us added | $p99_verdict |"
  echo "| per-chunk latency max (us) | $(field direct max_us) | $(nginx_field max_us) | $(field gateway max_us) | | | | | |"
  echo "| wall time of the run (ms) | $(field direct wall_ms) | $(nginx_field wall_ms) | $(field gateway wall_ms) | | | | | |"
  echo "| mock CPU (% of one core, over the run) | $mock_cpu_direct | $mock_cpu_nginx | $mock_cpu_gw | | | | | |"
  echo "| proxy CPU (% of one core, over the run) | | $nginx_cpu | $gw_cpu | | | | | |"
  echo "| proxy CPU per chunk relayed (us, user + system) | | $nginx_cpu_chunk | $gw_cpu_chunk | | | | | |"
  echo "| gateway RSS before the run (KiB) | | | $rss_baseline | | | | | |"
  echo "| gateway RSS peak (KiB; VmHWM $rss_hwm, sampled max $rss_sampled_peak) | | | $rss_peak | | | | | |"
  echo "| gateway RSS per stream, (peak - baseline) / $streams (KiB) | | | $per_stream | | | | <= $target_rss_kib | $rss_verdict |"
  echo "| gateway warn/error log lines during the run | | | $gw_warn_lines | | | | | |"
} >"$table"
echo
cat "$table"
echo
echo "(written to $table)"
if [[ "$gw_warn_lines" != 0 ]]; then
  echo
  echo "gateway warn/error lines during the gateway run (first 20):"
  grep -E '"level":"(warn|error)"' <<<"$gw_new_log" | head -n 20
fi
