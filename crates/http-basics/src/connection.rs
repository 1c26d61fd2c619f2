//! One connection, request after request (keep-alive):
//!
//! ```text
//!   read a head (up to the empty line)  ──> 400 / 408 / 431, then close
//!   check the rules (request.rs)        ──> 400 / 413 / 417 / 501, then close
//!   read the body (body.rs)             ──> 400 / 408 / 413, then close
//!   route: GET/HEAD a file, POST /echo  ──> 200, 301, 403, 404, 405
//!   write the response; keep-alive? ────> loop, else close
//! ```
//!
//! After an error the connection is closed: the bytes that follow a bad
//! request cannot be trusted to start the next one.

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use common::stop::Stop;
use common::{log, narrate};
use http_basics::body::{BodyError, read_body};
use http_basics::head::{HeadError, read_head};
use http_basics::request::{self, Request};
use http_basics::wire::Wire;

use crate::echo::echo;
use crate::files::{self, Root};
use crate::patient::{GRACE, Patient, is_quiet_end};
use crate::reply::Reply;

/// What every connection is served with.
pub struct Settings {
    pub root: Root,
    pub max_body: usize,
    pub max_header: usize,
    pub idle: Duration,
    /// No line per request on stderr (errors are still logged).
    pub quiet: bool,
}

/// How a connection ended, for the server's log.
pub struct Ended {
    pub requests: u64,
    pub how: String,
}

type Conn = Wire<Patient>;

/// Serves `stream` until it closes or fails; returns how many requests it
/// answered and why it ended. Never panics, whatever the client sends.
pub fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    settings: &Settings,
    stop: &Stop,
    queued: Arc<AtomicUsize>,
) -> Result<Ended> {
    // Responses are written whole and someone waits for each: no Nagle delay.
    stream.set_nodelay(true).context("setting TCP_NODELAY")?;
    let mut conn = Wire::new(
        Patient::new(stream, stop, queued, settings.idle).context("setting socket timeouts")?,
    );
    let mut requests = 0;
    let ended = |requests, how: &str| {
        Ok(Ended {
            requests,
            how: how.to_string(),
        })
    };
    loop {
        conn.get_mut()
            .expect_request(Instant::now() + settings.idle);
        let head = match read_head(&mut conn, settings.max_header, request::parse) {
            Ok(Some((_, len))) if request::bare_lf(&conn.buffer()[..len]) => {
                let why = "a line of the head ends in a bare LF, not CRLF (request smuggling?)";
                return refuse(&mut conn, peer, requests, false, 400, why);
            }
            Ok(Some((head, len))) => {
                narrate!(
                    "request head complete: {len} bytes, \"{} {} HTTP/1.{}\"",
                    head.method,
                    head.target.escape_default(),
                    head.minor
                );
                conn.consume(len);
                head
            }
            Ok(None) => return ended(requests, "closed by the client"),
            Err(HeadError::Io {
                error,
                partial: false,
            }) if is_quiet_end(&error) => {
                return ended(requests, error.to_string().trim_start_matches("quiet: "));
            }
            Err(HeadError::Io {
                error,
                partial: false,
            }) if error.kind() == std::io::ErrorKind::TimedOut => {
                let secs = settings.idle.as_secs_f64();
                return ended(requests, &format!("idle for {secs} s (--idle-timeout)"));
            }
            Err(HeadError::Io {
                error,
                partial: true,
            }) if error.kind() == std::io::ErrorKind::TimedOut => {
                return refuse(&mut conn, peer, requests, false, 408, &error.to_string());
            }
            Err(HeadError::Io { error, .. }) => {
                return Err(anyhow!(error).context("reading a request head"));
            }
            Err(HeadError::TooLarge) => {
                let why = format!(
                    "request head over {} bytes (--max-header)",
                    settings.max_header
                );
                return refuse(&mut conn, peer, requests, false, 431, &why);
            }
            Err(HeadError::Malformed(httparse::Error::TooManyHeaders)) => {
                let why = format!("more than {} header fields", request::MAX_HEADERS);
                return refuse(&mut conn, peer, requests, false, 431, &why);
            }
            Err(HeadError::Malformed(e)) => {
                return refuse(
                    &mut conn,
                    peer,
                    requests,
                    false,
                    400,
                    &format!("malformed head: {e}"),
                );
            }
            Err(HeadError::Truncated) => {
                return Err(anyhow!("the client closed in the middle of a request head"));
            }
        };
        let minor = head.minor;
        // The answer to HEAD has no body, whatever its status, refusals too.
        let head_only = head.method == "HEAD";
        let request = match request::check(head, settings.max_body) {
            Ok(request) => request,
            Err(reject) => {
                return refuse(
                    &mut conn,
                    peer,
                    requests,
                    head_only,
                    reject.status,
                    &reject.why,
                );
            }
        };

        // The body: the whole of it within --idle-timeout of its head.
        conn.get_mut().read_until(
            Instant::now() + settings.idle,
            "the request body did not arrive in time (--idle-timeout)",
        );
        if request.expect_continue {
            // The client waits for this before sending its body.
            conn.get_mut()
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .context("sending 100 Continue")?;
        }
        let mut body = Vec::new();
        match read_body(&mut conn, request.framing, settings.max_body, &mut body) {
            Ok(_) => {}
            Err(BodyError::TooLarge { limit }) => {
                return refuse(
                    &mut conn,
                    peer,
                    requests,
                    head_only,
                    413,
                    &format!("body over {limit} bytes (--max-body)"),
                );
            }
            Err(BodyError::Malformed(why)) => {
                return refuse(&mut conn, peer, requests, head_only, 400, &why);
            }
            Err(BodyError::Io(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
                return refuse(&mut conn, peer, requests, head_only, 408, &e.to_string());
            }
            Err(e) => return Err(anyhow!(e).context("reading a request body")),
        }

        // Someone waits for a worker and this connection has had its turn:
        // this response closes it (see Patient::turn_over).
        let yielding = request.keep_alive && conn.get_ref().turn_over();
        let keep_alive = request.keep_alive && !stop.is_stopped() && !yielding;
        let reply = route(&request, body, settings);
        let status = reply.status;
        let sent = reply
            .send(conn.get_mut(), head_only, keep_alive, minor)
            .context("sending the response")?;
        requests += 1;
        if !settings.quiet {
            log!(
                "{peer}: \"{} {} HTTP/1.{minor}\" {status} {sent}",
                request.head.method,
                request.head.target.escape_default()
            );
        }
        if !keep_alive {
            linger(&mut conn);
            let how = if yielding {
                "closed after the response: another connection is waiting for a worker"
            } else {
                "closed after the response (Connection: close)"
            };
            return ended(requests, how);
        }
    }
}

/// The routes: `POST /echo`, and GET or HEAD of anything else.
fn route(request: &Request, body: Vec<u8>, settings: &Settings) -> Reply {
    let method = request.head.method.as_str();
    let not_allowed = |allow: &str| {
        let mut reply = Reply::error(405, &format!("{method} is not allowed here; use {allow}"));
        reply.header("Allow", allow);
        reply
    };
    if request.path == "/echo" {
        return match method {
            "POST" => echo(request, body),
            _ => not_allowed("POST"),
        };
    }
    match method {
        "GET" | "HEAD" => files::get(&settings.root, &request.path, request.query.as_deref()),
        _ => not_allowed("GET, HEAD"),
    }
}

/// Answers with an error status, closes, and reports why.
fn refuse(
    conn: &mut Conn,
    peer: SocketAddr,
    requests: u64,
    head_only: bool,
    status: u16,
    why: &str,
) -> Result<Ended> {
    log!("{peer}: {status} {}: {why}", crate::reply::reason(status));
    let sent = Reply::error(status, why).send(conn.get_mut(), head_only, false, 1);
    if let Err(e) = sent {
        return Err(e.context(format!("sending {status}")));
    }
    linger(conn);
    Ok(Ended {
        requests: requests + 1,
        how: format!("closed after {status}"),
    })
}

/// A graceful close. If the client is still sending (a body we refused),
/// closing at once would make the kernel answer its data with a reset,
/// which can destroy our response before the client reads it. So: stop
/// sending (FIN), read and discard what still comes for up to a second,
/// then close. (Apache and nginx call this a lingering close.)
fn linger(conn: &mut Conn) {
    let patient = conn.get_mut();
    patient.shutdown(Shutdown::Write);
    patient.read_until(
        Instant::now() + Duration::from_secs(1).min(GRACE),
        "lingering close",
    );
    conn.consume(usize::MAX);
    let mut scratch = Vec::with_capacity(16 * 1024);
    let mut drained = 0usize;
    // Bounded in time (the deadline above) and in bytes.
    while drained < 16 << 20 {
        scratch.clear();
        match conn.read_some(&mut scratch, 16 * 1024) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}
