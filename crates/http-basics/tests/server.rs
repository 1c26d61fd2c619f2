//! The server, spoken to byte by byte over raw sockets: the happy paths,
//! keep-alive, every error status and limit, the way out of the root
//! refused, and the stop.

mod support;

use std::io::{Read, Write};
use std::os::unix::fs::symlink;
use std::time::{Duration, Instant};

use support::{BIN, Raw, TempDir, get, request};
use test_support::Server;

fn server(extra: &[&str]) -> Server {
    let mut args = vec!["server", "--port", "0"];
    args.extend_from_slice(extra);
    Server::start(BIN, &args)
}

#[test]
fn get_and_head_of_the_built_in_site() {
    let server = server(&[]);
    let page = get(server.addr(), "/");
    assert_eq!(page.head.code, 200);
    assert_eq!(
        page.header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert!(
        page.text()
            .contains("<form method=\"post\" action=\"/echo\">")
    );
    assert_eq!(
        page.header("content-length"),
        Some(page.body.len().to_string())
    );
    assert!(page.header("date").is_some_and(|d| d.ends_with(" GMT")));

    let head = request(server.addr(), b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(head.head.code, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), page.header("content-length"));

    let css = get(server.addr(), "/style.css");
    assert_eq!(
        css.header("content-type").as_deref(),
        Some("text/css; charset=utf-8")
    );
    let about = get(server.addr(), "/about?x=1");
    assert_eq!(
        (about.head.code, about.header("location").as_deref()),
        (301, Some("/about/?x=1"))
    );
    assert!(
        get(server.addr(), "/about/")
            .text()
            .contains("<h1>about</h1>")
    );
    // Rebuilt from the checked names: `//about` must not become `//about/`,
    // which a browser reads as the host `about`.
    let double = get(server.addr(), "//about");
    assert_eq!(
        (double.head.code, double.header("location").as_deref()),
        (301, Some("/about/"))
    );
    assert_eq!(get(server.addr(), "/missing").head.code, 404);
    server.wait_stderr("\"GET /missing HTTP/1.1\" 404");
}

#[test]
fn keep_alive_in_1_1_close_when_asked_and_1_0_by_default() {
    let server = server(&[]);
    let mut conn = Raw::connect(server.addr());
    for _ in 0..3 {
        assert_eq!(
            conn.exchange(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n")
                .head
                .code,
            200
        );
    }
    let last = conn.exchange(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(last.header("connection").as_deref(), Some("close"));
    assert!(conn.closed(), "Connection: close must close");
    server.wait_stderr("4 requests; closed after the response (Connection: close)");

    let mut old = Raw::connect(server.addr());
    assert_eq!(
        old.exchange(b"GET /hello.txt HTTP/1.0\r\n\r\n").head.code,
        200
    );
    assert!(old.closed(), "HTTP/1.0 closes by default");

    let mut kept = Raw::connect(server.addr());
    let reply = kept.exchange(b"GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(reply.header("connection").as_deref(), Some("keep-alive"));
    assert_eq!(
        kept.exchange(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .head
            .code,
        200
    );
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = server(&[]);
    let mut conn = Raw::connect(server.addr());
    conn.send(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\nGET /missing HTTP/1.1\r\nHost: t\r\n\r\nHEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(conn.read(false).head.code, 200);
    assert_eq!(conn.read(false).head.code, 404);
    let head = conn.read(true);
    assert_eq!(head.head.code, 200);
    assert!(head.body.is_empty());
}

#[test]
fn echo_decodes_forms_and_returns_other_bodies_verbatim() {
    let server = server(&[]);
    let form = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 31\r\n\r\nname=Ada+L&x=%3Cb%3E&empty=&z=1";
    let text = request(server.addr(), form);
    assert_eq!(text.text(), "name: Ada L\nx: <b>\nempty: \nz: 1\n");
    // A browser asks for HTML: it gets a page, with the values escaped.
    let html = String::from_utf8_lossy(form)
        .replace("Host: t\r\n", "Host: t\r\nAccept: text/html,*/*\r\n");
    let page = request(server.addr(), html.as_bytes());
    assert_eq!(
        page.header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert!(
        page.text()
            .contains("<tr><th>x</th><td>&lt;b&gt;</td></tr>"),
        "{}",
        page.text()
    );
    assert!(!page.text().contains("<b>"));

    let json = request(
        server.addr(),
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\n{\"a\":1}\n",
    );
    assert_eq!(
        (json.text().as_str(), json.header("content-type").as_deref()),
        ("{\"a\":1}\n", Some("application/json"))
    );
    assert_eq!(
        json.header("content-security-policy").as_deref(),
        Some("sandbox")
    );

    // Chunked, with an extension and a trailer.
    let chunked = request(
        server.addr(),
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n",
    );
    assert_eq!(chunked.text(), "hello world");

    // Expect: 100-continue gets its go-ahead before the body is sent.
    let mut conn = Raw::connect(server.addr());
    conn.send(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n",
    );
    let go = conn.read(false);
    assert_eq!(go.head.code, 100);
    conn.send(b"hi");
    assert_eq!(conn.read(false).text(), "hi");
}

#[test]
fn method_errors_carry_allow() {
    let server = server(&[]);
    let post = request(
        server.addr(),
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(
        (post.head.code, post.header("allow").as_deref()),
        (405, Some("GET, HEAD"))
    );
    let get = get(server.addr(), "/echo");
    assert_eq!(
        (get.head.code, get.header("allow").as_deref()),
        (405, Some("POST"))
    );
    let delete = request(server.addr(), b"DELETE /x HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(delete.head.code, 405);
}

/// Sends `bytes` and returns the status of the answer; the connection
/// must then be closed by the server.
fn refused(server: &Server, bytes: &[u8]) -> u16 {
    let mut conn = Raw::connect(server.addr());
    let _ = conn.wire.get_mut().write_all(bytes);
    let reply = conn.read(false);
    assert_eq!(
        reply.header("connection").as_deref(),
        Some("close"),
        "{:?}",
        reply.head
    );
    assert!(conn.closed(), "the server closes after {}", reply.head.code);
    reply.head.code
}

#[test]
fn bad_requests_are_400_and_smuggling_shapes_too() {
    let server = server(&[]);
    assert_eq!(refused(&server, b"GET /\r\n\r\n"), 400);
    assert_eq!(
        refused(&server, b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"),
        400
    );
    assert_eq!(refused(&server, b"GET / HTTP/1.1\r\n\r\n"), 400);
    assert_eq!(refused(&server, b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 400);
    assert_eq!(refused(&server, b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"), 400);
    assert_eq!(
        refused(
            &server,
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
        ),
        400
    );
    assert_eq!(
        refused(
            &server,
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n"
        ),
        501
    );
    let log = server.wait_stderr("two different Content-Lengths");
    assert!(log.contains("400 Bad Request"), "{log}");
    // And the server still serves.
    assert_eq!(get(server.addr(), "/hello.txt").head.code, 200);
}

/// A line that ends in a bare LF is refused in a head too, not only in a
/// chunked body: RFC 9112 lets a recipient accept it, but a proxy in front
/// that does not would see one field where this server sees two (say, a
/// `Transfer-Encoding` hidden in another field's value): request smuggling.
#[test]
fn a_bare_lf_in_a_request_head_is_400() {
    let server = server(&[]);
    assert_eq!(refused(&server, b"GET / HTTP/1.1\nHost: t\n\n"), 400);
    assert_eq!(
        refused(
            &server,
            b"POST /echo HTTP/1.1\r\nHost: t\r\nX: a\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc"
        ),
        400
    );
    server.wait_stderr("bare LF");
    assert_eq!(get(server.addr(), "/hello.txt").head.code, 200);
}

/// The answer to HEAD has no body, whatever its status: even a refusal.
/// (A body there would be read as the start of the next response.)
#[test]
fn a_refused_head_request_gets_no_body() {
    let server = server(&[]);
    for request in [
        &b"HEAD / HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999\r\n\r\n"[..],
        b"HEAD / HTTP/1.1\r\nHost: t\r\nExpect: something\r\n\r\n",
        b"HEAD / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n",
    ] {
        let mut conn = test_support::connect(server.addr());
        conn.write_all(request).unwrap();
        let mut reply = Vec::new();
        conn.read_to_end(&mut reply).unwrap();
        let text = String::from_utf8_lossy(&reply);
        let end = text.find("\r\n\r\n").expect("a response head") + 4;
        assert!(
            text.starts_with("HTTP/1.1 4") || text.starts_with("HTTP/1.1 5"),
            "{text}"
        );
        assert!(text.contains("Content-Length: "), "{text}");
        assert_eq!(&text[end..], "", "a body after the head: {text}");
    }
}

#[test]
fn sizes_are_capped_413_for_bodies_431_for_heads() {
    let server = server(&["--max-body", "100", "--max-header", "1024"]);
    let stated = format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n{}",
        "x".repeat(101)
    );
    assert_eq!(refused(&server, stated.as_bytes()), 413);
    let huge =
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999999\r\n\r\n";
    assert_eq!(refused(&server, huge.as_bytes()), 413);
    // Chunked: the sizes add up past the limit, or one size alone is absurd.
    let chunks = format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n32\r\n{0}\r\n33\r\n{0}",
        "y".repeat(50)
    );
    assert_eq!(refused(&server, chunks.as_bytes()), 413);
    let absurd = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n";
    assert_eq!(refused(&server, absurd.as_bytes()), 413);
    let exactly = format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{}",
        "x".repeat(100)
    );
    assert_eq!(request(server.addr(), exactly.as_bytes()).body.len(), 100);

    let long = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX: {}\r\n\r\n",
        "a".repeat(2000)
    );
    assert_eq!(refused(&server, long.as_bytes()), 431);
    let many: String = (0..70).map(|i| format!("X-{i}: v\r\n")).collect();
    assert_eq!(
        refused(
            &server,
            format!("GET / HTTP/1.1\r\nHost: t\r\n{many}\r\n").as_bytes()
        ),
        431
    );
    // A head that never ends is cut at the limit, not buffered forever.
    let mut conn = Raw::connect(server.addr());
    let _ = conn
        .wire
        .get_mut()
        .write_all(format!("GET / HTTP/1.1\r\nX: {}", "b".repeat(4000)).as_bytes());
    assert_eq!(conn.read(false).head.code, 431);
    server.wait_stderr("--max-header");
}

#[test]
fn a_head_trickling_in_gets_408_at_its_deadline_and_a_silent_client_is_just_closed() {
    let server = server(&["--idle-timeout", "1"]);
    let mut conn = Raw::connect(server.addr());
    let started = Instant::now();
    // The request line at once (so even a slow machine cannot make this the
    // silent client below), then a byte every 200 ms: never idle for a whole
    // second, never done.
    let head = b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut sent = 16;
    conn.send(&head[..sent]);
    while sent < head.len() && !server.stderr_lines().iter().any(|l| l.contains("408")) {
        if conn.wire.get_mut().write_all(&head[sent..=sent]).is_err() {
            break;
        }
        sent += 1;
        std::thread::sleep(Duration::from_millis(200)); // the slowloris pace, not a synchronisation
    }
    assert!(
        sent < head.len(),
        "the whole head went out at a byte per 200 ms: no deadline"
    );
    let reply = conn.read(false);
    assert_eq!(reply.head.code, 408);
    assert!(started.elapsed() < Duration::from_secs(5));

    // No byte at all: closed without a 408 (an idle keep-alive is normal).
    let mut silent = Raw::connect(server.addr());
    assert!(silent.closed());
    server.wait_stderr("idle for 1 s (--idle-timeout)");
}

#[test]
fn a_trickled_body_is_cut_too() {
    let server = server(&["--idle-timeout", "1"]);
    let mut conn = Raw::connect(server.addr());
    conn.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n");
    let mut sent = 0;
    while sent < 100 && !server.stderr_lines().iter().any(|l| l.contains("408")) {
        if conn.wire.get_mut().write_all(b"x").is_err() {
            break;
        }
        sent += 1;
        std::thread::sleep(Duration::from_millis(200)); // the slow pace itself
    }
    assert!(sent < 100);
    assert_eq!(conn.read(false).head.code, 408);
}

fn site_with_secrets() -> (TempDir, TempDir) {
    let outside = TempDir::new("outside");
    std::fs::write(outside.path().join("secret.txt"), "TOP SECRET\n").unwrap();
    let root = TempDir::new("root");
    let r = root.path();
    std::fs::write(r.join("index.html"), "<p>home</p>\n").unwrap();
    std::fs::create_dir(r.join("docs")).unwrap();
    std::fs::write(r.join("docs/index.html"), "<p>docs</p>\n").unwrap();
    std::fs::write(r.join("docs/a b.txt"), "spaced\n").unwrap();
    std::fs::write(r.join("data.json"), "{}\n").unwrap();
    std::fs::create_dir(r.join("empty")).unwrap();
    symlink(outside.path().join("secret.txt"), r.join("link-out.txt")).unwrap();
    symlink(outside.path(), r.join("dir-out")).unwrap();
    symlink(r.join("docs/a b.txt"), r.join("link-in.txt")).unwrap();
    (root, outside)
}

#[test]
fn files_under_a_root_are_served_with_their_types() {
    let (root, _outside) = site_with_secrets();
    let server = server(&["--root", root.str()]);
    assert_eq!(get(server.addr(), "/").text(), "<p>home</p>\n");
    let docs = get(server.addr(), "/docs");
    assert_eq!(
        (docs.head.code, docs.header("location").as_deref()),
        (301, Some("/docs/"))
    );
    assert_eq!(get(server.addr(), "/docs/").text(), "<p>docs</p>\n");
    let odd = get(server.addr(), "/./docs");
    assert_eq!(odd.header("location").as_deref(), Some("/docs/"));
    assert_eq!(get(server.addr(), "/docs/a%20b.txt").text(), "spaced\n");
    assert_eq!(
        get(server.addr(), "/data.json")
            .header("content-type")
            .as_deref(),
        Some("application/json")
    );
    // A symlink that stays inside is fine.
    assert_eq!(get(server.addr(), "/link-in.txt").text(), "spaced\n");
    assert_eq!(get(server.addr(), "/empty/").head.code, 404);
    assert_eq!(get(server.addr(), "/nothing.txt").head.code, 404);
}

#[test]
fn no_path_leads_out_of_the_root() {
    let (root, outside) = site_with_secrets();
    let server = server(&["--root", root.str()]);
    no_way_out(&server, &root, &outside);
}

/// The same with the portable check (canonicalize, then compare the
/// prefix) that kernels without openat2 get.
#[test]
fn no_path_leads_out_of_the_root_without_openat2() {
    let (root, outside) = site_with_secrets();
    let mut child = std::process::Command::new(BIN)
        .args(["server", "--port", "0", "--root", root.str()])
        .env("HTTP_BASICS_NO_OPENAT2", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut first);
        first
    });
    // Killed on every way out of this test, even a failed assertion.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _guard = Kill(child);
    let started = Instant::now();
    while !reader.is_finished() && started.elapsed() < test_support::DEADLINE {
        std::thread::sleep(Duration::from_millis(10)); // polling a thread's end, bounded
    }
    assert!(reader.is_finished(), "the server printed no first line");
    let line = reader.join().unwrap();
    let addr: std::net::SocketAddr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(get(addr, "/link-in.txt").text(), "spaced\n");
    let fake = FakeServer(addr);
    no_way_out(&fake, &root, &outside);
}

struct FakeServer(std::net::SocketAddr);

trait Addr {
    fn addr(&self) -> std::net::SocketAddr;
}
impl Addr for Server {
    fn addr(&self) -> std::net::SocketAddr {
        Server::addr(self)
    }
}
impl Addr for FakeServer {
    fn addr(&self) -> std::net::SocketAddr {
        self.0
    }
}

fn no_way_out(server: &impl Addr, root: &TempDir, outside: &TempDir) {
    let secret_dir = outside
        .path()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let attempts = [
        "/../".to_string() + &secret_dir + "/secret.txt",
        "/docs/../../".to_string() + &secret_dir + "/secret.txt",
        "/%2e%2e/".to_string() + &secret_dir + "/secret.txt",
        "/%2E%2E%2F".to_string() + &secret_dir + "%2Fsecret.txt",
        "/..%2f".to_string() + &secret_dir + "%2fsecret.txt",
        outside.str().to_string() + "/secret.txt",
        "/".to_string() + outside.str() + "/secret.txt",
        "/link-out.txt".to_string(),
        "/dir-out/secret.txt".to_string(),
        "/index.html%00.txt".to_string(),
        "/etc/passwd".to_string(),
        "//etc/passwd".to_string(),
    ];
    for path in &attempts {
        let reply = get(server.addr(), path);
        assert!(
            [403, 404].contains(&reply.head.code),
            "{path}: {}",
            reply.head.code
        );
        assert!(
            !reply.text().contains("TOP SECRET") && !reply.text().contains("root:"),
            "{path} leaked"
        );
    }
    // A FIFO is refused, not opened (open() on it would block a worker).
    let fifo = root.path().join("pipe");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    assert_eq!(get(server.addr(), "/pipe").head.code, 403);
    assert_eq!(get(server.addr(), "/").head.code, 200);
}

#[test]
fn too_many_connections_get_503_and_an_idle_keep_alive_gives_its_worker_away() {
    let server = server(&["--max-connections", "1"]);
    let mut first = Raw::connect(server.addr());
    assert_eq!(
        first
            .exchange(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .head
            .code,
        200
    );
    let mut second = Raw::connect(server.addr());
    assert_eq!(
        second
            .exchange(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .head
            .code,
        503
    );
    server.wait_stderr("(--max-connections)");
    drop(server);

    let server = Server::start(BIN, &["server", "--port", "0", "--workers", "1"]);
    let mut idle = Raw::connect(server.addr());
    assert_eq!(
        idle.exchange(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .head
            .code,
        200
    );
    // One worker, held by `idle`: `next` is served only if it gives way.
    let mut next = Raw::connect(server.addr());
    assert_eq!(
        next.exchange(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n")
            .head
            .code,
        200
    );
    assert!(idle.closed());
    server.wait_stderr("a new connection is waiting for a worker");
}

/// A kept-alive client that is never idle (a request every 20 ms, never
/// the 100 ms of silence that makes an idle one give way) must not keep
/// its worker for ever while another connection waits for one: it is told
/// `Connection: close` with a response, and the newcomer gets the worker.
#[test]
fn a_busy_keep_alive_connection_yields_its_worker_to_a_waiting_one() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let server = server(&["--workers", "1"]);
    let done = Arc::new(AtomicBool::new(false));
    let (started, going) = std::sync::mpsc::channel();
    let busy = {
        let (addr, done) = (server.addr(), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut conn = Raw::connect(addr);
            let mut closes = 0;
            // Bounded: at most 1000 requests (20 s), fewer once told to stop.
            for _ in 0..1000 {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                let reply = conn.exchange(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
                assert_eq!(reply.head.code, 200);
                let _ = started.send(());
                if reply.header("connection").as_deref() == Some("close") {
                    // As a browser would: a new connection for the next one.
                    closes += 1;
                    conn = Raw::connect(addr);
                }
                std::thread::sleep(Duration::from_millis(20)); // its pace, the scenario
            }
            closes
        })
    };
    going
        .recv_timeout(Duration::from_secs(5))
        .expect("the busy client was served");
    let mut newcomer = Raw::connect(server.addr());
    let reply = newcomer.exchange(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    done.store(true, Ordering::Relaxed);
    assert_eq!(reply.head.code, 200);
    assert!(
        busy.join().unwrap() >= 1,
        "the busy client was never told to close"
    );
    server.wait_stderr("another connection is waiting for a worker");
}

/// Connections that hold a worker without sending (nothing at all yet, or
/// half a head, then silence) must not lock a newcomer out until their
/// --idle-timeout: while another waits for a worker, a worker waits for a
/// stalled client only for its turn (100 ms).
#[test]
fn silent_and_stalled_new_connections_give_a_waiting_one_the_worker() {
    let server = server(&["--workers", "1"]);
    let silent = Raw::connect(server.addr());
    let mut stalled = Raw::connect(server.addr());
    stalled.send(b"GET /hello.txt HTTP/1.1\r\nHo");
    let mut newcomer = Raw::connect(server.addr());
    // Raw's reads give up after 5 s: far less than the 30 s --idle-timeout.
    let reply = newcomer.exchange(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(reply.head.code, 200);
    // The stalled head is told why (408); the silent one just closed.
    assert_eq!(stalled.read(false).head.code, 408);
    server.wait_stderr("stalled while another connection waited for a worker");
    drop(silent);
}

#[test]
fn garbage_ends_one_connection_and_the_server_serves_on() {
    let server = server(&[]);
    let mut seed = 0x2545F4914F6CDD1Du64;
    for round in 0..40 {
        let mut junk = Vec::new();
        for _ in 0..(round * 37 % 900 + 1) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            junk.push(seed as u8);
        }
        if round % 2 == 0 {
            junk.splice(
                0..0,
                b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                    .iter()
                    .copied(),
            );
        }
        let mut conn = test_support::connect(server.addr());
        let _ = conn.write_all(&junk);
        let _ = conn.shutdown(std::net::Shutdown::Write);
        let mut rest = Vec::new();
        let _ = conn.read_to_end(&mut rest);
    }
    assert_eq!(get(server.addr(), "/hello.txt").head.code, 200);
    let lines = server.stderr_lines();
    assert!(!lines.iter().any(|l| l.contains("panicked")), "{lines:#?}");
}

#[test]
fn a_stop_ends_the_server_within_2_s_whatever_the_clients_do() {
    let mut server = server(&[]);
    let mut idle = Raw::connect(server.addr());
    assert_eq!(
        idle.exchange(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .head
            .code,
        200
    );
    let mut half = test_support::connect(server.addr());
    half.write_all(b"GET / HTTP/1.1\r\nHo").unwrap();
    let mut body = test_support::connect(server.addr());
    body.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
        .unwrap();
    server.wait_stderr_count("", 1);
    std::thread::sleep(Duration::from_millis(300)); // let the workers pick them up; not a sync: the test holds either way
    let (status, took) = server.stop_with(libc::SIGTERM);
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    server.wait_stderr("stopped: ");
}

/// The server's `--trace` tells the truth: one `recv()` line per read
/// syscall on the client's socket with the kernel's count, one `send()`
/// line per send, checked against strace.
#[test]
fn server_trace_narrates_each_real_recv_and_send() {
    use test_support::strace::Attached;
    let server = server(&["--trace"]);
    let strace = Attached::to(server.pid());
    let mut conn = Raw::connect(server.addr());
    assert_eq!(
        conn.exchange(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n")
            .head
            .code,
        200
    );
    conn.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello");
    std::thread::sleep(Duration::from_millis(50)); // two separate segments, most likely two reads; the test holds either way
    conn.send(b"world");
    assert_eq!(conn.read(false).text(), "helloworld");
    drop(conn);
    server.wait_stderr("2 requests; closed by the client");
    let calls = strace.finish();
    let client_fd = calls
        .iter()
        .find(|c| c.name.starts_with("accept") && c.ret.is_some())
        .expect("an accept in the strace")
        .ret;
    let kernel = |names: &[&str]| -> Vec<i64> {
        calls
            .iter()
            .filter(|c| names.contains(&c.name.as_str()) && c.fd == client_fd)
            .filter_map(|c| c.ret)
            .collect()
    };
    let narrated = |prefix: &str| -> Vec<i64> {
        server
            .stderr_lines()
            .iter()
            .filter_map(|l| l.strip_prefix(prefix))
            .filter_map(|l| l.split(' ').next()?.parse().ok())
            .collect()
    };
    let recvs = kernel(&["read", "recvfrom"]);
    assert!(recvs.len() >= 3, "{calls:#?}");
    assert_eq!(
        narrated("trace: recv() -> "),
        recvs,
        "recv() lines vs the kernel's reads"
    );
    assert_eq!(
        narrated("trace: send() -> "),
        kernel(&["write", "sendto"]),
        "send() lines vs the kernel's"
    );
}
