//! `indexer`: builds a semantic index of a C/C++ code base and keeps it fresh.
//!
//! See `docs/ARCHITECTURE.md` for the bird's-eye view.

mod discover;
mod protocol;
mod worker;

fn main() {
    println!("indexer: under construction");
}
