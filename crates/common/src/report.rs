//! How a lesson ends when something fails: one `error: ...` line with the
//! whole cause chain, a `hint:` line when we can guess the fix, exit code 1.
//! Never a panic or a backtrace: those are for bugs, not for a refused port.

use std::io::ErrorKind;
use std::process::ExitCode;

use crate::endpoint::{BindFailed, ConnectFailed, Transport};
use crate::log;

/// Turns `main`'s result into the process exit code, printing any error.
/// `server` is the command that starts the server this run needed (e.g.
/// ``cargo run -p tcp-echo -- server``), for the hint after a refusal.
pub fn exit_code(server: &str, result: anyhow::Result<()>) -> ExitCode {
    exit_code_with(server, result, |_| None)
}

/// [`exit_code`] with a lesson's own hints, tried before the common ones.
pub fn exit_code_with(
    server: &str,
    result: anyhow::Result<()>,
    own_hint: impl Fn(&anyhow::Error) -> Option<String>,
) -> ExitCode {
    let Err(error) = result else {
        return ExitCode::SUCCESS;
    };
    // `{:#}` prints "outer: middle: root cause" on one line.
    log!("error: {error:#}");
    if let Some(hint) = own_hint(&error).or_else(|| hint(server, &error)) {
        log!("hint: {hint}");
    }
    ExitCode::from(1)
}

/// A next step for the learner, from the first I/O error in the chain.
pub fn hint(server: &str, error: &anyhow::Error) -> Option<String> {
    let io = error
        .chain()
        .find_map(|e| e.downcast_ref::<std::io::Error>())?;
    let bind = error.downcast_ref::<BindFailed>();
    let port = bind.map(|b| b.0.port());
    Some(match (io.kind(), bind) {
        (ErrorKind::ConnectionRefused, _) => {
            let at = error.downcast_ref::<ConnectFailed>();
            let at = at.map_or(String::new(), |c| format!(" on {}", c.0));
            format!(
                "nothing is listening{at}. Is the server running? Start it with `{server}`. \
                 If it is, check --host and --port, and the address family: a server \
                 on [::1] does not answer on 127.0.0.1"
            )
        }
        (ErrorKind::AddrInUse, Some(BindFailed(addr, transport))) => {
            let ss = if *transport == Transport::Udp {
                "ss -lunp"
            } else {
                "ss -ltnp"
            };
            format!(
                "port {} is taken, probably by a server still running \
                 (`{ss} 'sport = :{}'` shows which); stop it, or pass \
                 another --port (0 picks a free one)",
                addr.port(),
                addr.port()
            )
        }
        (ErrorKind::PermissionDenied, Some(_)) if port < Some(1024) => {
            "ports below 1024 need root; pass a --port of 1024 or more".to_string()
        }
        (ErrorKind::AddrNotAvailable, Some(_)) => {
            "that address belongs to no interface here; try --host 127.0.0.1".to_string()
        }
        // No answer to the SYN: the packets, or the host, are lost.
        (ErrorKind::TimedOut, _) if error.downcast_ref::<ConnectFailed>().is_some() => {
            "nothing answered in time: is the host reachable, and does a firewall drop packets?"
                .to_string()
        }
        // Connected (the server's kernel completed the handshake), then
        // silence: the network works; the program behind it does not answer.
        (ErrorKind::TimedOut, _) => {
            "the connection was made, but then the server stalled (sent nothing, or took \
             nothing) for the whole timeout: it may be busy with another client (a \
             one-at-a-time server queues the rest) or stuck; look at its log, or allow more time"
                .to_string()
        }
        _ => return None,
    })
}
