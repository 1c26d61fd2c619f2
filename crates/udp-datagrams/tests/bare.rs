//! The bare file (examples/udp-datagrams-bare.rs) speaks the lesson's
//! protocol: the bare server answers the full client, and the full server
//! answers the bare client.

use std::time::{Duration, Instant};

use test_support::{Server, run, stderr, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_udp-datagrams");

/// The bare file's binary (built first if needed).
fn bare() -> String {
    test_support::example(env!("CARGO"), "udp-datagrams", "udp-datagrams-bare")
}

#[test]
fn the_bare_server_answers_the_full_client() {
    let server = Server::start(&bare(), &["server", "--port", "0"]);
    assert!(server.addr().ip().is_loopback(), "{}", server.addr());
    let port = server.addr().port().to_string();
    let out = run(BIN, &["client", "--port", &port], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Your data was 23 bytes long\n");
    let out = run(BIN, &["client", "--port", &port, "hi there"], b"");
    assert_eq!(
        stdout(&out),
        "Your data was 8 bytes long\n",
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_full_server_answers_the_bare_client() {
    let server = Server::start(BIN, &["server", "--port", "0"]);
    let port = server.addr().port().to_string();
    let out = run(&bare(), &["client", "--port", &port], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Your data was 23 bytes long\n");
    // The remaining arguments are the message, joined by spaces.
    let out = run(&bare(), &["client", "hi", "there", "--port", &port], b"");
    assert_eq!(
        stdout(&out),
        "Your data was 8 bytes long\n",
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_bare_client_retries_with_the_books_backoff_and_gives_up() {
    // A silent peer: bound (so no ICMP refusal), never answering.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port().to_string();
    let started = Instant::now();
    let out = run(&bare(), &["client", "--port", &port, "anyone?"], b"");
    let took = started.elapsed();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("I think the server is down"),
        "{}",
        stderr(&out)
    );
    // 0.1 + 0.2 + 0.4 + 0.8 + 1.6 s of waiting, then the give-up.
    assert!(
        took >= Duration::from_millis(3000),
        "gave up after {took:?}"
    );
    let mut buf = [0u8; 64];
    silent.set_nonblocking(true).unwrap();
    let tries = std::iter::from_fn(|| silent.recv(&mut buf).ok()).count();
    assert_eq!(tries, 5, "five tries, like the book's client");
}

#[test]
fn the_bare_file_stays_bare() {
    let source = include_str!("../examples/udp-datagrams-bare.rs");
    assert!(source.lines().count() <= 80, "at most 80 lines");
    for forbidden in [
        "common::", "anyhow", "socket2", "clap", "println!", "unwrap()",
    ] {
        assert!(
            !source.contains(forbidden),
            "the bare file uses {forbidden}"
        );
    }
}

#[test]
fn the_readme_points_at_the_right_lines_of_the_bare_file() {
    let readme = include_str!("../README.md");
    let source: Vec<&str> = include_str!("../examples/udp-datagrams-bare.rs")
        .lines()
        .collect();
    assert!(
        readme.contains(&format!("whole idea in {} lines", source.len())),
        "the README gives the bare file's length ({} lines)",
        source.len()
    );
    for function in ["server", "client"] {
        let cited = format!("- `{function}()` (lines ");
        let at = readme
            .find(&cited)
            .expect("the walk-through cites the function")
            + cited.len();
        let (first, last) = readme[at..]
            .split_once(')')
            .and_then(|(range, _)| range.split_once('-'))
            .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)))
            .expect("a line range");
        assert!(
            source[first - 1].starts_with(&format!("fn {function}(")),
            "line {first}: {}",
            source[first - 1]
        );
        assert_eq!(source[last - 1], "}", "line {last} ends {function}()");
    }
}
