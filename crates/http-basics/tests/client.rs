//! The client against our server and against scripted fake servers that
//! send what ours never would: chunked bodies in pieces, trailers,
//! close-delimited bodies, stale keep-alive connections, silence.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use support::BIN;
use test_support::{Server, run, stderr, stdout};

fn our_server() -> Server {
    Server::start(BIN, &["server", "--port", "0"])
}

fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

/// A scripted server: accepts one connection per script (10 s at most),
/// and on each one, for every request it reads, writes the script's next
/// answer; a `None` closes the connection (at once, when it follows an
/// answer: a server that closes right after its response).
/// Sends each request head it saw back through the channel.
fn fake(answers: Vec<Vec<Option<Vec<u8>>>>) -> (SocketAddr, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        for script in answers {
            let mut stream = loop {
                match listener.accept() {
                    Ok((s, _)) => break s,
                    Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)), // polling accept, bounded
                    Err(_) => return,
                }
            };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut script = script.into_iter().peekable();
            while let Some(answer) = script.next() {
                let Some(head) = read_request_head(&mut stream) else {
                    break;
                };
                // Read the request's body too, so the next head starts clean.
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .map_or(0, |n| n.trim().parse::<usize>().unwrap_or(0));
                let mut body = vec![0u8; length];
                if stream.read_exact(&mut body).is_err() {
                    break;
                }
                let _ = tx.send(head);
                match answer {
                    Some(bytes) => {
                        // In pieces, so the client's reads see them split.
                        for piece in bytes.chunks(7) {
                            if stream.write_all(piece).is_err() {
                                break;
                            }
                        }
                        if script.peek() == Some(&None) {
                            break;
                        }
                    }
                    None => break,
                }
            }
        }
    });
    (addr, rx)
}

fn read_request_head(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

fn http(text: &str) -> Option<Vec<u8>> {
    Some(text.as_bytes().to_vec())
}

#[test]
fn urls_on_one_host_share_one_keep_alive_connection() {
    let server = our_server();
    let out = run(
        BIN,
        &[
            "get",
            "--trace",
            &url(server.addr(), "/hello.txt"),
            &url(server.addr(), "/style.css"),
        ],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("Hello from http-basics.\n"));
    assert!(stdout(&out).contains("font-family"));
    let trace = stderr(&out);
    assert_eq!(trace.matches("trace: connect(").count(), 1, "{trace}");
    assert!(trace.contains("reusing the kept-alive connection to"));
    assert!(trace.contains("(request 2 on it)"));
    server.wait_stderr("2 requests; closed by the client");

    // Two hosts (two servers): two connections.
    let other = our_server();
    let out = run(
        BIN,
        &[
            "get",
            "--trace",
            &url(server.addr(), "/hello.txt"),
            &url(other.addr(), "/hello.txt"),
        ],
        b"",
    );
    assert!(out.status.success());
    assert_eq!(stderr(&out).matches("trace: connect(").count(), 2);
}

#[test]
fn the_trace_shows_the_request_bytes_and_every_read() {
    let server = our_server();
    let target = url(server.addr(), "/echo");
    let out = run(
        BIN,
        &[
            "post",
            "--trace",
            &target,
            "--form",
            "name=Ada Lovelace",
            "--form",
            "x=1&2",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "name: Ada Lovelace\nx: 1&2\n");
    let trace = stderr(&out);
    for line in [
        "trace: > POST /echo HTTP/1.1\\r\\n",
        &format!("trace: > Host: {}\\r\\n", server.addr()),
        "trace: > Content-Type: application/x-www-form-urlencoded\\r\\n",
        "trace: > Content-Length: 25\\r\\n",
        "trace: > \\r\\n",
        "trace: > name=Ada+Lovelace&x=1%262",
        "trace: < HTTP/1.1 200 OK\\r\\n",
        "trace: body framing: Content-Length: the next 26 bytes",
    ] {
        assert!(
            trace.lines().any(|l| l == line),
            "no line {line:?} in:\n{trace}"
        );
    }
}

#[test]
fn the_trace_narrates_each_real_recv_and_send() {
    let server = our_server();
    let (out, calls) = test_support::strace::run(
        BIN,
        &[
            "get",
            "--trace",
            &url(server.addr(), "/"),
            &url(server.addr(), "/hello.txt"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let trace = stderr(&out);
    let recvs = calls
        .iter()
        .filter(|c| c.name == "recvfrom" && c.ret.is_some())
        .count();
    let sends = calls
        .iter()
        .filter(|c| c.name == "sendto" && c.ret.is_some())
        .count();
    assert!(recvs >= 2 && sends == 2, "{calls:#?}");
    assert_eq!(trace.matches("trace: recv() -> ").count(), recvs, "{trace}");
    assert_eq!(trace.matches("trace: send() -> ").count(), sends, "{trace}");
}

#[test]
fn post_sends_data_and_json_with_their_types() {
    let server = our_server();
    let target = url(server.addr(), "/echo");
    let out = run(BIN, &["post", &target, "--data", "plain text\n"], b"");
    assert_eq!(stdout(&out), "plain text\n");
    let out = run(
        BIN,
        &["post", "--include", &target, "--json", "{\"a\": [1, 2]}"],
        b"",
    );
    let text = stdout(&out);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("\r\nContent-Type: application/json\r\n"));
    assert!(text.ends_with("\r\n\r\n{\"a\": [1, 2]}"));
    // Exactly one body flag.
    let out = run(BIN, &["post", &target], b"");
    assert_eq!(out.status.code(), Some(2));
    let out = run(BIN, &["post", &target, "--data", "a", "--json", "1"], b"");
    assert_eq!(out.status.code(), Some(2));
    let out = run(BIN, &["post", &target, "--form", "novalue"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is not NAME=VALUE"));
}

#[test]
fn statuses_other_than_2xx_exit_1_and_redirects_need_follow() {
    let server = our_server();
    let out = run(BIN, &["get", &url(server.addr(), "/missing")], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "error: HTTP 404 Not Found\n");
    assert!(out.stdout.is_empty());
    let out = run(BIN, &["get", "-i", &url(server.addr(), "/missing")], b"");
    assert!(stdout(&out).starts_with("HTTP/1.1 404 Not Found\r\n"));
    assert!(stdout(&out).ends_with("404 Not Found: no such page\n"));

    let out = run(BIN, &["get", &url(server.addr(), "/about")], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: HTTP 301 Moved Permanently (Location: /about/); --follow follows it\n"
    );
    let out = run(
        BIN,
        &["get", "--follow", &url(server.addr(), "/about")],
        b"",
    );
    assert!(out.status.success());
    assert!(stdout(&out).contains("<h1>about</h1>"));
}

#[test]
fn redirects_are_followed_at_most_ten_times_and_303_turns_post_into_get() {
    let loop_answer = "HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n";
    let (addr, _) = fake(vec![vec![http(loop_answer); 11]]);
    let out = run(BIN, &["get", "--follow", &url(addr, "/")], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("more than 10 redirects"),
        "{}",
        stderr(&out)
    );

    let (addr, heads) = fake(vec![vec![
        http("HTTP/1.1 303 See Other\r\nLocation: done\r\nContent-Length: 0\r\n\r\n"),
        http("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"),
    ]]);
    let out = run(
        BIN,
        &["post", "-L", &url(addr, "/dir/form"), "--data", "x"],
        b"",
    );
    assert_eq!(stdout(&out), "ok\n");
    assert!(
        heads
            .recv()
            .unwrap()
            .starts_with("POST /dir/form HTTP/1.1\r\n")
    );
    assert!(
        heads
            .recv()
            .unwrap()
            .starts_with("GET /dir/done HTTP/1.1\r\n")
    );
}

#[test]
fn chunked_close_delimited_and_interim_responses_are_read_to_their_end() {
    let chunked = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                   6;note=first\r\nHello \r\n19\r\nfrom a chunked response.\n\r\n0\r\nX-Checksum: 1\r\n\r\n";
    let (addr, _) = fake(vec![vec![
        http(chunked),
        http("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab\n"),
    ]]);
    let out = run(
        BIN,
        &["get", "--trace", &url(addr, "/a"), &url(addr, "/b")],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Hello from a chunked response.\nab\n");
    let trace = stderr(&out);
    assert!(
        trace.contains("trace: chunk: size line \"6;note=first\" = 6 bytes"),
        "{trace}"
    );
    assert!(trace.contains("trace: chunk: size line \"19\" = 25 bytes"));
    assert!(trace.contains("trace: chunk: trailer field \"X-Checksum: 1\""));
    assert_eq!(trace.matches("trace: connect(").count(), 1);

    let (addr, _) = fake(vec![vec![
        http("HTTP/1.0 200 OK\r\n\r\nuntil the close\n"),
        None,
    ]]);
    let out = run(BIN, &["get", "--trace", &url(addr, "/")], b"");
    assert_eq!(stdout(&out), "until the close\n");
    assert!(stderr(&out).contains("the body ends when the server closes"));
}

#[test]
fn a_kept_connection_the_server_closed_is_replaced_once() {
    let ok = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
    // The first connection answers once, then closes without a word.
    let (addr, _) = fake(vec![vec![http(ok), None], vec![http(ok)]]);
    let out = run(
        BIN,
        &["get", "--trace", &url(addr, "/1"), &url(addr, "/2")],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "ok\nok\n");
    // Seen before reuse (its FIN has arrived: a peek says EOF), or only
    // when the request finds the connection closed: either way, once.
    let trace = stderr(&out);
    assert!(
        trace.contains("EOF: the server closed the kept connection")
            || trace.contains("the server had closed that connection"),
        "{trace}"
    );
    assert_eq!(trace.matches("trace: connect(").count(), 2);
}

/// A server that sends more than its response's framing says (a lying
/// Content-Length, a body on a 204) must not get the extra bytes read as
/// the response to the client's next request: that connection is not
/// reused, so a forged second response never reaches the user.
#[test]
fn bytes_past_a_responses_end_are_never_read_as_the_next_response() {
    let forged = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nforged\n";
    let real = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nreal\n";
    for first in [
        format!("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nfirst\n{forged}"),
        format!("HTTP/1.1 204 No Content\r\nContent-Length: 6\r\n\r\n{forged}"),
    ] {
        // If the client reused the first connection, the forged bytes would
        // answer its second request there; a new connection gets `real`.
        let (addr, _) = fake(vec![vec![http(&first), http(real)], vec![http(real)]]);
        let out = run(
            BIN,
            &["get", "--trace", &url(addr, "/a"), &url(addr, "/b")],
            b"",
        );
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            !stdout(&out).contains("forged"),
            "{first:?}: {}",
            stdout(&out)
        );
        assert!(stdout(&out).ends_with("real\n"), "{}", stdout(&out));
        assert!(
            stderr(&out).contains("bytes past the end of the response"),
            "{}",
            stderr(&out)
        );
        assert_eq!(stderr(&out).matches("trace: connect(").count(), 2);
    }
}

/// Interim responses (1xx) are skipped on the way to the real one, but not
/// without end: a server that sends nothing else would keep the client
/// reading for ever (each one well within --timeout).
#[test]
fn endless_interim_responses_are_an_error() {
    let many = "HTTP/1.1 100 Continue\r\n\r\n".repeat(1000)
        + "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
    let (addr, _) = fake(vec![vec![http(&many), None]]);
    let out = run(BIN, &["get", &url(addr, "/")], b"");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("more than 10 interim (1xx) responses"),
        "{}",
        stderr(&out)
    );
    // Two, as a real server may send (100 Continue, 103 Early Hints): fine.
    let two = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n\
               HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
    let (addr, _) = fake(vec![vec![http(two), None]]);
    let out = run(BIN, &["get", &url(addr, "/")], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "ok\n");
}

#[test]
fn limits_hold_max_body_timeout_and_broken_responses() {
    let server = our_server();
    let out = run(
        BIN,
        &["get", "--max-body", "10", &url(server.addr(), "/hello.txt")],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("larger than 10 bytes (--max-body)"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());

    // A chunk size past --max-body is refused before it is read.
    let (addr, _) = fake(vec![vec![http(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffff\r\n",
    )]]);
    let out = run(BIN, &["get", "--max-body", "1000", &url(addr, "/")], b"");
    assert!(
        stderr(&out).contains("larger than 1000 bytes"),
        "{}",
        stderr(&out)
    );

    // Silence: accepted, read, never answered.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let started = Instant::now();
    let out = run(BIN, &["get", "--timeout", "0.5", &url(addr, "/")], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("for 0.5 s (--timeout)"),
        "{}",
        stderr(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(silent);

    for broken in [
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort",
        "SSH-2.0-OpenSSH_9.2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX",
    ] {
        let (addr, _) = fake(vec![vec![http(broken), None]]);
        let out = run(BIN, &["get", &url(addr, "/")], b"");
        assert_eq!(out.status.code(), Some(1), "{broken:?}: {}", stderr(&out));
        assert!(stderr(&out).starts_with("error: "), "{}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"));
    }
}

#[test]
fn refused_https_and_bad_urls_say_what_to_do() {
    let out = run(BIN, &["get", "https://example.org/"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("rustls"), "{}", stderr(&out));
    let out = run(BIN, &["get", "http://h:99999/"], b"");
    assert_eq!(out.status.code(), Some(2));
    let (_hold, port) = test_support::refused_port();
    let out = run(BIN, &["get", &format!("http://127.0.0.1:{port}/")], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("hint: nothing is listening"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("cargo run -p http-basics -- server"));
}

#[test]
fn a_closed_stdout_is_an_error_not_a_panic() {
    let server = our_server();
    let mut child = Command::new(BIN)
        .args(["get", &url(server.addr(), "/")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = rx.recv_timeout(test_support::DEADLINE).unwrap_or_else(|_| {
        // SAFETY: kill(2) on the child we spawned.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        panic!("the client hung with a closed stdout")
    });
    let out = out.unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("writing to stdout"),
        "{}",
        stderr(&out)
    );
}
