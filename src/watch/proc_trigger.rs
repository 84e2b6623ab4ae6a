//! The proc connector as a trigger: a process exec or exit brings the next
//! listener dump forward (a program that just started may be about to
//! listen), so listeners are seen sooner than the listener interval.
//! Optional: kernels before 6.6 refuse it without root, and nothing is lost
//! without it (the dumps and the close feed do not depend on it).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use berth_inventory::proc_events::{ProcEvent, ProcEvents};

/// How long one read of the connector waits.
const READ_WAIT: Duration = Duration::from_millis(200);

/// Starts the reader; the flag is set at each exec or exit. None when the
/// kernel does not give process events to this user. The thread lives as
/// long as berth (it holds nothing that needs closing).
pub fn spawn() -> Option<Arc<AtomicBool>> {
    let mut events = ProcEvents::open().ok()?;
    let flag = Arc::new(AtomicBool::new(false));
    let set = Arc::clone(&flag);
    let spawned = std::thread::Builder::new().name("proc-events".into()).spawn(move || {
        let mut batch = Vec::new();
        loop {
            batch.clear();
            if events.read(&mut batch, READ_WAIT).is_err() {
                return;
            }
            if batch.iter().any(|e| matches!(e, ProcEvent::Exec { .. } | ProcEvent::Exit { .. })) {
                set.store(true, Ordering::Relaxed);
            }
        }
    });
    spawned.ok().map(|_| flag)
}
