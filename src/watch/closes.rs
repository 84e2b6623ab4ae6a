//! The close feed: the kernel's destroy messages
//! ([`berth_inventory::destroy`]), one reader thread per watched network
//! namespace, handed to the engine as [`CloseInput`]s in arrival order.
//!
//! With one namespace (the usual case) the engine reads the reader's own
//! channel. With `--all-netns` each namespace's reader is drained by a
//! forwarding thread into one channel; when the engine falls behind, the
//! forwarders block, the readers' channels fill, and the readers report
//! the loss themselves (`ConsumerBehind`), so nothing is lost silently.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::engine::CloseInput;
use super::event::MissedReason;
use berth_inventory::destroy::{DestroyReader, DestroyStream, Destroyed, OverflowReason};

/// Batches a reader's channel holds before the reader reports that berth
/// fell behind (each batch is what one read returned, up to 4096 messages).
const READER_CAPACITY: usize = 1024;

/// How often a forwarder looks at the stop flag.
const FORWARD_POLL: Duration = Duration::from_millis(100);

/// Closes from every watched namespace.
pub struct CloseFeed {
    channel: Channel,
    /// The smallest effective receive buffer among the readers, bytes.
    pub receive_buffer: usize,
}

enum Channel {
    /// Our own namespace only: its reader's channel.
    One(DestroyReader),
    /// Several: forwarders into one channel.
    Merged { receiver: Receiver<Vec<Destroyed>>, stop: Arc<AtomicBool>, forwarders: Vec<JoinHandle<()>> },
}

impl CloseFeed {
    /// Opens the feed for our own namespace (`own`) and the others at `others`.
    /// Err says why the kernel would not give destroy messages in our own.
    /// Another namespace that cannot be opened is left out with a note.
    pub fn open(own: u64, others: &[(PathBuf, u64)]) -> Result<CloseFeed, String> {
        let own_reader = DestroyStream::open(own)
            .and_then(|stream| DestroyReader::spawn(stream, READER_CAPACITY))
            .map_err(|e| describe_refusal(&e))?;
        if others.is_empty() {
            return Ok(CloseFeed { receive_buffer: own_reader.receive_buffer(), channel: Channel::One(own_reader) });
        }
        let mut readers = vec![own_reader];
        for (path, inode) in others {
            match DestroyStream::open_in(path, *inode).and_then(|s| DestroyReader::spawn(s, READER_CAPACITY)) {
                Ok(reader) => readers.push(reader),
                Err(e) => crate::stderr::say!(
                    "berth: note: close events of network namespace {} are unavailable ({e}); its short-lived sockets can be missed",
                    path.display()
                ),
            }
        }
        let receive_buffer = readers.iter().map(DestroyReader::receive_buffer).min().unwrap_or(0);
        let (sender, receiver) = mpsc::sync_channel(READER_CAPACITY);
        let stop = Arc::new(AtomicBool::new(false));
        let forwarders = readers
            .into_iter()
            .map(|reader| {
                let sender = sender.clone();
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    // Bounded by the stop flag, checked every FORWARD_POLL.
                    while !stop.load(Ordering::Relaxed) {
                        match reader.receiver().recv_timeout(FORWARD_POLL) {
                            Ok(batch) => {
                                if sender.send(batch).is_err() {
                                    break;
                                }
                            }
                            Err(RecvTimeoutError::Timeout) => {}
                            Err(RecvTimeoutError::Disconnected) => break,
                        }
                    }
                    reader.stop();
                })
            })
            .collect();
        Ok(CloseFeed { channel: Channel::Merged { receiver, stop, forwarders }, receive_buffer })
    }

    fn receiver(&self) -> &Receiver<Vec<Destroyed>> {
        match &self.channel {
            Channel::One(reader) => reader.receiver(),
            Channel::Merged { receiver, .. } => receiver,
        }
    }

    /// Waits up to `timeout` for the next batch. Err(Disconnected) when the
    /// readers ended (a read error: see [`CloseFeed::reader_error`]).
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Vec<CloseInput>, RecvTimeoutError> {
        self.receiver().recv_timeout(timeout).map(convert)
    }

    /// The next batch already received, if any.
    pub fn try_recv(&self) -> Result<Vec<CloseInput>, TryRecvError> {
        self.receiver().try_recv().map(convert)
    }

    /// Why our own namespace's reader ended, if it did.
    pub fn reader_error(&self) -> Option<String> {
        match &self.channel {
            Channel::One(reader) => reader.error().map(|e| e.to_string()),
            Channel::Merged { .. } => None,
        }
    }

    /// Ends the reader threads.
    pub fn stop(self) {
        match self.channel {
            Channel::One(reader) => reader.stop(),
            Channel::Merged { receiver, stop, forwarders } => {
                stop.store(true, Ordering::Relaxed);
                drop(receiver);
                for forwarder in forwarders {
                    let _ = forwarder.join();
                }
            }
        }
    }
}

fn convert(batch: Vec<Destroyed>) -> Vec<CloseInput> {
    batch
        .into_iter()
        .map(|item| match item {
            Destroyed::Closed { socket, at, instant, .. } => CloseInput::Closed { socket, at, instant },
            Destroyed::Overflow { at, reason, .. } => CloseInput::Overflow {
                at,
                reason: match reason {
                    OverflowReason::KernelBuffer => MissedReason::KernelBuffer,
                    OverflowReason::ConsumerBehind => MissedReason::ConsumerBehind,
                },
            },
        })
        .collect()
}

/// Why the kernel refused the destroy groups, in words that say what it
/// means (also `berth metrics`' warning when its close feed cannot open).
pub(crate) fn describe_refusal(error: &std::io::Error) -> String {
    match error.raw_os_error() {
        Some(libc::EPROTONOSUPPORT) | Some(libc::ENOENT) => {
            format!("this kernel has no sock_diag destroy groups ({error})")
        }
        Some(libc::EPERM) | Some(libc::EACCES) => {
            format!("joining the sock_diag destroy groups was refused ({error}); a sandbox or seccomp profile may forbid it")
        }
        _ => error.to_string(),
    }
}
