//! Intentionally empty build script.
//!
//! It exists only so that the `syn` build-dependency below is part of this
//! crate's host dependency graph: `syn` then gets the same feature set
//! (`visit-mut`, which pyo3's macros enable) whether cargo builds the core
//! alone (`cargo test -p voxportrait-core`) or through the Python binding
//! (maturin). Without it, the two builds hash candle's proc-macro
//! dependencies differently and CI compiles candle twice (~7 min on 2 cores).
fn main() {}
