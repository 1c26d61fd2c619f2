//! The edge of a datagram: the book's big_sender.py. With the
//! don't-fragment bit set (Linux `IP_MTU_DISCOVER = IP_PMTUDISC_DO`), the
//! kernel refuses to send a datagram larger than the path MTU allows,
//! with `EMSGSIZE`, and tells us the MTU it knows (`IP_MTU`). Without
//! it, IP would cut the datagram into fragments, and losing any one
//! fragment loses the whole datagram.

use std::io::{self, ErrorKind};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use common::endpoint::Endpoint;
use common::narrate;

/// IPv4 header (20, without options) + UDP header (8).
const HEADERS: usize = 28;

#[derive(clap::Args)]
pub struct BigArgs {
    #[command(flatten)]
    endpoint: Endpoint<7002>,
    /// Payload size in bytes, 0 to 65535 (UDP over IPv4 carries at most
    /// 65507: ask for more to see the kernel refuse).
    #[arg(long, value_parser = payload_size)]
    size: usize,
}

/// The largest size `big` asks the kernel to send: an IP packet's length
/// field is 16 bits, so nothing longer can even be described. Past 65507
/// (IP and UDP headers take 28) the kernel itself says EMSGSIZE.
const MAX_SIZE: usize = 65_535;

/// `--size`: a number of bytes up to [`MAX_SIZE`], checked before any
/// buffer is made (a huge size would abort the allocation).
fn payload_size(text: &str) -> Result<usize, String> {
    match text.parse::<u64>() {
        Ok(size) if size <= MAX_SIZE as u64 => Ok(size as usize),
        Ok(_) => Err(format!(
            "must be at most {MAX_SIZE} bytes: an IP packet's length field is 16 bits"
        )),
        Err(_) => Err(format!(
            "`{text}` is not a number of bytes from 0 to {MAX_SIZE}"
        )),
    }
}

pub fn run(args: &BigArgs) -> Result<()> {
    let server = args.endpoint.resolve()?[0];
    let SocketAddr::V4(_) = server else {
        bail!("`big` demonstrates IPv4's don't-fragment bit; give an IPv4 --host");
    };
    let socket = UdpSocket::bind("0.0.0.0:0").context("creating a UDP socket")?;
    narrate!("socket(AF_INET, SOCK_DGRAM)");
    narrate!("bind(0.0.0.0:0)");
    socket
        .connect(server)
        .with_context(|| format!("connecting the UDP socket to {server}"))?;
    narrate!("connect({server})");
    set_dont_fragment(&socket).context("setting IP_MTU_DISCOVER to IP_PMTUDISC_DO")?;
    narrate!("setsockopt(IP_MTU_DISCOVER, IP_PMTUDISC_DO)");
    let mtu = path_mtu(&socket).context("reading IP_MTU")?;
    narrate!("getsockopt(IP_MTU) -> {mtu}");
    common::out!(
        "path MTU to {server}: {mtu} bytes, so at most {} bytes of UDP payload",
        mtu.saturating_sub(HEADERS)
    )?;

    let payload = vec![b'#'; args.size];
    let sent = socket.send(&payload);
    match &sent {
        Ok(n) => narrate!("send() -> {n} bytes"),
        Err(e) => narrate!("send() -> {e}"),
    }
    match sent {
        Ok(sent) => common::out!("sent a {sent}-byte datagram in one piece")?,
        // EMSGSIZE: too big for the path (or for UDP at all, past 65507).
        Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => {
            let mtu = path_mtu(&socket).unwrap_or(mtu);
            bail!(
                "{} bytes is too big: the path MTU is {mtu} bytes, so the largest payload with \
                 don't-fragment set is {} (IP and UDP headers take {HEADERS}); the kernel \
                 refused with EMSGSIZE ({e})",
                args.size,
                mtu.saturating_sub(HEADERS)
            );
        }
        Err(e) => {
            return Err(e).with_context(|| format!("sending {} bytes to {server}", args.size));
        }
    }
    // A server may answer; don't wait long, and it is fine if none does.
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .context("setting the read timeout")?;
    narrate!("setsockopt(SO_RCVTIMEO, 500ms)");
    let mut reply = [0u8; 256];
    let received = socket.recv(&mut reply);
    match &received {
        Ok(n) => narrate!("recv() -> {n} bytes"),
        Err(e) => narrate!("recv() -> {e}"),
    }
    match received {
        Ok(n) => common::out!("reply: {}", common::escape::text(&reply[..n]))?,
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::ConnectionRefused
            ) =>
        {
            common::out!("(no reply from {server}; the datagram left this machine anyway)")?
        }
        Err(e) => return Err(e).context("waiting for a reply"),
    }
    Ok(())
}

/// `setsockopt(IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)`: set DF, never fragment.
fn set_dont_fragment(socket: &UdpSocket) -> io::Result<()> {
    let value: libc::c_int = libc::IP_PMTUDISC_DO;
    // SAFETY: a valid socket, an option of type int, and its exact size.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(socket),
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `getsockopt(IPPROTO_IP, IP_MTU)`: the kernel's idea of the path MTU to
/// the connected peer (the interface MTU until an ICMP says otherwise).
fn path_mtu(socket: &UdpSocket) -> io::Result<usize> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: a valid, connected socket; `value` and `len` describe an int.
    let rc = unsafe {
        libc::getsockopt(
            std::os::fd::AsRawFd::as_raw_fd(socket),
            libc::IPPROTO_IP,
            libc::IP_MTU,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(value as usize)
    } else {
        Err(io::Error::last_os_error())
    }
}
