//! One call's stdout and stderr: interleaved in arrival order, capped, drained past the cap, and
//! cut at the driver's end-of-call marker on each pipe.

use tokio::io::{AsyncRead, AsyncReadExt};

/// The capped log of one call.
pub(crate) struct Logs {
    kept: Vec<u8>,
    cap: usize,
    dropped: u64,
}

impl Logs {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            kept: Vec::with_capacity(cap.min(8192)),
            cap,
            dropped: 0,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        let room = self.cap.saturating_sub(self.kept.len()).min(bytes.len());
        self.kept.extend_from_slice(&bytes[..room]);
        self.dropped += (bytes.len() - room) as u64;
    }

    /// Appends a note of the sandbox's own (not counted against the cap).
    pub(crate) fn note(&mut self, note: &str) {
        if !self.kept.is_empty() && !self.kept.ends_with(b"\n") {
            self.kept.push(b'\n');
        }
        self.kept.extend_from_slice(note.as_bytes());
        self.kept.push(b'\n');
    }

    pub(crate) fn finish(mut self) -> String {
        if self.dropped > 0 {
            let note = format!(
                "[{} more bytes of output were cut: the output cap is {} bytes]",
                self.dropped, self.cap
            );
            self.note(&note);
        }
        String::from_utf8_lossy(&self.kept).into_owned()
    }
}

/// One pipe's reading state: bytes that may be the start of the marker are held back.
pub(crate) struct Stream {
    held: Vec<u8>,
    /// The marker was seen: this pipe is drained up to the end of the call.
    pub(crate) done: bool,
    /// The pipe hit end of file: the interpreter is gone.
    pub(crate) eof: bool,
}

impl Stream {
    pub(crate) fn new() -> Self {
        Self {
            held: Vec::new(),
            done: false,
            eof: false,
        }
    }

    fn feed(&mut self, chunk: &[u8], marker: &[u8], logs: &mut Logs) {
        self.held.extend_from_slice(chunk);
        if let Some(at) = find(&self.held, marker) {
            logs.push(&self.held[..at]);
            self.held.clear();
            self.done = true;
            return;
        }
        let keep = marker.len() - 1;
        if self.held.len() > keep {
            let cut = self.held.len() - keep;
            logs.push(&self.held[..cut]);
            self.held.drain(..cut);
        }
    }

    /// Releases the held-back bytes (the call ended without a marker on this pipe).
    pub(crate) fn flush(&mut self, logs: &mut Logs) {
        logs.push(&self.held);
        self.held.clear();
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// Reads both pipes until each has shown the marker or hit end of file.
pub(crate) async fn read_until_marker<O, E>(
    out: &mut O,
    err: &mut E,
    marker: &[u8],
    state: &mut (Stream, Stream, Logs),
) -> std::io::Result<()>
where
    O: AsyncRead + Unpin,
    E: AsyncRead + Unpin,
{
    let mut out_buf = vec![0u8; 64 << 10];
    let mut err_buf = vec![0u8; 64 << 10];
    let (so, se, logs) = state;
    while !(so.done || so.eof) || !(se.done || se.eof) {
        tokio::select! {
            n = out.read(&mut out_buf), if !(so.done || so.eof) => {
                match n? {
                    0 => { so.eof = true; so.flush(logs); }
                    n => so.feed(&out_buf[..n], marker, logs),
                }
            }
            n = err.read(&mut err_buf), if !(se.done || se.eof) => {
                match n? {
                    0 => { se.eof = true; se.flush(logs); }
                    n => se.feed(&err_buf[..n], marker, logs),
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_split_across_chunks_and_cap() {
        let mut logs = Logs::new(8);
        let mut s = Stream::new();
        s.feed(b"hello wor", b"<END>", &mut logs);
        s.feed(b"ld<E", b"<END>", &mut logs);
        assert!(!s.done);
        s.feed(b"ND>", b"<END>", &mut logs);
        assert!(s.done);
        let text = logs.finish();
        assert!(text.starts_with("hello wo\n[3 more bytes"), "{text}");
    }
}
