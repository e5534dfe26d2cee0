//! SCIP symbol names for the index's symbols, spelled as scip-clang spells
//! C++ symbols, so that an index exported here and one scip-clang made of
//! another repository refer to a library's symbols by the same strings.
//!
//! scip-clang's form (its `SymbolFormatter`, and the snapshots of its test
//! suite): the prefix `cxx . . $ ` (scheme, no package manager, no package
//! name, an empty version then `$`), then one descriptor per scope:
//!
//! | entity | descriptor | example |
//! | --- | --- | --- |
//! | namespace | `name/` | `zoo/` |
//! | anonymous namespace | `` `$anonymous_namespace_PATH`/ ``, PATH the translation unit's main file relative to the project root | `` `$anonymous_namespace_src/main.cpp`/ `` |
//! | class, struct, union, enum, typedef, alias | `name#` | `zoo/Animal#` |
//! | function, method, constructor, ... | `name(HASH).`, HASH the wyhash of the canonical function type, in hex | `zoo/Animal#feed(d4f767463ce0a6b3).` |
//! | field, variable, enumerator | `name.` | `zoo/Animal#eaten_.` |
//! | macro | `` `PATH:LINE:COLUMN`! `` of the definition | `` `include/zoo/animal.h:3:9`! `` |
//! | parameter, local variable | `local N`, numbered per document | `local 0` |
//!
//! Names that are not plain identifiers are quoted in backticks.
//!
//! Where the index cannot say what scip-clang's AST says, the names differ
//! (docs/ARCHITECTURE.md lists this too):
//!
//! - The hash is of the canonical type as clang prints it with its default
//!   printing policy (`void (void)`, `_Bool`, `struct zoo::Animal`). The
//!   index stores the type as spelled in the unit (`void ()`, `bool`,
//!   `zoo::Animal`); [`canonical_type`] rewrites those three differences,
//!   looking up which names are classes, structs, unions or enums. A type
//!   that names a typedef, a template specialization (clang adds default
//!   arguments) or a template parameter (`type-parameter-0-0`) hashes
//!   differently, and so does a destructor or defaulted member (the index
//!   never spells their ` noexcept`).
//! - A named unscoped enum's enumerators are scoped by the enum
//!   (`E#E0.`), where scip-clang puts them beside it (`E0.`): the index
//!   does not record whether an enum is scoped (an anonymous enum's are
//!   beside it, as in scip-clang).
//! - An anonymous struct, union or enum is `` `(anonymous)`# `` in its
//!   scope, where scip-clang numbers them (`$anonymous_type_…`).
//! - An anonymous namespace in a header is named after the header, where
//!   scip-clang names it after each translation unit that includes it (a
//!   header's rows are stored once, from one unit).
//! - There are no file symbols (`` `<file>/PATH`/ ``) and no references
//!   to them from `#include` lines: the index records an include's line,
//!   not its columns.
//! - A macro without a location (command line, compiler, system headers
//!   unless `--index-system-headers`) is `NAME!`.
//! - A lambda is a method of what holds it, named after its place
//!   (`` main(…).`(lambda at 7:15)`(HASH). ``); a using-declaration is a
//!   term (`name.`). A symbol without a declaration (a system header's,
//!   or a lambda a macro writes) is scoped by its qualified name: a scope
//!   the index does not hold as a namespace or type is a type when the
//!   symbol is a member, else a namespace (so such a lambda's function
//!   reads as a namespace).

use std::collections::HashMap;
use std::path::Path;

use crate::index::export::{ExportReader, ExportSymbol, Placement, SymbolId};
use crate::index::model::SymbolKind;
use crate::index::query::QueryError;

/// What every global symbol starts with: scheme `cxx`, no package manager,
/// no package name, and scip-clang's `$` after the empty version.
pub(crate) const PREFIX: &str = "cxx . . $ ";

/// Cached names at most; past that the cache starts again, so memory stays
/// flat whatever the index's size (a name is recomputed from a few index
/// lookups).
const CACHE_LIMIT: usize = 50_000;

/// A symbol's name: global (the descriptors after [`PREFIX`]), or local
/// to the document that uses it (`local N`, numbered by the document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Name {
    Global(String),
    Local,
}

/// Names symbols, with bounded caches of what it computed.
pub(crate) struct Namer<'r> {
    reader: &'r ExportReader<'r>,
    root: &'r Path,
    names: HashMap<SymbolId, Name>,
    /// Tag keyword (`struct`, ...) of a qualified name in a type, if it
    /// names a class, struct, union or enum.
    tags: HashMap<String, Option<&'static str>>,
}

/// Kinds named like functions, `name(HASH).`.
const FUNCTION_KINDS: &[SymbolKind] = &[
    SymbolKind::Function,
    SymbolKind::Method,
    SymbolKind::Constructor,
    SymbolKind::Destructor,
    SymbolKind::ConversionFunction,
    SymbolKind::FunctionTemplate,
    SymbolKind::Lambda,
];

/// Kinds named like types, `name#`.
const TYPE_KINDS: &[SymbolKind] = &[
    SymbolKind::Class,
    SymbolKind::Struct,
    SymbolKind::Union,
    SymbolKind::Enum,
    SymbolKind::Typedef,
    SymbolKind::TypeAlias,
    SymbolKind::ClassTemplate,
    SymbolKind::ClassTemplatePartialSpecialization,
    SymbolKind::Protocol,
    SymbolKind::Category,
];

/// Kinds that are members of a type when they have a scope, for a symbol
/// whose scope the index does not hold (one of a system header).
const MEMBER_KINDS: &[SymbolKind] = &[
    SymbolKind::EnumConstant,
    SymbolKind::Method,
    SymbolKind::Constructor,
    SymbolKind::Destructor,
    SymbolKind::ConversionFunction,
    SymbolKind::Field,
];

const ANONYMOUS_NAMESPACE: &str = "(anonymous namespace)";

fn is_anonymous_enum(symbol: &ExportSymbol) -> bool {
    symbol.kind == SymbolKind::Enum && symbol.name.starts_with("(anonymous")
}

pub(crate) fn is_function_kind(kind: SymbolKind) -> bool {
    FUNCTION_KINDS.contains(&kind)
}

impl<'r> Namer<'r> {
    pub(crate) fn new(reader: &'r ExportReader<'r>, root: &'r Path) -> Namer<'r> {
        Namer {
            reader,
            root,
            names: HashMap::new(),
            tags: HashMap::new(),
        }
    }

    /// `path` relative to the project root, or as it is when outside it.
    pub(crate) fn relative<'p>(&self, path: &'p str) -> &'p str {
        relative_to(self.root, path).unwrap_or(path)
    }

    /// The name of symbol `id`.
    pub(crate) fn name(&mut self, id: SymbolId) -> Result<Name, QueryError> {
        if let Some(name) = self.names.get(&id) {
            return Ok(name.clone());
        }
        let symbol = self.reader.symbol(id)?;
        let placement = self.reader.placement(id)?;
        let name = self.compute(&symbol, placement.as_ref())?;
        if self.names.len() >= CACHE_LIMIT {
            self.names.clear();
        }
        self.names.insert(id, name.clone());
        Ok(name)
    }

    fn compute(
        &mut self,
        symbol: &ExportSymbol,
        placement: Option<&Placement>,
    ) -> Result<Name, QueryError> {
        if symbol.kind == SymbolKind::Macro {
            let descriptor = match placement {
                Some(p) => format!("{}:{}:{}", self.relative(&p.path), p.line, p.col),
                None => symbol.name.clone(),
            };
            return Ok(Name::Global(format!("{}!", escape(&descriptor))));
        }
        if symbol.kind == SymbolKind::Parameter {
            return Ok(Name::Local);
        }
        let parts = split_qualified(&symbol.qualified_name);
        let scope = match placement.and_then(|p| p.container.map(|c| (p, c))) {
            Some((p, container)) => {
                let parent = self.reader.symbol(container)?;
                if symbol.kind == SymbolKind::Variable && is_function_kind(parent.kind) {
                    return Ok(Name::Local);
                }
                if parent.name == ANONYMOUS_NAMESPACE {
                    // The one anonymous namespace symbol has no scope of
                    // its own: what encloses it is read from the names.
                    let outer = parts.len().saturating_sub(2);
                    let mut scope = self.scope_by_name(&parts[..outer], None)?;
                    scope.push_str(&anonymous_namespace(self.relative(&p.path)));
                    Some(scope)
                } else {
                    match self.name(container)? {
                        Name::Global(scope) if is_anonymous_enum(&parent) => {
                            // An anonymous enum's enumerators are named in
                            // the scope that holds it, as C++ sees them.
                            let own = format!("{}#", escape(&parent.name));
                            Some(scope.strip_suffix(&own).unwrap_or(&scope).to_owned())
                        }
                        Name::Global(scope) => Some(scope),
                        Name::Local => return Ok(Name::Local),
                    }
                }
            }
            None => {
                let outer = parts.len().saturating_sub(1);
                let file = placement.map(|p| self.relative(&p.path).to_owned());
                Some(self.scope_by_name(&parts[..outer], Some((symbol.kind, file)))?)
            }
        };
        let mut name = scope.unwrap_or_default();
        name.push_str(&self.descriptor(symbol, placement)?);
        Ok(Name::Global(name))
    }

    /// The descriptors of the scope whose qualified name is `parts`, found
    /// by name: the index's namespace or type of that name, else (a scope
    /// only a system header declares) a type when it holds a member of
    /// `member` kind, a namespace otherwise. `member` is the kind of what
    /// the scope holds, and the file it is in, for an anonymous namespace.
    fn scope_by_name(
        &mut self,
        parts: &[&str],
        member: Option<(SymbolKind, Option<String>)>,
    ) -> Result<String, QueryError> {
        let Some((last, outer)) = parts.split_last() else {
            return Ok(String::new());
        };
        if last.starts_with("(anonymous")
            && member
                .as_ref()
                .is_some_and(|(k, _)| *k == SymbolKind::EnumConstant)
        {
            // An anonymous enum's enumerators, in the scope that holds it.
            return self.scope_by_name(outer, None);
        }
        if *last == ANONYMOUS_NAMESPACE {
            let mut scope = self.scope_by_name(outer, None)?;
            let file = member.and_then(|(_, file)| file).unwrap_or_default();
            scope.push_str(&anonymous_namespace(&file));
            return Ok(scope);
        }
        if let Some((id, _)) = self.reader.scope_named(&parts.join("::"))? {
            if let Name::Global(scope) = self.name(id)? {
                return Ok(scope);
            }
        }
        let mut scope = self.scope_by_name(outer, None)?;
        let is_type = member.is_some_and(|(kind, _)| MEMBER_KINDS.contains(&kind));
        scope.push_str(&escape(last));
        scope.push(if is_type { '#' } else { '/' });
        Ok(scope)
    }

    /// The symbol's own descriptor.
    fn descriptor(
        &mut self,
        symbol: &ExportSymbol,
        placement: Option<&Placement>,
    ) -> Result<String, QueryError> {
        let kind = symbol.kind;
        let name = escape(&symbol.name);
        Ok(
            if kind == SymbolKind::Namespace && symbol.name == ANONYMOUS_NAMESPACE {
                anonymous_namespace(placement.map_or("", |p| self.relative(&p.path)))
            } else if matches!(kind, SymbolKind::Namespace | SymbolKind::NamespaceAlias) {
                format!("{name}/")
            } else if TYPE_KINDS.contains(&kind) {
                format!("{name}#")
            } else if is_function_kind(kind) {
                let canonical = self.canonical(&symbol.type_spelling)?;
                format!("{name}({:x}).", wyhash(canonical.as_bytes()))
            } else {
                format!("{name}.")
            },
        )
    }

    /// [`canonical_type`] of a stored type, with the index's classes.
    fn canonical(&mut self, spelled: &str) -> Result<String, QueryError> {
        canonical_type(spelled, |name| self.tag(name))
    }

    /// The tag keyword clang prints before `qualified_name` in a canonical
    /// type, if the index holds it as a class, struct, union or enum.
    fn tag(&mut self, qualified_name: &str) -> Result<Option<&'static str>, QueryError> {
        if let Some(tag) = self.tags.get(qualified_name) {
            return Ok(*tag);
        }
        let name = qualified_name.trim_start_matches("::");
        let tag = match self.reader.scope_named(name)? {
            Some((_, kind)) => match kind.as_str() {
                "class" => Some("class"),
                "struct" => Some("struct"),
                "union" => Some("union"),
                "enum" => Some("enum"),
                _ => None,
            },
            None => None,
        };
        if self.tags.len() >= CACHE_LIMIT {
            self.tags.clear();
        }
        self.tags.insert(qualified_name.to_owned(), tag);
        Ok(tag)
    }
}

/// The type as clang's default printing policy spells its canonical
/// form, as far as the index can tell (see the module's overview):
/// `()` becomes `(void)`, `bool` `_Bool`, and a class, struct, union
/// or enum gets its keyword.
/// `tag` tells the keyword of a qualified name, if it is a class,
/// struct, union or enum.
fn canonical_type<E>(
    spelled: &str,
    mut tag: impl FnMut(&str) -> Result<Option<&'static str>, E>,
) -> Result<String, E> {
    let bytes = spelled.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len() + 16);
    let mut i = 0;
    let mut previous_word = "";
    let mut parameters_seen = false;
    let starts_name = |i: usize| {
        bytes[i].is_ascii_alphabetic()
            || bytes[i] == b'_'
            || bytes[i] == b':' && bytes.get(i + 1) == Some(&b':')
    };
    while i < bytes.len() {
        if starts_name(i) {
            let start = i;
            while i < bytes.len() && (starts_name(i) || bytes[i].is_ascii_digit()) {
                i += if bytes[i] == b':' { 2 } else { 1 };
            }
            let word = &spelled[start..i];
            if word == "bool" {
                out.extend_from_slice(b"_Bool");
            } else {
                let tagged = ["struct", "class", "union", "enum"].contains(&previous_word);
                if !tagged && !is_keyword(word) {
                    if let Some(tag) = tag(word)? {
                        out.extend_from_slice(tag.as_bytes());
                        out.push(b' ');
                    }
                }
                out.extend_from_slice(word.as_bytes());
            }
            previous_word = word;
            continue;
        }
        let c = bytes[i];
        if c == b'(' && !parameters_seen {
            parameters_seen = true;
            // An empty parameter list: clang prints `(void)`.
            if bytes.get(i + 1) == Some(&b')') && out.ends_with(b" ") {
                out.extend_from_slice(b"(void)");
                i += 2;
                continue;
            }
        }
        out.push(c);
        if !c.is_ascii_whitespace() {
            previous_word = "";
        }
        i += 1;
    }
    // Only ASCII was inserted and whole UTF-8 sequences were copied.
    Ok(String::from_utf8(out).unwrap_or_else(|_| spelled.to_owned()))
}

/// Words of a type spelling that never name a class.
fn is_keyword(word: &str) -> bool {
    matches!(
        word,
        "const"
            | "volatile"
            | "restrict"
            | "__restrict"
            | "signed"
            | "unsigned"
            | "short"
            | "long"
            | "int"
            | "char"
            | "wchar_t"
            | "char8_t"
            | "char16_t"
            | "char32_t"
            | "float"
            | "double"
            | "void"
            | "auto"
            | "decltype"
            | "noexcept"
            | "true"
            | "false"
            | "struct"
            | "class"
            | "union"
            | "enum"
            | "typename"
            | "__int128"
            | "_Bool"
            | "_Complex"
            | "nullptr_t"
    )
}

fn anonymous_namespace(file: &str) -> String {
    format!("{}/", escape(&format!("$anonymous_namespace_{file}")))
}

/// `path` relative to `root`, if it is inside it.
pub(crate) fn relative_to<'p>(root: &Path, path: &'p str) -> Option<&'p str> {
    let root = root.to_str()?.trim_end_matches('/');
    let rest = path.strip_prefix(root)?;
    rest.strip_prefix('/')
}

/// A qualified name's components: `::` outside parentheses and angle
/// brackets separates them (`run::(lambda at 2:3)::x`,
/// `std::map<a::b, c>::find`).
pub(crate) fn split_qualified(name: &str) -> Vec<&str> {
    let bytes = name.as_bytes();
    let mut parts = Vec::new();
    let (mut depth, mut start, mut i) = (0i32, 0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'(' | b'<' | b'[' => depth += 1,
            b')' | b'>' | b']' => depth -= 1,
            b':' if depth == 0 && bytes.get(i + 1) == Some(&b':') => {
                parts.push(&name[start..i]);
                i += 2;
                start = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(&name[start..]);
    parts
}

/// A descriptor's name, in backticks unless it is a plain identifier
/// (ASCII letters, digits, `_`, `+`, `-`, `$`), with backticks doubled.
pub(crate) fn escape(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'$'));
    if plain {
        name.to_owned()
    } else {
        format!("`{}`", name.replace('`', "``"))
    }
}

/// wyhash (final version 4) of `bytes` with seed 0 and the default secret,
/// as scip-clang's `HashValue::forText` computes its disambiguators.
pub(crate) fn wyhash(bytes: &[u8]) -> u64 {
    const P: [u64; 4] = [
        0xa076_1d64_78bd_642f,
        0xe703_7ed1_a0b4_28db,
        0x8ebc_6af0_9c88_c6e3,
        0x5899_65cc_7537_4cc3,
    ];
    fn mum(a: u64, b: u64) -> (u64, u64) {
        let r = u128::from(a) * u128::from(b);
        (r as u64, (r >> 64) as u64)
    }
    fn mix(a: u64, b: u64) -> u64 {
        let (lo, hi) = mum(a, b);
        lo ^ hi
    }
    fn r8(p: &[u8]) -> u64 {
        u64::from_le_bytes(p[..8].try_into().expect("8 bytes"))
    }
    fn r4(p: &[u8]) -> u64 {
        u64::from(u32::from_le_bytes(p[..4].try_into().expect("4 bytes")))
    }
    let len = bytes.len();
    let mut seed = mix(P[0], P[1]); // 0 ^ mix(0 ^ P[0], P[1])
    let (a, b);
    if len <= 16 {
        if len >= 4 {
            let step = (len >> 3) << 2;
            a = (r4(bytes) << 32) | r4(&bytes[step..]);
            b = (r4(&bytes[len - 4..]) << 32) | r4(&bytes[len - 4 - step..]);
        } else if len > 0 {
            a = (u64::from(bytes[0]) << 16)
                | (u64::from(bytes[len >> 1]) << 8)
                | u64::from(bytes[len - 1]);
            b = 0;
        } else {
            a = 0;
            b = 0;
        }
    } else {
        let mut p = bytes;
        if p.len() > 48 {
            let (mut see1, mut see2) = (seed, seed);
            while p.len() > 48 {
                seed = mix(r8(p) ^ P[1], r8(&p[8..]) ^ seed);
                see1 = mix(r8(&p[16..]) ^ P[2], r8(&p[24..]) ^ see1);
                see2 = mix(r8(&p[32..]) ^ P[3], r8(&p[40..]) ^ see2);
                p = &p[48..];
            }
            seed ^= see1 ^ see2;
        }
        while p.len() > 16 {
            seed = mix(r8(p) ^ P[1], r8(&p[8..]) ^ seed);
            p = &p[16..];
        }
        // The last 16 bytes of the input, which may reach back before `p`.
        let end = bytes.len();
        a = r8(&bytes[end - 16..]);
        b = r8(&bytes[end - 8..]);
    }
    let (a, b) = mum(a ^ P[1], b ^ seed);
    mix(a ^ P[0] ^ len as u64, b ^ P[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The disambiguators of scip-clang's own snapshots
    /// (test/index/functions/methods.snapshot.cc and
    /// namespaces/namespaces.snapshot.cc): `void f()` is
    /// `f(49f6e7a06ebc5aa8).`, and so on.
    #[test]
    fn the_hash_is_scip_clangs() {
        let cases = [
            ("void (void)", 0x49f6_e7a0_6ebc_5aa8),
            ("void (int)", 0xd4f7_6746_3ce0_a6b3),
            ("void (int, int)", 0x3e45_4b8c_cf44_2868),
            (
                "_Bool (const struct A0 &, const struct A0 &)",
                0x354e_e8b8_2d64_3f9c,
            ),
            ("void (enum a::c::E)", 0x5734_375c_1c12_cb14),
            ("void (struct u::Z1)", 0xeb27_b0ef_67ae_3f66),
        ];
        for (text, hash) in cases {
            assert_eq!(wyhash(text.as_bytes()), hash, "{text}");
        }
    }

    /// Inputs of every length class (0, 1-3, 4-16, 17-48, over 48) hash
    /// to distinct values, and the long path reads what it should: a
    /// change in any byte changes the hash.
    #[test]
    fn every_byte_counts() {
        let text: Vec<u8> = (0..130u8).collect();
        for len in [0, 1, 3, 4, 15, 16, 17, 47, 48, 49, 97, 130] {
            let base = wyhash(&text[..len]);
            for i in 0..len {
                let mut changed = text[..len].to_vec();
                changed[i] ^= 1;
                assert_ne!(wyhash(&changed), base, "len {len}, byte {i}");
            }
        }
    }

    /// What the index stores, rewritten as clang's default printing
    /// policy prints the canonical type.
    #[test]
    fn stored_types_become_canonical() {
        let tag = |name: &str| -> Result<_, ()> {
            Ok(match name {
                "zoo::Animal" => Some("class"),
                "u::Z1" => Some("struct"),
                "a::c::E" => Some("enum"),
                _ => None,
            })
        };
        let cases = [
            ("void ()", "void (void)"),
            ("int () const", "int (void) const"),
            (
                "bool (const zoo::Animal &, int)",
                "_Bool (const class zoo::Animal &, int)",
            ),
            ("void (u::Z1)", "void (struct u::Z1)"),
            ("void (a::c::E *)", "void (enum a::c::E *)"),
            ("void (struct u::Z1)", "void (struct u::Z1)"),
            (
                "void (std::vector<zoo::Animal>)",
                "void (std::vector<class zoo::Animal>)",
            ),
            ("int (int) noexcept(true)", "int (int) noexcept(true)"),
            ("void (int, ...)", "void (int, ...)"),
        ];
        for (stored, canonical) in cases {
            assert_eq!(
                canonical_type(stored, tag),
                Ok(canonical.to_owned()),
                "{stored}"
            );
        }
        // With the hash, scip-clang's own disambiguator of `void f(E)`.
        let e = canonical_type("void (a::c::E)", tag).unwrap();
        assert_eq!(format!("{:x}", wyhash(e.as_bytes())), "5734375c1c12cb14");
    }

    #[test]
    fn names_are_escaped_as_scip_asks() {
        assert_eq!(escape("area"), "area");
        assert_eq!(escape("operator=="), "`operator==`");
        assert_eq!(escape("~Shape"), "`~Shape`");
        assert_eq!(escape("a`b"), "`a``b`");
        assert_eq!(
            escape("$anonymous_namespace_src/main.cpp"),
            "`$anonymous_namespace_src/main.cpp`"
        );
    }

    #[test]
    fn qualified_names_split_outside_brackets() {
        assert_eq!(
            split_qualified("zoo::Animal::feed"),
            ["zoo", "Animal", "feed"]
        );
        assert_eq!(
            split_qualified("run::(lambda at 2:3)::x"),
            ["run", "(lambda at 2:3)", "x"]
        );
        assert_eq!(
            split_qualified("std::map<a::b, c>::find"),
            ["std", "map<a::b, c>", "find"]
        );
        assert_eq!(split_qualified("main"), ["main"]);
    }

    #[test]
    fn paths_are_relative_to_the_root_only_inside_it() {
        let root = Path::new("/src/p");
        assert_eq!(relative_to(root, "/src/p/a/b.h"), Some("a/b.h"));
        assert_eq!(relative_to(root, "/src/pq/b.h"), None);
        assert_eq!(relative_to(Path::new("/src/p/"), "/src/p/x.c"), Some("x.c"));
    }
}
