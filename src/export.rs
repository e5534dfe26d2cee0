//! Exports of the index to formats other tools read. Each reads the index
//! through [`crate::index::Index::export_reader`], one file at a time, and
//! writes as it reads, so an export's memory does not grow with the index.
//!
//! - [`scip`]: a SCIP index, named as scip-clang names C++ symbols.

pub mod scip;
