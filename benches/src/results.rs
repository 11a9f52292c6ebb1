//! Where the runs leave their figures for the report: tab-separated files under
//! `target/resilience-bench/`, one line per key, merged with what an earlier (partial)
//! run left.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The cargo target directory (`CARGO_TARGET_DIR`, else the workspace's `target/`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
    }
}

/// The directory of this crate's result files.
pub fn dir() -> PathBuf {
    target_dir().join("resilience-bench")
}

/// Criterion's output directory (`CRITERION_HOME`, else `target/criterion`).
pub fn criterion_dir() -> PathBuf {
    match std::env::var_os("CRITERION_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => target_dir().join("criterion"),
    }
}

/// Reads `name` (`key \t fields...` lines); missing file: empty.
pub fn read(name: &str) -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(dir().join(name)).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split('\t').map(str::to_owned);
            let key = fields.next()?;
            Some((key, fields.collect()))
        })
        .collect()
}

/// Merges `rows` into `name`, replacing the lines of the same keys.
pub fn merge(name: &str, rows: BTreeMap<String, Vec<String>>) -> std::io::Result<()> {
    let mut all = read(name);
    all.extend(rows);
    std::fs::create_dir_all(dir())?;
    let text: String = all
        .iter()
        .map(|(k, v)| format!("{k}\t{}\n", v.join("\t")))
        .collect();
    std::fs::write(dir().join(name), text)
}
