//! Documentation comments, read from a file's text around a declaration's
//! extent.
//!
//! libclang's comment API (`clang_Cursor_getRawCommentText`) answers for
//! the whole redeclaration chain and caches the first comment it finds for
//! it, so the comment a declaration gets depends on which redeclarations
//! the unit saw and in what order: the same header would be stored with
//! different comments depending on which unit emitted it. The text is the
//! same for every unit, so the comment is read from it instead, with the
//! rules of Doxygen's (and clang's) usual forms:
//!
//! - directly above the declaration or its template header (no blank
//!   line): consecutive `///` or `//!` lines, or one `/** ... */` or
//!   `/*! ... */` block;
//! - else after it on the same line: `///<`, `//!<`, `/**< ... */` or
//!   `/*!< ... */` (after an optional `,` or `;`).
//!
//! *Invariant:* a pure function of the text and the extent's offsets; no
//! libclang.

/// Longer comments are cut at a character boundary and end with `…`.
pub(crate) const MAX_DOC_BYTES: usize = 4096;

/// The documentation comment of a declaration whose extent starts at byte
/// `start` and ends at byte `end` of `text`, without its comment markers.
pub(crate) fn doc_comment(text: &[u8], start: usize, end: Option<usize>) -> Option<String> {
    let raw = leading(text, start).or_else(|| end.and_then(|end| trailing(text, end)))?;
    let doc = clean(&String::from_utf8_lossy(raw));
    (!doc.is_empty()).then(|| cut(doc))
}

/// The comment directly above `start`, as written.
fn leading(text: &[u8], start: usize) -> Option<&[u8]> {
    let start = start.min(text.len());
    // The declaration must begin its line, or follow its template header
    // there (libclang's extent of a template starts after the header).
    let mut line_start = line_start(text, start);
    let before = trim(&text[line_start..start]);
    if !before.is_empty() && !is_template_header(before) {
        return None;
    }
    // A template header on lines of its own comes between the comment and
    // the declaration.
    while line_start > 0 {
        let begin = line_start_of(text, line_start - 1);
        if !is_template_header(trim(&text[begin..line_start - 1])) {
            break;
        }
        line_start = begin;
    }
    if line_start == 0 {
        return None;
    }
    // The line above, and the lines above it while they are doc lines.
    let mut first = None;
    let mut above = line_start;
    while above > 0 {
        let begin = line_start_of(text, above - 1);
        let line = trim(&text[begin..above - 1]);
        if is_doc_line(line) {
            first = Some(begin);
            above = begin;
        } else {
            break;
        }
    }
    if let Some(first) = first {
        return Some(&text[first..line_start - 1]);
    }
    // A block comment ending on the line above.
    let begin = line_start_of(text, line_start - 1);
    let line = trim(&text[begin..line_start - 1]);
    if !line.ends_with(b"*/") {
        return None;
    }
    let close = begin + find_last(&text[begin..line_start], b"*/")?;
    let open = find_last(&text[..close], b"/*")?;
    let block = &text[open..close + 2];
    let opener_line = line_start_of(text, open);
    let before = &text[opener_line..open];
    let is_doc = (block.starts_with(b"/**") && !block.starts_with(b"/***") && block != b"/**/")
        || block.starts_with(b"/*!");
    let alone = before.iter().all(|b| *b == b' ' || *b == b'\t');
    (is_doc && alone && !block.starts_with(b"/**<") && !block.starts_with(b"/*!<")).then_some(block)
}

/// A trailing `///<`-style comment after `end` on the same line.
fn trailing(text: &[u8], end: usize) -> Option<&[u8]> {
    let mut at = end.min(text.len());
    let skip_blanks = |at: &mut usize| {
        while *at < text.len() && (text[*at] == b' ' || text[*at] == b'\t') {
            *at += 1;
        }
    };
    skip_blanks(&mut at);
    if at < text.len() && (text[at] == b',' || text[at] == b';') {
        at += 1;
        skip_blanks(&mut at);
    }
    let rest = &text[at..];
    if rest.starts_with(b"///<") || rest.starts_with(b"//!<") {
        let len = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
        return Some(&rest[..len]);
    }
    if rest.starts_with(b"/**<") || rest.starts_with(b"/*!<") {
        let close = find_first(rest, b"*/")?;
        return Some(&rest[..close + 2]);
    }
    None
}

/// Whether a (trimmed) line starts with a template header.
fn is_template_header(line: &[u8]) -> bool {
    line.strip_prefix(b"template")
        .is_some_and(|rest| matches!(rest.first(), Some(b' ' | b'\t' | b'<')))
}

/// A `///` or `//!` line (not a `////` rule), or a `///<` one.
fn is_doc_line(line: &[u8]) -> bool {
    (line.starts_with(b"///") && !line.starts_with(b"////") || line.starts_with(b"//!"))
        && !line.starts_with(b"///<")
        && !line.starts_with(b"//!<")
}

/// The comment's text without its markers: `///`, `//!`, `/**`, `*/`, a
/// leading `*` on each line of a block, `<` of a trailing comment, and the
/// indentation the lines share.
fn clean(raw: &str) -> String {
    let mut body = raw.trim();
    let block = body.starts_with("/*");
    if block {
        body = body.trim_start_matches("/*");
        body = body
            .strip_prefix('*')
            .or_else(|| body.strip_prefix('!'))
            .unwrap_or(body);
        body = body.strip_prefix('<').unwrap_or(body);
        body = body.strip_suffix("*/").unwrap_or(body);
    }
    let lines: Vec<&str> = body
        .lines()
        .map(|line| {
            let line = line.trim_start();
            let line = if block {
                match line.strip_prefix('*') {
                    Some(rest) if !rest.starts_with('/') => rest,
                    _ => line,
                }
            } else {
                let line = line
                    .strip_prefix("///")
                    .or_else(|| line.strip_prefix("//!"))
                    .unwrap_or(line);
                line.strip_prefix('<').unwrap_or(line)
            };
            line.trim_end()
        })
        .collect();
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let lines: Vec<&str> = lines
        .iter()
        .map(|l| l.get(indent..).unwrap_or(""))
        .collect();
    lines.join("\n").trim_matches('\n').to_string()
}

fn cut(mut doc: String) -> String {
    if doc.len() > MAX_DOC_BYTES {
        let mut at = MAX_DOC_BYTES - '…'.len_utf8();
        while !doc.is_char_boundary(at) {
            at -= 1;
        }
        doc.truncate(at);
        doc.push('…');
    }
    doc
}

fn line_start(text: &[u8], at: usize) -> usize {
    text[..at]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1)
}

/// The start of the line holding byte `at`.
fn line_start_of(text: &[u8], at: usize) -> usize {
    line_start(text, at)
}

fn trim(line: &[u8]) -> &[u8] {
    let start = line
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |p| p + 1);
    &line[start..end]
}

fn find_last(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

fn find_first(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The doc comment of the declaration starting at `decl` in `text`.
    fn doc(text: &str, decl: &str) -> Option<String> {
        let start = text.find(decl).unwrap();
        doc_comment(text.as_bytes(), start, Some(start + decl.len()))
    }

    #[test]
    fn line_comments_above() {
        let text = "int a;\n/// Adds.\n///   Twice.\nint add();\n";
        assert_eq!(doc(text, "int add()").as_deref(), Some("Adds.\n  Twice."));
        let text = "  //! Inner.\n  void f();\n";
        assert_eq!(doc(text, "void f()").as_deref(), Some("Inner."));
    }

    #[test]
    fn block_comments_above() {
        let text = "/**\n * Area of the shape.\n *\n * In square units.\n */\ndouble area();\n";
        assert_eq!(
            doc(text, "double area()").as_deref(),
            Some("Area of the shape.\n\nIn square units.")
        );
        assert_eq!(
            doc("/*! One line. */\nint x;\n", "int x").as_deref(),
            Some("One line.")
        );
    }

    #[test]
    fn a_template_header_comes_between_comment_and_declaration() {
        let text = "/// Identity.\ntemplate <class T>\nT id(T x);\n";
        assert_eq!(doc(text, "T id").as_deref(), Some("Identity."));
        let text = "/** A pair. */\ntemplate <class A> struct Pair;\n";
        assert_eq!(doc(text, "struct Pair").as_deref(), Some("A pair."));
        assert_eq!(doc("int x; struct P;\n", "struct P"), None);
        assert_eq!(doc("/// a\ntemplated x; int y;\n", "int y"), None);
    }

    #[test]
    fn ordinary_comments_rules_and_gaps_are_not_documentation() {
        assert_eq!(doc("// plain\nint x;\n", "int x"), None);
        assert_eq!(doc("/* plain */\nint x;\n", "int x"), None);
        assert_eq!(doc("////////\nint x;\n", "int x"), None);
        assert_eq!(doc("/// far\n\nint x;\n", "int x"), None);
        assert_eq!(doc("int y; /** z */\nint x;\n", "int x"), None);
        assert_eq!(doc("/// a\nint y; int x;\n", "int x"), None);
        assert_eq!(doc("int x;\n", "int x"), None);
    }

    #[test]
    fn trailing_comments() {
        assert_eq!(
            doc("enum E {\n  Red, ///< The red one.\n  Blue\n};\n", "Red").as_deref(),
            Some("The red one.")
        );
        assert_eq!(
            doc("int count; /**< How many. */\n", "int count").as_deref(),
            Some("How many.")
        );
        // A trailing comment belongs to what precedes it, not what follows.
        assert_eq!(doc("int a; ///< A.\nint b;\n", "int b"), None);
    }

    #[test]
    fn long_comments_are_cut_at_a_character_boundary() {
        let text = format!("/// {}\nint x;\n", "é".repeat(MAX_DOC_BYTES));
        let doc = doc(&text, "int x").unwrap();
        assert!(
            doc.len() <= MAX_DOC_BYTES && doc.ends_with('…'),
            "{}",
            doc.len()
        );
    }
}
