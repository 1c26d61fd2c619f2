//! Receiving one datagram without ever cutting it silently.
//!
//! A UDP `recv` into a buffer smaller than the datagram copies what fits
//! and throws the rest away, and plain `recv_from` gives no sign of it.
//! On Linux the `MSG_TRUNC` flag makes `recvfrom` return the datagram's
//! real length instead, so we can tell, and report it.

use std::io;
use std::mem::MaybeUninit;
use std::net::{SocketAddr, UdpSocket};

use common::stop::{Stop, Wait};
use socket2::SockRef;

/// The largest UDP payload over IPv4: 65535 - 20 (IP header) - 8 (UDP header).
pub const MAX_PAYLOAD: usize = 65_507;

/// One received datagram.
pub struct Received {
    /// Bytes copied into the buffer.
    pub len: usize,
    /// The datagram's real length; larger than `len` if it was truncated.
    pub full_len: usize,
    pub from: SocketAddr,
}

impl Received {
    pub fn truncated(&self) -> bool {
        self.full_len > self.len
    }
}

/// `recvfrom(fd, buf, MSG_TRUNC)`: receives one datagram into `buf`.
pub fn recv_from(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<Received> {
    // SAFETY: viewing initialised bytes as MaybeUninit<u8> is always sound;
    // recvfrom only writes bytes into the buffer, never uninitialised ones.
    let uninit = unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) };
    let (full_len, from) = SockRef::from(socket).recv_from_with_flags(uninit, libc::MSG_TRUNC)?;
    let from = from.as_socket().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "a datagram from a non-IP address",
        )
    })?;
    Ok(Received {
        len: full_len.min(buf.len()),
        full_len,
        from,
    })
}

/// Waits for the next datagram or a stop, whichever comes first: `None`
/// means stop. `recv_from()` alone never looks at a stop flag, so the wait
/// is a `poll()` on the socket and on the stop (see common/src/stop.rs).
pub fn recv_or_stop(
    stop: &Stop,
    socket: &UdpSocket,
    buf: &mut [u8],
) -> io::Result<Option<Received>> {
    loop {
        match stop.wait_readable(socket, None)? {
            Wait::Ready => {}
            Wait::Stopped | Wait::TimedOut => return Ok(None),
        }
        match recv_from(socket, buf) {
            // Readiness that vanished, or a signal: wait again.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            other => return other.map(Some),
        }
    }
}
