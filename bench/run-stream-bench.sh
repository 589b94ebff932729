#!/usr/bin/env bash
# Issue 3's streaming benchmark: N concurrent streams (100 chunks, 50 ms apart) straight to the
# mock upstream, then the same through the gateway; prints the gateway's RSS per stream and the
# per-chunk latency it adds, as a markdown table (also written to bench/results/stream-latest.md).
#
#   bash bench/run-stream-bench.sh              # 2000 streams
#   STREAMS=200 bash bench/run-stream-bench.sh  # quick run
#
# Environment: STREAMS (2000), RAMP_MS (2000), DEADLINE_S (60, per client run); UPSTREAM_H2=1
# multiplexes the gateway's upstream streams over HTTP/2 (the mock with --h2, SETTINGS
# max-concurrent-streams 2000; the provider with http2: on), so the gateway holds one descriptor
# per stream instead of two (what 10,000 streams need under a 20,000 open-file limit); SKIP_BUILD=1
# uses the binaries in BUILD_DIR (default build/release) as they are. Loopback only; every
# process it starts is stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

streams="${STREAMS:-2000}"
ramp_ms="${RAMP_MS:-2000}"
upstream_h2="${UPSTREAM_H2:-0}"
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
for b in "$tollgate" "$mock" "$client"; do
  [[ -x "$b" ]] || { echo "missing $b (build first)" >&2; exit 1; }
done

# Each stream holds a client socket, a gateway downstream and upstream socket and a mock socket.
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

# --- (2) through the gateway, sampling its RSS every 100 ms ---------------------------------
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
run_client "$work/gateway.txt" "$gw_port" "$key"
gw_ticks_1="$(cpu_ticks "$gw_pid")"
mock_ticks_2="$(cpu_ticks "$mock_pid")"
kill -TERM "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
rss_sampled_peak="$(sort -n "$work/rss.txt" | tail -n1)"
rss_hwm="$(status_kib "$gw_pid" VmHWM)"
rss_peak=$(( rss_hwm > rss_sampled_peak ? rss_hwm : rss_sampled_peak ))

# --- the table ------------------------------------------------------------------------------
d_ok="$(summary_field "$work/direct.txt" ok)";   d_failed="$(summary_field "$work/direct.txt" failed)"
g_ok="$(summary_field "$work/gateway.txt" ok)";  g_failed="$(summary_field "$work/gateway.txt" failed)"
d_p50="$(summary_field "$work/direct.txt" p50_us)"; d_p99="$(summary_field "$work/direct.txt" p99_us)"
g_p50="$(summary_field "$work/gateway.txt" p50_us)"; g_p99="$(summary_field "$work/gateway.txt" p99_us)"
d_max="$(summary_field "$work/direct.txt" max_us)"; g_max="$(summary_field "$work/gateway.txt" max_us)"
d_peak="$(summary_field "$work/direct.txt" peak_concurrent)"; g_peak="$(summary_field "$work/gateway.txt" peak_concurrent)"
for v in d_ok d_failed g_ok g_failed d_p50 d_p99 g_p50 g_p99; do
  [[ -n "${!v}" ]] || { echo "stream_bench printed no summary line (see above)" >&2; exit 1; }
done
d_wall="$(summary_field "$work/direct.txt" wall_ms)"; g_wall="$(summary_field "$work/gateway.txt" wall_ms)"
hz="$(getconf CLK_TCK)"
cpu_pct() {  # cpu_pct TICKS WALL_MS: CPU use over a run, in % of one core
  awk -v t="$1" -v hz="$hz" -v w="$2" 'BEGIN {printf "%.0f", (w > 0 ? 100 * t / hz / (w / 1000) : 0)}'
}
mock_cpu_direct="$(cpu_pct $(( mock_ticks_1 - mock_ticks_0 )) "$d_wall")"
mock_cpu_gw="$(cpu_pct $(( mock_ticks_2 - mock_ticks_1 )) "$g_wall")"
gw_cpu="$(cpu_pct $(( gw_ticks_1 - gw_ticks_0 )) "$g_wall")"
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
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores shared by the mock (1 thread), the gateway" \
       "(threads: 1) and the client (1 thread); ramp $ramp_ms ms; load average before the runs" \
       "$load_before, after $(cut -d' ' -f1-3 /proc/loadavg). Gateway to mock: $upstream_label." \
       "One run, not an average."
  echo
  echo "| | direct to mock | via gateway | added (gateway - direct) | target | |"
  echo "|---|---:|---:|---:|---|---|"
  echo "| streams ok / failed | $d_ok / $d_failed | $g_ok / $g_failed | | all ok | $ok_verdict |"
  echo "| peak concurrent streams | $d_peak | $g_peak | | $streams | |"
  echo "| per-chunk latency p50 (us) | $d_p50 | $g_p50 | $add_p50 | | |"
  echo "| per-chunk latency p99 (us) | $d_p99 | $g_p99 | $add_p99 | <= $target_p99_us | $p99_verdict |"
  echo "| per-chunk latency max (us) | $d_max | $g_max | | | |"
  echo "| wall time of the run (ms) | $d_wall | $g_wall | | | |"
  echo "| mock CPU (% of one core, over the run) | $mock_cpu_direct | $mock_cpu_gw | | | |"
  echo "| gateway CPU (% of one core, over the run) | | $gw_cpu | | | |"
  echo "| gateway RSS before the run (KiB) | | $rss_baseline | | | |"
  echo "| gateway RSS peak (KiB; VmHWM $rss_hwm, sampled max $rss_sampled_peak) | | $rss_peak | | | |"
  echo "| gateway RSS per stream, (peak - baseline) / $streams (KiB) | | $per_stream | | <= $target_rss_kib | $rss_verdict |"
  echo "| gateway warn/error log lines during the run | | $gw_warn_lines | | | |"
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
