#!/usr/bin/env bash
# The README's first command: installs what is missing, builds Release, starts the mock
# upstream as the local `demo` provider, and runs the gateway on conf/tollgate.yaml
# (local limits store, JSONL usage file). Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
TOLLGATE_TESTS=OFF bash scripts/build.sh release

demo_key='tg_demo0000_DemoKeyForLocalTryingOnly0000000'
build/release/bench/mock_upstream/mock_upstream --listen 127.0.0.1:8081 >/dev/null &
mock_pid=$!
gateway_pid=
# Whatever ends this script (Ctrl-C, SIGTERM, the gateway exiting) stops both processes it started.
trap 'kill $gateway_pid "$mock_pid" 2>/dev/null || true' EXIT INT TERM

cat <<MSG

Tollgate is starting on http://127.0.0.1:8080 (health: http://127.0.0.1:9464/healthz).
The demo provider is the bundled mock upstream on 127.0.0.1:8081; set OPENAI_API_KEY
before starting to send gpt-4o / gpt-4o-mini to OpenAI.

Demo API key (public, for local trying only; remove tenant "demo" before real use):
  $demo_key

Try it from another terminal:
  curl -s http://127.0.0.1:8080/v1/chat/completions \\
    -H "Authorization: Bearer $demo_key" -H 'content-type: application/json' \\
    -d '{"model": "demo-chat", "messages": [{"role": "user", "content": "Hello!"}]}'

MSG
build/release/src/tollgate --config conf/tollgate.yaml &
gateway_pid=$!
wait "$gateway_pid"
