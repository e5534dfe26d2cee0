//! Memory figures from `/proc`, and sizes as users write them.
//!
//! A worker's memory is measured as resident minus shared pages: libclang's
//! code is mapped by every worker, and counting it once per worker would
//! make every limit meaningless. Address-space limits (RLIMIT_AS) are not
//! an option because libclang reserves large virtual ranges it never
//! touches; limits are enforced by sampling and killing.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

/// Bytes per page, read once.
fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 {
        size as u64
    } else {
        4096
    }
}

/// A process's memory, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Rss {
    pub resident: u64,
    pub shared: u64,
}

impl Rss {
    /// What the process owns: resident pages not shared with others.
    pub(crate) fn owned(&self) -> u64 {
        self.resident.saturating_sub(self.shared)
    }
}

/// An open `/proc/PID/statm`, re-read on every sample: opening the file
/// costs more than reading it, and sampling runs every few tens of ms.
pub(crate) struct Statm {
    file: File,
    buf: String,
    page: u64,
}

impl Statm {
    pub(crate) fn open(pid: u32) -> std::io::Result<Statm> {
        Ok(Statm {
            file: File::open(format!("/proc/{pid}/statm"))?,
            buf: String::with_capacity(64),
            page: page_size(),
        })
    }

    /// `None` once the process is gone.
    pub(crate) fn sample(&mut self) -> Option<Rss> {
        self.buf.clear();
        self.file.seek(SeekFrom::Start(0)).ok()?;
        self.file.read_to_string(&mut self.buf).ok()?;
        let mut fields = self
            .buf
            .split_ascii_whitespace()
            .skip(1)
            .map(|f| f.parse::<u64>().ok());
        let resident = fields.next()??;
        let shared = fields.next()??;
        Some(Rss {
            resident: resident * self.page,
            shared: shared * self.page,
        })
    }
}

/// Returns freed heap pages to the system, so that resident memory is what
/// is really in use. Rust allocations go through mimalloc, libclang's and
/// SQLite's through glibc's malloc: both are trimmed.
pub(crate) fn release_free_memory() {
    // SAFETY: both calls only walk their allocator's own structures.
    unsafe {
        libc::malloc_trim(0);
        libmimalloc_sys::mi_collect(true);
    }
}

/// This process's peak resident set (`VmHWM`), in bytes.
pub(crate) fn own_peak_rss() -> u64 {
    status_field("/proc/self/status", "VmHWM:").unwrap_or(0)
}

/// Physical memory of the machine, in bytes.
pub(crate) fn physical_memory() -> u64 {
    status_field("/proc/meminfo", "MemTotal:").unwrap_or(8 << 30)
}

/// Reads a `Name:   1234 kB` line.
fn status_field(path: &str, name: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kb: u64 = line[name.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Parses `1500M`, `2G`, `2GiB`, `512k` or a plain byte count.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (try 1500M or 2G)"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(format!("`{text}` has an unknown unit (use K, M or G)")),
    };
    Ok((number * scale as f64) as u64)
}

/// Renders bytes for people: `1.5 GiB`, `320 MiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value >= 10.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The least memory a worker limit or budget may be. A worker owns about
/// 13 MiB (resident minus shared) once libclang is loaded and a small unit
/// parsed (measured 2026-12-05 on testdata/demo, `worker_peak_rss_bytes`);
/// a limit below this kills every worker before it indexes anything.
pub(crate) const MIN_WORKER_MEMORY: u64 = 32 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_binary_units() {
        assert_eq!(parse_size("1500M").unwrap(), 1500 << 20);
        assert_eq!(parse_size("2G").unwrap(), 2 << 30);
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_size("1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3X").is_err());
    }

    #[test]
    fn sizes_render_for_people() {
        assert_eq!(human(2 << 30), "2.0 GiB");
        assert_eq!(human(320 << 20), "320 MiB");
    }

    #[test]
    fn own_memory_is_sampled() {
        let rss = Statm::open(std::process::id()).unwrap().sample().unwrap();
        assert!(rss.resident > 0 && rss.owned() <= rss.resident);
        assert!(own_peak_rss() >= rss.resident / 2);
    }
}
