//! Incremental refresh: a build re-indexes exactly the units an edit
//! affects, `--explain` says which and why, and an index refreshed through
//! any sequence of edits equals a full build of the final state.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::Value;

use crate::util::{self, Project};

const UNITS: [&str; 5] = [
    "src/u1.cpp",
    "src/u2.cpp",
    "src/u3.cpp",
    "src/u4.cpp",
    "src/u5.cpp",
];

/// Writes compile_commands.json for `units`, each with its extra flags.
fn compdb(project: &Project, units: &[(&str, &[&str])]) {
    project.compdb(units);
}

fn five_entries() -> Vec<(&'static str, &'static [&'static str])> {
    UNITS.iter().map(|u| (*u, &[][..])).collect()
}

/// testdata/refresh_five_units (shared.h included by u1, u2, u3; solo.h by
/// u4; u5 includes nothing), indexed once.
fn five_units() -> Project {
    let project = Project::from_testdata("refresh_five_units");
    compdb(&project, &five_entries());
    let summary = project.build(&["-j", "2"]);
    assert_counts(&summary, 5, 0, 0);
    project
}

/// Asserts the summary's indexed, unchanged and removed counts (and no failure).
#[track_caller]
fn assert_counts(summary: &Value, indexed: u64, unchanged: u64, removed: u64) {
    let got = [
        &summary["indexed"],
        &summary["unchanged"],
        &summary["removed"],
        &summary["failed"],
    ]
    .map(|v| v.as_u64());
    assert_eq!(
        got,
        [Some(indexed), Some(unchanged), Some(removed), Some(0)],
        "indexed, unchanged, removed, failed in {summary}"
    );
    assert_eq!(summary["status"], "complete", "{summary}");
}

fn abs(project: &Project, rel: &str) -> String {
    project.path(rel).display().to_string()
}

fn explain(project: &Project) -> String {
    let output = project.run(&["build", "--explain", "-j", "2"]);
    util::assert_success(&output);
    String::from_utf8(output.stdout).unwrap()
}

fn symbol_count(project: &Project, qualified_name: &str) -> i64 {
    project.count(&format!(
        "SELECT count(*) FROM symbols WHERE qualified_name = '{qualified_name}'"
    ))
}

/// A build with nothing changed indexes nothing and leaves the index as it was.
#[test]
fn nothing_changed_indexes_nothing() {
    let project = five_units();
    let before = util::snapshot(&project);
    let summary = project.build(&["-j", "2"]);
    assert_counts(&summary, 0, 5, 0);
    // Only the worker started in advance, while the refresh ran; it was
    // given nothing and discarded.
    assert_eq!(summary["workers_spawned"], 1, "{summary}");
    assert_eq!(summary["workers_crashed"], 0, "{summary}");
    project.assert_no_workers_survive();
    assert_eq!(util::snapshot(&project), before);
    assert_eq!(explain(&project), "0 of 5 units would be indexed\n");
}

/// Editing one source re-indexes that unit only.
#[test]
fn editing_one_source_reindexes_one_unit() {
    let project = five_units();
    util::edit(&project, "src/u2.cpp", "#include \"shared.h\"\n\nint u2(shared::Pair pair) { return pair.second; }\nint u2_more() { return 2; }\n");
    let summary = project.build(&["-j", "2"]);
    assert_counts(&summary, 1, 4, 0);
    assert_eq!(symbol_count(&project, "u2_more"), 1);
    let fields = project.column(
        "SELECT s.qualified_name || ' ' || r.line || ':' || r.col FROM refs r JOIN symbols s ON s.id = r.symbol_id
         JOIN files f ON f.id = r.file_id WHERE f.path LIKE '%/u2.cpp' AND s.kind = 'field'",
    );
    assert_eq!(fields, ["shared::Pair::second 3:41"]);
}

/// Editing a header included by 3 of the 5 units re-indexes those 3, and stores the header's new rows once.
#[test]
fn editing_a_header_reindexes_its_includers() {
    let project = five_units();
    util::edit(
        &project,
        "include/shared.h",
        "#pragma once\n\nnamespace shared {\n\nint value();\nint added();\n\nstruct Pair {\n    int first;\n    int second;\n};\n\n}  // namespace shared\n",
    );
    let header = abs(&project, "include/shared.h");
    let expected: String = ["src/u1.cpp", "src/u2.cpp", "src/u3.cpp"]
        .iter()
        .map(|u| format!("{}: {header} changed\n", abs(&project, u)))
        .chain(["3 of 5 units would be indexed\n".to_string()])
        .collect();
    assert_eq!(explain(&project), expected);
    let summary = project.build(&["-j", "2"]);
    assert_counts(&summary, 3, 2, 0);
    assert_eq!(
        project.count("SELECT count(*) FROM decls d JOIN symbols s ON s.id = d.symbol_id WHERE s.qualified_name = 'shared::added'"),
        1
    );
    // Pair moved down a line; its old rows are gone.
    let root = format!("{}/", project.root().display());
    let pair = project.column(&format!(
        "SELECT replace(f.path, '{root}', '') || ':' || d.line FROM decls d JOIN symbols s ON s.id = d.symbol_id
         JOIN files f ON f.id = d.file_id WHERE s.qualified_name = 'shared::Pair'"
    ));
    assert_eq!(pair, ["include/shared.h:8"]);
}

/// Changing one unit's compile flags re-indexes that unit only, with the new flags.
#[test]
fn changing_one_units_flags_reindexes_it() {
    let project = five_units();
    assert_eq!(symbol_count(&project, "u5_extra"), 0);
    let mut entries = five_entries();
    entries[4].1 = &["-DU5_EXTRA"];
    compdb(&project, &entries);
    let summary = project.build(&["-j", "2"]);
    assert_counts(&summary, 1, 4, 0);
    assert_eq!(symbol_count(&project, "u5_extra"), 1);
}

/// A unit removed from compile_commands.json and the disk is dropped with its symbols and its only header.
#[test]
fn deleting_a_unit_removes_it_and_its_rows() {
    let project = five_units();
    assert_eq!(symbol_count(&project, "u4"), 1);
    assert_eq!(symbol_count(&project, "solo_helper"), 1);
    project.remove("src/u4.cpp");
    let entries: Vec<_> = five_entries()
        .into_iter()
        .filter(|(u, _)| *u != "src/u4.cpp")
        .collect();
    compdb(&project, &entries);
    let summary = project.build(&["-j", "2"]);
    assert_counts(&summary, 0, 4, 1);
    assert_eq!(symbol_count(&project, "u4"), 0);
    // solo.h was read by u4 alone.
    assert_eq!(symbol_count(&project, "solo_helper"), 0);
    for gone in ["src/u4.cpp", "include/solo.h"] {
        assert_eq!(
            project.count(&format!(
                "SELECT count(*) FROM files WHERE path = '{}'",
                abs(&project, gone)
            )),
            0,
            "{gone}"
        );
    }
    assert_eq!(project.count("SELECT count(*) FROM units"), 4);
    for table in ["decls", "refs", "includes", "bases", "overrides"] {
        assert_eq!(
            project.count(&format!(
                "SELECT count(*) FROM {table} WHERE file_id NOT IN (SELECT id FROM files)"
            )),
            0,
            "{table}"
        );
    }
    // The rest is intact.
    assert_eq!(symbol_count(&project, "shared::value"), 1);
    assert_eq!(symbol_count(&project, "u5"), 1);
}

/// A new unit is indexed alone; a header it shares with indexed units is not stored twice.
#[test]
fn a_new_unit_is_indexed_alone() {
    let project = five_units();
    project.write(
        "src/u6.cpp",
        "#include \"shared.h\"\n\nint u6() { return shared::value() * 6; }\n",
    );
    let mut entries = five_entries();
    entries.push(("src/u6.cpp", &[]));
    compdb(&project, &entries);
    let summary = project.build(&["-j", "2"]);
    assert_counts(&summary, 1, 5, 0);
    assert_eq!(symbol_count(&project, "u6"), 1);
    assert_eq!(
        project.count("SELECT count(*) FROM decls d JOIN symbols s ON s.id = d.symbol_id WHERE s.qualified_name = 'shared::value'"),
        1
    );
    let callers = project.query(&["callers", "shared::value"]);
    let names: Vec<&str> = callers
        .iter()
        .map(|r| r["qualified_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["u1", "u3", "u6"]);
}

/// A deleted header whose includes were removed leaves no files row, decls, refs or includes behind.
#[test]
fn a_deleted_header_leaves_no_rows() {
    let project = five_units();
    let header = abs(&project, "include/solo.h");
    assert_eq!(project.count(&format!("SELECT count(*) FROM decls d JOIN files f ON f.id = d.file_id WHERE f.path = '{header}'")), 1);
    project.remove("include/solo.h");
    util::edit(&project, "src/u4.cpp", "int u4() { return 4; }\n");
    let summary = project.build(&["-j", "2"]);
    assert_counts(&summary, 1, 4, 0);
    assert_eq!(
        project.count(&format!(
            "SELECT count(*) FROM files WHERE path = '{header}'"
        )),
        0
    );
    assert_eq!(
        project.count("SELECT count(*) FROM files WHERE path LIKE '%solo.h'"),
        0
    );
    assert_eq!(symbol_count(&project, "solo_helper"), 0);
    assert_eq!(project.count("SELECT count(*) FROM includes i JOIN files f ON f.id = i.file_id WHERE f.path LIKE '%/u4.cpp'"), 0);
    for table in ["decls", "refs", "includes", "bases", "overrides"] {
        assert_eq!(
            project.count(&format!(
                "SELECT count(*) FROM {table} WHERE file_id NOT IN (SELECT id FROM files)"
            )),
            0,
            "{table}"
        );
    }
    assert_eq!(
        project
            .count("SELECT count(*) FROM includes WHERE included_id NOT IN (SELECT id FROM files)"),
        0
    );
}

/// `build --explain` names each dirty unit with its reason (new, content, header, command) and indexes nothing.
#[test]
fn explain_lists_dirty_units_with_reasons_and_indexes_nothing() {
    let project = five_units();
    let before = util::snapshot(&project);
    util::edit(
        &project,
        "src/u4.cpp",
        "#include \"solo.h\"\n\nint u4() { return solo_helper(44); }\n",
    );
    util::edit(&project, "include/shared.h", "#pragma once\n\nnamespace shared {\nint value();\nstruct Pair { int first; int second; };\n}\n");
    project.write("src/u6.cpp", "int u6() { return 6; }\n");
    let mut entries = five_entries();
    entries[4].1 = &["-DU5_EXTRA"];
    entries.push(("src/u6.cpp", &[]));
    compdb(&project, &entries);

    let header = abs(&project, "include/shared.h");
    let expected = format!(
        "{u1}: {header} changed\n{u2}: {header} changed\n{u3}: {header} changed\n{u4}: content changed\n\
         {u5}: compile command changed\n{u6}: new\n6 of 6 units would be indexed\n",
        u1 = abs(&project, "src/u1.cpp"),
        u2 = abs(&project, "src/u2.cpp"),
        u3 = abs(&project, "src/u3.cpp"),
        u4 = abs(&project, "src/u4.cpp"),
        u5 = abs(&project, "src/u5.cpp"),
        u6 = abs(&project, "src/u6.cpp"),
    );
    assert_eq!(explain(&project), expected);
    // Nothing was indexed or recorded: the same answer again, the same index.
    assert_eq!(explain(&project), expected);
    assert_eq!(util::snapshot(&project), before);
    assert_eq!(project.count("SELECT count(*) FROM units"), 5);
    assert_eq!(
        project.count("SELECT count(*) FROM units WHERE state = 'indexed'"),
        5
    );

    let summary = project.build(&["-j", "2"]);
    assert_counts(&summary, 6, 0, 0);
    assert_eq!(explain(&project), "0 of 6 units would be indexed\n");
}

/// A file whose mtime moved but whose content did not is not re-indexed, and its new mtime is recorded.
#[test]
fn touched_files_are_not_reindexed() {
    let project = five_units();
    let later = util::mtime(&project, "include/shared.h") + Duration::from_secs(10);
    for file in ["include/shared.h", "src/u1.cpp", "src/u5.cpp"] {
        util::set_mtime(&project, file, later);
    }
    let summary = project.build(&["-j", "2"]);
    assert_counts(&summary, 0, 5, 0);
    let since_epoch = later.duration_since(std::time::UNIX_EPOCH).unwrap();
    let header = abs(&project, "include/shared.h");
    assert_eq!(
        project.count(&format!(
            "SELECT mtime_ns FROM files WHERE path = '{header}'"
        )) as u128,
        since_epoch.as_nanos()
    );
    let summary = project.build(&["-j", "2"]);
    assert_counts(&summary, 0, 5, 0);
}

// ---------------------------------------------------------------------------
// The refresh invariant under random edits.

/// xorshift64*: a seeded PRNG, enough to pick edits.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick(&mut self, items: &BTreeSet<usize>) -> usize {
        *items
            .iter()
            .nth(self.below(items.len()))
            .expect("a non-empty set")
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Header {
    version: u32,
    includes: BTreeSet<usize>,
}

#[derive(Debug, Clone, PartialEq)]
struct Unit {
    version: u32,
    includes: BTreeSet<usize>,
    extra: bool,
}

/// A generated project: headers `include/h<i>.h` (each includes only
/// lower-numbered headers and uses only what it includes, so it expands
/// the same in every unit) and units `src/u<k>.cpp`.
#[derive(Debug, Clone, Default)]
struct Model {
    headers: BTreeMap<usize, Header>,
    units: BTreeMap<usize, Unit>,
}

fn header_path(i: usize) -> String {
    format!("include/h{i}.h")
}

fn unit_path(k: usize) -> String {
    format!("src/u{k}.cpp")
}

impl Model {
    fn header_ids(&self) -> BTreeSet<usize> {
        self.headers.keys().copied().collect()
    }

    fn unit_ids(&self) -> BTreeSet<usize> {
        self.units.keys().copied().collect()
    }

    fn free_id<T>(map: &BTreeMap<usize, T>) -> usize {
        (0..).find(|i| !map.contains_key(i)).unwrap()
    }

    /// A random subset of `ids`.
    fn subset(
        rng: &mut Rng,
        ids: impl IntoIterator<Item = usize>,
        percent: u64,
    ) -> BTreeSet<usize> {
        ids.into_iter().filter(|_| rng.chance(percent)).collect()
    }

    fn render_header(i: usize, h: &Header) -> String {
        let v = h.version;
        let mut s = String::from("#pragma once\n");
        for j in &h.includes {
            s += &format!("#include \"h{j}.h\"\n");
        }
        s += &format!("// h{i} version {v}\n");
        s += &"\n".repeat(v as usize % 3);
        s += &format!("namespace h{i} {{\n\n");
        // The kind of Rec and the type of f's parameter change with the
        // version: the kind must be updated, the USR of f changes.
        let keyword = if v.is_multiple_of(2) {
            "struct"
        } else {
            "class"
        };
        let param = ["int", "long", "short"][v as usize % 3];
        s += &format!(
            "{keyword} Rec{i} {{\npublic:\n    virtual ~Rec{i}() = default;\n    virtual int get() const {{ return {v}; }}\n}};\n\n"
        );
        s += &format!("int f{i}({param} x);\n\n");
        let calls: String = h
            .includes
            .iter()
            .map(|j| format!(" + h{j}::g{j}()"))
            .collect();
        s += &format!("inline int g{i}() {{ return f{i}(1){calls}; }}\n");
        if let Some(j) = h.includes.iter().next() {
            s += &format!("\nstruct Link{i} : h{j}::Rec{j} {{\n    int get() const override {{ return {i}; }}\n}};\n");
        }
        s += &format!("\n}}  // namespace h{i}\n");
        s
    }

    fn render_unit(k: usize, u: &Unit) -> String {
        let v = u.version;
        let mut s = String::new();
        for j in &u.includes {
            s += &format!("#include \"h{j}.h\"\n");
        }
        s += &format!("// u{k} version {v}\n");
        s += &"\n".repeat(v as usize % 2);
        s += &format!("static int local(int x) {{ return x + {v}; }}\n\n");
        s += &format!("#ifdef EXTRA\nint extra{k}();\nint with_extra{k}() {{ return extra{k}() + local(0); }}\n#endif\n\n");
        let first = u.includes.iter().next();
        if let Some(j) = first {
            s += &format!("struct Impl{k} : h{j}::Rec{j} {{\n    int get() const override {{ return local(2); }}\n}};\n\n");
        }
        s += &format!("int unit{k}_v{}() {{\n    int sum = local(1);\n", v % 2);
        for j in &u.includes {
            s += &format!("    sum += h{j}::f{j}(1) + h{j}::g{j}();\n");
        }
        if let Some(j) = first {
            s += &format!(
                "    Impl{k} impl;\n    const h{j}::Rec{j}& rec = impl;\n    sum += rec.get();\n"
            );
        }
        s += "    return sum;\n}\n";
        s
    }

    /// Every file of the project with its content.
    fn files(&self) -> BTreeMap<String, String> {
        let headers = self
            .headers
            .iter()
            .map(|(&i, h)| (header_path(i), Model::render_header(i, h)));
        let units = self
            .units
            .iter()
            .map(|(&k, u)| (unit_path(k), Model::render_unit(k, u)));
        headers.chain(units).collect()
    }

    /// The headers unit `k` reads, directly or not.
    fn closure(&self, k: usize) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<usize> = self.units[&k].includes.iter().copied().collect();
        while let Some(h) = todo.pop() {
            if seen.insert(h) {
                todo.extend(self.headers[&h].includes.iter().copied());
            }
        }
        seen
    }

    fn initial(rng: &mut Rng) -> Model {
        let mut model = Model::default();
        for i in 0..3 {
            let includes = Model::subset(rng, 0..i, 50);
            model.headers.insert(
                i,
                Header {
                    version: 0,
                    includes,
                },
            );
        }
        for k in 0..6 {
            let includes = Model::subset(rng, 0..3, 50);
            model.units.insert(
                k,
                Unit {
                    version: 0,
                    includes,
                    extra: rng.chance(30),
                },
            );
        }
        model
    }

    /// Applies one random edit and describes it; `touch` collects files
    /// whose mtime should move without a change.
    fn mutate(&mut self, rng: &mut Rng, touch: &mut Vec<String>) -> String {
        loop {
            match rng.below(10) {
                0 | 1 => {
                    let k = rng.pick(&self.unit_ids());
                    self.units.get_mut(&k).unwrap().version += 1;
                    return format!("edit u{k}");
                }
                2 | 3 if !self.headers.is_empty() => {
                    let i = rng.pick(&self.header_ids());
                    self.headers.get_mut(&i).unwrap().version += 1;
                    return format!("edit h{i}");
                }
                4 if self.units.len() < 9 => {
                    let k = Model::free_id(&self.units);
                    let includes = Model::subset(rng, self.header_ids(), 40);
                    self.units.insert(
                        k,
                        Unit {
                            version: rng.below(4) as u32,
                            includes,
                            extra: rng.chance(30),
                        },
                    );
                    return format!("add u{k}");
                }
                5 if self.units.len() > 3 => {
                    let k = rng.pick(&self.unit_ids());
                    self.units.remove(&k);
                    return format!("remove u{k}");
                }
                6 if self.headers.len() < 6 => {
                    let i = Model::free_id(&self.headers);
                    let includes =
                        Model::subset(rng, self.header_ids().into_iter().filter(|&j| j < i), 40);
                    self.headers.insert(
                        i,
                        Header {
                            version: rng.below(6) as u32,
                            includes,
                        },
                    );
                    let k = rng.pick(&self.unit_ids());
                    self.units.get_mut(&k).unwrap().includes.insert(i);
                    return format!("add h{i} (included by u{k})");
                }
                7 if self.headers.len() > 1 => {
                    let i = rng.pick(&self.header_ids());
                    self.headers.remove(&i);
                    for h in self.headers.values_mut() {
                        h.includes.remove(&i);
                    }
                    for u in self.units.values_mut() {
                        u.includes.remove(&i);
                    }
                    return format!("remove h{i} and its includes");
                }
                8 => {
                    let k = rng.pick(&self.unit_ids());
                    let unit = self.units.get_mut(&k).unwrap();
                    unit.extra = !unit.extra;
                    return format!(
                        "u{k} flags {}",
                        if unit.extra { "+EXTRA" } else { "-EXTRA" }
                    );
                }
                9 if !self.headers.is_empty() => {
                    if rng.chance(50) {
                        let k = rng.pick(&self.unit_ids());
                        let i = rng.pick(&self.header_ids());
                        let includes = &mut self.units.get_mut(&k).unwrap().includes;
                        let added = includes.insert(i) || !includes.remove(&i);
                        return format!(
                            "u{k} {} h{i}",
                            if added { "includes" } else { "stops including" }
                        );
                    }
                    let file = match rng.below(2) {
                        0 => header_path(rng.pick(&self.header_ids())),
                        _ => unit_path(rng.pick(&self.unit_ids())),
                    };
                    touch.push(file.clone());
                    return format!("touch {file}");
                }
                _ => {}
            }
        }
    }
}

/// Writes the model's files that changed since `old` (moving their mtime),
/// deletes the ones gone, and writes compile_commands.json.
fn sync(
    project: &Project,
    old: &BTreeMap<String, String>,
    model: &Model,
) -> BTreeMap<String, String> {
    let new = model.files();
    for path in old.keys().filter(|p| !new.contains_key(*p)) {
        project.remove(path);
    }
    for (path, content) in &new {
        if old.get(path) != Some(content) {
            util::edit(project, path, content);
        }
    }
    let paths: Vec<String> = model.units.keys().map(|&k| unit_path(k)).collect();
    let entries: Vec<(&str, &[&str])> = model
        .units
        .iter()
        .zip(&paths)
        .map(|((_, u), path)| {
            (
                path.as_str(),
                if u.extra { &["-DEXTRA"][..] } else { &[][..] },
            )
        })
        .collect();
    project.compdb(&entries);
    new
}

/// The units a build must re-index after going from `old` to `new`: new
/// ones, edited ones, ones whose flags changed, and ones that read (when
/// last indexed) a header that changed or disappeared.
fn expected_dirty(
    old: &Model,
    old_files: &BTreeMap<String, String>,
    new: &Model,
    new_files: &BTreeMap<String, String>,
) -> BTreeSet<usize> {
    let changed = |path: &str| old_files.get(path) != new_files.get(path);
    new.units
        .iter()
        .filter(|(&k, unit)| match old.units.get(&k) {
            None => true,
            Some(before) => {
                changed(&unit_path(k))
                    || before.extra != unit.extra
                    || old.closure(k).iter().any(|&h| changed(&header_path(h)))
            }
        })
        .map(|(&k, _)| k)
        .collect()
}

/// Prints the seed when the test panics anywhere, helpers included.
struct SeedOnPanic(u64);

impl Drop for SeedOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "random edits failed with seed {0}: rerun with INDEXER_REFRESH_SEED={0}",
                self.0
            );
        }
    }
}

fn run_random_edits(seed: u64, steps: usize) {
    let _guard = SeedOnPanic(seed);
    let project = Project::new();
    let mut rng = Rng::new(seed);
    let mut model = Model::initial(&mut rng);
    let mut files = sync(&project, &BTreeMap::new(), &model);
    let mut log = vec![format!("seed {seed}: initial {model:?}")];
    let summary = project.build(&["-j", "2"]);
    assert_counts(&summary, model.units.len() as u64, 0, 0);

    for step in 1..=steps {
        let before = model.clone();
        let mut touch = Vec::new();
        let edits = 1 + rng.below(2);
        for _ in 0..edits {
            let edit = model.mutate(&mut rng, &mut touch);
            log.push(format!("step {step}: {edit}"));
        }
        let new_files = sync(&project, &files, &model);
        for file in touch.iter().filter(|f| new_files.contains_key(*f)) {
            util::set_mtime(
                &project,
                file,
                util::mtime(&project, file) + Duration::from_secs(5),
            );
        }
        let context = || {
            format!(
                "seed {seed}, step {step} (rerun with INDEXER_REFRESH_SEED={seed})\n{}",
                log.join("\n")
            )
        };

        let dirty = expected_dirty(&before, &files, &model, &new_files);
        let removed = before
            .units
            .keys()
            .filter(|k| !model.units.contains_key(k))
            .count() as u64;
        files = new_files;
        // --explain names exactly those units first.
        let listed: BTreeSet<String> = explain(&project)
            .lines()
            .filter_map(|line| line.split_once(": ").map(|(unit, _)| unit.to_string()))
            .collect();
        let expected: BTreeSet<String> = dirty
            .iter()
            .map(|&k| abs(&project, &unit_path(k)))
            .collect();
        assert_eq!(listed, expected, "--explain\n{}", context());

        // Vary the workers, so that headers are claimed across processes.
        let jobs = (1 + rng.below(2)).to_string();
        let per_worker = if rng.chance(30) { "1" } else { "1000" };
        let output = project.run(&[
            "build",
            "--json",
            "-j",
            &jobs,
            "--files-per-worker",
            per_worker,
        ]);
        assert!(
            output.status.success(),
            "{}\n{}",
            util::stderr(&output),
            context()
        );
        let summary = util::parse_json(&output);
        let got = [
            &summary["indexed"],
            &summary["unchanged"],
            &summary["removed"],
            &summary["failed"],
        ]
        .map(|v| v.as_u64());
        let want = [
            dirty.len() as u64,
            (model.units.len() - dirty.len()) as u64,
            removed,
            0,
        ]
        .map(Some);
        assert_eq!(
            got,
            want,
            "indexed, unchanged, removed, failed (dirty: {dirty:?})\n{summary}\n{}",
            context()
        );

        let full_db = project.path(&format!(".indexer/full-{step}.db"));
        let output = project.run(&[
            "build",
            "--json",
            "-j",
            "2",
            "--full",
            "--db",
            full_db.to_str().unwrap(),
        ]);
        assert!(
            output.status.success(),
            "{}\n{}",
            util::stderr(&output),
            context()
        );
        let errors: i64 = rusqlite::Connection::open(&full_db)
            .unwrap()
            .query_row(
                "SELECT count(*) FROM diagnostics WHERE severity IN ('error', 'fatal')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            errors,
            0,
            "the generated code does not compile\n{}",
            context()
        );

        let incremental = util::snapshot(&project);
        let full = util::snapshot_db(&project, &full_db);
        assert!(
            incremental == full,
            "incremental index (-) differs from a full build (+):\n{}\n{}",
            util::snapshot_diff(&incremental, &full),
            context()
        );
        // The whole content too: symbols' types, files, dependencies.
        util::assert_same_digest(
            &format!(
                "incremental index (-) against a full build (+)\n{}",
                context()
            ),
            &util::digest(&project, &project.db()),
            &util::digest(&project, &full_db),
        );
        std::fs::remove_file(&full_db).unwrap();
    }
}

/// After random edits (sources, headers, flags, units and headers added and removed, touches), each refreshed index equals a full build.
#[test]
fn random_edits_keep_the_index_equal_to_a_full_build() {
    let steps = std::env::var("INDEXER_REFRESH_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let seeds: Vec<u64> = match std::env::var("INDEXER_REFRESH_SEED") {
        Ok(seed) => vec![seed.parse().expect("INDEXER_REFRESH_SEED is a number")],
        Err(_) => vec![1, 2, 3],
    };
    for seed in seeds {
        eprintln!("random edits: seed {seed}, {steps} steps");
        run_random_edits(seed, steps);
    }
}
