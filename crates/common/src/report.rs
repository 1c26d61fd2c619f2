//! How a lesson ends when something fails: one `error: ...` line with the
//! whole cause chain, a `hint:` line when we can guess the fix, exit code 1.
//! Never a panic or a backtrace: those are for bugs, not for a refused port.

use std::io::ErrorKind;
use std::process::ExitCode;

use crate::endpoint::BindFailed;

/// Turns `main`'s result into the process exit code, printing any error.
/// `lesson` names the crate so a hint can give the command to run.
pub fn exit_code(lesson: &str, result: anyhow::Result<()>) -> ExitCode {
    exit_code_with(lesson, result, |_| None)
}

/// [`exit_code`] with a lesson's own hints, tried before the common ones.
pub fn exit_code_with(
    lesson: &str,
    result: anyhow::Result<()>,
    own_hint: impl Fn(&anyhow::Error) -> Option<String>,
) -> ExitCode {
    let Err(error) = result else {
        return ExitCode::SUCCESS;
    };
    // `{:#}` prints "outer: middle: root cause" on one line.
    eprintln!("error: {error:#}");
    if let Some(hint) = own_hint(&error).or_else(|| hint(lesson, &error)) {
        eprintln!("hint: {hint}");
    }
    ExitCode::from(1)
}

/// A next step for the learner, from the first I/O error in the chain.
pub fn hint(lesson: &str, error: &anyhow::Error) -> Option<String> {
    let io = error.chain().find_map(|e| e.downcast_ref::<std::io::Error>())?;
    let port = error.downcast_ref::<BindFailed>().map(|b| b.0.port());
    Some(match (io.kind(), port) {
        (ErrorKind::ConnectionRefused, _) => {
            format!("is the server running? start it with `cargo run -p {lesson} -- server`")
        }
        (ErrorKind::AddrInUse, Some(port)) => format!(
            "port {port} is taken, probably by a server still running \
             (`ss -ltnp 'sport = :{port}'` shows which); stop it, or pass \
             another --port (0 picks a free one)"
        ),
        (ErrorKind::PermissionDenied, Some(port)) if port < 1024 => {
            "ports below 1024 need root; pass a --port of 1024 or more".to_string()
        }
        (ErrorKind::AddrNotAvailable, Some(_)) => {
            "that address belongs to no interface here; try --host 127.0.0.1".to_string()
        }
        (ErrorKind::TimedOut, _) => {
            "nothing answered in time: is the host reachable and the port open?".to_string()
        }
        _ => return None,
    })
}
