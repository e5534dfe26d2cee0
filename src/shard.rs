//! Which units a sharded build indexes (`build --shard K/N`): a
//! deterministic share of the project's units, the same in every process
//! that is given the same inputs, so that N independent builds cover every
//! unit exactly once and `indexer merge` can combine them.
//!
//! By default a unit's shard is a stable hash of its path relative to the
//! project (so checkouts at different paths agree), modulo N. With a
//! previous index (`--plan-from OLD.db`) the shards are balanced by the
//! units' parse times there instead: units, most expensive first (ties by
//! the hash), each go to the least loaded shard (the lowest-numbered on a
//! tie). Units that index does not know count as its median unit.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::discover::normalize;
use crate::index::{self, Access, IndexError};

/// One of `count` shards, numbered from 0 (`--shard 0/4` .. `3/4`), so that
/// a Kubernetes indexed Job's `JOB_COMPLETION_INDEX` is the number as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a shard: pass K/N with 0 <= K < N, e.g. --shard 0/4 for the first of four")]
pub struct ShardError(String);

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(text: &str) -> Result<Shard, ShardError> {
        let invalid = || ShardError(text.to_owned());
        let (index, count) = text.split_once('/').ok_or_else(invalid)?;
        let index: u32 = index.trim().parse().map_err(|_| invalid())?;
        let count: u32 = count.trim().parse().map_err(|_| invalid())?;
        if count == 0 || index >= count {
            return Err(invalid());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The stable key of a unit: xxh3 of its path relative to `project`, or
/// of its absolute path when it lies outside.
pub(crate) fn unit_key(project: &Path, file: &str) -> u64 {
    let path = Path::new(file);
    let relative = path.strip_prefix(project).unwrap_or(path);
    xxhash_rust::xxh3::xxh3_64(relative.to_string_lossy().as_bytes())
}

/// The units of one shard.
#[derive(Debug)]
pub(crate) enum Assignment {
    /// By the hash of each unit's key.
    Hashed { shard: Shard, project: PathBuf },
    /// Balanced by cost: the keys of this shard's units.
    Planned {
        project: PathBuf,
        keys: FxHashSet<u64>,
    },
}

impl Assignment {
    pub(crate) fn hashed(shard: Shard, project: &Path) -> Assignment {
        Assignment::Hashed {
            shard,
            project: normalize(project),
        }
    }

    /// Balances `units` (their files, as discovery lists them) over the
    /// shards by their parse times in the index `old`.
    pub(crate) fn planned(
        shard: Shard,
        project: &Path,
        units: &[String],
        old: &Path,
    ) -> Result<Assignment, IndexError> {
        let project = &normalize(project);
        let conn = index::open(old, Access::Read)?;
        let known: FxHashMap<u64, u64> = index::unit_costs(&conn)
            .map_err(|e| IndexError::sqlite(old, e))?
            .into_iter()
            .map(|(file, ms)| (unit_key(project, &file), ms))
            .collect();
        let mut costs: Vec<u64> = known.values().copied().collect();
        costs.sort_unstable();
        let median = costs.get(costs.len() / 2).copied().unwrap_or(1);
        let mut units: Vec<(u64, u64)> = units
            .iter()
            .map(|file| {
                let key = unit_key(project, file);
                (known.get(&key).copied().unwrap_or(median), key)
            })
            .collect();
        // Most expensive first; the key breaks ties, so every process
        // agrees whatever order discovery listed the units in.
        units.sort_unstable_by(|a, b| b.cmp(a));
        units.dedup_by_key(|&mut (_, key)| key);
        let mut load = vec![0u64; shard.count as usize];
        let mut keys = FxHashSet::default();
        for (cost, key) in units {
            let (least, _) = load
                .iter()
                .enumerate()
                .min_by_key(|&(i, &l)| (l, i))
                .expect("at least one shard");
            load[least] += cost.max(1);
            if least == shard.index as usize {
                keys.insert(key);
            }
        }
        Ok(Assignment::Planned {
            project: project.to_path_buf(),
            keys,
        })
    }

    /// Whether the unit of `file` belongs to this shard.
    pub(crate) fn contains(&self, file: &str) -> bool {
        match self {
            Assignment::Hashed { shard, project } => {
                unit_key(project, file) % u64::from(shard.count) == u64::from(shard.index)
            }
            Assignment::Planned { project, keys } => keys.contains(&unit_key(project, file)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_parsed_from_zero() {
        assert_eq!("0/1".parse(), Ok(Shard { index: 0, count: 1 }));
        assert_eq!("3/4".parse(), Ok(Shard { index: 3, count: 4 }));
        for bad in ["4/4", "1/0", "-1/2", "1", "a/b", "1/2/3", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn every_unit_is_in_exactly_one_hashed_shard_wherever_the_checkout_is() {
        let files: Vec<String> = (0..200).map(|i| format!("/a/src/f{i}.cpp")).collect();
        let moved: Vec<String> = (0..200).map(|i| format!("/b/c/src/f{i}.cpp")).collect();
        for count in 1..5 {
            let shards = |root: &str| -> Vec<Assignment> {
                (0..count)
                    .map(|index| Assignment::hashed(Shard { index, count }, Path::new(root)))
                    .collect()
            };
            let (here, there) = (shards("/a"), shards("/b/c"));
            for (file, other) in files.iter().zip(&moved) {
                let owners: Vec<usize> = (0..count as usize)
                    .filter(|&k| here[k].contains(file))
                    .collect();
                assert_eq!(owners.len(), 1, "{file} in {owners:?} of {count}");
                assert!(there[owners[0]].contains(other));
            }
        }
    }
}
