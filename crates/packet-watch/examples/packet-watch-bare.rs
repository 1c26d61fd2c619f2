//! packet-watch, bare: the idea alone. A packet socket receives a copy of
//! every frame on `lo`; etherparse peels off the headers; one line each. No
//! port filter, no Ctrl-C, no pcap, no TCP tracking, no arguments (not even
//! `--port`): `src/` adds those (the README's "Reading order"). Needs root.
//! ```text
//! terminal 1$ cargo build -p packet-watch --example packet-watch-bare && \
//!             sudo target/debug/examples/packet-watch-bare
//! terminal 2$ cargo run -p tcp-echo -- server
//! terminal 3$ cargo run -p tcp-echo -- client hello
//! ```

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use std::io;
use std::net::SocketAddr;

fn main() -> io::Result<()> {
    // socket(AF_PACKET, SOCK_RAW, ETH_P_ALL): whole frames, every protocol.
    let all = (libc::ETH_P_ALL as u16).to_be();
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(all)) };
    if fd < 0 {
        return Err(io::Error::last_os_error()); // EPERM: not root
    }
    // bind() to one interface, lo; without it we would get every interface.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = all;
    addr.sll_ifindex = unsafe { libc::if_nametoindex(c"lo".as_ptr()) } as i32;
    let size = size_of::<libc::sockaddr_ll>() as u32;
    if unsafe { libc::bind(fd, (&raw const addr).cast(), size) } < 0 {
        return Err(io::Error::last_os_error());
    }
    println!("capturing on lo");
    let mut buf = vec![0u8; 65536 + 14]; // lo's largest frame
    loop {
        // recvfrom(): one frame per call, and where it came from.
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut len = size;
        let n = unsafe {
            let (b, f) = (buf.as_mut_ptr().cast(), (&raw mut from).cast());
            libc::recvfrom(fd, b, buf.len(), 0, f, &mut len)
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        // On lo we see each packet leave and arrive: keep the arrival.
        if from.sll_pkttype == libc::PACKET_OUTGOING {
            continue;
        }
        let Ok(packet) = SlicedPacket::from_ethernet(&buf[..n as usize]) else {
            println!("malformed frame of {n} bytes");
            continue;
        };
        let (src, dst) = match &packet.net {
            Some(NetSlice::Ipv4(ip)) => (
                ip.header().source_addr().into(),
                ip.header().destination_addr().into(),
            ),
            Some(NetSlice::Ipv6(ip)) => (
                ip.header().source_addr().into(),
                ip.header().destination_addr().into(),
            ),
            _ => continue, // ARP and friends: not IP
        };
        let at = |ip, port| SocketAddr::new(ip, port);
        match &packet.transport {
            Some(TransportSlice::Tcp(t)) => {
                // Flag bits 0 to 4 are FIN, SYN, RST, PSH, ACK: tcpdump's letters.
                let on = |(i, c): (usize, char)| (t.header_slice()[13] >> i & 1 == 1).then_some(c);
                let flags: String = "FSRP.".chars().enumerate().filter_map(on).collect();
                let (s, d) = (at(src, t.source_port()), at(dst, t.destination_port()));
                println!("{s} > {d} TCP [{flags}] len {}", t.payload().len());
            }
            Some(TransportSlice::Udp(u)) => {
                let (s, d) = (at(src, u.source_port()), at(dst, u.destination_port()));
                println!("{s} > {d} UDP len {}", u.payload().len());
            }
            _ => println!("{src} > {dst} other"),
        }
    }
}
