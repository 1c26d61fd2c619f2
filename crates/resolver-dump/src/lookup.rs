//! A forward lookup: getaddrinfo with the hints you gave, every result
//! shown in the order the system returned them. That order matters: it is
//! RFC 6724's preference order (see /etc/gai.conf), and a client should try
//! the addresses in it.

use std::fmt;
use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result};
use common::narrate;

use crate::gai::{self, Hints};
use crate::{connect, names, output};

/// What to ask: getaddrinfo's four arguments.
#[derive(Debug)]
pub struct Query {
    pub host: Option<String>,
    pub service: Option<String>,
    pub family: i32,
    pub socktype: i32,
    pub protocol: i32,
    pub flags: i32,
}

impl fmt::Display for Query {
    /// `getaddrinfo("localhost", "smtp", {ai_family=AF_UNSPEC, ...})`, as C.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted =
            |s: &Option<String>| s.as_ref().map_or("NULL".to_string(), |s| format!("{s:?}"));
        write!(
            f,
            "getaddrinfo({}, {}, {{ai_family={}, ai_socktype={}, ai_protocol={}, ai_flags={}}})",
            quoted(&self.host),
            quoted(&self.service),
            names::family(self.family).unwrap_or("?"),
            names::socktype(self.socktype).map_or(self.socktype.to_string(), String::from),
            self.protocol,
            names::flags(self.flags, names::AI_FLAGS),
        )
    }
}

/// The context of a failed getaddrinfo: its arguments, for the error line
/// and for a hint that fits them.
#[derive(Debug)]
pub struct LookupFailed(pub Query);

impl fmt::Display for LookupFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How to show the answer.
pub struct Show {
    pub json: bool,
    /// Then try a TCP connect to each stream result, in order.
    pub connect: bool,
}

/// Asks, prints every result, and with `--connect` tries them in order.
pub fn run(out: &mut impl Write, query: Query, show: &Show) -> Result<()> {
    narrate!("{query}");
    let hints = Hints {
        host: query.host.as_deref(),
        service: query.service.as_deref(),
        family: query.family,
        socktype: query.socktype,
        protocol: query.protocol,
        flags: query.flags,
    };
    let results = match gai::getaddrinfo(&hints) {
        Ok(results) => results,
        Err(e) => return Err(anyhow::Error::new(e).context(LookupFailed(query))),
    };
    narrate!("-> {}", names::count(results.len(), "result"));
    if show.json {
        output::print_json(out, &results)?;
    } else {
        writeln!(out, "{query}").context("writing to stdout")?;
        output::print_table(out, &results)?;
    }
    if show.connect {
        connect::try_in_order(out, &results, Duration::from_secs(2))?;
    }
    Ok(())
}
