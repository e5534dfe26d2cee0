//! A file's fingerprint, as the index records it and the refresh compares
//! it: modification time in nanoseconds, the xxh3-64 of the content, and
//! the key of a path. The worker computes it of what libclang parsed, the
//! refresh of the disk; both use these functions, so the two agree.

use std::io::Read;
use std::path::Path;

/// Modification time in nanoseconds since the epoch.
pub(crate) fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    use std::os::unix::fs::MetadataExt;
    meta.mtime() * 1_000_000_000 + meta.mtime_nsec()
}

/// [`mtime_ns`] of the file at `path`; `None` if there is no such file.
pub(crate) fn modified_ns(path: impl AsRef<Path>) -> Option<i64> {
    std::fs::metadata(path).ok().map(|meta| mtime_ns(&meta))
}

/// The content hash of `bytes`.
pub(crate) fn hash_bytes(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// The key of a path in the maps that hold one entry per file (header
/// claims, headers a worker parsed): 8 bytes instead of the path.
pub(crate) fn path_key(path: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(path.as_bytes())
}

/// [`hash_bytes`] of a regular file's content, streamed so a huge file costs no
/// memory; `None` if it cannot be read or is not a regular file.
pub(crate) fn hash_file(path: &Path) -> Option<u64> {
    use std::os::unix::fs::OpenOptionsExt;
    // Non-blocking, so that a file replaced by a FIFO between the `stat`
    // and this open cannot block the supervisor; checked again on the
    // opened file.
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    if crate::discover::not_regular(&file.metadata().ok()?).is_some() {
        return None;
    }
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Some(hasher.digest()),
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streamed_hash_is_the_hash_of_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.h");
        let text: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &text).unwrap();
        assert_eq!(hash_file(&path), Some(hash_bytes(&text)));
        assert_eq!(
            modified_ns(&path),
            Some(mtime_ns(&std::fs::metadata(&path).unwrap()))
        );
    }
}
