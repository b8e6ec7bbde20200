#!/usr/bin/env bash
# Index scaling in wasm: benches/index.rs built for wasm32-wasip1 (our src/index.rs, no burn)
# and run under node's WASI, on the very data the native run generates and saves.
#   bench/index-wasm.sh [SIZES] [BUILD_MAX]
#   SIZES default 1000,10000,100000; graphs are rebuilt in wasm up to BUILD_MAX references
#   (default 10000), larger ones are built natively and read from their postcard bytes,
#   as the product ships them.
# Env: BEANSCAN_INDEX_BENCH  the built benches/index.rs binary (instead of `cargo bench`, which
#      may wait for the target folder lock while other builds run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SIZES=${1:-1000,10000,100000}
BUILD_MAX=${2:-10000}
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
command -v node >/dev/null || die "node not found: install Node.js 20 or newer"
rustup target list --installed | grep -qx wasm32-wasip1 || die "the Rust target wasm32-wasip1 is missing: rustup target add wasm32-wasip1"
if [[ -z "${CARGO_TARGET_DIR:-}" && -d "$HOME/.cache/beanscan-target" ]]; then export CARGO_TARGET_DIR="$HOME/.cache/beanscan-target"; fi
TARGET_DIR=$(realpath -m "${CARGO_TARGET_DIR:-bench/index-wasm/target}")
DATA=$(mktemp -d "${TMPDIR:-/tmp}/beanscan-index-XXXXXX")
trap 'rm -rf "$DATA"' EXIT

echo "==> native: cargo bench --bench index -- $SIZES --save (the same data for both)" >&2
if [[ -n ${BEANSCAN_INDEX_BENCH:-} ]]; then
  "$BEANSCAN_INDEX_BENCH" "$SIZES" --save "$DATA"
else
  cargo bench --quiet --bench index -- "$SIZES" --save "$DATA"
fi
echo "==> wasm32-wasip1 build of benches/index.rs + src/index.rs" >&2
(cd bench/index-wasm && CARGO_TARGET_DIR=$TARGET_DIR cargo build --quiet --release --target wasm32-wasip1)
WASM=$TARGET_DIR/wasm32-wasip1/release/index.wasm
[[ -f $WASM ]] || die "cargo did not produce $WASM"
echo "==> wasm under node $(node --version) WASI (one thread), graphs built in wasm up to $BUILD_MAX references" >&2
node --no-warnings bench/index-wasm/run.mjs "$WASM" "$DATA" "$SIZES" --load /data --build-max "$BUILD_MAX"
