//! What a child prints, drained from its pipes as it comes, so a chatty
//! child never blocks on a full pipe (and never dies of SIGPIPE because
//! nobody reads), and kept — up to a cap — for messages.

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Output kept per stream, so a chatty child cannot fill the memory.
const MAX_KEPT: usize = 8 << 20;

/// A shared, capped buffer of one stream's bytes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Output(Arc<Mutex<Vec<u8>>>);

impl Output {
    /// Appends, up to the cap.
    pub(crate) fn append(&self, bytes: &[u8]) {
        if let Ok(mut kept) = self.0.lock() {
            let room = MAX_KEPT.saturating_sub(kept.len());
            kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }

    /// Everything kept so far.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        self.0.lock().map(|b| b.clone()).unwrap_or_default()
    }

    /// Everything kept so far, as text (lossy).
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }

    /// The last `n` lines kept, for a short message.
    pub(crate) fn tail(&self, n: usize) -> String {
        let text = self.text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// Reads `from` to its end on a thread of its own, appending to `into`;
/// the thread ends when the child closes the stream (exits).
pub(crate) fn drain(mut from: impl Read + Send + 'static, into: Output) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => into.append(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    })
}
