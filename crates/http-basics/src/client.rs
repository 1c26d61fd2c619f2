//! The client: a request written by hand, a response read by hand.
//!
//! ```text
//! GET /hello.txt HTTP/1.1\r\n     request line: method, target, version
//! Host: 127.0.0.1:7006\r\n        which site (one server may host many)
//! User-Agent: http-basics/0.1\r\n
//! Accept: */*\r\n
//! \r\n                            the empty line: the head ends here
//! ```
//!
//! The response head is parsed by httparse; where its body ends is decided
//! by response.rs and read by body.rs. Several URLs on one host go over one
//! connection (keep-alive), each request sent once the previous response
//! has been read to its end: that is why the end must be known exactly.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use common::endpoint::connect_tcp;
use common::narrate;
use http_basics::body::{BodyError, read_body};
use http_basics::head::{HeadError, read_head};
use http_basics::response::{self, Head, MAX_HEAD};
use http_basics::url::Url;
use http_basics::wire::Wire;

/// Flags shared by `get` and `post`.
#[derive(clap::Args, Clone)]
pub struct Options {
    /// Print the response's status line and header fields before its body.
    #[arg(long, short = 'i')]
    include: bool,
    /// Follow redirects (at most 10); without it a redirect is an error.
    #[arg(long, short = 'L')]
    follow: bool,
    /// Refuse a response body larger than this many bytes.
    #[arg(long, default_value_t = 16 << 20, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(0..=1 << 40))]
    max_body: u64,
    /// Give up on any single wait (connect, send, receive) after this long.
    #[arg(long, default_value = "10", value_name = "SECS", value_parser = common::args::seconds)]
    timeout: Duration,
}

#[derive(clap::Args)]
pub struct GetArgs {
    /// http:// URLs; those on the same host share one connection.
    #[arg(required = true, value_name = "URL", value_parser = Url::parse)]
    urls: Vec<Url>,
    #[command(flatten)]
    options: Options,
}

#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("body").required(true).multiple(false).args(["form", "data", "json"]))]
pub struct PostArgs {
    /// An http:// URL.
    #[arg(value_name = "URL", value_parser = Url::parse)]
    url: Url,
    /// A form field, sent as application/x-www-form-urlencoded (repeat it).
    #[arg(long, value_name = "NAME=VALUE", value_parser = field)]
    form: Vec<(String, String)>,
    /// A raw body, sent as text/plain.
    #[arg(long, value_name = "TEXT")]
    data: Option<String>,
    /// A JSON body, sent as application/json (not checked).
    #[arg(long, value_name = "TEXT")]
    json: Option<String>,
    #[command(flatten)]
    options: Options,
}

fn field(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(format!("`{text}` is not NAME=VALUE")),
    }
}

/// What to send: a method and, for POST, a body and its type.
#[derive(Clone)]
struct Request {
    method: &'static str,
    body: Option<(&'static str, Vec<u8>)>,
}

pub fn get(args: &GetArgs) -> Result<()> {
    let mut client = Client::new(args.options.clone());
    for url in &args.urls {
        client.fetch(
            url.clone(),
            Request {
                method: "GET",
                body: None,
            },
        )?;
    }
    Ok(())
}

pub fn post(args: &PostArgs) -> Result<()> {
    let body = if let Some(data) = &args.data {
        ("text/plain; charset=utf-8", data.clone().into_bytes())
    } else if let Some(json) = &args.json {
        ("application/json", json.clone().into_bytes())
    } else {
        (
            "application/x-www-form-urlencoded",
            http_basics::form::encode(&args.form).into_bytes(),
        )
    };
    let mut client = Client::new(args.options.clone());
    client.fetch(
        args.url.clone(),
        Request {
            method: "POST",
            body: Some(body),
        },
    )
}

/// Interim (1xx) responses skipped before the real one; more is an error.
const MAX_INTERIM: u32 = 10;

/// A connection kept open for the next request to the same host.
struct Connection {
    wire: Wire<Traced>,
    host: String,
    port: u16,
    peer: SocketAddr,
    /// Requests sent on it so far.
    requests: u32,
}

impl Connection {
    /// Whether a kept connection can carry the next request: the server
    /// speaks only when asked, so anything it sent since its last response
    /// ended (bytes past that end, or its FIN) says no. One nonblocking
    /// peek; the bytes stay where they are.
    fn still_quiet(&self) -> bool {
        let stream = &self.wire.get_ref().stream;
        let mut byte = [0u8; 1];
        let peeked = stream
            .set_nonblocking(true)
            .and_then(|()| stream.peek(&mut byte));
        // Blocking again for the next request's timeouts; if even that
        // fails, this connection is not worth keeping.
        let restored = stream.set_nonblocking(false).is_ok();
        match peeked {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                narrate!("recv(MSG_PEEK) -> WouldBlock (nothing since the last response)");
                restored
            }
            Ok(0) => {
                narrate!("recv(MSG_PEEK) -> 0 bytes (EOF: the server closed the kept connection)");
                false
            }
            Ok(_) => {
                narrate!(
                    "recv(MSG_PEEK) -> 1 byte: {} sent bytes past the end of the response; not reusing the connection",
                    self.peer
                );
                false
            }
            Err(e) => {
                narrate!("recv(MSG_PEEK) -> {e}: not reusing the connection");
                false
            }
        }
    }
}

struct Client {
    options: Options,
    kept: Option<Connection>,
}

/// A response read to its end.
struct Response {
    raw_head: Vec<u8>,
    head: Head,
    body: Vec<u8>,
}

impl Client {
    fn new(options: Options) -> Client {
        Client {
            options,
            kept: None,
        }
    }

    /// One URL: send, read, follow redirects if asked, print the body.
    fn fetch(&mut self, mut url: Url, mut request: Request) -> Result<()> {
        for hops in 0.. {
            let response = self.exchange(&url, &request)?;
            let code = response.head.code;
            let location = response.head.value("location");
            if let (true, Some(location)) = ((300..400).contains(&code), &location) {
                if self.options.follow && hops < 10 {
                    narrate!("following {code} to {location}");
                    url = url
                        .join(location)
                        .map_err(|e| anyhow!("following a redirect: {e}"))?;
                    // 301, 302 and 303 turn a POST into a GET (what browsers
                    // do, and what 303 means); 307 and 308 repeat it as it was.
                    if matches!(code, 301..=303) {
                        request = Request {
                            method: "GET",
                            body: None,
                        };
                    }
                    continue;
                }
                if self.options.include {
                    write_stdout(&response.raw_head)?;
                }
                let hint = if self.options.follow {
                    "; more than 10 redirects, giving up"
                } else {
                    "; --follow follows it"
                };
                bail!(
                    "HTTP {code} {} (Location: {location}){hint}",
                    response.head.reason
                );
            }
            if self.options.include {
                write_stdout(&response.raw_head)?;
            }
            if !(200..300).contains(&code) {
                if self.options.include {
                    write_stdout(&response.body)?;
                }
                bail!("HTTP {code} {}", response.head.reason);
            }
            write_stdout(&response.body)?;
            return Ok(());
        }
        unreachable!("the loop returns")
    }

    /// Sends `request` to `url` and reads the whole response, on the kept
    /// connection if it goes to the same host, else on a new one.
    fn exchange(&mut self, url: &Url, request: &Request) -> Result<Response> {
        let reuse = self
            .kept
            .take()
            .filter(|c| c.host == url.host && c.port == url.port)
            .filter(Connection::still_quiet);
        if let Some(conn) = reuse {
            narrate!(
                "reusing the kept-alive connection to {} (request {} on it)",
                conn.peer,
                conn.requests + 1
            );
            match self.exchange_on(conn, url, request) {
                Ok(response) => return Ok(response),
                // The server may close an idle connection just as we reuse
                // it: nothing of a response came back. Retrying is safe for
                // GET (nothing was done), so connect again, once.
                Err(Attempt::Stale(e)) if request.method == "GET" => {
                    narrate!("the server had closed that connection ({e}); connecting again");
                }
                Err(Attempt::Stale(e)) | Err(Attempt::Failed(e)) => return Err(e),
            }
        }
        let conn = self.connect(url)?;
        self.exchange_on(conn, url, request)
            .map_err(Attempt::into_error)
    }

    fn connect(&self, url: &Url) -> Result<Connection> {
        let stream = connect_tcp(&url.host, url.port, self.options.timeout)?;
        let peer = stream.peer_addr().context("reading the peer's address")?;
        // Every wait below ends after --timeout: a silent server cannot
        // hang the client.
        stream
            .set_read_timeout(Some(self.options.timeout))
            .context("setting the read timeout")?;
        stream
            .set_write_timeout(Some(self.options.timeout))
            .context("setting the write timeout")?;
        // The request goes out in one write; no reason to delay it.
        stream.set_nodelay(true).context("setting TCP_NODELAY")?;
        Ok(Connection {
            wire: Wire::new(Traced {
                stream,
                peer,
                timeout: self.options.timeout,
            }),
            host: url.host.clone(),
            port: url.port,
            peer,
            requests: 0,
        })
    }

    /// One request and its response on `conn`, which is kept for the next
    /// request if the response allows it, and closed (dropped) otherwise.
    fn exchange_on(
        &mut self,
        mut conn: Connection,
        url: &Url,
        request: &Request,
    ) -> Result<Response, Attempt> {
        let bytes = request_bytes(url, request);
        let fresh = conn.requests == 0;
        let stale = |e: anyhow::Error| {
            if fresh {
                Attempt::Failed(e)
            } else {
                Attempt::Stale(e)
            }
        };
        conn.wire.get_mut().send(&bytes).map_err(stale)?;
        conn.requests += 1;

        // The response head; 1xx heads (100 Continue, 103 Early Hints) are
        // interim: the real response follows them. A few, not without end:
        // a server sending nothing else would keep us reading for ever.
        let mut interim = 0;
        let (head, len) = loop {
            let read = read_head(&mut conn.wire, MAX_HEAD, response::parse);
            let (head, len) = match read {
                Ok(Some(found)) => found,
                Ok(None) => {
                    return Err(stale(anyhow!(
                        "{} closed the connection without a response",
                        conn.peer
                    )));
                }
                Err(HeadError::Io {
                    error,
                    partial: false,
                }) if error.kind() != ErrorKind::TimedOut => {
                    return Err(stale(
                        anyhow!(error).context(format!("reading the response from {}", conn.peer)),
                    ));
                }
                Err(e) => return Err(Attempt::Failed(head_error(e, conn.peer))),
            };
            narrate_head(&conn.wire.buffer()[..len]);
            if (100..200).contains(&head.code) && head.code != 101 {
                conn.wire.consume(len);
                interim += 1;
                if interim > MAX_INTERIM {
                    return Err(Attempt::Failed(anyhow!(
                        "more than {MAX_INTERIM} interim (1xx) responses from {} and no answer",
                        conn.peer
                    )));
                }
                continue;
            }
            break (head, len);
        };
        let raw_head = conn.wire.buffer()[..len].to_vec();
        conn.wire.consume(len);

        let plan = response::plan(request.method == "HEAD", &head)
            .map_err(|e| Attempt::Failed(anyhow!(e)))?;
        narrate!("body framing: {}", describe(plan.framing));
        let max = usize::try_from(self.options.max_body).unwrap_or(usize::MAX);
        let mut body = Vec::new();
        match read_body(&mut conn.wire, plan.framing, max, &mut body) {
            Ok(_) => narrate!("body complete: {} bytes", body.len()),
            Err(BodyError::TooLarge { limit }) => {
                return Err(Attempt::Failed(anyhow!(
                    "the response body is larger than {limit} bytes (--max-body)"
                )));
            }
            Err(e) => {
                return Err(Attempt::Failed(
                    anyhow!(e).context(format!("reading the response body from {}", conn.peer)),
                ));
            }
        }
        let excess = conn.wire.buffer().len();
        if plan.reusable && excess > 0 {
            // More bytes than the framing said: a lying Content-Length, a
            // body on a 204. Read as the next response, they would answer a
            // request the server has not even seen (response smuggling).
            narrate!(
                "{} sent {excess} bytes past the end of the response: not reusing the connection",
                conn.peer
            );
        } else if plan.reusable {
            narrate!(
                "keeping the connection to {} open for the next request",
                conn.peer
            );
            self.kept = Some(conn);
        } else {
            narrate!(
                "closing the connection to {}: the response does not allow another request on it",
                conn.peer
            );
        }
        Ok(Response {
            raw_head,
            head,
            body,
        })
    }
}

/// How one attempt failed: `Stale` when a reused connection gave no byte
/// of a response (safe to retry a GET), `Failed` otherwise.
enum Attempt {
    Stale(anyhow::Error),
    Failed(anyhow::Error),
}

impl Attempt {
    fn into_error(self) -> anyhow::Error {
        match self {
            Attempt::Stale(e) | Attempt::Failed(e) => e,
        }
    }
}

fn head_error(e: HeadError, peer: SocketAddr) -> anyhow::Error {
    match e {
        HeadError::TooLarge => anyhow!("the response head from {peer} is over {MAX_HEAD} bytes"),
        HeadError::Malformed(httparse::Error::TooManyHeaders) => {
            anyhow!(
                "the response from {peer} has more than {} header fields",
                response::MAX_HEADERS
            )
        }
        HeadError::Malformed(e) => anyhow!("the response from {peer} is not HTTP/1.x: {e}"),
        HeadError::Truncated => {
            anyhow!("{peer} closed the connection in the middle of the response head")
        }
        HeadError::Io { error, .. } => {
            anyhow!(error).context(format!("reading the response from {peer}"))
        }
    }
}

/// The request, byte for byte: the lesson's "syntax".
fn request_bytes(url: &Url, request: &Request) -> Vec<u8> {
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: http-basics/0.1\r\nAccept: */*\r\n",
        request.method,
        url.target,
        url.host_header()
    );
    if let Some((content_type, body)) = &request.body {
        head.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    if let Some((_, body)) = &request.body {
        bytes.extend_from_slice(body);
    }
    bytes
}

fn describe(framing: http_basics::body::Framing) -> String {
    use http_basics::body::Framing;
    match framing {
        Framing::Empty => "none (no body for this request or status)".into(),
        Framing::Length(n) => format!("Content-Length: the next {n} bytes"),
        Framing::Chunked => "Transfer-Encoding: chunked (a hex size before each chunk)".into(),
        Framing::Close => "neither length nor chunks: the body ends when the server closes".into(),
    }
}

/// `--trace`: the bytes of a head, one line per line, CR and LF shown.
fn narrate_lines(marker: char, bytes: &[u8]) {
    if !common::trace::enabled() {
        return;
    }
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        narrate!("{marker} {}", line.escape_ascii());
    }
}

fn narrate_head(head: &[u8]) {
    narrate!("response head complete (httparse: {} bytes):", head.len());
    narrate_lines('<', head);
}

/// The connection's socket, narrating each send and recv syscall and
/// turning a timeout into an error that names `--timeout`.
struct Traced {
    stream: TcpStream,
    peer: SocketAddr,
    timeout: Duration,
}

impl Traced {
    /// Sends the whole request; `--trace` shows what went out.
    fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.write_all(bytes)
            .with_context(|| format!("sending the request to {}", self.peer))?;
        if common::trace::enabled() {
            let head_len = bytes
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(bytes.len(), |i| i + 4);
            narrate!("request as sent ({} bytes):", bytes.len());
            narrate_lines('>', &bytes[..head_len]);
            let body = &bytes[head_len..];
            if !body.is_empty() {
                let shown = &body[..body.len().min(200)];
                let more = body.len() - shown.len();
                let more = if more > 0 {
                    format!(" ... ({more} more bytes)")
                } else {
                    String::new()
                };
                narrate!("> {}{more}", shown.escape_ascii());
            }
        }
        Ok(())
    }

    fn timed_out(&self, what: &str) -> io::Error {
        let secs = self.timeout.as_secs_f64();
        io::Error::new(
            ErrorKind::TimedOut,
            format!("{what} {} for {secs} s (--timeout)", self.peer),
        )
    }
}

impl Read for Traced {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.stream.read(buf) {
            Ok(0) => {
                narrate!("recv() -> 0 bytes (EOF: the server closed its side)");
                Ok(0)
            }
            Ok(n) => {
                narrate!("recv() -> {n} bytes");
                Ok(n)
            }
            // SO_RCVTIMEO fired (Unix says WouldBlock).
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Err(self.timed_out("nothing received from"))
            }
            Err(e) => Err(e),
        }
    }
}

impl Write for Traced {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.stream.write(buf) {
            Ok(n) => {
                narrate!("send() -> {n} bytes");
                Ok(n)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Err(self.timed_out("nothing accepted by"))
            }
            Err(e) => Err(e),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A body goes to stdout as bytes, not text: an image stays an image.
fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .context("writing to stdout")
}
