//! Lesson: names and getaddrinfo. Rust's `ToSocketAddrs` turns
//! `"localhost:80"` into addresses and hides everything else; this tool
//! asks the system's `getaddrinfo(3)` directly, with any hints you like,
//! and prints every field of every result, so you can see what the book's
//! chapter on names describes: families, socket types, protocols, flags.
//!
//! ```text
//! $ cargo run -p resolver-dump -- localhost smtp
//! $ cargo run -p resolver-dump -- --passive --service smtp
//! $ cargo run -p resolver-dump -- --json --family inet6 --v4mapped 127.0.0.1 http
//! $ cargo run -p resolver-dump -- --reverse 127.0.0.1 25
//! ```
//!
//! There is no server: the lesson is one system call and its answer.
//! This file only parses arguments.

mod connect;
mod lookup;
mod names;
mod output;
mod reverse;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser, ValueEnum};
use common::narrate;

use crate::lookup::{GaiError, Query};

/// Ask the system's getaddrinfo (or getnameinfo) and see exactly what comes back.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Host name or numeric address to look up.
    #[arg(required_unless_present_any = ["service", "reverse"])]
    host: Option<String>,
    /// Service name (from /etc/services) or port number.
    #[arg(value_name = "SERVICE", conflicts_with = "service")]
    service_arg: Option<String>,
    /// Service, for a lookup with no host (getaddrinfo gets a NULL host,
    /// as --passive lookups for a server's bind address want).
    #[arg(long)]
    service: Option<String>,
    /// Address family hint.
    #[arg(long, value_enum, default_value_t = Family::Any)]
    family: Family,
    /// Socket type hint; `any` returns each address once per type.
    #[arg(long, value_enum, default_value_t = SockType::Any)]
    socktype: SockType,
    /// Protocol number hint (6 = TCP, 17 = UDP, 0 = any).
    #[arg(long, default_value_t = 0)]
    protocol: i32,
    /// AI_PASSIVE: with no host, return the wildcard address, for bind().
    #[arg(long)]
    passive: bool,
    /// AI_CANONNAME: also return the host's canonical name.
    #[arg(long)]
    canonname: bool,
    /// AI_ADDRCONFIG: only families this machine has an address for.
    #[arg(long)]
    addrconfig: bool,
    /// AI_V4MAPPED: with --family inet6, map IPv4 results to ::ffff:a.b.c.d.
    #[arg(long)]
    v4mapped: bool,
    /// AI_ALL: with --v4mapped, return IPv6 and mapped IPv4 results.
    #[arg(long)]
    all: bool,
    /// AI_NUMERICHOST: the host must be a numeric address; no resolving.
    #[arg(long)]
    numeric_host: bool,
    /// AI_NUMERICSERV: the service must be a port number.
    #[arg(long)]
    numeric_serv: bool,
    /// Print JSON: one object per result, in getaddrinfo's order.
    #[arg(long)]
    json: bool,
    /// Call getnameinfo instead: ADDR [PORT] back to a name and service.
    #[arg(long, num_args = 1..=2, value_names = ["ADDR", "PORT"], conflicts_with_all = ["host", "service"])]
    reverse: Option<Vec<String>>,
    /// With --reverse: fail if there is no name (NI_NAMEREQD).
    #[arg(long, requires = "reverse")]
    name_required: bool,
    /// With --reverse: name the service as UDP (NI_DGRAM).
    #[arg(long, requires = "reverse")]
    dgram: bool,
    /// Try a TCP connect to each stream result in order; stop at the first that works.
    #[arg(long)]
    connect: bool,
    /// Narrate the calls on stderr.
    #[arg(long)]
    trace: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Family {
    Any,
    Inet,
    Inet6,
}

#[derive(Clone, Copy, ValueEnum)]
enum SockType {
    Any,
    Stream,
    Dgram,
    Raw,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    common::trace::set_enabled(cli.trace);
    let result = run(&cli);
    common::report::exit_code_with("resolver-dump", result, hint)
}

fn run(cli: &Cli) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if let Some(reverse) = &cli.reverse {
        let port = match reverse.get(1) {
            None => 0,
            Some(port) => port.parse().unwrap_or_else(|_| {
                Cli::command()
                    .error(
                        clap::error::ErrorKind::ValueValidation,
                        format!("--reverse: {port:?} is not a port number"),
                    )
                    .exit()
            }),
        };
        let flags = [
            (cli.numeric_host, libc::NI_NUMERICHOST),
            (cli.numeric_serv, libc::NI_NUMERICSERV),
            (cli.name_required, libc::NI_NAMEREQD),
            (cli.dgram, libc::NI_DGRAM),
        ];
        let flags = flags
            .iter()
            .filter(|(on, _)| *on)
            .fold(0, |all, (_, bit)| all | bit);
        return reverse::reverse(&mut out, &reverse[0], port, flags, cli.json);
    }

    let query = query(cli);
    narrate!("{query}");
    let results = lookup::lookup(&query).with_context(|| query.to_string())?;
    narrate!("-> {} results", results.len());
    if cli.json {
        output::print_json(&mut out, &results)?;
    } else {
        writeln!(out, "{query}").context("writing to stdout")?;
        output::print_table(&mut out, &results)?;
    }
    if cli.connect {
        connect::try_in_order(&mut out, &results, Duration::from_secs(2))?;
    }
    Ok(())
}

/// The command line as getaddrinfo's arguments.
fn query(cli: &Cli) -> Query {
    let flags = [
        (cli.passive, libc::AI_PASSIVE),
        (cli.canonname, libc::AI_CANONNAME),
        (cli.addrconfig, libc::AI_ADDRCONFIG),
        (cli.v4mapped, libc::AI_V4MAPPED),
        (cli.all, libc::AI_ALL),
        (cli.numeric_host, libc::AI_NUMERICHOST),
        (cli.numeric_serv, libc::AI_NUMERICSERV),
    ];
    Query {
        host: cli.host.clone(),
        service: cli.service_arg.clone().or_else(|| cli.service.clone()),
        family: match cli.family {
            Family::Any => libc::AF_UNSPEC,
            Family::Inet => libc::AF_INET,
            Family::Inet6 => libc::AF_INET6,
        },
        socktype: match cli.socktype {
            SockType::Any => 0,
            SockType::Stream => libc::SOCK_STREAM,
            SockType::Dgram => libc::SOCK_DGRAM,
            SockType::Raw => libc::SOCK_RAW,
        },
        protocol: cli.protocol,
        flags: flags
            .iter()
            .filter(|(on, _)| *on)
            .fold(0, |all, (_, bit)| all | bit),
    }
}

/// What to try next, for the getaddrinfo errors a learner meets.
fn hint(error: &anyhow::Error) -> Option<String> {
    let gai = error.chain().find_map(|e| e.downcast_ref::<GaiError>())?;
    Some(match gai.code {
        libc::EAI_NONAME => "the name does not resolve here: check the spelling, and note that with \
                             --numeric-host only an IP address is accepted; this machine may have no \
                             DNS, but names in /etc/hosts still resolve"
            .into(),
        libc::EAI_SERVICE => "the service is not in /etc/services for that socket type; give a port \
                              number, or another --socktype"
            .into(),
        libc::EAI_AGAIN => "the DNS server did not answer; is there a network?".into(),
        libc::EAI_BADFLAGS => "that combination of flags is not allowed (e.g. --canonname with no host)".into(),
        libc::EAI_SOCKTYPE => "that socket type does not fit the service or protocol".into(),
        _ => return None,
    })
}
