//! Listening sockets, and the descriptors every accepted client costs.
//!
//! - [`listen`]: a nonblocking listener for the loop. For `--loops N`, N
//!   listeners share one port with SO_REUSEPORT and the kernel spreads new
//!   connections among them (as nginx's workers do): the first binds alone
//!   and sets SO_REUSEPORT after `bind()` (so a port some other server
//!   holds is an error, not a share), the others set it before theirs and
//!   join it.
//! - [`raise_descriptor_limit`]: every client is a descriptor; the default
//!   limit (`ulimit -n`, often 1024) is far below `--max-connections`.
//!
//! What an `accept()` error means is `common::stop`'s to say
//! ([`common::stop::is_exhaustion`], [`common::stop::is_one_client`]): the
//! blocking servers' `Stop::incoming` and this loop answer it alike.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use common::endpoint::{BindFailed, Transport, family_name, listen_tcp};
use common::{log, narrate};
use socket2::{Domain, Protocol, Socket, Type};

/// Connections the kernel may complete before we accept them. A burst of
/// thousands of connects lands here; the kernel caps it at somaxconn.
pub const BACKLOG: i32 = 4096;

/// How a listener takes its port.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Share {
    /// `--loops 1`: the port is ours alone.
    Alone,
    /// The first of `--loops N`: the port must be free, then others may join.
    Open,
    /// The others of `--loops N`: join the first one's port.
    Join,
}

/// socket, setsockopt, bind, listen, then nonblocking: the loop must never
/// block in `accept()`, only in `epoll_wait()`.
pub fn listen(addr: SocketAddr, share: Share) -> Result<mio::net::TcpListener> {
    let listener = match share {
        Share::Alone => listen_tcp(addr, BACKLOG)?,
        Share::Open | Share::Join => listen_reuse_port(addr, share)?,
    };
    listener
        .set_nonblocking(true)
        .context("making the listener nonblocking")?;
    Ok(mio::net::TcpListener::from_std(listener))
}

/// [`listen_tcp`] with SO_REUSEPORT. A socket binds to a port others hold
/// only if it and every one of them set SO_REUSEPORT (and belong to the
/// same user). So the first listener binds without it: if another server,
/// even another `--loops` one, holds the port, that bind fails (EADDRINUSE),
/// where setting it first would have quietly joined that server and taken
/// half its clients. Set after `bind()` and before `listen()`, it still lets
/// the other listeners join this one.
fn listen_reuse_port(addr: SocketAddr, share: Share) -> Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .with_context(|| format!("creating a TCP socket for {addr}"))?;
    narrate!("socket({}, SOCK_STREAM)", family_name(&addr));
    socket
        .set_reuse_address(true)
        .context("setting SO_REUSEADDR")?;
    narrate!("setsockopt(SO_REUSEADDR, 1)");
    // Every listener on the port must set it, the first one included; only
    // processes of the same user may join (Linux's rule against port theft).
    let reuse_port = || -> Result<()> {
        socket
            .set_reuse_port(true)
            .context("setting SO_REUSEPORT")?;
        narrate!("setsockopt(SO_REUSEPORT, 1)");
        Ok(())
    };
    if share == Share::Join {
        reuse_port()?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(true).context("setting IPV6_V6ONLY")?;
        narrate!("setsockopt(IPV6_V6ONLY, 1)");
    }
    socket
        .bind(&addr.into())
        .map_err(|e| anyhow::Error::new(e).context(BindFailed(addr, Transport::Tcp)))?;
    narrate!("bind({addr})");
    if share == Share::Open {
        reuse_port()?;
    }
    socket
        .listen(BACKLOG)
        .with_context(|| format!("listening on {addr}"))?;
    narrate!("listen(backlog={BACKLOG})");
    Ok(socket.into())
}

/// Raises the soft descriptor limit (what `ulimit -n` shows) towards
/// `wanted`, up to the hard limit, as nginx's `worker_rlimit_nofile` and
/// Go's runtime do; warns when even the hard limit is too low.
pub fn raise_descriptor_limit(wanted: u64, max_connections: u32) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return;
    }
    let raised = wanted.min(limit.rlim_max);
    if raised > limit.rlim_cur {
        let new = libc::rlimit {
            rlim_cur: raised,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } == 0 {
            limit.rlim_cur = raised;
        }
    }
    if limit.rlim_cur < wanted {
        log!(
            "warning: {} descriptors allowed (ulimit -n; hard limit {}), not the {wanted} that \
             --max-connections {max_connections} needs: past it, accept() fails (EMFILE) \
             and the loop pauses accepting",
            limit.rlim_cur,
            limit.rlim_max
        );
    }
}
