//! getnameinfo: the way back, from an address (and port) to a name (and
//! service). The name comes from /etc/hosts or a PTR record in DNS, and
//! whoever controls the address's reverse zone chooses it: never trust a
//! reverse name for anything that matters without looking it up forwards,
//! and never print it unescaped (see `printable.rs`).

use std::fmt;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};

use anyhow::{Context, Result, anyhow};
use common::narrate;

use crate::{gai, names, printable};

/// What to ask getnameinfo.
pub struct Reverse {
    pub address: String,
    pub port: u16,
    pub flags: i32,
    pub json: bool,
}

/// The context of a failed getnameinfo, for the error line and its hint.
#[derive(Debug)]
pub struct ReverseFailed {
    pub address: SocketAddr,
    pub flags: i32,
}

impl fmt::Display for ReverseFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flags = names::flags(self.flags, names::NI_FLAGS);
        write!(f, "getnameinfo({}, {flags})", self.address)
    }
}

/// Looks up the address (and port) and prints the name and service.
pub fn run(out: &mut impl Write, ask: &Reverse) -> Result<()> {
    let ip: IpAddr = ask.address.parse().map_err(|_| {
        anyhow!(
            "--reverse takes a numeric IP address, not {:?}",
            ask.address
        )
    })?;
    let address = SocketAddr::new(ip, ask.port);
    let (host, service) = match gai::getnameinfo(&address, ask.flags) {
        Ok(answer) => answer,
        Err(e) => {
            let failed = ReverseFailed {
                address,
                flags: ask.flags,
            };
            return Err(anyhow::Error::new(e).context(failed));
        }
    };
    let (host_text, service_text) = (printable::text(&host), printable::text(&service));
    narrate!(
        "getnameinfo({address}, {}) -> (\"{host_text}\", \"{service_text}\")",
        names::flags(ask.flags, names::NI_FLAGS)
    );
    if ask.json {
        let object = serde_json::json!({
            "host": printable::json_value(&host),
            "service": printable::json_value(&service),
        });
        writeln!(
            out,
            "{}",
            printable::terminal_safe_json(&object.to_string())
        )
        .context("writing to stdout")
    } else {
        writeln!(out, "host:    {host_text}\nservice: {service_text}").context("writing to stdout")
    }
}
