//! Where a lesson listens or connects: the `--host`/`--port` flags, TCP and
//! UDP sockets set up the way a real server sets them up, the `listening on`
//! announcement, and a client connect that tries every resolved address.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use socket2::{Domain, Protocol, Socket, Type};

use crate::{log, narrate, out};

/// `--host` and `--port`, flattened into a lesson's subcommand with that
/// lesson's own default port: `#[command(flatten)] endpoint: Endpoint<7000>`.
#[derive(clap::Args, Debug, Clone)]
pub struct Endpoint<const DEFAULT_PORT: u16> {
    /// Host name or IP address to listen on (server) or connect to (client);
    /// an IPv6 address may be bracketed as servers print it: `[::1]`.
    #[arg(long, default_value = "127.0.0.1", value_parser = parse_host)]
    pub host: String,
    /// Port number; 0 asks the kernel for any free port.
    #[arg(long, default_value_t = DEFAULT_PORT)]
    pub port: u16,
}

impl<const DEFAULT_PORT: u16> Endpoint<DEFAULT_PORT> {
    /// Every address `host:port` resolves to, in the resolver's order.
    pub fn resolve(&self) -> Result<Vec<SocketAddr>> {
        resolve(&self.host, self.port)
    }
}

/// The `--host` value parser: `[::1]` (as `listening on` prints it) is `::1`.
/// A host with a port (`127.0.0.1:7000`, `[::1]:7000`, `localhost:7000`,
/// the whole `listening on` address) is refused with the flags to use.
pub fn parse_host(host: &str) -> Result<String, String> {
    // One colon is a port (an IPv6 address has at least two); a bracketed
    // address followed by `]:` has one too.
    let with_port = match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            (!name.contains(':') || name.ends_with(']')).then_some((name, port))
        }
        _ => None,
    };
    if let Some((name, port)) = with_port {
        return Err(format!(
            "{host} has a port: give it with --port (--host {name} --port {port})"
        ));
    }
    let inner = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    match inner {
        // `[fe80::1%2]`: a link-local address and its zone (interface), as
        // `listening on` prints one; getaddrinfo takes the zone after `%`.
        Some(v6)
            if v6
                .split('%')
                .next()
                .is_some_and(|a| a.parse::<Ipv6Addr>().is_ok()) =>
        {
            Ok(v6.to_string())
        }
        Some(_) => Err(format!(
            "{host} is not a bracketed IPv6 address such as [::1]"
        )),
        None if host.is_empty() => Err("the host must not be empty".into()),
        None => Ok(host.to_string()),
    }
}

/// Every address `host:port` resolves to (getaddrinfo), in its order. An
/// IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) is the IPv4 address it
/// maps: an IPv6-only socket could neither bind nor reach it.
pub fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>> {
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for addr in (host, port).to_socket_addrs().with_context(|| {
        let host = if host.contains(':') {
            format!("[{host}]") // an IPv6 address: `::1:7000` would be ambiguous
        } else {
            host.to_string()
        };
        format!("resolving {host} (port {port})")
    })? {
        // Only a mapped address is rebuilt: an IPv6 address keeps its zone
        // (scope id), without which a link-local one cannot be used at all.
        let addr = match addr {
            SocketAddr::V6(v6) if v6.ip().to_ipv4_mapped().is_some() => {
                SocketAddr::new(v6.ip().to_canonical(), v6.port())
            }
            other => other,
        };
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    anyhow::ensure!(!addrs.is_empty(), "{host} has no addresses");
    Ok(addrs)
}

/// TCP or UDP: what a bind hint must name (`ss -ltnp` or `ss -lunp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
}

/// Marks a bind failure so [`crate::report`] can name the port in its hint.
#[derive(Debug)]
pub struct BindFailed(pub SocketAddr, pub Transport);

impl std::fmt::Display for BindFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot bind {}", self.0)
    }
}

/// Marks a failed connect so [`crate::report`] can name the address.
#[derive(Debug)]
pub struct ConnectFailed(pub SocketAddr);

impl std::fmt::Display for ConnectFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "connecting to {}", self.0)
    }
}

/// `AF_INET` or `AF_INET6`, as `--trace` and the textbooks spell it.
pub fn family_name(addr: &SocketAddr) -> &'static str {
    match addr {
        SocketAddr::V4(_) => "AF_INET",
        SocketAddr::V6(_) => "AF_INET6",
    }
}

/// socket, setsockopt, bind, listen: a TCP listener built step by step with
/// socket2, because `TcpListener::bind` hides the options a server needs.
pub fn listen_tcp(addr: SocketAddr, backlog: i32) -> Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .with_context(|| format!("creating a TCP socket for {addr}"))?;
    narrate!("socket({}, SOCK_STREAM)", family_name(&addr));
    // Without SO_REUSEADDR a restarted server cannot bind its port while the
    // previous run's connections linger in TIME_WAIT (up to a minute or two).
    socket
        .set_reuse_address(true)
        .context("setting SO_REUSEADDR")?;
    narrate!("setsockopt(SO_REUSEADDR, 1)");
    if addr.is_ipv6() {
        // The default differs between systems (Linux: dual-stack, BSDs:
        // v6 only); say it outright so `--host ::1` means exactly IPv6.
        socket.set_only_v6(true).context("setting IPV6_V6ONLY")?;
        narrate!("setsockopt(IPV6_V6ONLY, 1)");
    }
    socket
        .bind(&addr.into())
        .map_err(|e| anyhow::Error::new(e).context(BindFailed(addr, Transport::Tcp)))?;
    narrate!("bind({addr})");
    // The backlog bounds connections the kernel has completed but we have
    // not accepted yet; past it new clients wait in SYN retries.
    socket
        .listen(backlog)
        .with_context(|| format!("listening on {addr}"))?;
    narrate!("listen(backlog={backlog})");
    Ok(socket.into())
}

/// socket, bind: a UDP socket for a server or listener. IPv6 sockets are
/// IPv6-only, as in [`listen_tcp`].
pub fn bind_udp(addr: SocketAddr) -> Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .with_context(|| format!("creating a UDP socket for {addr}"))?;
    narrate!("socket({}, SOCK_DGRAM)", family_name(&addr));
    if addr.is_ipv6() {
        socket.set_only_v6(true).context("setting IPV6_V6ONLY")?;
    }
    socket
        .bind(&addr.into())
        .map_err(|e| anyhow::Error::new(e).context(BindFailed(addr, Transport::Udp)))?;
    narrate!("bind({addr})");
    Ok(socket.into())
}

/// Prints the contract's first stdout line, `listening on ADDR`, flushed at
/// once: scripts and tests block on it to learn the port.
pub fn announce(local: SocketAddr) -> Result<()> {
    warn_if_exposed(local);
    out!("listening on {local}")
}

/// A lesson server is a toy: say so loudly when it is reachable from outside.
fn warn_if_exposed(local: SocketAddr) {
    let ip = local.ip();
    if ip.is_unspecified() {
        log!("warning: bound to {ip}: every interface, reachable from other machines");
    } else if !ip.is_loopback() {
        log!("warning: bound to {ip}, which is not loopback: other machines may connect");
    }
}

/// The address to dial to reach a listener bound at `local`: a wildcard
/// (0.0.0.0 or ::) is not dialable everywhere, so use loopback instead.
pub fn dialable(local: SocketAddr) -> SocketAddr {
    let ip = match local.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
        ip => ip,
    };
    SocketAddr::new(ip, local.port())
}

/// Connects to the first address of `host:port` that answers, trying them in
/// the resolver's order (`localhost` may give ::1 and 127.0.0.1): the
/// classic "try the first, then the rest". Each try gives up after `timeout`.
pub fn connect_tcp(host: &str, port: u16, timeout: Duration) -> Result<TcpStream> {
    let mut last_error = None;
    for addr in resolve(host, port)? {
        // connect_timeout is socket(), then connect() bounded by a poll().
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => {
                let local = stream.local_addr().context("reading local address")?;
                narrate!("socket({}, SOCK_STREAM)", family_name(&addr));
                narrate!("connect({addr}) -> from {local}");
                return Ok(stream);
            }
            Err(e) => {
                narrate!("connect({addr}) -> {e}");
                last_error = Some(anyhow::Error::new(e).context(ConnectFailed(addr)));
            }
        }
    }
    Err(last_error.unwrap_or_else(|| anyhow!("{host} has no addresses")))
}
