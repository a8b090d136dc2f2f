//! The layers' rules, read off the source (docs/ARCHITECTURE.md, "Layers"): the domain knows no
//! framework, no database and no configuration; only `db` knows which back end it talks to;
//! `http` builds no queries. A line that breaks a rule fails here with its file and number.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
    out
}

/// Code lines (comments and doc comments left out) of the files under `src/<dir>` that contain
/// one of `needles`, as "file:line: text".
fn offenders(dir: &str, except: &[&str], needles: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = if dir.is_empty() { rust_files(&root) } else { rust_files(&root.join(dir)) };
    let mut found = vec![];
    for file in files {
        let rel = file.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        if except.iter().any(|e| rel.starts_with(e)) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if let Some(needle) = needles.iter().find(|k| code.contains(*k)) {
                found.push(format!("src/{rel}:{}: `{needle}` in: {}", n + 1, code));
            }
        }
    }
    found
}

#[test]
fn the_domain_knows_no_framework_database_configuration_or_io() {
    let bad = offenders(
        "domain",
        &[],
        &[
            "actix",
            "diesel",
            "crate::config",
            "crate::db",
            "crate::app",
            "crate::http",
            "crate::worker",
            "crate::cli",
            "std::fs",
            "std::thread",
            "std::process",
            "std::env",
            "Utc::now",
            "Local::now",
        ],
    );
    assert!(bad.is_empty(), "the domain must stay pure:\n{}", bad.join("\n"));
}

#[test]
fn only_the_data_layer_knows_which_back_end_it_talks_to() {
    let bad = offenders(
        "",
        &["db/"],
        &["DbConn::Postgresql", "DbConn::Sqlite", "PgConnection", "SqliteConnection", "for_update()", "skip_locked()", "sql_query("],
    );
    assert!(bad.is_empty(), "back-end-specific SQL belongs in src/db:\n{}", bad.join("\n"));
}

#[test]
fn http_builds_no_queries() {
    let bad = offenders("http", &[], &["diesel", "db::schema", "db::models", "db::backend::load", "db::backend::update"]);
    assert!(bad.is_empty(), "handlers call use cases in src/app; they never touch tables:\n{}", bad.join("\n"));
}

#[test]
fn the_rules_find_what_they_look_for() {
    // The scanner itself: a rule that can never fail would prove nothing.
    assert!(!offenders("db", &[], &["DbConn::Postgresql"]).is_empty());
    assert!(!offenders("app", &[], &["diesel"]).is_empty());
    assert!(offenders("domain", &[], &["this text is in no file of ours"]).is_empty());
}
