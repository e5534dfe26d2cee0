//! Preprocessor directives read from source text, without a preprocessor.
//!
//! A unit parsed with the precompiled standard library (see `prelude`) sees
//! the library as configured by its command line only: a macro the unit's
//! own files define before including it (`_GLIBCXX_USE_CXX11_ABI`,
//! `_XOPEN_SOURCE`, `_GLIBCXX_DEBUG`, ...) no longer reaches it, often
//! without any error. The worker therefore learns which macros the
//! library's headers test ([`tested_macros`]) and parses a unit as written
//! when one of its project files defines or undefines one of them
//! ([`first_defined`]).
//!
//! Reading text rather than asking libclang keeps this cheap, and errs on
//! the safe side: a directive in a comment or in a branch that is not taken
//! still counts, which costs that unit the precompiled header, nothing more.

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

/// The first macro of `names` that `text` defines or undefines.
pub(crate) fn first_defined<'n>(text: &[u8], names: &'n FxHashSet<String>) -> Option<&'n str> {
    directives(text)
        .filter(|(directive, _)| matches!(*directive, b"define" | b"undef"))
        .find_map(|(_, rest)| {
            let name = identifiers(rest).next()?;
            let name = std::str::from_utf8(name).ok()?;
            names.get(name).map(String::as_str)
        })
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
/// of a reserved function-like macro are skipped: they name a header, an
/// attribute or a feature (`__has_include(<bits/c++config.h>)`,
/// `__has_cpp_attribute(nodiscard)`, glibc's `__GLIBC_USE (LIB_EXT2)`,
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
                if name.starts_with(b"__") {
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
#endif
";
        assert_eq!(
            tested(header),
            [
                "NDEBUG",
                "_AFTER_BUILTINS",
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
        let defines = |text: &str| first_defined(text.as_bytes(), &names);
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
}
