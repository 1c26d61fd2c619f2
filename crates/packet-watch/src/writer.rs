//! Writing, on a thread of its own. The capture must empty the ring as fast
//! as the kernel fills it, and a `write` can block for milliseconds: the
//! page cache filling up under a pcap file, a pipe whose reader is slow
//! (`packet-watch | less`), or stopped. Every millisecond the capture spends
//! blocked is packets the kernel drops (a profile of a busy capture showed
//! a quarter of its time inside `write`).
//!
//! So the capture only fills buffers, and hands each full one to a writer
//! thread that owns the file or stdout and does the blocking. The empty
//! buffers come back for reuse: no allocation per batch. At most
//! [`BUFFERS`] are in flight, so memory stays bounded: when the writer falls
//! that far behind, the capture waits for it (and the kernel's drop count
//! shows it), but never past a stop.
//!
//! ```text
//! capture thread                          writer thread
//!   buf <- lines / pcap records
//!   buf full: send(buf) ---- full ----->  write_all(buf)   (may block)
//!   buf <- an empty one <--- empty -----  buf.clear()
//! ```

use std::io::{self, ErrorKind, Write};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, channel, sync_channel};
use std::time::Duration;

use common::stop::Stop;

/// Buffers in flight per writer, the one being filled included.
pub const BUFFERS: usize = 8;

/// The capture's end of a writer thread: it implements `Write` by copying
/// into the current buffer.
pub struct Handoff {
    buf: Vec<u8>,
    /// A buffer is handed over once it holds this much.
    size: usize,
    full: Option<SyncSender<Vec<u8>>>,
    empty: Receiver<Vec<u8>>,
    /// Buffers not made yet (made on demand, at most BUFFERS in all).
    unmade: usize,
    /// The writer's result, sent once as it ends.
    ended: Receiver<io::Result<()>>,
    /// What the writer failed with, kept to report it again.
    failure: Option<(ErrorKind, String)>,
    /// Waiting for the writer ends at a stop.
    stop: Option<Stop>,
}

impl Handoff {
    /// Starts a thread that writes to `out` whatever is handed over, in
    /// batches of `size` bytes.
    pub fn spawn(
        name: &str,
        mut out: impl Write + Send + 'static,
        size: usize,
        stop: Option<Stop>,
    ) -> io::Result<Handoff> {
        let (full_tx, full_rx) = sync_channel::<Vec<u8>>(BUFFERS);
        let (empty_tx, empty_rx) = channel();
        let (ended_tx, ended_rx) = channel();
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let write = || {
                    for mut buf in full_rx {
                        out.write_all(&buf)?;
                        // Stdout keeps a line buffer of its own: empty it now.
                        out.flush()?;
                        buf.clear();
                        let _ = empty_tx.send(buf);
                    }
                    Ok(())
                };
                // On an error the buffers queued are dropped with `full_rx`,
                // and the capture's next hand-over learns why.
                let _ = ended_tx.send(write());
            })?;
        Ok(Handoff {
            buf: Vec::with_capacity(size + 4096),
            size,
            full: Some(full_tx),
            empty: empty_rx,
            unmade: BUFFERS - 1,
            ended: ended_rx,
            failure: None,
            stop,
        })
    }

    /// The buffer being filled, to append to directly (then [`Self::commit`]).
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Hands the buffer over if it is full.
    pub fn commit(&mut self) -> io::Result<()> {
        if self.failure.is_some() {
            return Err(self.failed());
        }
        if self.buf.len() >= self.size {
            self.hand_over()?;
        }
        Ok(())
    }

    /// Hands over what is buffered, and waits up to `patience` (`None`: as
    /// long as it takes) for the writer to finish writing everything.
    pub fn close(&mut self, patience: Option<Duration>) -> io::Result<()> {
        if self.failure.is_some() {
            return Err(self.failed());
        }
        if !self.buf.is_empty() {
            self.hand_over()?;
        }
        if self.full.take().is_none() {
            return Ok(()); // closed before
        }
        let result = match patience {
            Some(patience) => self.ended.recv_timeout(patience).map_err(|e| match e {
                // Not TimedOut: that would read as a network timeout.
                RecvTimeoutError::Timeout => io::Error::other(format!(
                    "not written within {} s of the stop (is anything reading it?)",
                    patience.as_secs_f64()
                )),
                RecvTimeoutError::Disconnected => io::Error::other("the writer thread ended"),
            }),
            None => self
                .ended
                .recv()
                .map_err(|_| io::Error::other("the writer thread ended")),
        };
        let result = result.and_then(|r| r);
        if let Err(e) = &result {
            self.failure = Some((e.kind(), e.to_string()));
        }
        result
    }

    fn hand_over(&mut self) -> io::Result<()> {
        let next = self.next_empty()?;
        let full = std::mem::replace(&mut self.buf, next);
        let sent = self.full.as_ref().map(|tx| tx.send(full));
        match sent {
            Some(Ok(())) => Ok(()),
            // The writer has ended: with an error, which it said.
            _ => Err(self.failed()),
        }
    }

    /// An empty buffer: one that came back, a new one while fewer than
    /// BUFFERS exist, or else the next one the writer gives back.
    fn next_empty(&mut self) -> io::Result<Vec<u8>> {
        if let Ok(buf) = self.empty.try_recv() {
            return Ok(buf);
        }
        if self.unmade > 0 {
            self.unmade -= 1;
            return Ok(Vec::with_capacity(self.size + 4096));
        }
        loop {
            match self.empty.recv_timeout(Duration::from_millis(50)) {
                Ok(buf) => return Ok(buf),
                Err(RecvTimeoutError::Disconnected) => return Err(self.failed()),
                // The writer is blocked: a stop must not wait for it.
                Err(RecvTimeoutError::Timeout) => {
                    if self.stop.as_ref().is_some_and(Stop::is_stopped) {
                        return Err(io::Error::other(
                            "stopped while the output was blocked (is anything reading it?)",
                        ));
                    }
                }
            }
        }
    }

    /// Why the writer ended: its own error, once it has said it.
    fn failed(&mut self) -> io::Error {
        if self.failure.is_none() {
            let (kind, text) = match self.ended.recv() {
                Ok(Err(e)) => (e.kind(), e.to_string()),
                _ => (ErrorKind::Other, "the writer thread ended".to_string()),
            };
            self.failure = Some((kind, text));
        }
        let (kind, text) = self
            .failure
            .clone()
            .unwrap_or((ErrorKind::Other, String::new()));
        io::Error::new(kind, text)
    }
}

impl Write for Handoff {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        self.commit()?;
        Ok(data.len())
    }

    /// Hands over what is buffered, without waiting for it to be written.
    fn flush(&mut self) -> io::Result<()> {
        if self.failure.is_some() {
            return Err(self.failed());
        }
        if !self.buf.is_empty() {
            self.hand_over()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer that keeps what it gets, or fails after `fail_after` writes.
    #[derive(Clone)]
    struct Sink(Arc<Mutex<Vec<u8>>>, usize);

    impl Write for Sink {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            if self.1 == 0 {
                return Err(io::Error::from(ErrorKind::BrokenPipe));
            }
            self.1 -= 1;
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn everything_handed_over_is_written_in_order() {
        let sink = Sink(Arc::default(), usize::MAX);
        let mut handoff = Handoff::spawn("test", sink.clone(), 10, None).unwrap();
        let mut want = Vec::new();
        for i in 0..1000u32 {
            let line = format!("{i}\n");
            handoff.write_all(line.as_bytes()).unwrap();
            want.extend(line.bytes());
            if i % 7 == 0 {
                handoff.flush().unwrap();
            }
        }
        handoff.close(None).unwrap();
        assert_eq!(*sink.0.lock().unwrap(), want);
    }

    #[test]
    fn the_writers_error_is_the_captures_error() {
        let sink = Sink(Arc::default(), 2);
        let mut handoff = Handoff::spawn("test", sink, 4, None).unwrap();
        let error = (0..100)
            .find_map(|_| handoff.write_all(b"12345").err())
            .expect("the third write fails");
        assert_eq!(error.kind(), ErrorKind::BrokenPipe, "{error}");
        // And again, the same, however it is asked.
        assert_eq!(handoff.flush().unwrap_err().kind(), ErrorKind::BrokenPipe);
        assert_eq!(
            handoff.close(None).unwrap_err().kind(),
            ErrorKind::BrokenPipe
        );
    }

    /// A writer blocked for good (a pipe nobody reads): a stop ends the
    /// wait for a free buffer, and close gives up after its patience.
    #[test]
    fn a_blocked_writer_holds_up_no_stop() {
        struct Stuck;
        impl Write for Stuck {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                std::thread::sleep(Duration::from_secs(3600));
                Ok(0)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let stop = Stop::new().unwrap();
        let mut handoff = Handoff::spawn("test", Stuck, 4, Some(stop.clone())).unwrap();
        let trigger = stop.clone();
        let timer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            trigger.trigger();
        });
        let started = std::time::Instant::now();
        let error = (0..1000)
            .find_map(|_| handoff.write_all(b"12345").err())
            .expect("the wait for a buffer ends");
        assert!(error.to_string().starts_with("stopped while"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(2));
        timer.join().unwrap();

        let mut other = Handoff::spawn("test", Stuck, 1 << 20, None).unwrap();
        other.write_all(b"x").unwrap();
        let started = std::time::Instant::now();
        let error = other.close(Some(Duration::from_millis(100))).unwrap_err();
        assert!(
            error.to_string().starts_with("not written within"),
            "{error}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
