#!/usr/bin/env bash
# Installs every Debian package Tollgate needs to build, run and test (idempotent; root).
# Nothing is downloaded outside apt (and npm, for the JavaScript e2e client).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ca-certificates curl
  libboost1.81-dev libssl-dev libsimdjson-dev libyaml-cpp-dev
  libnghttp2-dev libhiredis-dev librdkafka-dev
)
if [[ "${1:-}" == "--test" ]]; then
  # prometheus: promtool checks the /metrics page; file: dpkg-shlibdeps (the .deb test) uses it;
  # nghttp2-client: nghttp, the HTTP/2 tests' reference client.
  packages+=(libgtest-dev libgmock-dev libbenchmark-dev clang-14 libclang-rt-14-dev openssl nodejs npm redis-server
             prometheus file nghttp2-client)
fi

missing=()
for p in "${packages[@]}"; do
  # A nodejs that did not come from Debian (e.g. a newer one already on the machine) is fine.
  if [[ "$p" == nodejs || "$p" == npm ]] && command -v node >/dev/null && command -v npm >/dev/null; then
    continue
  fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
