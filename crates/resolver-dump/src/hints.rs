//! What to try next after a failure, fitted to the call that failed and
//! the arguments it had: the same `EAI_NONAME` means "no such name" for a
//! plain lookup, "that is not a port number" with `--numeric-serv`, and
//! "this address has no name" for `getnameinfo --name-required`.

use crate::connect::NoneAccepted;
use crate::gai::{self, GaiError};
use crate::lookup::{LookupFailed, Query};
use crate::printable;
use crate::reverse::ReverseFailed;

/// A hint for `error`, if one fits.
pub fn hint(error: &anyhow::Error) -> Option<String> {
    if error.downcast_ref::<NoneAccepted>().is_some() {
        return Some(
            "every address refused or timed out: is a server listening on that port \
             (`ss -ltn` lists the listening ones)?"
                .into(),
        );
    }
    let code = error.downcast_ref::<GaiError>()?.code;
    if let Some(LookupFailed(query)) = error.downcast_ref::<LookupFailed>() {
        return getaddrinfo_hint(code, query);
    }
    if let Some(failed) = error.downcast_ref::<ReverseFailed>() {
        return getnameinfo_hint(code, failed.flags);
    }
    None
}

fn is_port_number(service: &str) -> bool {
    !service.is_empty() && service.bytes().all(|b| b.is_ascii_digit())
}

fn getaddrinfo_hint(code: i32, query: &Query) -> Option<String> {
    let service = query.service.as_deref();
    let host = query.host.as_deref();
    Some(match code {
        libc::EAI_NONAME => match (service, host) {
            (Some(service), _)
                if query.flags & libc::AI_NUMERICSERV != 0 && !is_port_number(service) =>
            {
                format!(
                    "--numeric-serv (AI_NUMERICSERV) accepts only a port number, and {service:?} \
                     is a service name: give its number (`getent services {}` shows it), \
                     or drop --numeric-serv",
                    printable::text(service.as_bytes())
                )
            }
            (_, Some(host))
                if query.flags & libc::AI_NUMERICHOST != 0
                    && host.parse::<std::net::IpAddr>().is_err() =>
            {
                format!(
                    "--numeric-host (AI_NUMERICHOST) accepts only an IP address, and {host:?} \
                     is a name: drop --numeric-host to resolve it"
                )
            }
            _ if query.family != libc::AF_UNSPEC => {
                "the name does not resolve here, or has no address of the --family you asked \
                 for (try --family any, or --v4mapped with --family inet6); \
                 `getent ahosts NAME` asks the same resolver"
                    .into()
            }
            _ => "the name does not resolve here: check the spelling; this machine may have no \
                  DNS, but names in /etc/hosts still resolve (`getent ahosts NAME` asks the \
                  same resolver)"
                .into(),
        },
        gai::EAI_ADDRFAMILY => {
            "the host has no address of the --family you asked for (an IPv4 address is not an \
             IPv6 one): try --family any, or --v4mapped with --family inet6"
                .into()
        }
        libc::EAI_SERVICE => match service {
            Some(port) if is_port_number(port) => {
                "a port number needs a socket type that has ports: SOCK_RAW and protocols \
                 other than TCP (6), UDP (17) and SCTP (132) have none; try --socktype stream \
                 or dgram"
                    .into()
            }
            Some(name) => format!(
                "{name:?} is not in /etc/services for that socket type (`getent services \
                 {}` shows its entries): give a port number, or another --socktype",
                printable::text(name.as_bytes())
            ),
            None => return None,
        },
        libc::EAI_BADFLAGS if query.host.is_none() && query.flags & libc::AI_CANONNAME != 0 => {
            "--canonname (AI_CANONNAME) needs a host: there is no name to make canonical".into()
        }
        libc::EAI_BADFLAGS => "that combination of flags is not allowed".into(),
        libc::EAI_SOCKTYPE => {
            "that socket type does not fit the protocol (--protocol 6 is TCP, a stream; \
             17 is UDP, datagrams)"
                .into()
        }
        libc::EAI_AGAIN => {
            "the DNS server did not answer (yet); is there a network, and a server in \
             /etc/resolv.conf?"
                .into()
        }
        _ => return None,
    })
}

fn getnameinfo_hint(code: i32, flags: i32) -> Option<String> {
    Some(match code {
        libc::EAI_NONAME if flags & libc::NI_NAMEREQD != 0 => {
            "--name-required (NI_NAMEREQD): this address has no name, neither in /etc/hosts \
             nor as a PTR record in its reverse DNS zone; without --name-required getnameinfo \
             returns the numeric address instead"
                .into()
        }
        libc::EAI_NONAME => "getnameinfo found no name for that address, or no service for \
                             that port"
            .into(),
        libc::EAI_AGAIN => {
            "the DNS server did not answer the reverse (PTR) query; --numeric-host skips it".into()
        }
        libc::EAI_OVERFLOW => {
            "the name is longer than NI_MAXHOST (1025 bytes), the buffer getnameinfo fills".into()
        }
        _ => return None,
    })
}
