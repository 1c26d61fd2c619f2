//! The packet socket: `socket(AF_PACKET, SOCK_RAW, ...)` hands us every frame
//! an interface sends or receives, link-layer header included, a copy taken
//! by the kernel before (incoming) or after (outgoing) its own TCP/IP stack
//! sees it. That is what tcpdump and Wireshark read (through libpcap).
//!
//! The order of the calls matters:
//! 1. `socket(AF_PACKET, SOCK_RAW, 0)`: protocol 0 means "no packets yet".
//!    The kernel hooks a packet socket into the receive path only once it
//!    has a protocol, so nothing can be queued on it before step 3.
//! 2. `setsockopt(SO_ATTACH_FILTER)`: the port filter ([`crate::bpf`]).
//! 3. The ring ([`crate::ring`]): memory shared with the kernel, where it
//!    puts each packet that passes the filter, so reading costs no system
//!    call per packet (what libpcap does; the bare example uses `recvfrom`).
//! 4. `bind(interface, ETH_P_ALL)`: from now on every frame of that
//!    interface runs through the filter, and only what passes is kept.
//!
//! libpcap opens its socket with ETH_P_ALL at once, so frames arrive before
//! its filter is set; it attaches a drop-everything filter, drains the
//! queue, then attaches the real one. Opening with protocol 0 makes that
//! dance unnecessary: there is nothing to drain.
//!
//! Needs root or CAP_NET_RAW: seeing other programs' traffic is a privilege.

use std::io::{self, ErrorKind};
use std::mem::{size_of, zeroed};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use common::narrate;

use crate::bpf::{self, Insn};
use crate::ring::Ring;

/// An open, filtered, bound packet socket.
pub struct Capture {
    /// Declared before `fd`: unmapped before the socket closes.
    ring: Ring,
    fd: OwnedFd,
    /// Totals from PACKET_STATISTICS, which resets the kernel's counters
    /// each time it is read.
    passed: u64,
    dropped: u64,
    interface: String,
}

/// One frame as the kernel handed it over.
pub struct Frame<'a> {
    pub data: &'a [u8],
    /// Its length on the wire (more than `data` if it did not fit).
    pub wire_len: usize,
    /// When the kernel saw it, not when we read it.
    pub time: SystemTime,
    /// `sll_pkttype`: PACKET_OUTGOING (4) for a frame this host sent.
    pub packet_type: u8,
}

/// The error that means "not allowed": the hint names `sudo`.
#[derive(Debug)]
pub struct NotPermitted;

impl std::fmt::Display for NotPermitted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("capturing needs root or CAP_NET_RAW")
    }
}

impl std::error::Error for NotPermitted {}

impl Capture {
    /// Opens a capture on `interface` that keeps only what `ports` allow
    /// (all packets if empty).
    pub fn open(interface: &str, ports: &[u16]) -> Result<Capture> {
        let name = std::ffi::CString::new(interface)
            .with_context(|| format!("interface name {interface:?}"))?;
        // SAFETY: a valid NUL-terminated string.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            bail!("no interface named {interface:?} here (`ip link` lists them)");
        }

        // 1. The socket, with protocol 0: nothing is queued on it yet.
        // SAFETY: plain socket(2); the result is checked.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            let e = io::Error::last_os_error();
            let context = "opening a packet socket (socket(AF_PACKET, SOCK_RAW))";
            if e.kind() == ErrorKind::PermissionDenied {
                return Err(anyhow::Error::new(e).context(NotPermitted).context(context));
            }
            return Err(e).context(context);
        }
        // SAFETY: fd is a socket we just opened and nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        narrate!("socket(AF_PACKET, SOCK_RAW, protocol 0) -> nothing queued until bind");

        // What the interface's frames start with: only Ethernet-style
        // headers here (lo has one too, with zero addresses).
        let hatype =
            hardware_type(&fd, &name).with_context(|| format!("asking {interface} its type"))?;
        if hatype != libc::ARPHRD_ETHER && hatype != libc::ARPHRD_LOOPBACK {
            bail!(
                "{interface} is not an Ethernet-style interface (ARPHRD type {hatype}); \
                 packet-watch captures on lo, Ethernet and veth interfaces"
            );
        }

        // 2. The filter, before any packet can arrive. On lo each packet
        // passes twice (sent, then received): drop the sent copy, as libpcap does.
        let program = bpf::program(ports, hatype == libc::ARPHRD_LOOPBACK);
        attach_filter(&fd, &program)?;
        narrate!(
            "setsockopt(SO_ATTACH_FILTER, {} instructions)",
            program.len()
        );

        // 3. The ring: the kernel writes accepted packets into memory we map.
        let ring = Ring::map(&fd)?;
        narrate!(
            "setsockopt(PACKET_RX_RING, TPACKET_V3) + mmap: a 30 MiB ring shared with the kernel"
        );

        // 4. bind: all protocols (ETH_P_ALL) on this one interface.
        // SAFETY: sockaddr_ll is plain data; zero is a valid start.
        let mut addr: libc::sockaddr_ll = unsafe { zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        addr.sll_ifindex = ifindex as i32;
        // SAFETY: addr is a valid sockaddr_ll of the size we pass.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&raw const addr).cast(),
                size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error())
                .with_context(|| format!("binding the packet socket to {interface}"));
        }
        narrate!("bind({interface}, ETH_P_ALL)");
        Ok(Capture {
            ring,
            fd,
            passed: 0,
            dropped: 0,
            interface: interface.to_string(),
        })
    }

    /// The next captured frame, or `None` if the kernel has handed over
    /// nothing new (never blocks: wait with `Stop::wait_readable` on the
    /// capture, which is an `AsFd`; poll() wakes when a block is ours).
    pub fn try_next(&mut self) -> Result<Option<Frame<'_>>> {
        Ok(self.ring.next_packet().map(|p| Frame {
            data: p.data,
            wire_len: p.wire_len,
            time: p.time,
            packet_type: p.packet_type,
        }))
    }

    /// Waits up to `timeout` for the kernel to hand over a block; whether it
    /// did. Used after a stop, to collect a last, half-full block (the
    /// kernel hands one over a few milliseconds after its first packet).
    pub fn wait(&self, timeout: Duration) -> Result<bool> {
        let mut fd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd for the whole call.
        let n = unsafe { libc::poll(&raw mut fd, 1, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(e).context("waiting for the packet ring (poll)");
        }
        Ok(n > 0)
    }

    /// After poll() said "ready": the error the socket reports, if any.
    /// When the interface goes down or away (`ip link del`, a namespace
    /// removed), the kernel unhooks the socket and sets ENETDOWN; poll()
    /// then says POLLERR at once, every time, until the error is read: a
    /// loop that only waited again would spin at full speed.
    pub fn check(&self) -> Result<()> {
        let mut error: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: error and len are valid for the sizes given.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&raw mut error).cast(),
                &raw mut len,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error())
                .context("reading the socket's error (SO_ERROR)");
        }
        match error {
            0 => Ok(()),
            libc::ENETDOWN => Err(io::Error::from_raw_os_error(error)).context(format!(
                "capturing on {}: the interface went down or away",
                self.interface
            )),
            _ => Err(io::Error::from_raw_os_error(error))
                .context(format!("capturing on {}", self.interface)),
        }
    }

    /// Packets that passed the filter, and how many of them the kernel had
    /// to drop because our queue was full, since the capture began.
    pub fn statistics(&mut self) -> Result<(u64, u64)> {
        // SAFETY: tpacket_stats is plain data.
        let mut stats: libc::tpacket_stats = unsafe { zeroed() };
        let mut len = size_of::<libc::tpacket_stats>() as libc::socklen_t;
        // SAFETY: stats and len are valid for the sizes given.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&raw mut stats).cast(),
                &raw mut len,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error()).context("reading PACKET_STATISTICS");
        }
        // tp_packets counts the dropped ones too.
        self.passed += u64::from(stats.tp_packets);
        self.dropped += u64::from(stats.tp_drops);
        Ok((self.passed, self.dropped))
    }
}

impl AsFd for Capture {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The interface's ARPHRD_* type, from SIOCGIFHWADDR.
fn hardware_type(fd: &OwnedFd, name: &std::ffi::CStr) -> io::Result<u16> {
    // SAFETY: ifreq is plain data.
    let mut req: libc::ifreq = unsafe { zeroed() };
    let bytes = name.to_bytes();
    if bytes.len() >= req.ifr_name.len() {
        return Err(io::Error::from(ErrorKind::InvalidInput));
    }
    for (dst, &src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = src as libc::c_char;
    }
    // SAFETY: req is a valid ifreq with a NUL-terminated name.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFHWADDR, &raw mut req) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFHWADDR filled in ifru_hwaddr.
    Ok(unsafe { req.ifr_ifru.ifru_hwaddr.sa_family })
}

fn attach_filter(fd: &OwnedFd, program: &[Insn]) -> Result<()> {
    let prog = libc::sock_fprog {
        len: program.len() as u16,
        // Insn is #[repr(C)] with sock_filter's layout.
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog)
        .context("attaching the BPF filter (SO_ATTACH_FILTER)")
}

fn setsockopt<T>(fd: &OwnedFd, level: i32, name: i32, value: &T) -> io::Result<()> {
    // SAFETY: value points at a T of the size we pass.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
