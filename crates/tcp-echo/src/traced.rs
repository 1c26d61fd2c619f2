//! `--trace` for the client's socket, told truthfully: each `read` or
//! `write` on a [`Traced`] is exactly one `recv` or `send` syscall, narrated
//! right after it returns, with the count the kernel gave. `read_exact` and
//! `write_all` are loops over these, so an echo that arrives in two pieces
//! shows as two `recv()` lines, as `strace` would show it.

use std::io::{self, Read, Write};
use std::net::TcpStream;

use common::narrate;

/// A borrowed stream whose every syscall is narrated. Borrowed, so the
/// writer thread and the reader thread share one socket (one descriptor,
/// one `close()`).
pub struct Traced<'a>(pub &'a TcpStream);

impl Read for Traced<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let result = (&mut &*self.0).read(buf);
        match &result {
            Ok(0) => narrate!("recv() -> 0 bytes (EOF: the server is done sending)"),
            Ok(n) => narrate!("recv() -> {n} bytes"),
            Err(e) => narrate!("recv() -> {e}"),
        }
        result
    }
}

impl Write for Traced<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let result = (&mut &*self.0).write(buf);
        match &result {
            Ok(n) => narrate!("send() -> {n} bytes"),
            Err(e) => narrate!("send() -> {e}"),
        }
        result
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(()) // a socket has no user-space buffer to flush
    }
}
