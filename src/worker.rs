//! The worker process: the same binary, started by the supervisor in a
//! hidden mode (`indexer worker`).
//!
//! A worker does one unit at a time: it reads a request on stdin, parses
//! with libclang (the only process kind that loads it), asks which headers
//! it may emit, and writes the results on stdout (see `protocol`). It holds
//! nothing between units except libclang's own session, and hands freed
//! memory back to the system after each unit so that its resident size,
//! which the supervisor watches, reflects what it really uses.
//!
//! Faults can be injected for tests through `INDEXER_FAULT` (see
//! `Fault`); the variable is read once and is inert unless set.

mod clang;
mod comments;
mod directives;
mod prelude;

use std::io::{self, BufReader, BufWriter};

use anyhow::{bail, Context, Result};

use crate::memory;
use crate::protocol::{self, Request, Response, SeenFile, PROTOCOL_VERSION};

/// Runs the worker until its stdin closes.
pub fn run() -> Result<()> {
    let mut input = BufReader::new(io::stdin().lock());
    let mut output = BufWriter::new(io::stdout().lock());
    let faults = Fault::from_env()?;

    let hello = match protocol::read_frame::<Request>(&mut input)? {
        Some(Request::Hello(hello)) => hello,
        Some(other) => bail!("expected a hello from the supervisor, got {other:?}"),
        None => return Ok(()),
    };
    if hello.version != PROTOCOL_VERSION {
        bail!(
            "the supervisor speaks protocol {} but this worker speaks {PROTOCOL_VERSION}: \
             the binary changed during the build; run the build again",
            hello.version
        );
    }
    let scope = clang::Scope {
        system_headers: hello.index_system_headers,
        locals: hello.index_locals,
    };
    let mut indexer =
        clang::Indexer::new(scope, &hello.resource_dir).context("loading libclang")?;
    protocol::write_frame(
        &mut output,
        &Response::Ready {
            version: PROTOCOL_VERSION,
            libclang: indexer.libclang_version(),
        },
    )?;

    let mut statm = memory::Statm::open(std::process::id())?;
    while let Some(request) = protocol::read_frame::<Request>(&mut input)? {
        let Request::Index(request) = request else {
            bail!("expected a unit to index, got {request:?}")
        };
        if let Some(fault) = faults.iter().find(|f| f.applies_to(&request)) {
            fault.trigger();
        }
        // The grant round-trip happens inside the parse, while libclang's
        // state for the unit is alive, so its I/O errors are carried out.
        let mut grant_error = None;
        let mut grant = |files: &[SeenFile],
                         bodies_skipped: &[u32],
                         understood: &[u32],
                         errors: bool|
         -> Vec<bool> {
            match ask_grant(
                &mut input,
                &mut output,
                &request,
                files,
                bodies_skipped,
                understood,
                errors,
            ) {
                Ok(emit) => emit,
                Err(e) => {
                    grant_error = Some(e);
                    vec![false; files.len()]
                }
            }
        };
        let response = match indexer.index(&request, &mut grant) {
            Ok(mut index) => {
                let rss = statm.sample().unwrap_or_default();
                index.worker_rss = rss.owned();
                index.worker_resident = rss.resident;
                Response::Indexed(Box::new(index))
            }
            Err(reason) => Response::Failed {
                unit: request.unit,
                // The reason crosses the wire as text.
                reason: reason.to_string(),
            },
        };
        if let Some(e) = grant_error {
            return Err(e).context("asking the supervisor which files to emit");
        }
        protocol::write_frame(&mut output, &response)?;
        drop(response);
        // Freed heap is kept for the next unit, which would otherwise fault
        // every page in again (7-9% of the CPU time of a build of a protobuf
        // sample, docs/benchmarks.md). It counts in the memory the supervisor
        // samples, so limits and the budget err on the safe side; past
        // half the soft limit it goes back to the system, so that keeping
        // it never makes the worker look big enough to be recycled.
        let keep_free_memory = statm
            .sample()
            .is_some_and(|rss| rss.owned() <= hello.retain_free_memory);
        if !keep_free_memory {
            memory::release_free_memory();
        }
    }
    Ok(())
}

fn ask_grant(
    input: &mut impl io::Read,
    output: &mut impl io::Write,
    request: &protocol::IndexRequest,
    files: &[SeenFile],
    bodies_skipped: &[u32],
    understood: &[u32],
    errors: bool,
) -> Result<Vec<bool>> {
    // libclang names the main file by its real path; the unit's row uses the
    // path the project lists. Reporting the latter keeps a project reached
    // through a symlink from getting each source twice.
    let mut files = files.to_vec();
    if let Some(main) = files.first_mut() {
        main.path.clone_from(&request.file);
    }
    let count = files.len();
    protocol::write_frame(
        output,
        &Response::Parsed {
            unit: request.unit,
            files,
            bodies_skipped: bodies_skipped.to_vec(),
            understood: understood.to_vec(),
            errors,
        },
    )?;
    match protocol::read_frame::<Request>(input)? {
        Some(Request::Grant { emit }) if emit.len() == count => Ok(emit),
        Some(other) => bail!("expected a grant for {count} files, got {other:?}"),
        None => bail!("the supervisor closed the pipe"),
    }
}

/// A fault injected for tests: `INDEXER_FAULT=crash@a.cpp,hang@b.cpp,alloc:600M@c.cpp`.
/// When the worker receives a unit whose path ends with the given file name
/// it crashes with SIGSEGV, hangs, or allocates and touches that much
/// memory (and keeps it) before indexing; `crash-with-prelude` crashes
/// only when the unit comes with a prelude.
#[derive(Debug, Clone, PartialEq)]
struct Fault {
    kind: FaultKind,
    file: String,
}

/// An `INDEXER_FAULT` that does not parse.
#[derive(Debug, thiserror::Error)]
enum FaultSpecError {
    #[error("INDEXER_FAULT item `{0}` lacks `@file`")]
    NoFile(String),
    #[error("INDEXER_FAULT kind `{0}` is not crash, crash-with-prelude, hang or alloc:SIZE")]
    Kind(String),
    #[error("{0}")]
    Size(String),
}

#[derive(Debug, Clone, PartialEq)]
enum FaultKind {
    Crash,
    CrashWithPrelude,
    Hang,
    Alloc(u64),
}

impl Fault {
    fn from_env() -> Result<Vec<Fault>> {
        match std::env::var("INDEXER_FAULT") {
            Ok(spec) => Ok(Fault::parse(&spec)?),
            Err(_) => Ok(Vec::new()),
        }
    }

    fn parse(spec: &str) -> Result<Vec<Fault>, FaultSpecError> {
        spec.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|item| {
                let (kind, file) = item
                    .split_once('@')
                    .ok_or_else(|| FaultSpecError::NoFile(item.to_owned()))?;
                let kind = match kind.trim() {
                    "crash" => FaultKind::Crash,
                    "crash-with-prelude" => FaultKind::CrashWithPrelude,
                    "hang" => FaultKind::Hang,
                    other => match other.strip_prefix("alloc:") {
                        Some(size) => FaultKind::Alloc(
                            memory::parse_size(size).map_err(FaultSpecError::Size)?,
                        ),
                        None => return Err(FaultSpecError::Kind(other.to_owned())),
                    },
                };
                Ok(Fault {
                    kind,
                    file: file.trim().to_string(),
                })
            })
            .collect()
    }

    fn applies_to(&self, request: &protocol::IndexRequest) -> bool {
        request.file.ends_with(&self.file)
            && (self.kind != FaultKind::CrashWithPrelude || request.prelude.is_some())
    }

    fn trigger(&self) {
        match self.kind {
            FaultKind::Crash | FaultKind::CrashWithPrelude => {
                // SAFETY: raising a signal in our own process. Rust's runtime
                // handles SIGSEGV (to report stack overflows) and returns
                // from a raised one; the default disposition really crashes.
                unsafe {
                    libc::signal(libc::SIGSEGV, libc::SIG_DFL);
                    libc::raise(libc::SIGSEGV);
                }
            }
            FaultKind::Hang => loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            },
            FaultKind::Alloc(bytes) => {
                // Touch every page so the memory is resident, then keep it:
                // a leak the supervisor must notice.
                let block = vec![1u8; bytes as usize];
                std::mem::forget(block);
                // Give the sampler time to see the peak before the parse.
                std::thread::sleep(std::time::Duration::from_millis(300));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_specs_parse() {
        let faults =
            Fault::parse("crash@a.cpp, hang@b.cpp,alloc:2M@c.cpp,crash-with-prelude@d.cpp")
                .unwrap();
        assert_eq!(
            faults,
            vec![
                Fault {
                    kind: FaultKind::Crash,
                    file: "a.cpp".into()
                },
                Fault {
                    kind: FaultKind::Hang,
                    file: "b.cpp".into()
                },
                Fault {
                    kind: FaultKind::Alloc(2 << 20),
                    file: "c.cpp".into()
                },
                Fault {
                    kind: FaultKind::CrashWithPrelude,
                    file: "d.cpp".into()
                },
            ]
        );
        assert!(Fault::parse("explode@a.cpp").is_err());
        assert!(Fault::parse("crash").is_err());
        assert!(Fault::parse("").unwrap().is_empty());
    }
}
