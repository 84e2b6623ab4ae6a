//! Counts the destroy messages of connections to one port for a while and
//! prints what the reader thread cost: a probe for the watch engine's
//! reader, run beside a load generator.
//!
//! `cargo run -p berth-inventory --example destroy_count -- PORT SECONDS`

use std::time::{Duration, Instant};

use berth_inventory::destroy::{DestroyReader, DestroyStream, Destroyed};

/// (user, system) CPU seconds of this process so far.
fn cpu_seconds() -> (f64, f64) {
    // SAFETY: all-zero is a valid rusage, which getrusage fills.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid rusage to fill.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (seconds(usage.ru_utime), seconds(usage.ru_stime))
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(31000);
    let seconds: f64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5.0);
    let stream = DestroyStream::open(0)?;
    let buffer = stream.receive_buffer();
    let reader = DestroyReader::spawn(stream, 256)?;
    eprintln!("READY buffer={buffer}");
    let (mut total, mut matching, mut overflows, mut batches) = (0u64, 0u64, 0u64, 0u64);
    let started = Instant::now();
    let cpu_before = cpu_seconds();
    while started.elapsed() < Duration::from_secs_f64(seconds) {
        let Ok(batch) = reader.receiver().recv_timeout(Duration::from_millis(100)) else { continue };
        batches += 1;
        for item in batch {
            match item {
                Destroyed::Closed { socket, .. } => {
                    total += 1;
                    if socket.local.port() == port || socket.remote.map(|r| r.port()) == Some(port) {
                        matching += 1;
                    }
                }
                Destroyed::Overflow { .. } => overflows += 1,
            }
        }
    }
    let cpu_after = cpu_seconds();
    let (user, system) = (cpu_after.0 - cpu_before.0, cpu_after.1 - cpu_before.1);
    let cpu = user + system;
    reader.stop();
    println!(
        "messages={total} port_{port}={matching} overflows={overflows} batches={batches} cpu={cpu:.3}s \
         (user {user:.3}s, system {system:.3}s) wall={:.1}s us_per_message={:.2}",
        started.elapsed().as_secs_f64(),
        if total > 0 { cpu * 1e6 / total as f64 } else { 0.0 }
    );
    Ok(())
}
