//! Temporary outputs that vanish unless kept: every file or folder ffmpeg
//! writes gets a hidden sibling name first and is renamed into place only once
//! it is complete and checked, so a retry never sees half a file. When the
//! step fails, or its future is dropped (and `kill_on_drop` ends ffmpeg),
//! the guard removes what was written.

use std::path::{Path, PathBuf};

use vpf_core::nas::temp_sibling;
use vpf_core::{Error, Result};

pub(crate) struct Temp {
    path: PathBuf,
    keep: bool,
}

impl Temp {
    /// A temporary name beside `final_path` (nothing is created).
    pub fn beside(final_path: &Path) -> Temp {
        Temp {
            path: temp_sibling(final_path),
            keep: false,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Move the finished file or folder to `final_path`, replacing what was there.
    pub fn commit(mut self, final_path: &Path) -> Result<()> {
        if self.path.is_dir() {
            remove_any(final_path)?;
        }
        std::fs::rename(&self.path, final_path).map_err(|e| {
            Error::internal(format!(
                "moving {} to {}: {e}",
                self.path.display(),
                final_path.display()
            ))
        })?;
        self.keep = true;
        Ok(())
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if !self.keep {
            let _ = remove_any(&self.path);
        }
    }
}

/// Remove a file or a folder; missing is fine.
pub(crate) fn remove_any(path: &Path) -> Result<()> {
    let r = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
    };
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::internal(format!("removing {}: {e}", path.display()))),
    }
}

pub(crate) fn create_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path)
        .map_err(|e| Error::internal(format!("creating {}: {e}", path.display())))
}
