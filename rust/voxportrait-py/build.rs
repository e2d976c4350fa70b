//! Computes the build id (see `python/voxportrait/_build.py`, which does the
//! same in Python): SHA-256 over every file that goes into the package, so
//! that a compiled core can tell which sources it came from.
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Relative to the repository root; keep in step with `BUILD_INPUTS` in `_build.py`.
const BUILD_INPUTS: &[&str] = &[
    "Cargo.toml",
    "Cargo.lock",
    "pyproject.toml",
    "models",
    "python/voxportrait",
    "rust/voxportrait-core",
    "rust/voxportrait-py",
];
const SKIP_SUFFIXES: &[&str] = &[".pyc", ".pyo", ".so", ".pyd", ".dylib", ".dll"];

fn files(base: &Path, rel: &str, out: &mut Vec<String>) {
    let path = if rel.is_empty() {
        base.to_path_buf()
    } else {
        base.join(rel)
    };
    if path.is_file() {
        out.push(rel.to_string());
        return;
    }
    let Ok(entries) = std::fs::read_dir(&path) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "__pycache__" || name == "target" {
            continue;
        }
        let child = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let full = base.join(&child);
        if full.is_dir() {
            files(base, &child, out);
        } else if full.is_file() && !SKIP_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            out.push(child);
        }
    }
}

/// 16 hex digits of SHA-256, exactly as `_build.tree_id`.
fn tree_id(base: &Path, inputs: &[&str]) -> String {
    let mut paths = Vec::new();
    for rel in inputs {
        files(base, rel, &mut paths);
    }
    paths.sort();
    paths.dedup();
    let mut digest = Sha256::new();
    for rel in &paths {
        let raw = std::fs::read(base.join(rel)).expect("read a build input");
        let mut data = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            if raw[i] == b'\r' && raw.get(i + 1) == Some(&b'\n') {
                i += 1;
                continue;
            }
            data.push(raw[i]);
            i += 1;
        }
        digest.update(rel.as_bytes());
        digest.update([0u8]);
        digest.update((data.len() as u64).to_le_bytes());
        digest.update(&data);
    }
    digest
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.join("../..");
    for rel in BUILD_INPUTS {
        println!("cargo:rerun-if-changed={}", root.join(rel).display());
    }
    println!(
        "cargo:rustc-env=VOXPORTRAIT_BUILD_ID={}",
        tree_id(&root, BUILD_INPUTS)
    );
    let package = root.join("python/voxportrait");
    println!(
        "cargo:rustc-env=VOXPORTRAIT_PY_SOURCES_ID={}",
        tree_id(&package, &[""])
    );
}
