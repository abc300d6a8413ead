#!/usr/bin/env bash
# SDK contract suite (tests/sdk-contract): Go tests that drive the VNGCloud emulator over HTTP
# the way the official Go SDK does, making the Go controller's calls. Starts the emulator
# binary on 127.0.0.1 (a free port), runs `go test` against it, stops the emulator even on
# failure, and ends with `N passed, N failed`. The module uses the standard library only, so
# nothing is downloaded for it. Go: the one on PATH, else /usr/local/go, else Debian's
# golang-go (the suite's code builds with Go 1.19 and later).
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="/usr/local/go/bin:$PATH"
fi
if ! command -v go >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq golang-go >/dev/null
fi
go version

fixture="$PWD/crates/vngcloud-emulator/fixtures/default.json"
# `cargo test --workspace` (run just before) has built the binary; build it only when it is
# missing or older than the emulator's sources (a separate `cargo build -p` could rebuild
# dependencies with other features).
bin="${CARGO_TARGET_DIR:-$PWD/target}/debug/vlb-vngcloud-emulator"
if [ ! -x "$bin" ] || [ -n "$(find crates/vngcloud-emulator Cargo.lock -newer "$bin" -type f -print -quit)" ]; then
  cargo build --locked -q -p vlb-vngcloud-emulator --bin vlb-vngcloud-emulator
fi

work="$(mktemp -d)"
emu_pid=""
cleanup() {
  if [ -n "$emu_pid" ] && kill -0 "$emu_pid" 2>/dev/null; then
    kill "$emu_pid" 2>/dev/null || true
    wait "$emu_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" --addr 127.0.0.1:0 --fixture "$fixture" >"$work/emulator.out" 2>"$work/emulator.err" &
emu_pid=$!

# The emulator prints `listening on http://127.0.0.1:PORT` once it accepts connections.
url=""
for _ in $(seq 1 200); do
  url="$(sed -n 's/^listening on //p' "$work/emulator.out" | head -n1)"
  [ -n "$url" ] && break
  if ! kill -0 "$emu_pid" 2>/dev/null; then
    cat "$work/emulator.err" >&2
    echo "sdk-contract: the emulator exited before listening" >&2
    echo "0 passed, 1 failed"
    exit 1
  fi
  sleep 0.05
done
if [ -z "$url" ]; then
  echo "sdk-contract: the emulator did not print its address within 10s" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

set +e
(
  cd tests/sdk-contract
  VLB_EMULATOR_URL="$url" VLB_FIXTURE="$fixture" \
    go test -count=1 -v ./...
) 2>&1 | tee "$work/go-test.out"
status=${PIPESTATUS[0]}
set -e

passed=$(grep -c -- '^--- PASS' "$work/go-test.out" || true)
failed=$(grep -c -- '^--- FAIL' "$work/go-test.out" || true)
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1
fi
echo "${passed} passed, ${failed} failed"
exit "$status"
