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
//! This file only parses arguments; `gai.rs` makes the calls, `lookup.rs`
//! and `reverse.rs` run them, `output.rs` and `printable.rs` show them.

mod connect;
mod gai;
mod hints;
mod lookup;
mod names;
mod output;
mod printable;
mod reverse;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, ValueEnum};

use crate::lookup::{Query, Show};
use crate::reverse::Reverse;

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
    /// (Not with --json: its report of each try is text.)
    #[arg(long, conflicts_with = "json")]
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
    let mut out = std::io::stdout().lock();
    let result = match reverse(&cli) {
        Some(ask) => reverse::run(&mut out, &ask),
        None => {
            let show = Show {
                json: cli.json,
                connect: cli.connect,
            };
            lookup::run(&mut out, query(&cli), &show)
        }
    };
    common::report::exit_code_with("resolver-dump", result, hints::hint)
}

/// `--reverse ADDR [PORT]` as getnameinfo's arguments.
fn reverse(cli: &Cli) -> Option<Reverse> {
    let args = cli.reverse.as_ref()?;
    let port = match args.get(1) {
        None => 0,
        Some(port) => port.parse().unwrap_or_else(|_| {
            Cli::command()
                .error(
                    clap::error::ErrorKind::ValueValidation,
                    format!("--reverse: {port:?} is not a port number (0 to 65535)"),
                )
                .exit()
        }),
    };
    Some(Reverse {
        address: args[0].clone(),
        port,
        flags: names::fold(&[
            (cli.numeric_host, libc::NI_NUMERICHOST),
            (cli.numeric_serv, libc::NI_NUMERICSERV),
            (cli.name_required, libc::NI_NAMEREQD),
            (cli.dgram, libc::NI_DGRAM),
        ]),
        json: cli.json,
    })
}

/// The command line as getaddrinfo's arguments.
fn query(cli: &Cli) -> Query {
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
        flags: names::fold(&[
            (cli.passive, libc::AI_PASSIVE),
            (cli.canonname, libc::AI_CANONNAME),
            (cli.addrconfig, libc::AI_ADDRCONFIG),
            (cli.v4mapped, libc::AI_V4MAPPED),
            (cli.all, libc::AI_ALL),
            (cli.numeric_host, libc::AI_NUMERICHOST),
            (cli.numeric_serv, libc::AI_NUMERICSERV),
        ]),
    }
}
