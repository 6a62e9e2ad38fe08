//! The architecture notes name real files: every path of the "Where does X live" table and of the crates table
//! exists in the repository, and the table answers for every kind of thing a newcomer looks for.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The lines of the section of `markdown` under the heading `heading` (up to the next heading of its level).
fn section<'a>(markdown: &'a str, heading: &str) -> Vec<&'a str> {
    let mut lines = markdown.lines().skip_while(|line| *line != heading);
    assert!(lines.next().is_some(), "no section {heading:?}");
    lines.take_while(|line| !line.starts_with("## ")).collect()
}

/// The table rows of `lines`, as their cells, without the header and separator rows.
fn rows<'a>(lines: &[&'a str]) -> Vec<Vec<&'a str>> {
    lines
        .iter()
        .filter(|line| line.starts_with('|'))
        .skip(2)
        .map(|line| line.trim_matches('|').split('|').map(str::trim).collect())
        .collect()
}

/// The repository paths quoted in `text`: backticked words with a `/` that are no URL path.
fn paths(text: &str) -> Vec<&str> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|word| word.contains('/') && !word.starts_with('/') && !word.contains(' '))
        .collect()
}

fn architecture() -> String {
    std::fs::read_to_string(repo().join("docs/architecture.md")).expect("read docs/architecture.md")
}

#[test]
fn every_path_of_the_where_does_x_live_table_exists() {
    let text = architecture();
    let table = rows(&section(&text, "## Where does X live"));
    assert!(table.len() >= 8, "the table has {} rows", table.len());
    let mut checked = 0;
    for row in &table {
        let quoted: Vec<&str> = row.iter().skip(1).flat_map(|cell| paths(cell)).collect();
        assert!(!quoted.is_empty(), "the row {row:?} names no path");
        for path in quoted {
            assert!(
                repo().join(path).exists(),
                "docs/architecture.md names {path}, which does not exist"
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} paths checked");
}

#[test]
fn the_table_says_where_each_kind_of_thing_lives() {
    let text = architecture();
    let kinds: Vec<String> = rows(&section(&text, "## Where does X live"))
        .iter()
        .map(|row| row[0].to_lowercase())
        .collect();
    for kind in [
        "command",
        "event",
        "projection",
        "view",
        "wit world",
        "endpoint",
        "migration",
        "test",
    ] {
        assert!(
            kinds.iter().any(|k| k.starts_with(kind)),
            "no row for {kind} in {kinds:?}"
        );
    }
}

#[test]
fn every_crate_of_the_crates_table_exists_and_is_a_workspace_member() {
    let text = architecture();
    let workspace = std::fs::read_to_string(repo().join("Cargo.toml")).expect("read Cargo.toml");
    let table = rows(&section(&text, "## Crates"));
    assert!(!table.is_empty());
    for row in &table {
        let path = paths(row[0]).first().copied().expect("a crate path");
        assert!(
            repo().join(path).join("Cargo.toml").is_file(),
            "docs/architecture.md names the crate {path}, which does not exist"
        );
        assert!(
            workspace.contains(&format!("\"{path}\"")),
            "{path} is no member of the workspace"
        );
    }
}
