//! The index as a SCIP index (<https://github.com/sourcegraph/scip>), the
//! format Sourcegraph and other code-navigation tools read, with symbols
//! named as scip-clang names them (`names`).
//!
//! # Streaming
//!
//! SCIP's `Index` message is `metadata` (field 1), repeated `documents`
//! (field 2) and repeated `external_symbols` (field 3). Protobuf reads a
//! repeated field written as one length-delimited record per element, in
//! any number of records, as the whole list (and a message's records may
//! be concatenated), so the export writes the metadata, then each document
//! as soon as it is built, then each external symbol: what it holds at a
//! time is one document (the occurrences and symbols of one file), a page
//! of file paths and the bounded caches of `names::Namer`. A reader that
//! parses the output as one `Index` (the `scip` crate, `scip print`) sees
//! an ordinary index.
//!
//! # What goes in
//!
//! - One document per project file the index holds rows for (not system
//!   headers), under the project root, in path order. A project file
//!   outside the root is left out (SCIP's documents are paths below the
//!   root) and counted in [`ScipSummary::outside_root`].
//! - Occurrences: each declaration (role `Definition` for a definition,
//!   with the declaration's extent as `enclosing_range`, and
//!   `ForwardDefinition` for any other declaration, as SCIP asks for C and
//!   C++ forward declarations), each reference (`ReadAccess` and
//!   `WriteAccess` from the index's read and write roles; a macro
//!   expansion is a plain reference). The reference from what holds a
//!   lambda to the lambda (role `definition` in the index) is left out:
//!   the lambda's definition is at the same place. Ranges span the name's
//!   token, read from the file; a file that changed since it was indexed
//!   (its hash differs) gets ranges as long as the symbol's name instead
//!   (counted in [`ScipSummary::stale`]).
//! - Symbol information, in the document of the symbol's describing
//!   declaration (its first definition, else first declaration): kind,
//!   display name, the signature (`signature_documentation`, built from the
//!   stored type), the enclosing symbol of a local, and relationships as
//!   scip-clang writes them: a class `is_implementation` of every base,
//!   direct or not; a method `is_implementation` and `is_reference` of each
//!   method it overrides directly.
//! - External symbols: those project files refer to but no project file
//!   declares (the system headers' `printf`, `std::string`).

mod names;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use protobuf::{EnumOrUnknown, Message, MessageField};
use scip::types::{
    symbol_information::Kind, Document, Metadata, Occurrence, PositionEncoding, ProtocolVersion,
    Relationship, Signature, SymbolInformation, SymbolRole, TextEncoding, ToolInfo,
};
use serde::Serialize;

use crate::index::export::{ExportDecl, ExportFile, ExportReader, ExportSymbol, SymbolId};
use crate::index::model::{role, SymbolKind};
use crate::index::query::QueryError;
use crate::index::Index;

use self::names::{is_function_kind, Name, Namer, PREFIX};

/// Files read from the index at a time.
const PAGE: u32 = 256;

/// What an export is asked for.
#[derive(Debug, Clone)]
pub struct ScipOptions {
    /// The project's root directory, absolute: documents are paths
    /// relative to it, and it is the index's `project_root`.
    pub project_root: std::path::PathBuf,
    /// The command line that produced the export, for `tool_info`.
    pub arguments: Vec<String>,
}

/// What an export wrote.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct ScipSummary {
    pub documents: u64,
    pub occurrences: u64,
    /// Symbol information written in documents.
    pub symbols: u64,
    pub external_symbols: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Project files left out because they are not under the project root.
    pub outside_root: u64,
    /// Files whose content changed since they were indexed: their ranges
    /// are as long as the symbols' names, not read from the text.
    pub stale: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write the SCIP index")]
    Write(#[source] std::io::Error),
    #[error(transparent)]
    Query(#[from] QueryError),
}

/// Writes the index as a SCIP index to `out`, streamed (see the module's
/// overview). `out` should be buffered.
pub fn write_scip(
    index: &Index,
    options: &ScipOptions,
    out: &mut dyn Write,
) -> Result<ScipSummary, ExportError> {
    let reader = index.export_reader();
    let mut export = Exporter {
        reader: &reader,
        namer: Namer::new(&reader, &options.project_root),
        out,
        summary: ScipSummary::default(),
    };
    export.metadata(options)?;
    let mut after: Option<String> = None;
    loop {
        let files = reader.project_files(after.as_deref(), PAGE)?;
        let Some(last) = files.last() else { break };
        after = Some(last.path.clone());
        for file in &files {
            let Some(relative) = names::relative_to(&options.project_root, &file.path) else {
                export.summary.outside_root += 1;
                continue;
            };
            let document = export.document(file, relative)?;
            export.summary.documents += 1;
            export.summary.occurrences += document.occurrences.len() as u64;
            export.summary.symbols += document.symbols.len() as u64;
            export.field(2, &document)?;
        }
    }
    reader.external_symbols(|id| -> Result<(), ExportError> {
        let Name::Global(name) = export.namer.name(id)? else {
            return Ok(());
        };
        let information = export.information(id, format!("{PREFIX}{name}"), "CPP", false)?;
        export.summary.external_symbols += 1;
        export.field(3, &information)
    })?;
    export.out.flush().map_err(ExportError::Write)?;
    Ok(export.summary)
}

struct Exporter<'r, 'o> {
    reader: &'r ExportReader<'r>,
    namer: Namer<'r>,
    out: &'o mut dyn Write,
    summary: ScipSummary,
}

/// An occurrence before its symbol is named (locals are numbered in
/// document order, so naming waits until the occurrences are sorted).
struct Pending {
    range: Vec<i32>,
    symbol: SymbolId,
    roles: i32,
    enclosing: Vec<i32>,
    describes: bool,
}

impl Exporter<'_, '_> {
    /// Field `field` of `Index` holding `message`, as one length-delimited
    /// record.
    fn field(&mut self, field: u32, message: &impl Message) -> Result<(), ExportError> {
        let body = message
            .write_to_bytes()
            .map_err(|e| ExportError::Write(std::io::Error::other(e)))?;
        let mut head = Vec::with_capacity(16);
        varint(&mut head, u64::from(field << 3 | 2));
        varint(&mut head, body.len() as u64);
        self.out.write_all(&head).map_err(ExportError::Write)?;
        self.out.write_all(&body).map_err(ExportError::Write)?;
        self.summary.bytes += (head.len() + body.len()) as u64;
        Ok(())
    }

    fn metadata(&mut self, options: &ScipOptions) -> Result<(), ExportError> {
        let metadata = Metadata {
            version: EnumOrUnknown::new(ProtocolVersion::UnspecifiedProtocolVersion),
            tool_info: MessageField::some(ToolInfo {
                name: "indexer".to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                arguments: options.arguments.clone(),
                ..Default::default()
            }),
            project_root: file_uri(&options.project_root),
            text_document_encoding: EnumOrUnknown::new(TextEncoding::UTF8),
            ..Default::default()
        };
        self.field(1, &metadata)
    }

    fn document(&mut self, file: &ExportFile, relative: &str) -> Result<Document, ExportError> {
        // The text gives each name's token its length; a file that changed
        // since it was indexed would give wrong ones.
        let text = std::fs::read(&file.path)
            .ok()
            .filter(|text| crate::fingerprint::hash_bytes(text) == file.hash);
        if text.is_none() {
            self.summary.stale += 1;
        }
        let lines: Vec<&[u8]> = text
            .as_deref()
            .map(|t| t.split(|&b| b == b'\n').collect())
            .unwrap_or_default();

        let mut pending = Vec::new();
        for decl in self.reader.decls(file)? {
            let len = self.token_len(&lines, decl.line, decl.col, decl.symbol)?;
            pending.push(Pending {
                range: range(decl.line, decl.col, decl.line, decl.col + len),
                symbol: decl.symbol,
                roles: if decl.is_definition {
                    SymbolRole::Definition as i32
                } else {
                    SymbolRole::ForwardDefinition as i32
                },
                enclosing: enclosing(&decl),
                describes: decl.describes,
            });
        }
        for reference in self.reader.refs(file)? {
            if reference.roles & role::DEFINITION != 0 {
                continue;
            }
            let len = self.token_len(&lines, reference.line, reference.col, reference.symbol)?;
            let mut roles = 0;
            if reference.roles & role::READ != 0 {
                roles |= SymbolRole::ReadAccess as i32;
            }
            if reference.roles & role::WRITE != 0 {
                roles |= SymbolRole::WriteAccess as i32;
            }
            pending.push(Pending {
                range: range(
                    reference.line,
                    reference.col,
                    reference.line,
                    reference.col + len,
                ),
                symbol: reference.symbol,
                roles,
                enclosing: Vec::new(),
                describes: false,
            });
        }
        pending.sort_by(|a, b| {
            (&a.range, a.symbol, a.roles, !a.describes).cmp(&(
                &b.range,
                b.symbol,
                b.roles,
                !b.describes,
            ))
        });
        pending.dedup_by(|b, a| a.range == b.range && a.symbol == b.symbol && a.roles == b.roles);

        let language = language(relative);
        let mut locals: HashMap<SymbolId, String> = HashMap::new();
        let mut occurrences = Vec::with_capacity(pending.len());
        let mut symbols = Vec::new();
        for p in pending {
            let symbol = match self.namer.name(p.symbol)? {
                Name::Global(name) => format!("{PREFIX}{name}"),
                Name::Local => {
                    let next = locals.len();
                    locals
                        .entry(p.symbol)
                        .or_insert_with(|| format!("local {next}"))
                        .clone()
                }
            };
            if p.describes {
                let local = symbol.starts_with("local ");
                symbols.push(self.information(p.symbol, symbol.clone(), language, local)?);
            }
            occurrences.push(Occurrence {
                range: p.range,
                symbol,
                symbol_roles: p.roles,
                enclosing_range: p.enclosing,
                ..Default::default()
            });
        }
        Ok(Document {
            language: language.to_owned(),
            relative_path: relative.to_owned(),
            occurrences,
            symbols,
            position_encoding: EnumOrUnknown::new(
                PositionEncoding::UTF8CodeUnitOffsetFromLineStart,
            ),
            ..Default::default()
        })
    }

    /// The length in bytes of the name's token at `line`:`col` (1-based):
    /// an identifier (with the `~` of a destructor), else one character.
    /// Without the text, the symbol's name's length when it is an
    /// identifier.
    fn token_len(
        &mut self,
        lines: &[&[u8]],
        line: u32,
        col: u32,
        symbol: SymbolId,
    ) -> Result<u32, QueryError> {
        let at = lines
            .get(line as usize - 1)
            .and_then(|text| text.get(col as usize - 1..));
        let Some(rest) = at else {
            let name = self.reader.symbol(symbol)?.name;
            let identifier = name
                .trim_start_matches('~')
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
            return Ok(if identifier && !name.is_empty() {
                name.len() as u32
            } else {
                1
            });
        };
        let skip = usize::from(rest.first() == Some(&b'~'));
        let word = rest[skip..]
            .iter()
            .take_while(|&&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80)
            .count();
        Ok(if word == 0 { 1 } else { (skip + word) as u32 })
    }

    /// The symbol information of `id`, named `symbol`, for a document in
    /// `language`; `local` when the symbol is local to that document.
    fn information(
        &mut self,
        id: SymbolId,
        symbol: String,
        language: &str,
        local: bool,
    ) -> Result<SymbolInformation, ExportError> {
        let row = self.reader.symbol(id)?;
        let mut relationships = Vec::new();
        if matches!(
            row.kind.as_str(),
            "class"
                | "struct"
                | "union"
                | "class_template"
                | "class_template_partial_specialization"
        ) {
            for base in self.reader.bases(id)? {
                if let Name::Global(name) = self.namer.name(base)? {
                    relationships.push(Relationship {
                        symbol: format!("{PREFIX}{name}"),
                        is_implementation: true,
                        ..Default::default()
                    });
                }
            }
        }
        if is_function_kind(row.kind) {
            for method in self.reader.overridden(id)? {
                if let Name::Global(name) = self.namer.name(method)? {
                    relationships.push(Relationship {
                        symbol: format!("{PREFIX}{name}"),
                        is_implementation: true,
                        is_reference: true,
                        ..Default::default()
                    });
                }
            }
        }
        relationships.sort_by(|a, b| a.symbol.cmp(&b.symbol));
        let mut enclosing_symbol = String::new();
        if local {
            if let Some(container) = self.reader.placement(id)?.and_then(|p| p.container) {
                if let Name::Global(name) = self.namer.name(container)? {
                    enclosing_symbol = format!("{PREFIX}{name}");
                }
            }
        }
        Ok(SymbolInformation {
            symbol,
            relationships,
            kind: EnumOrUnknown::new(kind(row.kind)),
            display_name: row.name.clone(),
            signature_documentation: MessageField::some(Signature {
                language: language.to_owned(),
                text: signature(&row),
                ..Default::default()
            }),
            enclosing_symbol,
            ..Default::default()
        })
    }
}

/// A SCIP range: `[line, start, end]` on one line, else
/// `[line, start, end_line, end]`, 0-based.
fn range(line: u32, col: u32, end_line: u32, end_col: u32) -> Vec<i32> {
    let [line, col, end_line, end_col] = [line, col, end_line, end_col].map(|n| n as i32 - 1);
    if line == end_line {
        vec![line, col, end_col]
    } else {
        vec![line, col, end_line, end_col]
    }
}

/// A definition's extent, as its enclosing range.
fn enclosing(decl: &ExportDecl) -> Vec<i32> {
    if decl.is_definition && (decl.end_line, decl.end_col) > (decl.line, decl.col) {
        range(decl.line, decl.col, decl.end_line, decl.end_col)
    } else {
        Vec::new()
    }
}

/// SCIP's language name (its `Language` enum) for a file, by extension.
fn language(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("c") => "C",
        Some("m") => "Objective_C",
        Some("mm") => "Objective_CPP",
        Some("cu" | "cuh") => "CUDA",
        _ => "CPP",
    }
}

/// The SCIP kind of an index kind.
fn kind(kind: SymbolKind) -> Kind {
    match kind {
        SymbolKind::Namespace | SymbolKind::NamespaceAlias => Kind::Namespace,
        SymbolKind::Class
        | SymbolKind::ClassTemplate
        | SymbolKind::ClassTemplatePartialSpecialization => Kind::Class,
        SymbolKind::Struct => Kind::Struct,
        SymbolKind::Union => Kind::Union,
        SymbolKind::Enum => Kind::Enum,
        SymbolKind::EnumConstant => Kind::EnumMember,
        SymbolKind::Function | SymbolKind::FunctionTemplate | SymbolKind::Lambda => Kind::Function,
        SymbolKind::Method | SymbolKind::Destructor | SymbolKind::ConversionFunction => {
            Kind::Method
        }
        SymbolKind::Constructor => Kind::Constructor,
        SymbolKind::Field => Kind::Field,
        SymbolKind::Variable => Kind::Variable,
        SymbolKind::Parameter => Kind::Parameter,
        SymbolKind::Typedef | SymbolKind::TypeAlias => Kind::TypeAlias,
        SymbolKind::Macro => Kind::Macro,
        SymbolKind::Protocol => Kind::Protocol,
        SymbolKind::Category => Kind::Extension,
        SymbolKind::Property => Kind::Property,
        SymbolKind::Using | SymbolKind::Other => Kind::UnspecifiedKind,
    }
}

/// A symbol's signature for people, from its stored type: `int
/// count(const zoo::Animal &)`, `int zoo::Animal::eaten_`, `class
/// zoo::Animal`, a macro's definition.
fn signature(symbol: &ExportSymbol) -> String {
    let ExportSymbol {
        name,
        qualified_name,
        kind,
        type_spelling,
        ..
    } = symbol;
    match kind {
        SymbolKind::Macro if !type_spelling.is_empty() => type_spelling.clone(),
        SymbolKind::Macro => format!("#define {name}"),
        k if is_function_kind(*k) => match type_spelling.find('(') {
            Some(at) => {
                let (result, parameters) = type_spelling.split_at(at);
                let result = result.trim_end();
                if result.is_empty()
                    || matches!(k, SymbolKind::Constructor | SymbolKind::Destructor)
                {
                    format!("{qualified_name}{parameters}")
                } else {
                    format!("{result} {qualified_name}{parameters}")
                }
            }
            None => qualified_name.clone(),
        },
        SymbolKind::Namespace => format!("namespace {qualified_name}"),
        // Its type is its enum's, which an anonymous enum spells with its
        // file and place: the name says as much.
        SymbolKind::EnumConstant => qualified_name.clone(),
        SymbolKind::Class | SymbolKind::Struct | SymbolKind::Union | SymbolKind::Enum => {
            format!("{kind} {qualified_name}")
        }
        SymbolKind::ClassTemplate | SymbolKind::ClassTemplatePartialSpecialization => {
            format!("template class {qualified_name}")
        }
        SymbolKind::Typedef | SymbolKind::TypeAlias if !type_spelling.is_empty() => {
            format!("using {qualified_name} = {type_spelling}")
        }
        _ if !type_spelling.is_empty() => format!("{type_spelling} {qualified_name}"),
        _ => qualified_name.clone(),
    }
}

/// `file://` and the path, percent-encoded but for `/` and unreserved
/// characters.
fn file_uri(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut uri = String::from("file://");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~') {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri
}

/// Appends `value` as a protobuf varint.
fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_protobufs() {
        let mut out = Vec::new();
        for value in [0, 1, 127, 128, 300, u64::from(u32::MAX)] {
            out.clear();
            varint(&mut out, value);
            let mut input = protobuf::CodedInputStream::from_bytes(&out);
            assert_eq!(input.read_raw_varint64().unwrap(), value);
            assert!(input.eof().unwrap());
        }
    }

    #[test]
    fn ranges_on_one_line_have_three_elements() {
        assert_eq!(range(3, 9, 3, 17), [2, 8, 16]);
        assert_eq!(range(5, 14, 7, 2), [4, 13, 6, 1]);
    }

    #[test]
    fn signatures_read_like_declarations() {
        let symbol = |kind: &str, type_spelling: &str| ExportSymbol {
            usr: String::new(),
            name: "count".into(),
            qualified_name: "zoo::count".into(),
            kind: SymbolKind::parse(kind).unwrap(),
            type_spelling: type_spelling.into(),
        };
        assert_eq!(
            signature(&symbol("function", "int (const zoo::Animal &)")),
            "int zoo::count(const zoo::Animal &)"
        );
        assert_eq!(
            signature(&symbol("constructor", "void (double)")),
            "zoo::count(double)"
        );
        assert_eq!(signature(&symbol("field", "int")), "int zoo::count");
        assert_eq!(
            signature(&symbol("class", "zoo::count")),
            "class zoo::count"
        );
        assert_eq!(
            signature(&symbol("macro", "#define count 4")),
            "#define count 4"
        );
    }

    #[test]
    fn project_roots_are_uris() {
        assert_eq!(
            file_uri(Path::new("/src/my project")),
            "file:///src/my%20project"
        );
    }
}
