# Shared by the bench/run-*.sh scripts (sourced, not run): a work directory removed on exit,
# processes stopped by PID on exit, waiting for a process's "listening" line, wrk runs and medians,
# and starting the mock upstream, redis-server and nginx.
# Expects the caller to have set `work` (a directory of its own) before sourcing.

pids=()  # every process the script starts; stopped by PID (TERM, then KILL after 5 s) on exit
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# wait_for_line FILE SED_EXPR PID [SECONDS]: waits up to SECONDS (30) for a line matching the sed
# expression in a log file and prints the capture; fails (printing the file) if PID exits or time
# runs out.
wait_for_line() {
  local file="$1" expr="$2" pid="$3" found
  for _ in $(seq $(( ${4:-30} * 10 ))); do
    found="$(sed -nE "$expr" "$file" 2>/dev/null | head -n1)"
    if [[ -n "$found" ]]; then echo "$found"; return 0; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "timed out waiting in $file; it says:" >&2
  cat "$file" >&2
  return 1
}

# run_wrk PORT SCRIPT: one bounded wrk run (connections, duration_s from the caller) against
# /v1/chat/completions; prints requests/s. Any non-2xx answer makes the run invalid.
run_wrk() {
  local out
  out="$(/usr/bin/wrk -t1 -c"$connections" -d"${duration_s}s" -s "$2" "http://127.0.0.1:$1/v1/chat/completions")"
  if grep -q "Non-2xx" <<<"$out"; then
    echo "wrk saw non-2xx answers:" >&2
    echo "$out" >&2
    exit 1
  fi
  sed -nE 's/^Requests\/sec: +([0-9.]+)$/\1/p' <<<"$out"
}

# median: the median of the numbers on standard input, one per line.
median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

# free_port: a free loopback TCP port (bound, then released; for servers that cannot take port 0).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# to_ms VALUE: one of wrk's latency figures ("635.00us", "2.10ms", "1.02s", "1.50m") in ms.
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
    else { sub(/s$/, "", v); printf "%.3f", v * 1000 }
  }'
}

# run_wrk_latency PORT SCRIPT: like run_wrk, with --latency; prints "requests/s p50_ms p99_ms".
# Any non-2xx answer or socket error (connect, read, write, timeout) makes the run invalid.
run_wrk_latency() {
  local out rps p50 p99
  out="$(/usr/bin/wrk -t1 -c"$connections" -d"${duration_s}s" --latency -s "$2" "http://127.0.0.1:$1/v1/chat/completions")"
  if grep -qE "Non-2xx|Socket errors" <<<"$out"; then
    echo "wrk saw non-2xx answers or socket errors:" >&2
    echo "$out" >&2
    exit 1
  fi
  rps="$(sed -nE 's/^Requests\/sec: +([0-9.]+)$/\1/p' <<<"$out")"
  p50="$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")"
  p99="$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")"
  echo "$rps $p50 $p99"
}

# machine_description: one line on the machine and when (cores, CPU model, RAM, kernel, date,
# load average), for the head of a results table.
machine_description() {
  local cpu mem_gib
  cpu="$(sed -nE 's/^model name[[:space:]]*: *(.*)$/\1/p' /proc/cpuinfo | head -n1)"
  mem_gib="$(awk '$1 == "MemTotal:" {printf "%.1f", $2 / 1048576}' /proc/meminfo)"
  echo "$(date -u +%Y-%m-%dT%H:%MZ); $(nproc) cores (${cpu:-unknown CPU}), $mem_gib GiB RAM," \
       "Linux $(uname -r); load average $(cut -d' ' -f1-3 /proc/loadavg)"
}

# start_mock [ARGS...]: starts the mock upstream ($mock, one thread, a free loopback port, plus
# ARGS) with its output in $work; sets mock_pid and mock_port. Not in a subshell: it records the PID.
start_mock() {
  "$mock" --threads 1 --listen 127.0.0.1:0 "$@" >"$work/mock.out" 2>"$work/mock.err" &
  mock_pid=$!
  pids+=("$mock_pid")
  mock_port="$(wait_for_line "$work/mock.out" 's/^listening 127\.0\.0\.1:([0-9]+)$/\1/p' "$mock_pid")"
}

# start_redis: starts a redis-server of its own (no persistence, a free loopback port, its
# files in $work) and waits until it accepts connections; sets redis_pid and redis_port. Not in
# a subshell: it records the PID.
start_redis() {
  redis_port="$(free_port)"
  /usr/bin/redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no --dir "$work" \
    >"$work/redis.log" 2>&1 &
  redis_pid=$!
  pids+=("$redis_pid")
  wait_for_line "$work/redis.log" 's/.*(Ready to accept connections).*/\1/p' "$redis_pid" >/dev/null
}

# start_nginx WORKERS [CONNECTIONS] [h2]: nginx as a plain reverse proxy to the mock at
# $mock_port over HTTP/1.1 (upstream keep-alive, no buffering, no access log), WORKERS worker
# processes of CONNECTIONS (4096) connections each, client and upstream counted alike; its files
# in $work/nginx. With `h2` its listener speaks h2c (prior knowledge) instead of HTTP/1.1. Sets
# nginx_pid and nginx_port. Not in a subshell: it records the PID.
start_nginx() {
  local workers="$1" connections="${2:-4096}" user_line="" listen_h2=""
  if [[ "${3:-}" == h2 ]]; then
    # The default keepalive_requests (1000) would end an h2 connection mid-run.
    listen_h2=" http2;
    http2_max_concurrent_streams 128;
    keepalive_requests 100000000"
  fi
  nginx_port="$(free_port)"
  mkdir -p "$work/nginx"
  [[ "$(id -u)" == 0 ]] && user_line="user root;"  # so the workers can use the temp paths below
  cat >"$work/nginx/nginx.conf" <<EOF
$user_line
worker_processes $workers;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections $connections; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  upstream mock { server 127.0.0.1:$mock_port; keepalive 128; }
  server {
    listen 127.0.0.1:$nginx_port$listen_h2;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
EOF
  /usr/sbin/nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" >"$work/nginx/stdout.log" 2>&1 &
  nginx_pid=$!
  pids+=("$nginx_pid")
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$nginx_port") 2>/dev/null && return 0
    kill -0 "$nginx_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "nginx did not start:" >&2
  cat "$work/nginx/error.log" "$work/nginx/stdout.log" >&2
  exit 1
}

# write_bench_tenant: a fresh key for tenant `bench` on a plan without limits; sets `key` and
# writes $work/tenants.yaml.
write_bench_tenant() {
  local out entry
  out="$("$tollgate" keygen --tenant bench --name bench)"
  key="$(sed -n 1p <<<"$out")"
  entry="$(grep -E '^ *(- name|prefix|sha256|status):' <<<"$out" | sed 's/^/      /')"
  printf 'plans:\n  none: {}\ntenants:\n  bench:\n    plan: none\n    keys:\n%s\n' "$entry" >"$work/tenants.yaml"
}
