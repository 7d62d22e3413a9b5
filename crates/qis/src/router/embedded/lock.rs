//! The data-directory lock: one process per directory.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::Path;

use super::{LOCK_FILE, ROUTER, io_error};
use crate::error::{Error, Result};

/// Locks `dir/LOCK` for this process, or explains who holds it.
pub(super) fn take_lock(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| io_error("cannot open the lock file", &path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            return Err(Error::Backend {
                router: ROUTER,
                retryable: true,
                source: format!(
                    "the data directory {} is in use by another process{}; one process per directory",
                    dir.display(),
                    if holder.is_empty() { String::new() } else { format!(" (pid {holder})") }
                )
                .into(),
            });
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(io_error("cannot lock", &path, e));
        }
    }
    // Record who holds it, for the next opener's error message.
    let _ = file.set_len(0);
    let _ = write!(file, "{}", std::process::id());
    let _ = file.flush();
    Ok(file)
}
