//! The compile-command stage: turns a command as a build system wrote it
//! into arguments libclang can parse, and says what it changed.
//!
//! libclang is always driven as plain `clang` with the source file passed
//! separately, in the entry's `directory`. A command written for a build
//! differs from that in ways that lose declarations or make the parse fail:
//!
//! - It may read a build product that is missing (a tree only configured)
//!   or foreign (made by gcc, or by another clang): a precompiled header
//!   (`-include-pch`, also as `-Xclang` pairs as CMake's
//!   `target_precompile_headers` writes them; clang-cl's `/Yu /Yc /Fp`) or
//!   a prebuilt module (`-fmodule-file=`, `-fprebuilt-module-path=`). Those
//!   are dropped. Every `-include X` (and clang-cl's `/FI X`) becomes
//!   `-Xclang -include -Xclang X`: the driver's own `-include` looks for an
//!   `X.pch` or `X.gch` beside the header and reads it instead (clang 14
//!   fails with "input is not a PCH file" on gcc's), while the `-Xclang`
//!   form reaches the front end as is and reads the header as text, so a
//!   unit that relied on the precompiled header still gets its declarations.
//!   CMake's stub header (`cmake_pch.hxx`) is replaced by the headers it
//!   includes: its `#pragma clang system_header` would make the project's
//!   own headers system headers, which the index leaves out.
//! - Response files (`@file`) hold arguments that libclang does not expand:
//!   they are read here, relative to `directory` as clang 14 reads them
//!   (nested ones too), within a depth and a size limit.
//! - The program: wrappers (`ccache`, `distcc`, ...) are skipped; the
//!   compiler's name decides what the real driver would (`g++` and
//!   `clang++` compile `m.c` as C++, `aarch64-linux-gnu-g++` targets
//!   aarch64), which libclang learns from `--driver-mode=` and `--target=`.
//! - gcc options that clang 14 rejects as unknown (each checked with clang
//!   14, see [`GCC_ONLY_F`]) are dropped.
//!
//! The compiler, `-c`, the source file and output-only flags (`-o`, `-MF`,
//! ...) always go and are not reported; every other change is described in
//! [`Adjusted::changes`], which the index keeps with the unit (`indexer
//! status --unit`, `indexer build --explain`).

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::discover::normalize;

/// Programs that wrap the compiler: in `ccache cc -c a.c` (as Meson writes
/// it) the compiler is the second word, not the first.
const WRAPPERS: &[&str] = &["ccache", "sccache", "distcc", "icecc", "buildcache"];

/// Response files nested deeper than this are not expanded: clang has no
/// limit, but a deeper chain is a loop in all but name.
const MAX_RESPONSE_DEPTH: usize = 16;

/// Bytes of response files one command may read in all. Real ones are a
/// few KiB; the arguments are stored with the unit, so a larger file would
/// grow the index by its size per unit, and many nested files could grow
/// without bound.
const MAX_RESPONSE_BYTES: u64 = 1 << 20;

/// gcc's `-f` options (with or without `no-`, with or without `=VALUE`)
/// that clang 14 rejects with "unknown argument". Found by trying each
/// with `clang -fsyntax-only`; gcc options that clang merely ignores with a
/// warning of its own (`-fno-gcse`: "optimization flag not supported") are
/// harmless to libclang and stay.
const GCC_ONLY_F: &[&str] = &[
    "abi-version",
    "aggressive-loop-optimizations",
    "allow-store-data-races",
    "callgraph-info",
    "canonical-system-headers",
    "compare-debug-second",
    "concepts",
    "conserve-stack",
    "constexpr-loop-limit",
    "constexpr-ops-limit",
    "coroutines",
    "cx-fold-ret",
    "deps-format",
    "diagnostics-column-unit",
    "diagnostics-plain-output",
    "diagnostics-show-caret",
    "diagnostics-show-labels",
    "diagnostics-show-line-numbers",
    "diagnostics-urls",
    "dump-tree-all",
    "early-inlining",
    "enforce-eh-specs",
    "ext-numeric-literals",
    "extern-tls-init",
    "gcse-lm",
    "guess-branch-probability",
    "harden-compares",
    "ipa-bit-cp",
    "ipa-cp-clone",
    "ipa-icf",
    "ipa-icf-functions",
    "ipa-modref",
    "ipa-pta",
    "ipa-ra",
    "ipa-sra",
    "ipa-vrp",
    "keep-inline-dllexport",
    "lifetime-dse",
    "module-mapper",
    "nonansi-builtins",
    "opt-info",
    "partial-inlining",
    "predictive-commoning",
    "printf-return-value",
    "profile-partial-training",
    "sched-pressure",
    "shrink-wrap",
    "split-paths",
    "strict-volatile-bitfields",
    "toplevel-reorder",
    "track-macro-expansion",
    "tree-ch",
    "tree-loop-distribute-patterns",
    "tree-loop-vectorize",
    "tree-pre",
    "tree-switch-conversion",
    "var-tracking",
    "var-tracking-assignments",
    "zero-call-used-regs",
];

/// Spellings of [`GCC_ONLY_F`] options that clang 14 does know.
const KNOWN_F: &[&str] = &["-fno-var-tracking"];

/// gcc's `-m` options clang 14 rejects for x86-64 (unknown, or
/// `-mrecord-mcount`: "unsupported option for target").
const GCC_ONLY_M: &[&str] = &[
    "direct-extern-access",
    "function-return",
    "indirect-branch",
    "indirect-branch-register",
    "preferred-stack-boundary",
    "record-mcount",
];

/// gcc's warnings that clang 14 does not know (`-W`, `-Wno-`, `-Werror=`,
/// `-Wno-error=`, with or without `=LEVEL`). clang reports each as an
/// unknown warning option in every unit.
const GCC_ONLY_W: &[&str] = &[
    "aggressive-loop-optimizations",
    "alloc-size-larger-than",
    "alloca-larger-than",
    "array-bounds",
    "array-parameter",
    "attribute-alias",
    "bool-compare",
    "cast-align",
    "catch-value",
    "class-memaccess",
    "clobbered",
    "dangling-pointer",
    "duplicated-branches",
    "duplicated-cond",
    "format-overflow",
    "format-signedness",
    "format-truncation",
    "implicit-fallthrough",
    "init-list-lifetime",
    "invalid-memory-model",
    "jump-misses-init",
    "logical-op",
    "lto-type-mismatch",
    "maybe-uninitialized",
    "missing-attributes",
    "nonnull-compare",
    "normalized",
    "packed-not-aligned",
    "placement-new",
    "pmf-conversions",
    "restrict",
    "shadow",
    "stack-usage",
    "strict-null-sentinel",
    "stringop-overflow",
    "stringop-overread",
    "stringop-truncation",
    "subobject-linkage",
    "suggest-attribute",
    "terminate",
    "trampolines",
    "unsafe-loop-optimizations",
    "unused-const-variable",
    "use-after-free",
    "useless-cast",
    "vector-operation-performance",
    "virtual-move-assign",
    "vla-larger-than",
    "vla-parameter",
    "zero-length-bounds",
];

/// Warnings of [`GCC_ONLY_W`] that clang knows without a `=LEVEL`: only
/// their `=` form is gcc's.
const KNOWN_WITHOUT_LEVEL: &[&str] = &[
    "array-bounds",
    "cast-align",
    "implicit-fallthrough",
    "shadow",
    "unused-const-variable",
];

/// Extensions of the files clang's driver compiles as C++ sources (its
/// `lookupTypeForExtension`): what a walk indexes as C++, and what may get
/// a prelude (see `prelude`). The one list of them.
const CXX_SOURCE_EXTENSIONS: &[&str] = &["cc", "cp", "cpp", "CPP", "cxx", "CXX", "c++", "C++", "C"];

/// Extensions the C driver already compiles as C++, sources and the rest:
/// for these a C++ compiler's name changes nothing.
const CXX_OTHER_EXTENSIONS: &[&str] = &["hh", "hpp", "hxx", "h++", "HPP", "ii", "cppm", "ixx"];

/// Whether clang's driver compiles `path` as a C++ source by its extension.
pub(crate) fn is_cxx_source(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| CXX_SOURCE_EXTENSIONS.contains(&e))
}

/// Whether the unit is CUDA: `-x cuda` (`-x cu` as nvcc spells it; the
/// last `-x` wins), else the `.cu` extension. Such a unit needs a CUDA
/// installation clang can find: without it, CUDA's keywords and built-in
/// variables are unknown and the parse is wrong (see the worker).
pub(crate) fn is_cuda(file: &str, args: &[String]) -> bool {
    let mut language = None;
    for (i, arg) in args.iter().enumerate() {
        if arg == "-x" {
            language = args.get(i + 1).map(String::as_str);
        } else if let Some(value) = arg.strip_prefix("-x") {
            language = Some(value);
        }
    }
    match language {
        Some(language) => language == "cuda" || language == "cu",
        None => Path::new(file).extension().is_some_and(|e| e == "cu"),
    }
}

/// A command made ready for libclang.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Adjusted {
    /// Arguments without the compiler, the source file and output-only
    /// flags, with the changes below applied.
    pub args: Vec<String>,
    /// What was changed, one sentence each; empty when the command was
    /// used as written.
    pub changes: Vec<String>,
    /// Problems worth a warning once per build rather than once per unit
    /// (the same text for every unit it concerns): a gcc option dropped, a
    /// response file that could not be read.
    pub warnings: Vec<String>,
}

/// How the driver treats its inputs, from `--driver-mode=` or the
/// compiler's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `clang`, `gcc`, `cc`: the language follows the file's extension.
    Gcc,
    /// `clang++`, `g++`, `c++`: C sources and headers are C++ too.
    Gxx,
    /// `cl`, `clang-cl`: MSVC's options (`/I`, `/D`, `/FI`, ...).
    Cl,
    /// Something else (`cpp`, `flang`): passed on as written.
    Other,
}

impl Mode {
    fn from_flag(value: &str) -> Mode {
        match value {
            "gcc" => Mode::Gcc,
            "g++" => Mode::Gxx,
            "cl" => Mode::Cl,
            _ => Mode::Other,
        }
    }
}

/// What the compiler's name says: its driver mode and, for a cross
/// compiler (`aarch64-linux-gnu-g++`), its target.
#[derive(Debug, PartialEq, Eq)]
struct Program {
    mode: Mode,
    target: Option<String>,
}

impl Program {
    /// Reads `path` as clang reads its own name
    /// (`ToolChain::getTargetAndModeFromProgramName`): an `.exe` and a
    /// version suffix (`g++-12`, `clang-14`) are ignored, what comes
    /// before the tool's name is a target if it has a dash of its own.
    fn from_name(path: &str) -> Program {
        let name = Path::new(path)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(path);
        let name = name.strip_suffix(".exe").unwrap_or(name);
        let name = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
        let name = name.strip_suffix('-').unwrap_or(name);
        let (prefix, tool) = match name.rsplit_once('-') {
            // `clang-cl`, `clang-cpp`: one tool's name, no target.
            Some(("clang", tool)) => ("", tool),
            Some((prefix, tool)) if prefix.ends_with("-clang") => {
                (prefix.trim_end_matches("-clang"), tool)
            }
            Some((prefix, tool)) => (prefix, tool),
            None => ("", name),
        };
        let mode = match tool {
            "g++" | "c++" | "clang++" => Mode::Gxx,
            "cl" => Mode::Cl,
            "gcc" | "cc" | "clang" => Mode::Gcc,
            _ => Mode::Other,
        };
        let target = (mode != Mode::Other && prefix.contains('-')).then(|| prefix.to_owned());
        Program { mode, target }
    }
}

/// Turns `words`, a command as the database holds it (compiler first),
/// into arguments for libclang. `directory` is the entry's absolute
/// working directory and `file` its absolute, normalized source file.
pub(crate) fn adjust(words: Vec<String>, directory: &Path, file: &Path) -> Adjusted {
    let mut adjusted = Adjusted {
        args: Vec::new(),
        changes: Vec::new(),
        warnings: Vec::new(),
    };
    let mut words = words.into_iter();
    let mut program = None;
    for word in words.by_ref() {
        if is_wrapper(&word) {
            adjusted
                .changes
                .push(format!("skipped the compiler wrapper {word}"));
        } else {
            program = Some(word);
            break;
        }
    }
    let named = Program::from_name(program.as_deref().unwrap_or(""));
    let mut expansion = Expansion {
        directory,
        bytes_left: MAX_RESPONSE_BYTES,
        open: Vec::new(),
        words: Vec::new(),
        adjusted: &mut adjusted,
    };
    expansion.expand(words);
    let words = std::mem::take(&mut expansion.words);

    let mut explicit_mode = None;
    let mut has_target = false;
    let mut has_language = false;
    let mut args = Vec::with_capacity(words.len() + 2);
    let mut words = words.into_iter().peekable();
    let changes = &mut adjusted.changes;
    let warnings = &mut adjusted.warnings;
    while let Some(word) = words.next() {
        let cl = explicit_mode.unwrap_or(named.mode) == Mode::Cl;
        match word.as_str() {
            // Compile-only, end of options, and dependency-file output (`-M`
            // and `-MM` would even turn the run into preprocessing only).
            "-c" | "--" | "-M" | "-MM" | "-MD" | "-MMD" | "-MG" | "-MP" | "-MV" => {}
            "/c" if cl => {}
            // Output flags followed by their value.
            "-o"
            | "-MF"
            | "-MT"
            | "-MQ"
            | "-MJ"
            | "-serialize-diagnostics"
            | "--serialize-diagnostics" => {
                words.next();
            }
            "-include-pch" => {
                let pch = words.next().unwrap_or_default();
                changes.push(format!("dropped -include-pch {pch}: {PCH_WHY}"));
                // Unlike CMake, which adds an `-include` of the header
                // after it, Meson and people write `-include-pch` alone,
                // which includes the header the file was made from. The
                // header is found beside it when named as clang's own
                // `-x c++-header X -o X.pch` names it.
                let header = pch
                    .strip_suffix(".pch")
                    .or_else(|| pch.strip_suffix(".gch"));
                if let Some(header) = header.filter(|h| directory.join(h).is_file()) {
                    include_as_text(
                        Some("-include-pch"),
                        header.to_owned(),
                        directory,
                        &mut args,
                        changes,
                    );
                }
            }
            "-Xclang" => match words.next() {
                Some(inner) if inner == "-include-pch" => {
                    // `-Xclang -include-pch -Xclang X`.
                    let pch = match words.next_if_eq("-Xclang") {
                        Some(_) => words.next().unwrap_or_default(),
                        None => String::new(),
                    };
                    changes.push(format!(
                        "dropped -Xclang -include-pch -Xclang {pch}: {PCH_WHY}"
                    ));
                }
                // CMake's command for making its precompiled header.
                Some(inner) if inner == "-emit-pch" => {
                    changes.push(
                        "dropped -Xclang -emit-pch: the index makes no precompiled header"
                            .to_owned(),
                    );
                }
                Some(inner) if needs_prebuilt_module(&inner) => {
                    changes.push(format!("dropped -Xclang {inner}: {MODULE_WHY}"));
                }
                // Already the form that reads the header as text
                // (CMake's), unless the header is CMake's stub.
                Some(inner)
                    if inner == "-include" && words.peek().is_some_and(|w| w == "-Xclang") =>
                {
                    words.next();
                    if let Some(header) = words.next() {
                        include_as_text(None, header, directory, &mut args, changes);
                    }
                }
                Some(inner) => args.extend(["-Xclang".to_owned(), inner]),
                None => {}
            },
            "-fpch-preprocess" | "-Winvalid-pch" => {
                changes.push(format!("dropped {word}: {PCH_WHY}"));
            }
            "-include" | "--include" => {
                if let Some(header) = words.next() {
                    include_as_text(Some(&word), header, directory, &mut args, changes);
                }
            }
            "/FI" | "-FI" if cl => {
                if let Some(header) = words.next() {
                    include_as_text(Some(&word), header, directory, &mut args, changes);
                }
            }
            "-target" | "--target" => {
                has_target = true;
                args.push(word);
                args.extend(words.next());
            }
            "-x" => {
                has_language = true;
                args.push(word);
                args.extend(words.next());
            }
            _ => {
                if let Some(header) = joined_include(&word, cl) {
                    let header = header.to_owned();
                    include_as_text(Some(&word), header, directory, &mut args, changes);
                } else if cl && is_cl_pch(&word) {
                    changes.push(format!("dropped {word}: {PCH_WHY}"));
                } else if needs_prebuilt_module(&word) {
                    changes.push(format!("dropped {word}: {MODULE_WHY}"));
                } else if is_gcc_only(&word) {
                    changes.push(format!("dropped {word}: {GCC_ONLY_WHY}"));
                    warnings.push(format!("dropped {word}: {GCC_ONLY_WHY}"));
                } else if is_joined_output(&word, cl) || names_file(&word, directory, file) {
                } else {
                    if let Some(mode) = word.strip_prefix("--driver-mode=") {
                        explicit_mode = Some(Mode::from_flag(mode));
                    }
                    has_target |= word.starts_with("--target=") || word.starts_with("-target=");
                    has_language |= word.starts_with("-x");
                    args.push(word);
                }
            }
        }
    }

    // What the compiler's name implies, put first so that the command's
    // own words still come after and win.
    let mut implied = Vec::new();
    if let Some(target) = named.target.filter(|_| !has_target) {
        changes.push(format!(
            "added --target={target}: the compiler {} is a cross compiler",
            program.as_deref().unwrap_or_default()
        ));
        implied.push(format!("--target={target}"));
    }
    if explicit_mode.is_none() {
        let flag = match named.mode {
            Mode::Gxx if !has_language && !is_cxx_by_extension(file) => Some("--driver-mode=g++"),
            Mode::Cl => Some("--driver-mode=cl"),
            _ => None,
        };
        if let Some(flag) = flag {
            changes.push(format!(
                "added {flag}: {} reads its inputs so, and libclang is driven as clang",
                program.as_deref().unwrap_or_default()
            ));
            implied.push(flag.to_owned());
        }
    }
    implied.append(&mut args);
    adjusted.args = implied;
    adjusted
}

const PCH_WHY: &str = "a precompiled header is a build product, missing before the build and \
    unreadable when another compiler made it; its header is read as text instead";
const MODULE_WHY: &str = "a prebuilt module is a build product libclang may not be able to read";
const GCC_ONLY_WHY: &str = "a gcc option that clang 14 does not know";

/// Appends `-Xclang -include -Xclang header`, which reads `header` as text
/// even where an `X.pch` or `X.gch` lies beside it (see the module
/// comment); `as_written` is the option the command had, `None` if it
/// was that already. CMake's stub is replaced by the headers it includes.
fn include_as_text(
    as_written: Option<&str>,
    header: String,
    directory: &Path,
    args: &mut Vec<String>,
    changes: &mut Vec<String>,
) {
    let text = |header: String| {
        [
            "-Xclang".to_owned(),
            "-include".to_owned(),
            "-Xclang".to_owned(),
            header,
        ]
    };
    if let Some(headers) = cmake_pch_headers(&directory.join(&header)) {
        changes.push(format!(
            "{} {header} became the headers it includes ({}), each as -Xclang -include -Xclang: CMake's precompiled-header stub marks them as system headers, which the index leaves out",
            as_written.unwrap_or("-Xclang -include -Xclang"),
            headers.join(", ")
        ));
        args.extend(headers.into_iter().flat_map(text));
        return;
    }
    if let Some(as_written) = as_written {
        changes.push(format!(
            "{as_written} {header} became -Xclang -include -Xclang {header}: read as text, never as a precompiled {header}.pch or .gch beside it"
        ));
    }
    args.extend(text(header));
}

/// The headers included by `path` if it is the stub CMake generates for
/// `target_precompile_headers` (`CMakeFiles/T.dir/cmake_pch.hxx`, or
/// `cmake_pch.h` for C, ...). It reads `#pragma clang system_header` (or
/// GCC's) before its `#include` lines, so everything it brings in, the
/// project's own headers too, is a system header for the unit, and the
/// index would hold none of their declarations. Its `#ifdef __cplusplus`
/// guards are not needed: CMake writes one stub per language.
fn cmake_pch_headers(path: &Path) -> Option<Vec<String>> {
    let name = path.file_name()?.to_str()?;
    if !name.starts_with("cmake_pch") {
        return None;
    }
    let mut text = String::new();
    // A stub lists the target's headers: a few hundred bytes.
    std::fs::File::open(path)
        .ok()?
        .take(1 << 16)
        .read_to_string(&mut text)
        .ok()?;
    if !text.contains("system_header") {
        return None;
    }
    let headers: Vec<String> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("#include"))
        .map(|rest| {
            rest.trim()
                .trim_matches(|c| matches!(c, '"' | '<' | '>'))
                .to_owned()
        })
        .filter(|header| !header.is_empty())
        .collect();
    (!headers.is_empty()).then_some(headers)
}

/// The header of an `-include` glued to its value (`-includeX`,
/// `--include=X`, clang-cl's `/FIX`).
fn joined_include(word: &str, cl: bool) -> Option<&str> {
    let header = word
        .strip_prefix("--include=")
        .or_else(|| {
            word.strip_prefix("-include")
                .filter(|h| !h.starts_with("-pch"))
        })
        .or_else(|| {
            cl.then(|| {
                word.strip_prefix("/FI")
                    .or_else(|| word.strip_prefix("-FI"))
            })
            .flatten()
        })?;
    (!header.is_empty()).then_some(header)
}

/// clang-cl's precompiled-header options: `/Yc` makes one, `/Yu` uses one,
/// `/Fp` names it, `/Y-` turns them off (`-` works for `/` as in cl).
fn is_cl_pch(word: &str) -> bool {
    let Some(option) = word.strip_prefix('/').or_else(|| word.strip_prefix('-')) else {
        return false;
    };
    option.starts_with("Yc")
        || option.starts_with("Yu")
        || option.starts_with("Fp")
        || option == "Y-"
}

/// Flags that read prebuilt C++ modules, which a configured-only tree
/// lacks and another compiler's build cannot share.
fn needs_prebuilt_module(word: &str) -> bool {
    word.starts_with("-fmodule-file=") || word.starts_with("-fprebuilt-module-path=")
}

/// Whether clang 14 rejects `word` as an unknown gcc option.
fn is_gcc_only(word: &str) -> bool {
    let without_no = |name: &str| name.strip_prefix("no-").unwrap_or(name).to_owned();
    let base = |name: &str| {
        name.split_once('=')
            .map_or(name, |(base, _)| base)
            .to_owned()
    };
    if let Some(name) = word.strip_prefix("-f") {
        return GCC_ONLY_F.contains(&base(&without_no(name)).as_str()) && !KNOWN_F.contains(&word);
    }
    if let Some(name) = word.strip_prefix("-m") {
        return GCC_ONLY_M.contains(&base(&without_no(name)).as_str());
    }
    if let Some(name) = word.strip_prefix("-W") {
        let name = without_no(name);
        let name = name.strip_prefix("error=").unwrap_or(&name);
        let has_level = name.contains('=');
        let name = base(name);
        return GCC_ONLY_W.contains(&name.as_str())
            && (has_level || !KNOWN_WITHOUT_LEVEL.contains(&name.as_str()));
    }
    false
}

fn is_wrapper(program: &str) -> bool {
    Path::new(program)
        .file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| WRAPPERS.contains(&name))
}

/// Whether the C driver already compiles `file` as C++.
fn is_cxx_by_extension(file: &Path) -> bool {
    file.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| CXX_SOURCE_EXTENSIONS.contains(&e) || CXX_OTHER_EXTENSIONS.contains(&e))
}

/// An output flag glued to its value: `-oa.o`, `-MFa.d` and the like, and
/// clang-cl's `/Fo`, `/Fd`, `/Fe`. The clang options `-objcmt-*` and
/// `-object-file-name=` also start with `-o` but are not outputs.
fn is_joined_output(word: &str, cl: bool) -> bool {
    (word.starts_with("-o") && !word.starts_with("-obj"))
        || ["-MF", "-MT", "-MQ", "-MJ"]
            .iter()
            .any(|flag| word.starts_with(flag))
        || (cl
            && ["/Fo", "/Fd", "/Fe", "-Fo", "-Fd", "-Fe"]
                .iter()
                .any(|f| word.starts_with(f)))
}

/// Whether `word` is the source file itself, however the command spells it
/// (`a.c`, `./a.c`, `/abs/a.c`).
fn names_file(word: &str, directory: &Path, file: &Path) -> bool {
    let candidate = Path::new(word);
    // The file-name test first: it is cheap and rules out nearly every word.
    !word.starts_with('-')
        && candidate.file_name() == file.file_name()
        && normalize(&directory.join(candidate)) == file
}

/// Expands the response files of one command.
struct Expansion<'a> {
    directory: &'a Path,
    /// Of [`MAX_RESPONSE_BYTES`].
    bytes_left: u64,
    /// The response files being expanded, outermost first.
    open: Vec<PathBuf>,
    words: Vec<String>,
    adjusted: &'a mut Adjusted,
}

impl Expansion<'_> {
    fn expand(&mut self, words: impl IntoIterator<Item = String>) {
        for word in words {
            match word.strip_prefix('@').filter(|name| !name.is_empty()) {
                Some(name) => self.response_file(name),
                None => self.words.push(word),
            }
        }
    }

    fn response_file(&mut self, name: &str) {
        // clang 14 reads nested response files relative to its working
        // directory too, not to the file that names them.
        let path = normalize(&self.directory.join(name));
        match self.read(&path) {
            Ok(text) => {
                self.adjusted
                    .changes
                    .push(format!("expanded the response file {}", path.display()));
                self.open.push(path);
                self.expand(tokenize(&text));
                self.open.pop();
            }
            Err(why) => {
                let warning = format!(
                    "could not expand the response file {} ({why}): its arguments are missing from the commands that name it",
                    path.display()
                );
                self.adjusted.changes.push(warning.clone());
                self.adjusted.warnings.push(warning);
            }
        }
    }

    /// The text of the response file at `path`, or why it is not read.
    fn read(&mut self, path: &Path) -> Result<String, String> {
        if self.open.iter().any(|open| open == path) {
            return Err("it names itself, directly or through another".to_owned());
        }
        if self.open.len() >= MAX_RESPONSE_DEPTH {
            return Err(format!(
                "response files nested more than {MAX_RESPONSE_DEPTH} deep"
            ));
        }
        let metadata = std::fs::metadata(path).map_err(|e| e.to_string())?;
        // A FIFO or a device would block the read or never end.
        if !metadata.is_file() {
            return Err("not a regular file".to_owned());
        }
        if metadata.len() > self.bytes_left {
            return Err(format!(
                "{} bytes, over the limit of {MAX_RESPONSE_BYTES} bytes of response files per command",
                metadata.len()
            ));
        }
        let mut bytes = Vec::new();
        // The file may have grown since it was measured.
        std::fs::File::open(path)
            .and_then(|f| f.take(self.bytes_left + 1).read_to_end(&mut bytes))
            .map_err(|e| e.to_string())?;
        if bytes.len() as u64 > self.bytes_left {
            return Err(format!(
                "over the limit of {MAX_RESPONSE_BYTES} bytes of response files per command"
            ));
        }
        self.bytes_left -= bytes.len() as u64;
        String::from_utf8(bytes).map_err(|_| "not valid UTF-8".to_owned())
    }
}

/// Splits a response file into arguments as clang does on Unix (LLVM's
/// `TokenizeGNUCommandLine`): whitespace separates them, a backslash makes
/// the next character literal, and single or double quotes group, with
/// backslash escapes inside them too. An unclosed quote runs to the end.
fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut token = String::new();
    let mut in_token = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_token {
                    tokens.push(std::mem::take(&mut token));
                    in_token = false;
                }
            }
            '\\' => {
                in_token = true;
                token.extend(chars.next());
            }
            '\'' | '"' => {
                in_token = true;
                while let Some(inner) = chars.next() {
                    match inner {
                        _ if inner == c => break,
                        '\\' => token.extend(chars.next()),
                        _ => token.push(inner),
                    }
                }
            }
            _ => {
                in_token = true;
                token.push(c);
            }
        }
    }
    if in_token {
        tokens.push(token);
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    /// `words` adjusted for `a.c` compiled in `directory`.
    fn adjust_in(directory: &Path, words: &[&str]) -> Adjusted {
        adjust(strings(words), directory, &directory.join("a.c"))
    }

    /// `words` adjusted for `/p/a.cpp` compiled in `/p`.
    fn adjust_cpp(words: &[&str]) -> Adjusted {
        adjust(strings(words), Path::new("/p"), Path::new("/p/a.cpp"))
    }

    fn args(words: &[&str]) -> Vec<String> {
        adjust_in(Path::new("/p"), words).args
    }

    #[test]
    fn cuda_is_told_by_the_last_language_or_the_extension() {
        assert!(is_cuda("k.cu", &[]));
        assert!(is_cuda("k.cpp", &strings(&["-x", "cuda"])));
        assert!(is_cuda("k.cpp", &strings(&["-xc++", "-x", "cu"])));
        assert!(!is_cuda("k.cu", &strings(&["-x", "cuda", "-xc++"])));
        assert!(!is_cuda("k.cuh", &[]));
        assert!(!is_cuda("k.cpp", &strings(&["--cuda-path=/opt/cuda"])));
    }

    #[test]
    fn output_flags_go_without_a_change() {
        let adjusted = adjust_in(
            Path::new("/p"),
            &[
                "gcc",
                "-c",
                "-o",
                "x.o",
                "-ox2.o",
                "-MF",
                "x.d",
                "-MFy.d",
                "-MD",
                "-MMD",
                "-MT",
                "t",
                "-MQ",
                "q",
                "-MJ",
                "j.json",
                "--serialize-diagnostics",
                "x.dia",
                "-Wall",
                "-objcmt-migrate-literals",
                "--",
                "src/../a.c",
            ],
        );
        assert_eq!(
            adjusted.args,
            strings(&["-Wall", "-objcmt-migrate-literals"])
        );
        assert_eq!(adjusted.changes, Vec::<String>::new());
    }

    #[test]
    fn wrappers_are_skipped() {
        for wrapper in ["/usr/bin/ccache", "sccache", "distcc", "icecc"] {
            let adjusted = adjust_in(Path::new("/p"), &[wrapper, "cc", "-DX", "a.c"]);
            assert_eq!(adjusted.args, strings(&["-DX"]));
            assert_eq!(
                adjusted.changes,
                [format!("skipped the compiler wrapper {wrapper}")]
            );
        }
        // Two of them, as `ccache distcc cc` is sometimes set up.
        assert_eq!(args(&["ccache", "distcc", "cc", "-DX", "a.c"]), ["-DX"]);
    }

    #[test]
    fn cmake_precompiled_header_pairs_are_dropped_and_the_header_stays() {
        // As CMake 3.25 writes them for `target_precompile_headers` with clang.
        let adjusted = adjust_cpp(&[
            "/usr/bin/clang++",
            "-DX",
            "-Xclang",
            "-include-pch",
            "-Xclang",
            "/b/CMakeFiles/t.dir/cmake_pch.hxx.pch",
            "-Xclang",
            "-include",
            "-Xclang",
            "/b/CMakeFiles/t.dir/cmake_pch.hxx",
            "-fpch-instantiate-templates",
            "-o",
            "a.o",
            "-c",
            "/p/a.cpp",
        ]);
        assert_eq!(
            adjusted.args,
            strings(&[
                "-DX",
                "-Xclang",
                "-include",
                "-Xclang",
                "/b/CMakeFiles/t.dir/cmake_pch.hxx",
                "-fpch-instantiate-templates",
            ])
        );
        assert_eq!(adjusted.changes.len(), 1, "{:?}", adjusted.changes);
        assert!(adjusted.changes[0].starts_with(
            "dropped -Xclang -include-pch -Xclang /b/CMakeFiles/t.dir/cmake_pch.hxx.pch: "
        ));
        assert!(adjusted.warnings.is_empty());
    }

    /// CMake's stub hides what it includes as system headers: the headers
    /// are forced in themselves.
    #[test]
    fn cmake_pch_stub_is_replaced_by_its_headers() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let stub = root.join("CMakeFiles/t.dir/cmake_pch.hxx");
        write(
            &stub,
            "/* generated by CMake */\n\n#pragma clang system_header\n#ifdef __cplusplus\n#include \"/src/pch.h\"\n#include <vector>\n#endif // __cplusplus\n",
        );
        let stub = stub.to_str().unwrap();
        let expected = strings(&[
            "-Xclang",
            "-include",
            "-Xclang",
            "/src/pch.h",
            "-Xclang",
            "-include",
            "-Xclang",
            "vector",
        ]);
        let adjusted = adjust_in(
            root,
            &["clang++", "-Xclang", "-include", "-Xclang", stub, "a.c"],
        );
        assert_eq!(adjusted.args[1..], expected);
        assert_eq!(adjusted.changes.len(), 2, "{:?}", adjusted.changes);
        assert!(adjusted.changes[0].contains("became the headers it includes (/src/pch.h, vector)"));
        let adjusted = adjust_in(root, &["g++", "-include", stub, "a.c"]);
        assert_eq!(adjusted.args[1..], expected);
        // Before CMake generated it, or a header of that name of one's own.
        let missing = root.join("other/cmake_pch.hxx");
        let adjusted = adjust_in(root, &["gcc", "-include", missing.to_str().unwrap(), "a.c"]);
        assert_eq!(adjusted.args[3], missing.to_str().unwrap());
    }

    /// `-include-pch X.h.pch` alone includes `X.h`: where that header lies
    /// beside it, it is read as text instead.
    #[test]
    fn a_lone_include_pch_leaves_its_header_as_text() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("inc/x.h"), "int x;");
        let adjusted = adjust_in(
            root,
            &["clang", "-include-pch", "inc/x.h.pch", "-DX", "a.c"],
        );
        assert_eq!(
            adjusted.args,
            ["-Xclang", "-include", "-Xclang", "inc/x.h", "-DX"]
        );
        assert_eq!(adjusted.changes.len(), 2);
        let gch = adjust_in(root, &["clang", "-include-pch", "inc/x.h.gch", "a.c"]);
        assert_eq!(gch.args, ["-Xclang", "-include", "-Xclang", "inc/x.h"]);
    }

    /// CMake lists the unit that makes its precompiled header too.
    #[test]
    fn emit_pch_is_dropped() {
        let adjusted = adjust_cpp(&[
            "/usr/bin/clang++",
            "-Winvalid-pch",
            "-Xclang",
            "-emit-pch",
            "-Xclang",
            "-include",
            "-Xclang",
            "/b/cmake_pch.hxx",
            "-x",
            "c++-header",
            "-o",
            "cmake_pch.hxx.pch",
            "-c",
            "/p/a.cpp",
        ]);
        assert_eq!(
            adjusted.args,
            [
                "-Xclang",
                "-include",
                "-Xclang",
                "/b/cmake_pch.hxx",
                "-x",
                "c++-header"
            ]
        );
        assert_eq!(adjusted.changes.len(), 2);
    }

    #[test]
    fn include_pch_is_dropped() {
        let adjusted = adjust_in(
            Path::new("/p"),
            &["clang", "-include-pch", "x.pch", "-DX", "a.c"],
        );
        assert_eq!(adjusted.args, ["-DX"]);
        assert!(adjusted.changes[0].starts_with("dropped -include-pch x.pch: "));
    }

    #[test]
    fn every_include_is_read_as_text() {
        let text = |h: &str| strings(&["-Xclang", "-include", "-Xclang", h]);
        assert_eq!(args(&["gcc", "-include", "pch.h", "a.c"]), text("pch.h"));
        assert_eq!(args(&["gcc", "-includepch.h", "a.c"]), text("pch.h"));
        assert_eq!(args(&["gcc", "--include", "pch.h", "a.c"]), text("pch.h"));
        assert_eq!(args(&["gcc", "--include=pch.h", "a.c"]), text("pch.h"));
        let adjusted = adjust_in(Path::new("/p"), &["gcc", "-include", "pch.h", "a.c"]);
        assert_eq!(
            adjusted.changes,
            ["-include pch.h became -Xclang -include -Xclang pch.h: read as text, never as a precompiled pch.h.pch or .gch beside it"]
        );
    }

    /// What the rule guards against, with clang itself: the driver's
    /// `-include X` reads a gcc `X.gch` beside the header and fails, the
    /// rewritten one reads the header.
    #[test]
    fn a_gch_beside_an_include_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("pch.h"), "int from_header;\n").unwrap();
        std::fs::write(root.join("pch.h.gch"), "gcc's precompiled header\n").unwrap();
        std::fs::write(root.join("a.c"), "int *a = &from_header;\n").unwrap();
        let clang = |args: &[String]| {
            std::process::Command::new("clang")
                .current_dir(root)
                .arg("-fsyntax-only")
                .args(args)
                .arg("a.c")
                .output()
                .expect("clang is installed (.ci/install-deps)")
        };
        let as_written = clang(&strings(&["-include", "pch.h"]));
        assert!(!as_written.status.success());
        assert!(String::from_utf8_lossy(&as_written.stderr).contains("pch.h.gch"));
        let adjusted = adjust_in(root, &["gcc", "-include", "pch.h", "-c", "a.c"]);
        let output = clang(&adjusted.args);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    #[test]
    fn pch_only_flags_are_dropped() {
        let adjusted = adjust_in(
            Path::new("/p"),
            &["gcc", "-fpch-preprocess", "-Winvalid-pch", "-Wall", "a.c"],
        );
        assert_eq!(adjusted.args, ["-Wall"]);
        assert_eq!(adjusted.changes.len(), 2);
    }

    #[test]
    fn clang_cl_precompiled_headers_go_and_forced_includes_stay() {
        let adjusted = adjust_in(
            Path::new("/p"),
            &[
                "clang-cl.exe",
                "/nologo",
                "/DX",
                "/Yustdafx.h",
                "/Fpx.pch",
                "/Yc",
                "/FIstdafx.h",
                "/FI",
                "other.h",
                "-Yuy.h",
                "/Foa.obj",
                "/c",
                "a.c",
            ],
        );
        assert_eq!(
            adjusted.args,
            strings(&[
                "--driver-mode=cl",
                "/nologo",
                "/DX",
                "-Xclang",
                "-include",
                "-Xclang",
                "stdafx.h",
                "-Xclang",
                "-include",
                "-Xclang",
                "other.h",
            ])
        );
        // /Yu, /Fp, /Yc, -Yu dropped; two includes; the driver mode.
        assert_eq!(adjusted.changes.len(), 7, "{:?}", adjusted.changes);
        // The same options under --driver-mode=cl, with /Fp's value apart.
        assert_eq!(
            args(&["clang", "--driver-mode=cl", "/Yupch.h", "/FIpch.h", "a.c"]),
            strings(&[
                "--driver-mode=cl",
                "-Xclang",
                "-include",
                "-Xclang",
                "pch.h"
            ])
        );
        // Outside cl mode, `/Fo...` is a path and stays.
        assert_eq!(args(&["clang", "/Fo"]), ["/Fo"]);
    }

    #[test]
    fn prebuilt_modules_are_dropped() {
        let adjusted = adjust_cpp(&[
            "clang++",
            "-std=c++20",
            "-fmodule-file=m=m.pcm",
            "-fprebuilt-module-path=pcms",
            "-Xclang",
            "-fmodule-file=x.pcm",
            "-fmodules-cache-path=cache",
            "a.cpp",
        ]);
        assert_eq!(adjusted.args, ["-std=c++20", "-fmodules-cache-path=cache"]);
        assert_eq!(adjusted.changes.len(), 3);
    }

    #[test]
    fn gcc_only_options_are_dropped_with_a_warning() {
        let adjusted = adjust_in(
            Path::new("/p"),
            &[
                "gcc",
                "-fconserve-stack",
                "-fno-ipa-sra",
                "-fabi-version=11",
                "-mno-direct-extern-access",
                "-mindirect-branch=thunk",
                "-Wno-maybe-uninitialized",
                "-Werror=maybe-uninitialized",
                "-Wno-error=stringop-truncation",
                "-Wimplicit-fallthrough=3",
                "-Wshadow=local",
                // clang knows these.
                "-Wimplicit-fallthrough",
                "-Wshadow",
                "-Wno-unused-but-set-variable",
                "-fno-strict-aliasing",
                "-fno-gcse",
                "-mavx2",
                "a.c",
            ],
        );
        assert_eq!(
            adjusted.args,
            strings(&[
                "-Wimplicit-fallthrough",
                "-Wshadow",
                "-Wno-unused-but-set-variable",
                "-fno-strict-aliasing",
                "-fno-gcse",
                "-mavx2",
            ])
        );
        assert_eq!(adjusted.warnings.len(), 10);
        assert_eq!(
            adjusted.warnings[0],
            "dropped -fconserve-stack: a gcc option that clang 14 does not know"
        );
        assert_eq!(adjusted.changes, adjusted.warnings);
    }

    /// Each dropped option, given to clang 14, is refused or reported as
    /// unknown; each kept one is not.
    #[test]
    fn gcc_only_options_are_those_clang_does_not_know() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.c"), "int a;\n").unwrap();
        // One run for all: clang reports every unknown option it meets.
        let stderr = |options: &[String]| {
            let output = std::process::Command::new("clang")
                .current_dir(dir.path())
                .arg("-fsyntax-only")
                .args(options)
                .arg("a.c")
                .output()
                .expect("clang is installed (.ci/install-deps)");
            String::from_utf8_lossy(&output.stderr).into_owned()
        };
        let mut dropped: Vec<String> = GCC_ONLY_F
            .iter()
            .flat_map(|f| [format!("-f{f}"), format!("-fno-{f}"), format!("-f{f}=1")])
            .filter(|f| !KNOWN_F.contains(&f.as_str()))
            .collect();
        dropped.extend(
            GCC_ONLY_M
                .iter()
                .flat_map(|m| [format!("-m{m}"), format!("-mno-{m}")]),
        );
        // Warnings apart: the front end that reports them does not run
        // after the driver's errors.
        let mut warnings: Vec<String> = GCC_ONLY_W.iter().map(|w| format!("-W{w}=2")).collect();
        warnings.extend(
            GCC_ONLY_W
                .iter()
                .filter(|w| !KNOWN_WITHOUT_LEVEL.contains(w))
                .flat_map(|w| {
                    [
                        format!("-W{w}"),
                        format!("-Wno-{w}"),
                        format!("-Werror={w}"),
                    ]
                }),
        );
        for options in [dropped, warnings] {
            let complaints = stderr(&options);
            for option in &options {
                assert!(is_gcc_only(option), "{option}");
                assert!(
                    complaints.contains(&format!("'{option}'")),
                    "clang 14 accepts {option}"
                );
            }
        }
        let known: Vec<String> = KNOWN_WITHOUT_LEVEL
            .iter()
            .map(|w| format!("-W{w}"))
            .chain(KNOWN_F.iter().map(|f| f.to_string()))
            .collect();
        assert!(known.iter().all(|option| !is_gcc_only(option)));
        assert_eq!(stderr(&known), "");
    }

    #[test]
    fn a_cxx_compiler_compiles_c_files_as_cxx() {
        for compiler in ["g++", "/usr/bin/c++", "clang++-14", "g++-12"] {
            let adjusted = adjust_in(Path::new("/p"), &[compiler, "-c", "a.c"]);
            assert_eq!(adjusted.args, ["--driver-mode=g++"], "{compiler}");
            assert_eq!(adjusted.changes.len(), 1);
        }
        // A C++ extension needs nothing; an explicit mode or language wins.
        let cpp = adjust(
            strings(&["g++", "-c", "a.cpp"]),
            Path::new("/p"),
            Path::new("/p/a.cpp"),
        );
        assert_eq!(cpp.args, Vec::<String>::new());
        assert_eq!(cpp.changes, Vec::<String>::new());
        assert_eq!(args(&["g++", "-x", "c", "a.c"]), ["-x", "c"]);
        assert_eq!(args(&["g++", "-xc", "a.c"]), ["-xc"]);
        assert_eq!(
            args(&["g++", "--driver-mode=gcc", "a.c"]),
            ["--driver-mode=gcc"]
        );
        // A header is a C++ header under `clang++`.
        let header = adjust(
            strings(&["clang++", "-std=c++17", "-c", "x.h"]),
            Path::new("/p"),
            Path::new("/p/x.h"),
        );
        assert_eq!(header.args, ["--driver-mode=g++", "-std=c++17"]);
        // C compilers change nothing.
        assert_eq!(args(&["gcc", "a.c"]), Vec::<String>::new());
        assert_eq!(args(&["clang-14", "a.c"]), Vec::<String>::new());
    }

    /// The rule as clang 14's driver applies it: `clang++ -c m.c` and
    /// `clang --driver-mode=g++ -c m.c` compile m.c as C++.
    #[test]
    fn driver_mode_matches_what_clang_does() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("m.c"), "int m;\n").unwrap();
        let language = |args: &[&str]| {
            let output = std::process::Command::new("clang")
                .current_dir(dir.path())
                .args(args)
                .args(["-###", "-c", "m.c"])
                .output()
                .expect("clang is installed (.ci/install-deps)");
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            let cc1 = stderr.lines().last().unwrap_or_default().to_owned();
            let after = cc1.split("\"-x\" ").nth(1).unwrap_or_default();
            after
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned()
        };
        let adjusted = args(&["clang++", "-c", "a.c"]);
        let adjusted: Vec<&str> = adjusted.iter().map(String::as_str).collect();
        assert_eq!(language(&adjusted), "\"c++\"");
        assert_eq!(language(&[]), "\"c\"");
    }

    #[test]
    fn a_cross_compiler_keeps_its_target() {
        let adjusted = adjust_in(
            Path::new("/p"),
            &["/opt/x/bin/aarch64-linux-gnu-g++", "-O2", "a.c"],
        );
        assert_eq!(
            adjusted.args,
            ["--target=aarch64-linux-gnu", "--driver-mode=g++", "-O2"]
        );
        assert_eq!(
            args(&["arm-none-eabi-gcc", "a.c"]),
            ["--target=arm-none-eabi"]
        );
        assert_eq!(
            args(&["x86_64-w64-mingw32-gcc-12", "a.c"]),
            ["--target=x86_64-w64-mingw32"]
        );
        assert_eq!(
            args(&["aarch64-linux-gnu-clang", "a.c"]),
            ["--target=aarch64-linux-gnu"]
        );
        // A target in the command wins.
        assert_eq!(
            args(&["aarch64-linux-gnu-gcc", "--target=riscv64-linux-gnu", "a.c"]),
            ["--target=riscv64-linux-gnu"]
        );
        assert_eq!(
            args(&[
                "aarch64-linux-gnu-gcc",
                "-target",
                "riscv64-linux-gnu",
                "a.c"
            ]),
            ["-target", "riscv64-linux-gnu"]
        );
        // Names with a dash that are not targets.
        assert_eq!(args(&["clang-cl", "a.c"]), ["--driver-mode=cl"]);
        assert_eq!(args(&["gcc-12", "a.c"]), Vec::<String>::new());
        assert_eq!(args(&["my-cc", "a.c"]), Vec::<String>::new());
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn response_files_are_expanded_relative_to_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            &root.join("rsp/outer.rsp"),
            "-DOUTER @inner.rsp \"-DQUOTED=a b\" -DESC\\ APED\n'-I dir'",
        );
        // Nested names are relative to the working directory, as clang 14
        // reads them, not to the file naming them.
        write(&root.join("inner.rsp"), "-DINNER -c a.c -o a.o");
        write(&root.join("rsp/inner.rsp"), "-DWRONG");
        let adjusted = adjust_in(root, &["cc", "@rsp/outer.rsp", "-DAFTER"]);
        assert_eq!(
            adjusted.args,
            strings(&[
                "-DOUTER",
                "-DINNER",
                "-DQUOTED=a b",
                "-DESC APED",
                "-I dir",
                "-DAFTER"
            ])
        );
        assert_eq!(
            adjusted.changes,
            [
                format!(
                    "expanded the response file {}",
                    root.join("rsp/outer.rsp").display()
                ),
                format!(
                    "expanded the response file {}",
                    root.join("inner.rsp").display()
                ),
            ]
        );
        assert!(adjusted.warnings.is_empty());
    }

    #[test]
    fn hostile_response_files_end_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("self.rsp"), "-DSELF @self.rsp");
        write(&root.join("a.rsp"), "-DA @b.rsp");
        write(&root.join("b.rsp"), "-DB @a.rsp");
        // 10 MiB of valid flags.
        write(&root.join("big.rsp"), &"-DBIG10 ".repeat((10 << 20) / 8));
        let reason = |name: &str| {
            let adjusted = adjust_in(root, &["cc", &format!("@{name}"), "-DKEPT"]);
            assert_eq!(adjusted.args.last().unwrap(), "-DKEPT");
            assert_eq!(adjusted.warnings.len(), 1, "{:?}", adjusted.warnings);
            assert_eq!(adjusted.changes.last(), adjusted.warnings.last());
            (adjusted.args, adjusted.warnings[0].clone())
        };
        let (args, warning) = reason("self.rsp");
        assert_eq!(args, ["-DSELF", "-DKEPT"]);
        assert!(warning.contains("self.rsp (it names itself"), "{warning}");
        let (args, warning) = reason("a.rsp");
        assert_eq!(args, ["-DA", "-DB", "-DKEPT"]);
        assert!(warning.contains("a.rsp (it names itself"), "{warning}");
        let (args, warning) = reason("missing.rsp");
        assert_eq!(args, ["-DKEPT"]);
        assert!(warning.contains("missing.rsp (No such file"), "{warning}");
        let (args, warning) = reason("big.rsp");
        assert_eq!(args, ["-DKEPT"]);
        assert!(
            warning.contains("10485760 bytes, over the limit"),
            "{warning}"
        );
        std::fs::create_dir(root.join("dir.rsp")).unwrap();
        let (_, warning) = reason("dir.rsp");
        assert!(warning.contains("not a regular file"), "{warning}");
    }

    #[test]
    fn response_files_nest_only_so_deep() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for depth in 0..20 {
            write(
                &root.join(format!("{depth}.rsp")),
                &format!("-D{depth} @{}.rsp", depth + 1),
            );
        }
        let adjusted = adjust_in(root, &["cc", "@0.rsp"]);
        assert_eq!(adjusted.args.len(), MAX_RESPONSE_DEPTH);
        assert!(
            adjusted.warnings[0].contains("nested more than 16 deep"),
            "{:?}",
            adjusted.warnings
        );
    }

    #[test]
    fn many_response_files_share_one_budget() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // Each names the next twice: without a budget for the whole
        // command, 2^12 files of 40 kB would be read.
        for depth in 0..12 {
            let next = depth + 1;
            write(
                &root.join(format!("{depth}.rsp")),
                &format!("-D{} @{next}.rsp @{next}.rsp", "X".repeat(40_000)),
            );
        }
        write(&root.join("12.rsp"), "-DEND");
        let adjusted = adjust_in(root, &["cc", "@0.rsp"]);
        let bytes: usize = adjusted.args.iter().map(String::len).sum();
        assert!(bytes as u64 <= MAX_RESPONSE_BYTES, "{bytes}");
        assert!(!adjusted.warnings.is_empty());
        assert!(
            adjusted
                .warnings
                .iter()
                .all(|w| w.contains("over the limit")),
            "{:?}",
            adjusted.warnings
        );
    }

    #[test]
    fn tokenize_follows_the_gnu_rules() {
        assert_eq!(
            tokenize("  a 'b c' \"d\\\"e\" f\\ g h'i'j \"unclosed"),
            strings(&["a", "b c", "d\"e", "f g", "hij", "unclosed"])
        );
        assert_eq!(tokenize("''"), [""]);
        assert_eq!(tokenize(""), Vec::<String>::new());
    }
}
