//! Preprocessor directives read from source text, without a preprocessor.
//!
//! A unit parsed with its prelude (see `prelude`) sees the standard
//! library as configured by its command line only: a macro the unit's
//! own files define before including it (`_GLIBCXX_USE_CXX11_ABI`,
//! `_XOPEN_SOURCE`, `_GLIBCXX_DEBUG`, ...) no longer reaches it, often
//! without any error. The worker therefore learns which macros the
//! prelude's headers test ([`tested_macros`]) and parses a unit as written
//! when one of its project files defines or undefines one of them
//! ([`changes`]) before it would have read such a header.
//!
//! Reading text rather than asking libclang keeps this cheap, and errs on
//! the safe side: a directive in a comment or in a branch that is not taken
//! still counts, which costs that unit the prelude, nothing more.

use rustc_hash::FxHashSet;

/// Adds to `names` every identifier in the conditions of `text`'s `#if`,
/// `#ifdef`, `#ifndef` and `#elif` directives, but for [`is_builtin`] ones.
pub(crate) fn tested_macros(text: &[u8], names: &mut FxHashSet<String>) {
    for (directive, rest) in directives(text) {
        if matches!(
            directive,
            b"if" | b"ifdef" | b"ifndef" | b"elif" | b"elifdef" | b"elifndef"
        ) {
            names.extend(
                identifiers(rest)
                    .filter(|name| !is_builtin(name))
                    .map(|name| String::from_utf8_lossy(name).into_owned()),
            );
        }
    }
}

/// A directive that changes what the code after it sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change<'t> {
    Define(&'t str),
    Undef(&'t str),
    /// An `#include`: what it reads sees the definitions before it. With
    /// the name it spells (`"x.def"`, `<x.def>`), without the quotes or
    /// brackets; empty for one that a macro names.
    Include(&'t [u8]),
}

impl<'t> Change<'t> {
    /// The macro a `#define` or `#undef` names.
    pub(crate) fn name(self) -> Option<&'t str> {
        match self {
            Change::Define(name) | Change::Undef(name) => Some(name),
            Change::Include(_) => None,
        }
    }
}

/// The macros `text` defines or undefines and its `#include`s, in order,
/// but for default
/// definitions of a macro in `defined_ahead` (the library or the compiler
/// defines it): a `#define X` whose innermost condition requires `X`
/// undefined (`#ifndef X`, or `!defined(X)` among the `&&` of an `#if`)
/// does nothing once `X` is defined, and the library defines it. Projects
/// write such fallbacks after including the header that should define the
/// macro (libgit2's `#ifndef R_OK`, wxWidgets' `!defined(__cplusplus)`);
/// one written before it would define the macro first, as the library
/// would, normally to the same value.
///
/// With `before_last_include` (a main file's text), the directives after
/// the last `#include` do not count: no header is read after them.
pub(crate) fn changes<'t>(
    text: &'t [u8],
    defined_ahead: &FxHashSet<String>,
    before_last_include: bool,
) -> Vec<Change<'t>> {
    let mut includes_left = if before_last_include {
        directives(text)
            .filter(|(directive, _)| is_include(directive))
            .count()
    } else {
        usize::MAX
    };
    let mut found = Vec::new();
    // The innermost condition of each open conditional; `None` for an
    // `#else` or `#elif` branch, which is not a default definition.
    let mut conditions: Vec<Option<(&[u8], &[u8])>> = Vec::new();
    for (directive, rest) in directives(text) {
        if includes_left == 0 {
            break;
        }
        match directive {
            include if is_include(include) => {
                includes_left -= 1;
                found.push(Change::Include(included_name(rest)));
            }
            b"if" | b"ifdef" | b"ifndef" => conditions.push(Some((directive, rest))),
            b"elif" | b"else" | b"elifdef" | b"elifndef" => {
                if let Some(top) = conditions.last_mut() {
                    *top = None;
                }
            }
            b"endif" => {
                conditions.pop();
            }
            b"define" | b"undef" => {
                let Some(name) = identifiers(rest)
                    .next()
                    .and_then(|name| std::str::from_utf8(name).ok())
                else {
                    continue;
                };
                let undef = directive == b"undef";
                let default = !undef
                    && defined_ahead.contains(name)
                    && conditions
                        .last()
                        .copied()
                        .flatten()
                        .is_some_and(|condition| requires_undefined(condition, name));
                if !default {
                    found.push(if undef {
                        Change::Undef(name)
                    } else {
                        Change::Define(name)
                    });
                }
            }
            _ => {}
        }
    }
    found
}

/// The macros `changes` leaves changed: all but those a later `#undef`
/// undoes (a file that defines a macro for its own code and undefines it
/// at its end, as abseil's `dynamic_annotations.h` does).
pub(crate) fn lasting<'t>(changes: &[Change<'t>]) -> Vec<&'t str> {
    let mut defined: Vec<&'t str> = Vec::new();
    let mut lasting: Vec<&'t str> = Vec::new();
    for change in changes {
        match *change {
            Change::Define(name) => defined.push(name),
            Change::Undef(name) if defined.contains(&name) => defined.retain(|&n| n != name),
            Change::Undef(name) => lasting.push(name),
            Change::Include(_) => {}
        }
    }
    lasting.extend(defined);
    lasting.sort_unstable();
    lasting.dedup();
    lasting
}

/// Whether `text` changes `name` before any of its conditions tests it: its
/// tests then see its own definition, wherever it is read.
pub(crate) fn changed_before_tested(text: &[u8], name: &str) -> bool {
    for (directive, rest) in directives(text) {
        match directive {
            b"if" | b"ifdef" | b"ifndef" | b"elif" | b"elifdef" | b"elifndef"
                if identifiers(rest).any(|id| id == name.as_bytes()) =>
            {
                return false
            }
            b"define" | b"undef" if identifiers(rest).next() == Some(name.as_bytes()) => {
                return true
            }
            _ => {}
        }
    }
    false
}

/// The name an `#include` spells, from the rest of its line.
fn included_name(rest: &[u8]) -> &[u8] {
    let rest = rest.trim_ascii_start();
    let close = match rest.first() {
        Some(b'"') => b'"',
        Some(b'<') => b'>',
        _ => return b"",
    };
    let name = &rest[1..];
    name.iter()
        .position(|&c| c == close)
        .map_or(b"", |end| &name[..end])
}

fn is_include(directive: &[u8]) -> bool {
    matches!(directive, b"include" | b"include_next" | b"import")
}

/// Whether a conditional directive's condition holds only while `name` is
/// undefined: `#ifndef name`, or `#if` with `!defined(name)` or
/// `!defined name` as one of its top-level `&&` operands.
fn requires_undefined((directive, condition): (&[u8], &[u8]), name: &str) -> bool {
    let condition = match find(condition, b"//")
        .into_iter()
        .chain(find(condition, b"/*"))
        .min()
    {
        Some(comment) => &condition[..comment],
        None => condition,
    };
    let name = name.as_bytes();
    match directive {
        b"ifndef" => condition.trim_ascii() == name,
        b"if" => {
            let mut depth = 0i32;
            let mut start = 0;
            let mut operands = Vec::new();
            for (i, &byte) in condition.iter().enumerate() {
                match byte {
                    b'(' => depth += 1,
                    b')' => depth -= 1,
                    b'&' if depth == 0 && condition.get(i + 1) == Some(&b'&') => {
                        operands.push(&condition[start..i]);
                        start = i + 2;
                    }
                    _ => {}
                }
            }
            operands.push(&condition[start..]);
            operands.iter().any(|operand| {
                let compact: Vec<u8> = operand
                    .iter()
                    .copied()
                    .filter(|b| !b.is_ascii_whitespace() && *b != b'(' && *b != b')')
                    .collect();
                compact.strip_prefix(b"!defined") == Some(name)
            })
        }
        _ => false,
    }
}

/// `(directive name, rest of its logical line)` for each line of `text`
/// that starts with `#`. A backslash at the end of a line continues it;
/// the continuation's text is scanned with the rest, its backslash and
/// newline read as spaces.
fn directives(text: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut offset = 0;
    std::iter::from_fn(move || {
        while offset < text.len() {
            let start = offset;
            let mut end = start;
            // One logical line: up to a newline not preceded by a backslash.
            loop {
                match memchr(b'\n', &text[end..]) {
                    Some(i) => {
                        let newline = end + i;
                        end = newline + 1;
                        let before = text[start..newline].trim_ascii_end();
                        if !before.ends_with(b"\\") {
                            break;
                        }
                    }
                    None => {
                        end = text.len();
                        break;
                    }
                }
            }
            offset = end;
            let line = text[start..end].trim_ascii_start();
            let Some(after_hash) = line.strip_prefix(b"#") else {
                continue;
            };
            let after_hash = after_hash.trim_ascii_start();
            let name_len = after_hash
                .iter()
                .take_while(|b| b.is_ascii_alphabetic())
                .count();
            if name_len > 0 {
                return Some((&after_hash[..name_len], &after_hash[name_len..]));
            }
        }
        None
    })
}

/// The identifiers of a directive's text, up to a comment. The arguments
/// of a function-like macro but `defined` are skipped: they name a header,
/// an attribute or a feature (`__has_include(<bits/c++config.h>)`,
/// `__has_cpp_attribute(nodiscard)`, abseil's
/// `ABSL_HAVE_ATTRIBUTE(noreturn)`, glibc's `__GLIBC_USE (LIB_EXT2)`,
/// which pastes its argument into a macro of glibc's own), not a macro a
/// unit could define.
fn identifiers(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    let text = match find(text, b"//").into_iter().chain(find(text, b"/*")).min() {
        Some(comment) => &text[..comment],
        None => text,
    };
    let mut offset = 0;
    std::iter::from_fn(move || {
        while offset < text.len() {
            let byte = text[offset];
            if byte == b'_' || byte.is_ascii_alphabetic() {
                let start = offset;
                while offset < text.len() && is_identifier_byte(text[offset]) {
                    offset += 1;
                }
                let name = &text[start..offset];
                if name != b"defined" {
                    offset += arguments_len(&text[offset..]);
                }
                return Some(name);
            }
            // A number such as 201103L is not an identifier.
            if byte.is_ascii_digit() {
                while offset < text.len() && is_identifier_byte(text[offset]) {
                    offset += 1;
                }
            } else {
                offset += 1;
            }
        }
        None
    })
}

/// `defined`, and clang's builtin macros (`__has_include`,
/// `__has_feature`, ...): code defines those only for other compilers, in
/// a branch clang does not take (`#ifndef __has_feature`), so such a
/// definition never configures the library.
fn is_builtin(name: &[u8]) -> bool {
    name == b"defined"
        || name.starts_with(b"__has_")
        || matches!(
            name,
            b"__is_identifier" | b"__building_module" | b"__is_target_arch"
        )
}

/// The length of the parenthesised arguments at the start of `text`
/// (spaces before them included), 0 if there are none.
fn arguments_len(text: &[u8]) -> usize {
    let spaces = text.len() - text.trim_ascii_start().len();
    if text.get(spaces) != Some(&b'(') {
        return 0;
    }
    let mut depth = 0;
    for (i, &byte) in text.iter().enumerate().skip(spaces) {
        match byte {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    text.len()
}

fn is_identifier_byte(byte: u8) -> bool {
    byte == b'_' || byte.is_ascii_alphanumeric()
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first macro of `names` that `text` defines or undefines.
    fn first_defined<'t>(
        text: &'t str,
        names: &FxHashSet<String>,
        defined_ahead: &FxHashSet<String>,
        before_last_include: bool,
    ) -> Option<&'t str> {
        changes(text.as_bytes(), defined_ahead, before_last_include)
            .into_iter()
            .filter_map(Change::name)
            .find(|name| names.contains(*name))
    }

    fn tested(text: &str) -> Vec<String> {
        let mut names = FxHashSet::default();
        tested_macros(text.as_bytes(), &mut names);
        let mut names: Vec<String> = names.into_iter().collect();
        names.sort();
        names
    }

    #[test]
    fn conditions_name_the_macros_a_header_tests() {
        let header = "\
#ifndef _GLIBCXX_STRING
#define _GLIBCXX_STRING 1
  #  if defined(_GLIBCXX_DEBUG) && __cplusplus >= 201103L // _NOT_THIS
#include <debug/string>
#elif _GLIBCXX_USE_CXX11_ABI || \\
      _XOPEN_SOURCE > 500 /* nor _THIS */
#endif
int defined_in_code = _NOT_A_CONDITION;
#ifdef __STDC_FORMAT_MACROS
#elif __has_include(<bits/c++config.h>) || __has_feature ( modules ) || _AFTER_BUILTINS
#elif __GLIBC_USE (LIB_EXT2) && defined(NDEBUG)
#elif ABSL_HAVE_ATTRIBUTE(noreturn) || defined ( _DEFINED_TOO )
#endif
";
        assert_eq!(
            tested(header),
            [
                "ABSL_HAVE_ATTRIBUTE",
                "NDEBUG",
                "_AFTER_BUILTINS",
                "_DEFINED_TOO",
                "_GLIBCXX_DEBUG",
                "_GLIBCXX_STRING",
                "_GLIBCXX_USE_CXX11_ABI",
                "_XOPEN_SOURCE",
                "__GLIBC_USE",
                "__STDC_FORMAT_MACROS",
                "__cplusplus"
            ]
        );
    }

    #[test]
    fn a_definition_of_a_tested_macro_is_found() {
        let names: FxHashSet<String> = ["_XOPEN_SOURCE", "NDEBUG"]
            .into_iter()
            .map(String::from)
            .collect();
        let none = FxHashSet::default();
        let defines = |text: &'static str| first_defined(text, &names, &none, false);
        assert_eq!(
            defines("// UNIX 98\n#define _XOPEN_SOURCE 500\n#include <time.h>\n"),
            Some("_XOPEN_SOURCE")
        );
        assert_eq!(defines("#  undef   NDEBUG\n"), Some("NDEBUG"));
        assert_eq!(defines("#define NDEBUG_LIKE 1\n#define X NDEBUG\n"), None);
        assert_eq!(defines("#ifdef NDEBUG\n#endif\nint NDEBUG;\n"), None);
        assert_eq!(defines("#define A \\\n  1\n#define NDEBUG"), Some("NDEBUG"));
        assert_eq!(defines(""), None);
    }

    #[test]
    fn what_a_file_leaves_changed_and_what_it_defines_first() {
        let none = FxHashSet::default();
        let lasting = |text: &'static str| lasting(&changes(text.as_bytes(), &none, false));
        assert_eq!(
            lasting("#define A 1\n#define B\n#include <x.h>\n#undef B\n#undef C\n"),
            ["A", "C"]
        );
        assert!(lasting("#define X 1\n#undef X\n").is_empty());
        let text = b"#ifndef G_H\n#define G_H\n#if C\n#define M 1\n#else\n#define M 0\n#endif\n#if M\n#endif\n#endif\n";
        assert!(changed_before_tested(text, "M"));
        assert!(!changed_before_tested(text, "G_H"));
        assert!(!changed_before_tested(text, "C"));
    }

    /// In a main file, a definition after the last `#include` reaches no
    /// header.
    #[test]
    fn an_include_carries_the_name_it_spells() {
        let none = FxHashSet::default();
        let text = b"#include \"a/x.def\"\n# include <y.h> // why\n#include HEADER\n#import \"z.h";
        assert_eq!(
            changes(text, &none, false),
            [
                Change::Include(b"a/x.def"),
                Change::Include(b"y.h"),
                Change::Include(b""),
                Change::Include(b""),
            ]
        );
    }

    #[test]
    fn a_main_files_definitions_after_its_includes_do_not_count() {
        let none = FxHashSet::default();
        let names = FxHashSet::from_iter(["NDEBUG".to_owned()]);
        let defines = |text: &'static str| first_defined(text, &names, &none, true);
        assert_eq!(
            defines("#include <a.h>\n#include \"b.h\"\n#define NDEBUG\n"),
            None
        );
        assert_eq!(defines("#define NDEBUG\n"), None);
        assert_eq!(
            defines("#include <a.h>\n#undef NDEBUG\n#include_next <b.h>\n"),
            Some("NDEBUG")
        );
        assert_eq!(
            first_defined("#include <a.h>\n#define NDEBUG\n", &names, &none, false),
            Some("NDEBUG")
        );
    }

    #[test]
    fn a_default_for_a_macro_the_library_defines_is_no_definition() {
        let names: FxHashSet<String> = ["R_OK", "__cplusplus", "_FILE_OFFSET_BITS"]
            .into_iter()
            .map(String::from)
            .collect();
        let ahead: FxHashSet<String> = ["R_OK", "__cplusplus"]
            .into_iter()
            .map(String::from)
            .collect();
        let defines = |text: &'static str| first_defined(text, &names, &ahead, false);
        // libgit2's posix.h, after `#include <fcntl.h>`.
        assert_eq!(
            defines("#ifndef R_OK\n#define R_OK 4 /* read */\n#endif\n"),
            None
        );
        assert_eq!(
            defines("#if !defined(R_OK)\n#define R_OK 4\n#endif\n"),
            None
        );
        // wxWidgets' defs.h.
        assert_eq!(
            defines("#if defined(__DECCXX) && !defined(__VMS) && ! defined ( __cplusplus )\n#define __cplusplus\n#endif\n"),
            None
        );
        // Not a default: another branch, another condition, unconditional,
        // an undef, or a macro the library does not define.
        assert_eq!(
            defines("#ifndef R_OK\n#else\n#define R_OK 4\n#endif\n"),
            Some("R_OK")
        );
        assert_eq!(
            defines("#if !defined(R_OK) || FORCE\n#define R_OK 4\n#endif\n"),
            Some("R_OK")
        );
        assert_eq!(
            defines("#ifndef R_OK\n#ifdef X\n#define R_OK 4\n#endif\n#endif\n"),
            Some("R_OK")
        );
        assert_eq!(
            defines("#ifndef R_OK\n#endif\n#define R_OK 4\n"),
            Some("R_OK")
        );
        assert_eq!(defines("#ifndef R_OK\n#undef R_OK\n#endif\n"), Some("R_OK"));
        assert_eq!(
            defines("#ifndef _FILE_OFFSET_BITS\n#define _FILE_OFFSET_BITS 64\n#endif\n"),
            Some("_FILE_OFFSET_BITS")
        );
    }
}
