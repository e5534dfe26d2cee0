//! `indexer`: the command line over the `indexer` library. This file only
//! wires the program together; see `docs/ARCHITECTURE.md`.

mod cli;
mod mcp;

// The supervisor's allocations are many and small (paths, frames in
// flight); mimalloc keeps them compact and returns memory promptly.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // mimalloc asks for transparent huge pages, which makes resident memory
    // move in 2 MiB steps: the supervisor would hold ~9 MiB it never uses,
    // and the RSS that worker limits and `--json` report would overstate
    // what is really used. Workers inherit the setting.
    // SAFETY: prctl with integer arguments only.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    std::process::exit(cli::main());
}
