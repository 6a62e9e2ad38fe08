//! Embeds every file of `migrations/<backend>/` in the binary, in file-name order.

use std::{env, fs, path::PathBuf};

fn main() {
    let root =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("../../migrations");
    let mut out = String::new();
    for backend in ["sqlite", "postgres"] {
        let dir = root.join(backend);
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .map(|entry| entry.expect("readable directory entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
            .collect();
        files.sort();
        out.push_str(&format!(
            "pub(crate) const {}: &[Migration] = &[\n",
            backend.to_uppercase()
        ));
        for path in files {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("utf-8 file name");
            let (version, name) = stem
                .split_once('_')
                .unwrap_or_else(|| panic!("migration {stem} must be named NNNN_name.sql"));
            let version: i64 = version
                .parse()
                .unwrap_or_else(|_| panic!("migration {stem} must start with a number"));
            let abs = fs::canonicalize(&path).expect("migration path");
            println!("cargo:rerun-if-changed={}", abs.display());
            out.push_str(&format!(
                "    Migration {{ version: {version}, name: {name:?}, sql: include_str!({:?}) }},\n",
                abs.display().to_string()
            ));
        }
        out.push_str("];\n");
    }
    let dest =
        PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("migrations.rs");
    fs::write(dest, out).expect("write migrations.rs");
}
