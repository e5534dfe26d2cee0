#!/usr/bin/env bash
# Fetches the real-world C/C++ corpora the benchmarks run on and produces a
# compile_commands.json for each, without building anything.
#
#   benches/fetch-corpora.sh [leveldb] [protobuf]      (default: both)
#
# Layout produced (benches/corpora/ is git-ignored):
#   benches/corpora/<name>/src/                       the vendored source tree
#   benches/corpora/<name>/build/                     CMake build dir (configure only)
#   benches/corpora/<name>/build/compile_commands.json
#
# The only network this machine has is the package registries, so the sources
# come from crates.io crates that vendor them:
#   leveldb   leveldb-sys =2.0.9          -> LevelDB 1.22
#   protobuf  protobuf-src =2.1.1+27.1    -> protobuf 27.1 + vendored abseil, utf8_range
#
# Idempotent: a corpus whose compile_commands.json exists is left alone; one
# whose source tree exists but was never configured is only configured.
# Delete benches/corpora/<name> to start that corpus over.
set -euo pipefail

BENCHES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CORPORA_DIR="$BENCHES_DIR/corpora"
CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"

# Temporary directories to remove however the script ends.
TMP_DIRS=()
cleanup() { [[ ${#TMP_DIRS[@]} -eq 0 ]] || rm -rf "${TMP_DIRS[@]}"; }
trap cleanup EXIT

log() { printf '[fetch-corpora] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in cargo cmake clang clang++ tar; do
    command -v "$tool" >/dev/null || die "'$tool' not found on PATH"
done

# Downloads one crate into cargo's cache through a throwaway project (cargo has
# no "download this crate" command) and unpacks it into $2.  We untar the
# cached .crate ourselves rather than reading ~/.cargo/registry/src, because
# that extracted copy is an implementation detail cargo may prune or skip.
fetch_crate() {
    local spec="$1" dest="$2"
    local name="${spec%%=*}" version="${spec#*=}"
    local proj
    proj="$(mktemp -d /tmp/indexer-corpus-fetch.XXXXXX)"
    TMP_DIRS+=("$proj")
    mkdir -p "$proj/src"
    echo 'fn main() {}' >"$proj/src/main.rs"
    cat >"$proj/Cargo.toml" <<EOF
[package]
name = "corpus-fetch"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
$name = "=$version"
EOF
    log "cargo fetch $name =$version"
    (cd "$proj" && cargo fetch --quiet)

    local crate_file
    crate_file="$(ls -1 "$CARGO_HOME"/registry/cache/*/"$name-$version.crate" 2>/dev/null | head -n1 || true)"
    [[ -n "$crate_file" ]] || die "cargo fetch succeeded but $name-$version.crate is not in $CARGO_HOME/registry/cache"
    log "unpacking $crate_file"
    mkdir -p "$dest"
    tar -xzf "$crate_file" -C "$dest"
}

# Copies $2 (a directory inside the unpacked crate) to $1/src.  Goes through a
# temporary name so an interrupted run never leaves a half-copied src/ that the
# next run would mistake for a complete one.
install_source() {
    local corpus="$1" from="$2"
    rm -rf "$corpus/src.partial"
    mkdir -p "$corpus"
    cp -a "$from" "$corpus/src.partial"
    mv "$corpus/src.partial" "$corpus/src"
}

# Configures $1/src into $1/build and checks the compile DB came out.
# clang is the compiler so the compile DB holds flags clang (and therefore
# libclang and clangd) understands, exactly as a clang build would have them.
configure() {
    local corpus="$1"; shift
    rm -rf "$corpus/build"
    mkdir -p "$corpus/build"
    log "cmake configure $corpus/src -> $corpus/build"
    if ! cmake -S "$corpus/src" -B "$corpus/build" \
            -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
            -DCMAKE_BUILD_TYPE=Release \
            -DCMAKE_C_COMPILER=clang \
            -DCMAKE_CXX_COMPILER=clang++ \
            "$@" >"$corpus/configure.log" 2>&1; then
        tail -n 30 "$corpus/configure.log" >&2
        die "cmake configure failed (full log: $corpus/configure.log)"
    fi
    [[ -s "$corpus/build/compile_commands.json" ]] \
        || die "configure produced no $corpus/build/compile_commands.json"
    python3 - "$corpus/build/compile_commands.json" <<'EOF' >&2
import json, sys
entries = json.load(open(sys.argv[1]))
print(f"[fetch-corpora] {sys.argv[1]}: {len(entries)} entries, "
      f"{len({e['file'] for e in entries})} unique files")
EOF
}

# $1 corpus name, $2 crate=version, $3 source root inside the unpacked crate,
# remaining args: cmake options.
prepare() {
    local name="$1" spec="$2" subdir="$3"; shift 3
    local corpus="$CORPORA_DIR/$name"
    if [[ -s "$corpus/build/compile_commands.json" ]]; then
        log "$name: already prepared ($corpus), skipping"
        return
    fi
    if [[ -d "$corpus/src" ]]; then
        log "$name: source tree present, configuring only"
    else
        local unpack
        unpack="$(mktemp -d /tmp/indexer-corpus-unpack.XXXXXX)"
        TMP_DIRS+=("$unpack")
        fetch_crate "$spec" "$unpack"
        local from="$unpack/${spec%%=*}-${spec#*=}/$subdir"
        [[ -d "$from" ]] || die "$from not found in crate"
        log "$name: copying $subdir -> $corpus/src"
        install_source "$corpus" "$from"
    fi
    configure "$corpus" "$@"
    log "$name: ready"
}

prepare_leveldb() {
    # Tests and benchmarks stay ON (the crate's build.rs turns them off): they
    # configure without extra dependencies (LevelDB 1.22 ships its own test
    # harness) and more translation units make a better benchmark.  Configure
    # generates build/include/port/port_config.h, which every unit includes.
    # Snappy is off, as in the crate's default feature set.
    prepare leveldb "leveldb-sys=2.0.9" deps/leveldb-1.22 \
        -DLEVELDB_BUILD_TESTS=ON \
        -DLEVELDB_BUILD_BENCHMARKS=ON \
        -DHAVE_SNAPPY=OFF
}

prepare_protobuf() {
    # Mirrors the crate's build.rs.  Tests stay OFF: they need googletest,
    # which is not vendored.  abseil comes from the vendored
    # third_party/abseil-cpp (ABSL_PROVIDER=module is the default, spelled out
    # here so a change of default upstream doesn't silently switch to a system
    # abseil).  The install prefix only silences abseil's warning about
    # installing into /usr/local; nothing is installed.
    local corpus="$CORPORA_DIR/protobuf"
    prepare protobuf "protobuf-src=2.1.1+27.1" protobuf \
        -Dprotobuf_BUILD_TESTS=OFF \
        -Dprotobuf_ABSL_PROVIDER=module \
        -DABSL_ROOT_DIR="$corpus/src/third_party/abseil-cpp" \
        -DABSL_PROPAGATE_CXX_STD=ON \
        -DCMAKE_CXX_STANDARD=14 \
        -DCMAKE_INSTALL_PREFIX="$corpus/build/install"
}

corpora=("$@")
[[ ${#corpora[@]} -gt 0 ]] || corpora=(leveldb protobuf)
mkdir -p "$CORPORA_DIR"
for c in "${corpora[@]}"; do
    case "$c" in
        leveldb) prepare_leveldb ;;
        protobuf) prepare_protobuf ;;
        *) die "unknown corpus '$c' (known: leveldb protobuf)" ;;
    esac
done
log "done: ${corpora[*]}"
