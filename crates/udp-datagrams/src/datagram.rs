//! Receiving one datagram without ever cutting it silently.
//!
//! A UDP `recv` into a buffer smaller than the datagram copies what fits
//! and throws the rest away, and plain `recv_from` gives no sign of it.
//! On Linux the `MSG_TRUNC` flag makes `recvfrom` return the datagram's
//! real length instead, so we can tell, and report it.

use std::io;
use std::mem::MaybeUninit;
use std::net::{SocketAddr, UdpSocket};

use common::endpoint::dialable;
use common::stop::Stop;
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

/// `recv_from()` does not look at a stop flag. On stop, send the socket at
/// `local` an empty datagram: `recv_from` returns, and the loop, which
/// checks the flag after every datagram, ends. (The UDP twin of the TCP
/// lessons' self-connect; it costs nothing while the server runs, unlike
/// a read timeout that would wake it ten times a second forever.)
pub fn wake_on_stop(stop: &Stop, local: SocketAddr) {
    stop.on_stop(move || {
        let target = dialable(local);
        let poke = UdpSocket::bind((target.ip(), 0)).and_then(|s| s.send_to(b"", target));
        if let Err(e) = poke {
            eprintln!("could not wake the receive loop at {target}: {e}");
        }
    });
}
