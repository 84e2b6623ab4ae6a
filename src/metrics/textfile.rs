//! `--textfile DIR`: the series as DIR/berth.prom for node_exporter's
//! textfile collector, in the classic text format it parses.
//!
//! The file is written beside its final name under a name the collector
//! ignores (it reads only `*.prom`), flushed to disk, and renamed over
//! `berth.prom`: rename(2) within a directory is atomic, so a scrape sees
//! the old file or the new one, never half of one. The temporary file is
//! opened with O_EXCL | O_NOFOLLOW, so a symlink planted under its name
//! cannot redirect the write.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::printable::printable;

/// The file node_exporter reads.
pub const FILE_NAME: &str = "berth.prom";

pub struct Textfile {
    target: PathBuf,
    temporary: PathBuf,
}

impl Textfile {
    /// Checks that `dir` is a directory (the first write says whether it is writable).
    pub fn new(dir: &Path) -> Result<Textfile, Error> {
        let text = dir.display().to_string();
        let shown = printable(&text);
        match std::fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(Error::Usage(format!("--textfile {shown} is not a directory: give the directory node_exporter's --collector.textfile.directory names"))),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(Error::Usage(format!(
                    "--textfile {shown}: no such directory; create it (mkdir -p {shown}) or give the directory node_exporter's --collector.textfile.directory names"
                )))
            }
            Err(e) => {
                return Err(Error::System(format!(
                    "--textfile {shown}: {}; give a directory berth may enter and write",
                    crate::net::error_text(&e)
                )))
            }
        }
        Ok(Textfile {
            target: dir.join(FILE_NAME),
            temporary: dir.join(format!(".{FILE_NAME}.{}.tmp", std::process::id())),
        })
    }

    pub fn path(&self) -> &Path {
        &self.target
    }

    /// Replaces the file with `text`, atomically.
    pub fn write(&self, text: &[u8]) -> Result<(), Error> {
        let failed = |what: &str, e: std::io::Error| {
            let _ = std::fs::remove_file(&self.temporary);
            let advice = match e.kind() {
                ErrorKind::PermissionDenied => "; run berth as a user who may write there, or choose another directory",
                _ => "; free some space there, or choose another directory",
            };
            Error::Write(format!(
                "cannot {what} {}: {}{advice}",
                printable(&self.temporary.display().to_string()),
                crate::net::error_text(&e)
            ))
        };
        // A stale temporary file of ours (a crash, a reused pid) goes first.
        let _ = std::fs::remove_file(&self.temporary);
        let mut file: File = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&self.temporary)
            .map_err(|e| failed("create", e))?;
        file.write_all(text).map_err(|e| failed("write", e))?;
        file.sync_all().map_err(|e| failed("write", e))?;
        drop(file);
        std::fs::rename(&self.temporary, &self.target).map_err(|e| failed("rename", e))?;
        Ok(())
    }

    /// Removes a temporary file left by a write that was interrupted.
    pub fn clean_up(&self) {
        let _ = std::fs::remove_file(&self.temporary);
    }
}
