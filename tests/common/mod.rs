//! Helpers shared by the native end-to-end tests.

use std::path::PathBuf;
use std::process::{Command, Output};

/// A fresh scratch folder for one test (removed first if a previous run left it).
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("beanscan-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the CLI and insists that it succeeds.
pub fn beanscan(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_beanscan")).args(args).output().unwrap();
    assert!(out.status.success(), "beanscan {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    out
}
