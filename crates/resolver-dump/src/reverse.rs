//! getnameinfo: the way back, from an address (and port) to a name (and
//! service). The name comes from /etc/hosts or a PTR record in DNS, and
//! whoever controls the address's reverse zone chooses it: never trust a
//! reverse name for anything that matters without looking it up forwards.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};

use anyhow::{Context, Result, anyhow};
use common::narrate;

use crate::lookup::GaiError;

/// `NI_NUMERICHOST|NI_NAMEREQD` for those bits.
fn ni_flags(flags: i32) -> String {
    let all = [
        (libc::NI_NUMERICHOST, "NI_NUMERICHOST"),
        (libc::NI_NUMERICSERV, "NI_NUMERICSERV"),
        (libc::NI_NAMEREQD, "NI_NAMEREQD"),
        (libc::NI_DGRAM, "NI_DGRAM"),
    ];
    let names: Vec<&str> = all
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    if names.is_empty() {
        "0".into()
    } else {
        names.join("|")
    }
}

/// Looks up `address` (and `port`) and prints the name and service.
pub fn reverse(
    out: &mut impl Write,
    address: &str,
    port: u16,
    flags: i32,
    json: bool,
) -> Result<()> {
    let ip: IpAddr = address
        .parse()
        .map_err(|_| anyhow!("--reverse takes a numeric IP address, not {address:?}"))?;
    let sockaddr = SocketAddr::new(ip, port);
    let (host, service) = dns_lookup::getnameinfo(&sockaddr, flags)
        .map_err(GaiError::from)
        .with_context(|| format!("getnameinfo({sockaddr}, {})", ni_flags(flags)))?;
    narrate!(
        "getnameinfo({sockaddr}, {}) -> ({host:?}, {service:?})",
        ni_flags(flags)
    );
    if json {
        let object = serde_json::json!({ "host": host, "service": service });
        writeln!(out, "{object}").context("writing to stdout")
    } else {
        writeln!(out, "host:    {host}\nservice: {service}").context("writing to stdout")
    }
}
