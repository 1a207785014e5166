//! The temporary directories of a run (the embedded backend's data, the raw floor's files):
//! made under [`crate::BenchOptions::work_dir`], kept until the run's report is out, then
//! removed.
//!
//! Why the report goes first: a scale run leaves about 14 GB in millions of files, and
//! removing them takes many minutes; the figures must not wait for that (nor be lost if the
//! removal is interrupted).

use crate::Error;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;
use tempfile::TempDir;

/// The directories made for the run in progress.
pub(crate) struct Scratch {
    root: Option<PathBuf>,
    dirs: Mutex<Vec<TempDir>>,
}

impl Scratch {
    /// Directories will be made under `root` (the system's temporary directory when `None`).
    pub(crate) fn new(root: Option<&Path>) -> Self {
        Scratch {
            root: root.map(Path::to_path_buf),
            dirs: Mutex::new(Vec::new()),
        }
    }

    /// A fresh, empty directory, removed by the next [`Scratch::remove`] (or when the
    /// `Scratch` is dropped).
    pub(crate) fn dir(&self) -> Result<PathBuf, Error> {
        let builder = tempfile::Builder::new().prefix("chronos-bench-").to_owned();
        let dir = match &self.root {
            Some(root) => {
                std::fs::create_dir_all(root)
                    .map_err(|e| format!("cannot create {}: {e}", root.display()))?;
                builder.tempdir_in(root)?
            }
            None => builder.tempdir()?,
        };
        let path = dir.path().to_path_buf();
        self.dirs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(dir);
        Ok(path)
    }

    /// Removes every directory made so far, on a blocking thread (a spinner on stderr while
    /// it works). Answers the directories that could not be removed, each with why: the
    /// run's figures are out by then, so what is left is for the caller to report, not a
    /// failure of the run.
    pub(crate) async fn remove(&self) -> Vec<String> {
        let dirs = std::mem::take(&mut *self.dirs.lock().unwrap_or_else(|p| p.into_inner()));
        if dirs.is_empty() {
            return Vec::new();
        }
        let spinner = ProgressBar::new_spinner();
        spinner.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        let under = self.root.clone().unwrap_or_else(std::env::temp_dir);
        spinner.set_message(format!(
            "removing the bench data ({} directories under {})",
            dirs.len(),
            under.display()
        ));
        spinner.enable_steady_tick(Duration::from_millis(200));
        let left = tokio::task::spawn_blocking(move || {
            dirs.into_iter()
                .filter_map(|d| {
                    let path = d.path().display().to_string();
                    d.close().err().map(|e| format!("{path}: {e}"))
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_else(|e| vec![format!("the removal stopped: {e}")]);
        spinner.finish_and_clear();
        left
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every directory made goes at the next removal; the `Scratch` can then be used again,
    /// and what it still holds goes when it is dropped.
    #[tokio::test]
    async fn remove_takes_every_directory_made_so_far() {
        let root = tempfile::tempdir().unwrap();
        let scratch = Scratch::new(Some(root.path()));
        let (a, b) = (scratch.dir().unwrap(), scratch.dir().unwrap());
        assert_ne!(a, b);
        std::fs::create_dir_all(a.join("meta/deep")).unwrap();
        std::fs::write(a.join("meta/deep/f"), b"x").unwrap();
        std::fs::write(b.join("g"), b"y").unwrap();
        assert_eq!(scratch.remove().await, Vec::<String>::new());
        assert!(!a.exists() && !b.exists());
        let c = scratch.dir().unwrap();
        assert!(c.starts_with(root.path()) && c.is_dir());
        drop(scratch);
        assert!(!c.exists());
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
    }
}
