//! `--connect`: what a client should do with getaddrinfo's answer. The
//! results are in preference order, so try the first; if it fails, try
//! the next, and so on (the book's advice, and what `TcpStream::connect`
//! does inside). Each try gets a short timeout, or one dead address would
//! stall the whole list.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::gai::AddrInfo;

/// The error when no result accepted a connection, for its hint.
#[derive(Debug)]
pub struct NoneAccepted;

impl std::fmt::Display for NoneAccepted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no address accepted a TCP connection")
    }
}

impl std::error::Error for NoneAccepted {}

/// Connects to each SOCK_STREAM result in order; stops at the first that
/// accepts, printing what happened to each.
pub fn try_in_order(out: &mut impl Write, results: &[AddrInfo], timeout: Duration) -> Result<()> {
    let streams: Vec<&AddrInfo> = results
        .iter()
        .filter(|info| info.socktype == libc::SOCK_STREAM)
        .collect();
    if streams.is_empty() {
        bail!("--connect needs SOCK_STREAM results; none came back (try --socktype stream)");
    }
    let last = streams.len() - 1;
    for (i, info) in streams.into_iter().enumerate() {
        match TcpStream::connect_timeout(&info.address, timeout) {
            Ok(_) => {
                writeln!(out, "connect {}: connected; using this one", info.address)
                    .context("writing to stdout")?;
                return Ok(());
            }
            Err(e) => {
                let next = if i < last { "; trying the next" } else { "" };
                writeln!(out, "connect {}: {e}{next}", info.address)
                    .context("writing to stdout")?;
            }
        }
    }
    Err(NoneAccepted.into())
}
