#!/usr/bin/env bash
# Fetches the real-world C/C++ corpora the benchmarks run on and produces a
# compile_commands.json for each, without building anything.
#
#   benches/fetch-corpora.sh [NAME...]      (default: every corpus but llvm)
#
# Layout produced (benches/corpora/ is git-ignored):
#   benches/corpora/<name>/src/                       the vendored source tree
#   benches/corpora/<name>/build/                     CMake build dir (configure only)
#   benches/corpora/<name>/build/compile_commands.json
#
# The only network this machine has is the package registries, so the sources
# come from crates.io crates that vendor them, or from Debian source packages
# (bookworm, fetched with `apt-get source` through a private apt state that
# holds the only deb-src entry: the system's apt configuration is untouched):
#   leveldb   crate leveldb-sys =2.0.9          LevelDB 1.22 (C++, standard library heavy)
#   protobuf  crate protobuf-src =2.1.1+27.1    protobuf 27.1 + vendored abseil, utf8_range
#   libgit2   deb   libgit2 1.5.1+ds-1+deb12u1  C, library and clar tests
#   abseil    deb   abseil 20220623.1-1+deb12u2 C++, gtest/gmock tests, template headers
#   spdlog    deb   spdlog 1:1.10.0+ds-0.4      CMake target_precompile_headers, Catch2 tests
#   wxwidgets deb   wxwidgets3.2 3.2.2+dfsg-2   target_precompile_headers on most units
#   llvm      deb   llvm-toolchain-14 1:14.0.6-12   LARGE (thousands of units): only on request
# The Debian ones need the libraries their CMake looks for (gtest, catch2,
# fmt, pcre2, http-parser, ...) and dpkg-source: `.ci/install-deps --bench`.
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

for tool in cargo cmake clang clang++ tar python3; do
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

# Downloads Debian source package $1 (name=version, the version as in its .dsc)
# and unpacks it with dpkg-source into $2/tree, Debian's patches applied (the
# tree Debian builds).  The machine's apt configuration has no deb-src entry
# and must not be changed, so apt runs on a private state directory whose
# sources.list holds only bookworm's deb-src line.  A point release replaces
# a package's version on the mirror; if the pinned one is gone, the current
# one is taken with a warning (update the pin and the README's counts then).
DEBIAN_SUITE="bookworm"
DEBIAN_MIRROR="http://deb.debian.org/debian"
APT_DIR=""
APT_OPTS=()
# apt's downloads run as the user `_apt` when apt runs as root, and `_apt`
# cannot write into our private (mode 0700) directory, so apt would fall back
# to root with a warning; saying so up front only drops the warning.  apt
# checks every downloaded file against the hashes of the signed index.
private_apt() { apt-get "${APT_OPTS[@]}" -o APT::Sandbox::User=root "$@"; }
fetch_debian_source() {
    local spec="$1" dest="$2"
    local name="${spec%%=*}" version="${spec#*=}"
    command -v dpkg-source >/dev/null || die "'dpkg-source' not found: install dpkg-dev (.ci/install-deps --bench)"
    if [[ -z "$APT_DIR" ]]; then
        APT_DIR="$(mktemp -d /tmp/indexer-corpus-apt.XXXXXX)"
        TMP_DIRS+=("$APT_DIR")
        mkdir -p "$APT_DIR/state/lists/partial" "$APT_DIR/cache/archives/partial" "$APT_DIR/etc"
        echo "deb-src $DEBIAN_MIRROR $DEBIAN_SUITE main" >"$APT_DIR/etc/sources.list"
        APT_OPTS=(-o Dir::Etc::SourceList="$APT_DIR/etc/sources.list"
            -o Dir::Etc::SourceParts=/dev/null
            -o Dir::State="$APT_DIR/state" -o Dir::Cache="$APT_DIR/cache")
        log "apt-get update (private state $APT_DIR: deb-src $DEBIAN_SUITE main)"
        private_apt update -qq || die "apt-get update of the private deb-src state failed"
    fi
    local download
    download="$(mktemp -d /tmp/indexer-corpus-deb.XXXXXX)"
    TMP_DIRS+=("$download")
    log "apt-get source --download-only $name=$version"
    if ! (cd "$download" && private_apt source -qq --download-only "$name=$version" >&2); then
        local current
        current="$(apt-cache "${APT_OPTS[@]}" showsrc "$name" 2>/dev/null \
            | sed -n 's/^Version: //p' | head -n1)"
        [[ -n "$current" ]] || die "Debian source package $name is not in $DEBIAN_SUITE"
        log "warning: $name $version is no longer on the mirror; taking $current (update the pin in $0 and the counts in benches/README.md)"
        (cd "$download" && private_apt source -qq --download-only "$name=$current" >&2) \
            || die "apt-get source $name=$current failed"
    fi
    local dsc
    dsc="$(ls -1 "$download"/*.dsc | head -n1)"
    log "source package: $(sed -n 's/^Version: /version /p' "$dsc" | head -n1) ($(basename "$dsc"))"
    # --no-check: the .dsc's maintainer signature needs debian-keyring to
    # verify; apt has already checked the files against the signed index.
    dpkg-source --no-check -x "$dsc" "$dest/tree" >&2 \
        || die "dpkg-source -x $dsc failed"
}

# Moves $2 (a directory inside the unpacked crate or package, in a temporary
# directory about to be deleted) to $1/src.  Goes through a temporary name so
# an interrupted run never leaves a half-copied src/ that the next run would
# mistake for a complete one.
install_source() {
    local corpus="$1" from="$2"
    rm -rf "$corpus/src.partial"
    mkdir -p "$corpus"
    mv "$from" "$corpus/src.partial"
    mv "$corpus/src.partial" "$corpus/src"
}

# Configures $1/src into $1/build and checks the compile DB came out.
# clang is the compiler so the compile DB holds flags clang (and therefore
# libclang and clangd) understands, exactly as a clang build would have them.
# CMAKE_SOURCE_REL, if set, is the CMake source directory relative to src/
# (LLVM's is llvm/, beside the clang/ it refers to as ../clang).
configure() {
    local corpus="$1"; shift
    local source="$corpus/src${CMAKE_SOURCE_REL:+/$CMAKE_SOURCE_REL}"
    rm -rf "$corpus/build"
    mkdir -p "$corpus/build"
    log "cmake configure $source -> $corpus/build"
    if ! cmake -S "$source" -B "$corpus/build" \
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
files = {e['file'] for e in entries}
c = sum(f.endswith('.c') for f in files)
pch = sum('-include-pch' in e.get('command', ' '.join(e.get('arguments', []))) for e in entries)
print(f"[fetch-corpora] {sys.argv[1]}: {len(entries)} entries, "
      f"{len(files)} unique files ({c} .c, {len(files) - c} other), "
      f"{pch} entries with -include-pch")
EOF
}

# $1 corpus name, $2 crate=version or deb:package=version, $3 source root
# inside the unpacked crate or package, remaining args: cmake options.
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
        local from
        if [[ "$spec" == deb:* ]]; then
            fetch_debian_source "${spec#deb:}" "$unpack"
            from="$unpack/tree/$subdir"
        else
            fetch_crate "$spec" "$unpack"
            from="$unpack/${spec%%=*}-${spec#*=}/$subdir"
        fi
        from="${from%/.}"
        [[ -d "$from" ]] || die "$from not found in $spec"
        log "$name: moving $subdir of $spec to $corpus/src"
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

prepare_libgit2() {
    # A C code base: the library and its clar test suite (about 600 units).
    # Options follow Debian's rules except where they would need more
    # packages: HTTPS through OpenSSL instead of mbedTLS, no SSH, GSSAPI or
    # NTLM.  Debian's tree drops the bundled deps/, so pcre2, http-parser and
    # zlib come from the system.
    prepare libgit2 "deb:libgit2=1.5.1+ds-1+deb12u1" . \
        -DBUILD_SHARED_LIBS=OFF \
        -DBUILD_CLI=OFF \
        -DBUILD_TESTS=ON \
        -DDISABLE_ONLINE_TESTS=ON \
        -DREGEX_BACKEND=pcre2 \
        -DUSE_HTTP_PARSER=system \
        -DUSE_HTTPS=OpenSSL \
        -DUSE_SSH=OFF \
        -DUSE_GSSAPI=OFF \
        -DUSE_NTLMCLIENT=OFF
    # Every test unit (440 of the 609) is compiled with `-include
    # clar_suite.h`, which the build's first step generates from the test
    # sources with a Python script.  Without it each of those units stops at
    # a fatal "file not found" before its first line, which would make the
    # corpus measure error handling rather than C code.  So this runs that
    # one step, with the arguments of the custom commands in
    # tests/{libgit2,util}/CMakeLists.txt; it compiles nothing.
    generate_clar_suite libgit2 -xonline -xstress -xperf
    generate_clar_suite util
}

# $1 a libgit2 test suite (tests/$1), remaining args: generate.py's options.
generate_clar_suite() {
    local corpus="$CORPORA_DIR/libgit2" dir="$1"; shift
    [[ -s "$corpus/build/tests/$dir/clar_suite.h" ]] && return
    log "libgit2: generating build/tests/$dir/clar.suite and clar_suite.h (clar's generate.py)"
    (cd "$corpus/src/tests/$dir" &&
        python3 ../clar/generate.py -o "$corpus/build/tests/$dir" -f "$@" . >/dev/null) \
        || die "libgit2: clar's generate.py failed for tests/$dir"
}

prepare_abseil() {
    # A test-heavy C++ code base: 192 of its 314 units are gtest/gmock tests,
    # and every unit includes abseil's template-heavy headers.  GoogleTest
    # comes from Debian's libgtest-dev/libgmock-dev (find_package), as in
    # Debian's own build; C++17 as Debian builds it.
    prepare abseil "deb:abseil=20220623.1-1+deb12u2" . \
        -DBUILD_TESTING=ON \
        -DABSL_BUILD_TESTING=ON \
        -DABSL_USE_EXTERNAL_GOOGLETEST=ON \
        -DABSL_FIND_GOOGLETEST=ON \
        -DABSL_PROPAGATE_CXX_STD=ON \
        -DCMAKE_CXX_STANDARD=17
}

prepare_spdlog() {
    # A CMake project that uses target_precompile_headers: with
    # SPDLOG_ENABLE_PCH the library's units compile with
    # `-Xclang -include-pch -Xclang .../cmake_pch.hxx.pch`, a file only a
    # build would create.  Debian's patches make it use the system fmt
    # (libfmt-dev) and Catch2 (catch2) for the tests and examples.
    prepare spdlog "deb:spdlog=1:1.10.0+ds-0.4" . \
        -DSPDLOG_ENABLE_PCH=ON \
        -DSPDLOG_BUILD_TESTS=ON \
        -DSPDLOG_BUILD_EXAMPLE=ON \
        -DSPDLOG_FMT_EXTERNAL=ON
    local pch
    pch="$(grep -c -- '-include-pch' "$CORPORA_DIR/spdlog/build/compile_commands.json" || true)"
    [[ "$pch" -gt 0 ]] || die "spdlog: no entry of the compile DB carries -include-pch; SPDLOG_ENABLE_PCH had no effect"
    log "spdlog: $pch entries carry -include-pch"
}

prepare_wxwidgets() {
    # A CMake project that precompiles one header (wx/wxprec.h, through
    # target_precompile_headers) for most of its units: wxBase and wxNet and
    # the console tests (Catch, vendored), without the GUI libraries, which
    # would need GTK.  PCRE is the vendored one; zlib and expat come from the
    # system (Debian's tree drops their vendored copies).  Configure warns
    # that curl and libsecret are missing: wxWebRequest's curl backend and
    # wxSecretStore are left out, as in any build without them.
    prepare wxwidgets "deb:wxwidgets3.2=3.2.2+dfsg-2" . \
        -DwxUSE_GUI=OFF \
        -DwxBUILD_TESTS=CONSOLE_ONLY \
        -DwxBUILD_PRECOMP=ON \
        -DwxUSE_REGEX=builtin \
        -DwxUSE_ZLIB=sys \
        -DwxUSE_EXPAT=sys \
        -DwxUSE_LIBLZMA=OFF
}

prepare_llvm() {
    # LARGE, not fetched by default: LLVM and clang 14, thousands of units, a
    # 130 MB download that unpacks to about 1.5 GB.  For soak runs.  Only
    # configured: the TableGen outputs (*.inc, *.gen) that most of LLVM's and
    # clang's units include are produced by a build, so those units parse
    # with errors, as on any configured-only LLVM tree.
    CMAKE_SOURCE_REL=llvm prepare llvm "deb:llvm-toolchain-14=1:14.0.6-12" . \
        -DLLVM_ENABLE_PROJECTS=clang \
        -DLLVM_INCLUDE_BENCHMARKS=OFF
}

corpora=("$@")
[[ ${#corpora[@]} -gt 0 ]] || corpora=(leveldb protobuf libgit2 abseil spdlog wxwidgets)
mkdir -p "$CORPORA_DIR"
for c in "${corpora[@]}"; do
    case "$c" in
        leveldb) prepare_leveldb ;;
        protobuf) prepare_protobuf ;;
        libgit2) prepare_libgit2 ;;
        abseil) prepare_abseil ;;
        spdlog) prepare_spdlog ;;
        wxwidgets) prepare_wxwidgets ;;
        llvm) prepare_llvm ;;
        *) die "unknown corpus '$c' (known: leveldb protobuf libgit2 abseil spdlog wxwidgets llvm)" ;;
    esac
done
log "done: ${corpora[*]}"
