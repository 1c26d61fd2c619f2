//! `--connect`: what a client should do with getaddrinfo's answer. The
//! results are in preference order, so try the first; if it fails, try
//! the next, and so on (the book's advice, and what `TcpStream::connect`
//! does inside). Each try gets a short timeout, or one dead address would
//! stall the whole list.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use dns_lookup::AddrInfo;

pub fn try_in_order(out: &mut impl Write, results: &[AddrInfo], timeout: Duration) -> Result<()> {
    let streams: Vec<&AddrInfo> = results
        .iter()
        .filter(|info| info.socktype == libc::SOCK_STREAM)
        .collect();
    if streams.is_empty() {
        bail!("--connect needs SOCK_STREAM results; none came back (try --socktype stream)");
    }
    for info in streams {
        match TcpStream::connect_timeout(&info.sockaddr, timeout) {
            Ok(_) => {
                writeln!(out, "connect {}: connected; using this one", info.sockaddr)
                    .context("writing to stdout")?;
                return Ok(());
            }
            Err(e) => writeln!(out, "connect {}: {e}; trying the next", info.sockaddr)
                .context("writing to stdout")?,
        }
    }
    bail!("no address accepted a TCP connection")
}
