#!/usr/bin/env bash
# Builds the CPU-only module with wasm threads (rayon over Web Workers sharing one memory) into
# $CARGO_TARGET_DIR/beanscan-threads-pkg, for bench/wasm-threads.mjs. Needs nightly Rust with
# rust-src and the wasm32 target (`rustup component add rust-src --toolchain nightly`,
# `rustup target add wasm32-unknown-unknown --toolchain nightly`) and `./build.sh setup`.
# Its own target folder, so the shipped modules' build stays as it is. Not in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET_DIR=${CARGO_TARGET_DIR:-target}
OUT=${1:-$TARGET_DIR/beanscan-threads-pkg}
# std rebuilt with atomics; the shipped module's flags (simd128) kept. The memory is shared
# (imported, with a maximum) and the thread-local storage exports are what wasm-bindgen's thread
# support needs to start each worker's instance.
LINK='--shared-memory --max-memory=2147483648 --import-memory --export=__wasm_init_tls --export=__tls_size --export=__tls_align --export=__tls_base'
RUSTFLAGS="-C target-feature=+atomics,+bulk-memory,+mutable-globals,+simd128 $(printf -- ' -C link-arg=%s' $LINK)" \
  CARGO_TARGET_DIR=$TARGET_DIR/threads \
  cargo +nightly build --lib --target wasm32-unknown-unknown --profile wasm-release \
  --no-default-features --features wasm-threads -Z build-std=panic_abort,std
rm -rf "$OUT"
wasm-bindgen --target web --out-dir "$OUT" "$TARGET_DIR/threads/wasm32-unknown-unknown/wasm-release/beanscan.wasm"
WASM_OPT=tests/e2e/node_modules/.bin/wasm-opt  # ./build.sh setup installs it
"$WASM_OPT" -O3 --enable-threads --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-simd "$OUT/beanscan_bg.wasm" -o "$OUT/beanscan_bg.wasm"
ls -l "$OUT"
