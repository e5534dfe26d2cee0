//! Header claims: which unit emits each header in this build.

use std::collections::HashMap;

use crate::index::HeaderLookup;
use crate::protocol::{SeenFile, UnitId};

/// Which unit emits each header in this build. Keys are xxh3 hashes of
/// paths (a collision would make one header skipped: 1 in 2^64 per pair);
/// the value is the claiming unit with what it understood of the header,
/// `FRESH` for a header whose rows in the index are already current, or
/// `MAIN_FILE` for a file that some unit of the project compiles (that unit
/// emits it). Main files are not recorded otherwise, so the map grows with
/// the distinct headers, not with the units: about 32 bytes per header.
pub(super) struct Claims {
    owners: HashMap<u64, Owner>,
    /// Looks up what the index holds, to leave current headers alone.
    index: HeaderLookup,
    full: bool,
}

/// The unit that emits a header, what it understood of it and whether its
/// parse had errors (`Response::Parsed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Owner {
    unit: UnitId,
    understood: u32,
    errors: bool,
}

const FRESH: Owner = Owner {
    unit: UnitId::MAX,
    understood: u32::MAX,
    errors: false,
};
const MAIN_FILE: Owner = Owner {
    unit: UnitId::MAX - 1,
    understood: u32::MAX,
    errors: false,
};

enum Claim {
    Refused,
    Granted,
    /// Granted, taken over from this earlier unit.
    TakenFrom(UnitId),
}

/// What a unit emits, and the headers it took over from earlier units,
/// which must not store them if their results are still to come.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Decision {
    pub emit: Vec<bool>,
    /// `(earlier owner, path)` of each header taken over.
    pub taken_from: Vec<(UnitId, String)>,
}

impl Claims {
    pub(super) fn new(index: HeaderLookup, full: bool) -> Claims {
        Claims {
            owners: HashMap::new(),
            index,
            full,
        }
    }

    /// Which of `files` the unit emits. Headers whose bodies its worker
    /// skipped are neither granted nor claimed: a later unit parsing them in
    /// full will be. (If none does, refresh notices that the header was
    /// never emitted and indexes its includers again.) A header claimed by
    /// an earlier unit of this build whose parse had errors is taken over by
    /// a unit that understood more of it (`understood`, per file): in code
    /// that does not compile, a unit whose parser lost its way before the
    /// header holds next to nothing of it, and which unit comes first
    /// depends on the schedule. Between units without errors the first
    /// stays: they understood a header alike, or under other macros, and
    /// taking it over would only write it again.
    pub(super) fn decide(
        &mut self,
        unit: UnitId,
        files: &[SeenFile],
        bodies_skipped: &[u32],
        understood: &[u32],
        errors: bool,
        index_system_headers: bool,
    ) -> Decision {
        let mut decision = Decision::default();
        for (i, file) in files.iter().enumerate() {
            // A unit always emits its own main file.
            let emit = i == 0
                || (!file.system || index_system_headers) && {
                    let mine = Owner {
                        unit,
                        understood: understood.get(i).copied().unwrap_or(0),
                        errors,
                    };
                    let skipped = bodies_skipped.contains(&(i as u32));
                    match self.claim(file, mine, skipped) {
                        Claim::Refused => false,
                        Claim::Granted => true,
                        Claim::TakenFrom(earlier) => {
                            decision.taken_from.push((earlier, file.path.clone()));
                            true
                        }
                    }
                };
            decision.emit.push(emit);
        }
        decision
    }

    /// Whether `mine` emits the header `file`, see [`Claims::decide`].
    fn claim(&mut self, file: &SeenFile, mine: Owner, skipped: bool) -> Claim {
        let key = crate::fingerprint::path_key(&file.path);
        if let Some(owner) = self.owners.get_mut(&key) {
            // `FRESH` and `MAIN_FILE` have no errors: never taken.
            if skipped || !owner.errors || mine.understood <= owner.understood {
                return Claim::Refused;
            }
            let earlier = std::mem::replace(owner, mine).unit;
            return Claim::TakenFrom(earlier);
        }
        if self.is_main_file(file) {
            self.owners.insert(key, MAIN_FILE);
            return Claim::Refused;
        }
        let current = !self.full && self.is_current(file);
        if !current && skipped {
            return Claim::Refused;
        }
        self.owners.insert(key, if current { FRESH } else { mine });
        if current {
            Claim::Refused
        } else {
            Claim::Granted
        }
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
        self.owners.retain(|_, owner| owner.unit != unit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{open, Access};

    fn claims() -> (tempfile::TempDir, Claims) {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("index.db"), Access::Write).unwrap();
        (dir, Claims::new(HeaderLookup::new(conn), true))
    }

    /// A unit's main file and the header `h.h`.
    fn files(main: &str) -> [SeenFile; 2] {
        [main, "/p/h.h"].map(SeenFile::project)
    }

    /// Issue 15: among units with errors, the one that understood the most
    /// of a header emits it, whichever came first; one whose bodies were
    /// skipped, or that understood no more, never takes it, nor does any
    /// unit take it from one without errors.
    #[test]
    fn a_unit_that_understood_more_of_a_header_takes_it_from_one_with_errors() {
        let (_dir, mut claims) = claims();
        // Somebody must emit it, even a unit that understood nothing of it.
        let first = claims.decide(1, &files("/p/a.cpp"), &[], &[5, 0], true, false);
        assert_eq!(first.emit, [true, true]);
        assert!(first.taken_from.is_empty());
        let more = claims.decide(2, &files("/p/b.cpp"), &[], &[5, 7], true, false);
        assert_eq!(more.emit, [true, true]);
        assert_eq!(more.taken_from, [(1, "/p/h.h".to_owned())]);
        let as_much = claims.decide(3, &files("/p/c.cpp"), &[], &[5, 7], false, false);
        assert_eq!(as_much.emit, [true, false]);
        let skipped = claims.decide(4, &files("/p/d.cpp"), &[1], &[5, 9], false, false);
        assert_eq!(skipped.emit, [true, false]);
        let clean = claims.decide(5, &files("/p/e.cpp"), &[], &[5, 8], false, false);
        assert_eq!(clean.taken_from, [(2, "/p/h.h".to_owned())]);
        assert!(claims.is_emitted("/p/h.h"));
        // Its owner had no errors: kept, however much more a unit understood.
        let most = claims.decide(6, &files("/p/f.cpp"), &[], &[5, 99], true, false);
        assert_eq!(most.emit, [true, false]);
        // Its owner's worker died: the next unit claims it afresh.
        claims.release(5);
        let after = claims.decide(7, &files("/p/g.cpp"), &[], &[5, 1], false, false);
        assert_eq!(after.emit, [true, true]);
        assert!(after.taken_from.is_empty());
    }
}
