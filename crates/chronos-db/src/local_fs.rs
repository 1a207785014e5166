//! Local filesystem helpers shared by the embedded stores (SQLite files, payload
//! directories).

use std::path::{Path, PathBuf};

/// The nearest existing directory above `path`, if the process may create entries in it:
/// what a check can say about a file or directory that the first write will create, without
/// creating anything.
pub(crate) fn writable_ancestor(path: &Path) -> Result<PathBuf, String> {
    let unusable = |why: String| format!("{}: {why}", path.display());
    let mut dir = path.parent();
    while let Some(d) = dir {
        match d.try_exists() {
            Ok(true) => {
                let meta = std::fs::metadata(d).map_err(|e| unusable(e.to_string()))?;
                if !meta.is_dir() {
                    return Err(unusable(format!("{} is not a directory", d.display())));
                }
                if meta.permissions().readonly() {
                    return Err(unusable(format!("{} is read-only", d.display())));
                }
                return Ok(d.to_path_buf());
            }
            Ok(false) => dir = d.parent(),
            Err(e) => return Err(unusable(e.to_string())),
        }
    }
    Err(unusable("no existing directory above it".into()))
}
