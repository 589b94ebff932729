#!/usr/bin/env bash
# Checks packaging/ (run by ctest; see CMakeLists.txt next to this file).
#   packaging_test.sh deb  BUILD_DIR SOURCE_DIR TOLLGATE_BINARY   the .deb and its contents
#   packaging_test.sh unit BUILD_DIR SOURCE_DIR TOLLGATE_BINARY   systemd-analyze verify on the unit
# Exit 0 = pass, 1 = fail, 77 = skipped (ctest SKIP_RETURN_CODE), with a "SKIP:" line saying why.
# CPACK names the cpack to run (ctest passes the one of the CMake that configured the build).
set -euo pipefail

mode="$1" build="$2" source="$3" binary="$4"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "PASS: $*"; }
skip() { echo "SKIP: $*"; exit 77; }

check_deb() {
  "${CPACK:-cpack}" -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/out" >"$tmp/cpack.log" 2>&1 ||
    { cat "$tmp/cpack.log" >&2; fail "cpack -G DEB"; }
  local debs=("$tmp"/out/tollgate_*.deb)
  [[ ${#debs[@]} -eq 1 && -f "${debs[0]}" ]] || { ls -l "$tmp/out" >&2; fail "expected one tollgate_*.deb"; }
  local deb="${debs[0]}"
  pass "cpack built $(basename "$deb")"

  # Contents: exactly these files (no test or bench binary slips in), with these modes, owned by root.
  dpkg-deb -c "$deb" >"$tmp/contents"
  local expected=(
    "-rwxr-xr-x ./usr/bin/tollgate"
    "-rw-r--r-- ./etc/tollgate/tollgate.yaml"
    "-rw-r--r-- ./etc/tollgate/tenants.yaml"
    "-rw-r----- ./etc/default/tollgate"
    "-rw-r--r-- ./lib/systemd/system/tollgate.service"
    "-rw-r--r-- ./usr/share/doc/tollgate/README.md"
    "-rw-r--r-- ./usr/share/doc/tollgate/README.packaging.md"
  )
  awk '$1 !~ /^d/ {print $1, $6}' "$tmp/contents" | sort >"$tmp/files"
  printf '%s\n' "${expected[@]}" | sort >"$tmp/expected"
  diff -u "$tmp/expected" "$tmp/files" >&2 || { cat "$tmp/contents" >&2; fail "dpkg-deb -c: unexpected files or modes"; }
  awk '$2 != "root/root" {bad = 1} END {exit bad}' "$tmp/contents" || fail "dpkg-deb -c: an entry not owned by root/root"
  awk '$1 ~ /^d/ && $1 != "drwxr-xr-x" {bad = 1} END {exit bad}' "$tmp/contents" || fail "dpkg-deb -c: a directory not 0755"
  pass "dpkg-deb -c lists the ${#expected[@]} expected files with their modes"

  # Control: maintainer scripts, conffiles, dependencies.
  dpkg-deb -I "$deb" >"$tmp/info"
  local member
  for member in postinst prerm postrm; do
    grep -Eq "^ +[0-9]+ bytes, +[0-9]+ lines +\* +$member +#!/bin/sh" "$tmp/info" ||
      { cat "$tmp/info" >&2; fail "dpkg-deb -I: no executable $member"; }
  done
  mkdir "$tmp/control"
  dpkg-deb -e "$deb" "$tmp/control"
  printf '%s\n' /etc/tollgate/tollgate.yaml /etc/tollgate/tenants.yaml /etc/default/tollgate >"$tmp/conffiles"
  diff -u "$tmp/conffiles" "$tmp/control/conffiles" >&2 || fail "conffiles"
  for member in postinst prerm postrm; do sh -n "$tmp/control/$member" || fail "$member: sh -n"; done
  local depends
  depends="$(dpkg-deb -f "$deb" Depends)"
  local dep
  for dep in adduser ca-certificates libc6 libstdc++6 libssl3 libsimdjson14 libyaml-cpp0.7 libhiredis0.14 librdkafka1; do
    [[ ", $depends," == *", $dep"[\ ,]* ]] || fail "Depends lacks $dep: $depends"
  done
  pass "dpkg-deb -I shows postinst, prerm, postrm and 3 conffiles; Depends: $depends"

  # The packaged binary runs and accepts the packaged configuration (paths inside the tree).
  mkdir "$tmp/root"
  dpkg-deb -x "$deb" "$tmp/root"
  "$tmp/root/usr/bin/tollgate" --version >/dev/null || fail "packaged tollgate --version"
  "$tmp/root/usr/bin/tollgate" --check --config "$tmp/root/etc/tollgate/tollgate.yaml" >"$tmp/check" 2>&1 ||
    { cat "$tmp/check" >&2; fail "packaged tollgate --check on the packaged config"; }
  # And the source tree's copy with the build's binary, as the README tells a developer to run it.
  "$binary" --check --config "$source/packaging/etc/tollgate.yaml" >"$tmp/check" 2>&1 ||
    { cat "$tmp/check" >&2; fail "tollgate --check --config packaging/etc/tollgate.yaml"; }
  pass "tollgate --check accepts packaging/etc/tollgate.yaml (packaged and from the source tree)"

  # The unit runs what the package installs.
  grep -qx 'ExecStart=/usr/bin/tollgate --config /etc/tollgate/tollgate.yaml' \
    "$tmp/root/lib/systemd/system/tollgate.service" || fail "ExecStart does not run /usr/bin/tollgate on /etc/tollgate"
}

# systemd-analyze verify exits 0 even when it ignores a bad line, so any line that names the unit
# is a failure. It also checks that ExecStart's binary exists: the copy verified runs the build's
# binary instead of /usr/bin/tollgate (check_deb checks the installed path).
verify_unit() {
  SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "$1" >"$tmp/verify" 2>&1 || return 1
  ! grep -q 'tollgate\.service' "$tmp/verify"
}

check_unit() {
  command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
  # First a trivial unit: if that does not verify cleanly, verify cannot run meaningfully here.
  mkdir "$tmp/probe" "$tmp/unit" "$tmp/broken"
  printf '[Service]\nExecStart=/bin/true\n' >"$tmp/probe/tollgate-probe.service"
  if ! SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "$tmp/probe/tollgate-probe.service" >"$tmp/verify" 2>&1 ||
      [[ -s "$tmp/verify" ]]; then
    skip "systemd-analyze verify does not run cleanly here: $(head -n 1 "$tmp/verify")"
  fi
  sed "s#/usr/bin/tollgate#$binary#g" "$source/packaging/tollgate.service" >"$tmp/unit/tollgate.service"
  verify_unit "$tmp/unit/tollgate.service" || { cat "$tmp/verify" >&2; fail "systemd-analyze verify tollgate.service"; }
  # The same with one misspelt directive must be caught, or the pass above proves nothing.
  sed 's/^ProtectHome=yes$/ProtectHom=yes/' "$tmp/unit/tollgate.service" >"$tmp/broken/tollgate.service"
  if verify_unit "$tmp/broken/tollgate.service"; then fail "systemd-analyze verify missed a misspelt directive"; fi
  pass "systemd-analyze verify: tollgate.service is clean (and a misspelt copy is reported)"
}

case "$mode" in
  deb) check_deb ;;
  unit) check_unit ;;
  *) echo "usage: $0 deb|unit BUILD_DIR SOURCE_DIR TOLLGATE_BINARY" >&2; exit 2 ;;
esac
