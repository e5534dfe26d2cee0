//! `indexer`: builds a semantic index of a C/C++ code base and keeps it
//! fresh. See `docs/ARCHITECTURE.md` for the bird's-eye view; this file only
//! wires the modules together.

mod cli;
mod discover;
mod memory;
mod plan;
mod progress;
mod protocol;
mod query;
mod refresh;
mod store;
mod supervise;
mod toolchain;
mod worker;

// The supervisor's allocations are many and small (paths, frames in
// flight); mimalloc keeps them compact and returns memory promptly.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(cli::main());
}
