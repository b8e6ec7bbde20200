//! The files a run writes: JSON reports and the bundle, their folders made as needed.

use std::path::Path;

use anyhow::{Context, Result};

use crate::Bundle;

fn make_parent(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}

/// `value` as pretty JSON at `path`.
pub fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    make_parent(path)?;
    std::fs::write(path, serde_json::to_string_pretty(value)?).with_context(|| format!("writing {}", path.display()))
}

/// `bundle` at `out`; returns the file's size.
pub fn write_bundle(out: &Path, bundle: &Bundle) -> Result<usize> {
    let bytes = bundle.to_bytes()?;
    make_parent(out)?;
    std::fs::write(out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    Ok(bytes.len())
}
