# Shared by the bench/run-*.sh scripts (sourced, not run): a work directory removed on exit,
# processes stopped by PID on exit, waiting for a process's "listening" line, wrk runs and medians.
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

# wait_for_line FILE SED_EXPR PID: waits up to 30 s for a line matching the sed expression in a
# log file and prints the capture; fails (printing the file) if PID exits or time runs out.
wait_for_line() {
  local file="$1" expr="$2" pid="$3" found
  for _ in $(seq 300); do
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
