//! Reads a SCIP index back with the `scip` crate and checks what
//! docs/benchmarks.md reports of `indexer export scip`: every global
//! symbol follows SCIP's grammar (it parses and formats back unchanged),
//! every occurrence's symbol has symbol information in some document or
//! among the external symbols, and which documents are the largest.
//!
//! `cargo run --release --example scip_check -- OUT.scip`

use std::collections::HashSet;

use protobuf::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: scip_check OUT.scip")?;
    let index = scip::types::Index::parse_from_bytes(&std::fs::read(&path)?)?;
    let mut described: HashSet<&str> = index
        .external_symbols
        .iter()
        .map(|s| s.symbol.as_str())
        .collect();
    described.extend(
        index
            .documents
            .iter()
            .flat_map(|d| d.symbols.iter().map(|s| s.symbol.as_str())),
    );
    let (mut checked, mut malformed, mut undescribed) = (0u64, 0u64, 0u64);
    for document in &index.documents {
        for occurrence in &document.occurrences {
            let symbol = occurrence.symbol.as_str();
            if symbol.starts_with("local ") {
                continue;
            }
            checked += 1;
            let formatted = scip::symbol::parse_symbol(symbol).map(scip::symbol::format_symbol);
            if formatted.as_deref() != Ok(symbol) {
                malformed += 1;
                eprintln!("malformed: {symbol}");
            }
            if !described.contains(symbol) {
                undescribed += 1;
                eprintln!("no information: {symbol}");
            }
        }
    }
    let mut sizes: Vec<(usize, &str)> = index
        .documents
        .iter()
        .map(|d| (d.occurrences.len(), d.relative_path.as_str()))
        .collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    println!(
        "{} documents, {checked} global symbol occurrences: {malformed} malformed, {undescribed} without information",
        index.documents.len()
    );
    for (occurrences, path) in sizes.iter().take(3) {
        println!("  {occurrences} occurrences in {path}");
    }
    if malformed + undescribed > 0 {
        return Err("the index has malformed or undescribed symbols".into());
    }
    Ok(())
}
