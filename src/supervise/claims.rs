//! Header claims: which unit emits each header in this build.

use std::collections::HashMap;

use crate::index::HeaderLookup;
use crate::protocol::{SeenFile, UnitId};

/// Which unit emits each header in this build. Keys are xxh3 hashes of
/// paths (a collision would make one header skipped: 1 in 2^64 per pair);
/// the value is the claiming unit, `FRESH` for a header whose rows in the
/// index are already current, or `MAIN_FILE` for a file that some unit of
/// the project compiles (that unit emits it). Main files are not recorded
/// otherwise, so the map grows with the distinct headers, not with the
/// units: about 24 bytes per header.
pub(super) struct Claims {
    pub(super) owners: HashMap<u64, UnitId>,
    /// Looks up what the index holds, to leave current headers alone.
    pub(super) index: HeaderLookup,
    pub(super) full: bool,
}

const FRESH: UnitId = UnitId::MAX;
const MAIN_FILE: UnitId = UnitId::MAX - 1;

impl Claims {
    /// Which of `files` the unit emits. Headers whose bodies its worker
    /// skipped are neither granted nor claimed: a later unit parsing them in
    /// full will be. (If none does, refresh notices that the header was
    /// never emitted and indexes its includers again.)
    pub(super) fn decide(
        &mut self,
        unit: UnitId,
        files: &[SeenFile],
        bodies_skipped: &[u32],
        index_system_headers: bool,
    ) -> Vec<bool> {
        files
            .iter()
            .enumerate()
            .map(|(i, file)| {
                if i == 0 {
                    // A unit always emits its own main file.
                    return true;
                }
                if file.system && !index_system_headers {
                    return false;
                }
                let key = crate::fingerprint::path_key(&file.path);
                if self.owners.contains_key(&key) {
                    return false;
                }
                if self.is_main_file(file) {
                    self.owners.insert(key, MAIN_FILE);
                    return false;
                }
                let current = !self.full && self.is_current(file);
                if !current && bodies_skipped.contains(&(i as u32)) {
                    return false;
                }
                let owner = if current { FRESH } else { unit };
                self.owners.insert(key, owner);
                owner == unit
            })
            .collect()
    }

    /// Whether some unit of this build emits `path`, a header, or the index
    /// already holds its rows: not a main file, not left to a later unit.
    pub(super) fn is_emitted(&self, path: &str) -> bool {
        self.owners
            .get(&crate::fingerprint::path_key(path))
            .is_some_and(|&owner| owner != MAIN_FILE)
    }

    /// Whether some unit of the project compiles `file` (a `.cc` included
    /// by another unit, say): then that unit emits it, as its main file.
    /// Should the index not answer, the file counts as a header: this unit
    /// emits it, and the unit that compiles it replaces those rows with
    /// its own, so the index is right, only written twice.
    fn is_main_file(&self, file: &SeenFile) -> bool {
        self.index.is_main_file(&file.path).unwrap_or(false)
    }

    /// Whether the index already holds rows for exactly this content.
    /// Should the index not answer, the header is emitted again: right,
    /// only slower.
    fn is_current(&self, file: &SeenFile) -> bool {
        self.index
            .is_current(&file.path, file.hash)
            .unwrap_or(false)
    }

    /// Frees the headers a unit claimed, when its worker died before its
    /// results reached the writer: another unit may emit them.
    pub(super) fn release(&mut self, unit: UnitId) {
        self.owners.retain(|_, owner| *owner != unit);
    }
}
