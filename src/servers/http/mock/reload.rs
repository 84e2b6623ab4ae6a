//! Hot reload: the spec and every file it refers to are polled (size,
//! modification time, inode: an editor's save-by-rename is a new inode),
//! and a change loads the API anew and swaps it in whole. An edit that
//! does not load leaves the last good version serving and says why; the
//! next change is tried again.
//!
//! Polling rather than inotify: it sees saves by rename, files that come
//! back after being deleted, and network file systems alike, and a few
//! thousand stat calls per interval cost well under a millisecond each.

use crate::stderr::say;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use super::handler::Loaded;

/// Between two looks at the files.
pub const INTERVAL: Duration = Duration::from_millis(250);

/// What a file looks like from outside: None when it cannot be read.
type Signature = Option<(u64, i64, i64, u64, u64)>;

fn signature(path: &Path) -> Signature {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.size(), meta.mtime(), meta.mtime_nsec(), meta.ino(), meta.dev()))
}

fn signatures(files: &[PathBuf]) -> Vec<Signature> {
    files.iter().map(|f| signature(f)).collect()
}

/// Watches on a thread of its own until the process ends. `load` makes a
/// version from the spec (the same function start-up used).
pub fn watch(
    spec: PathBuf,
    current: Arc<ArcSwap<Loaded>>,
    load: impl Fn(&Path) -> Result<Loaded, String> + Send + 'static,
) -> std::io::Result<()> {
    std::thread::Builder::new().name("berth-reload".into()).spawn(move || {
        let mut files = current.load().api.files.clone();
        if files.is_empty() {
            files.push(spec.clone());
        }
        let mut seen = signatures(&files);
        loop {
            std::thread::sleep(INTERVAL);
            let now = signatures(&files);
            if now == seen {
                continue;
            }
            // An editor may still be writing: wait until two looks agree.
            std::thread::sleep(INTERVAL / 2);
            let settled = signatures(&files);
            if settled != now {
                continue;
            }
            match load(&spec) {
                Ok(loaded) => {
                    say!(
                        "berth: reloaded {}: {}",
                        spec.display(),
                        crate::analysis::plural(loaded.api.operations.len(), "operation", "operations")
                    );
                    files = loaded.api.files.clone();
                    current.store(Arc::new(loaded));
                    seen = signatures(&files);
                }
                Err(error) => {
                    say!("berth: reload failed, still serving the last good version: {error}");
                    seen = settled;
                }
            }
        }
    })?;
    Ok(())
}
