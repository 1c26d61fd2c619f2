//! The bare file speaks the full lesson's protocol: the bare server with the
//! full client, and the full server with the bare client.

use test_support::{Server, run, stderr, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_tcp-echo");

/// The bare file's binary (built first if needed).
fn bare() -> String {
    test_support::example(env!("CARGO"), "tcp-echo", "tcp-echo-bare")
}

#[test]
fn the_bare_server_echoes_for_the_full_client() {
    let server = Server::start(&bare(), &["server", "--port", "0"]);
    let port = server.addr().port().to_string();
    let out = run(BIN, &["client", "--port", &port, "hello", "two words"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hello\ntwo words\n");
    server.wait_stderr(": closed");
    // Far more than the socket buffers hold: the full client's writer
    // thread keeps the bare server's loop flowing.
    let out = run(BIN, &["client", "--port", &port, "--bytes", "3000000"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("echoed 3000000 bytes in "),
        "{}",
        stdout(&out)
    );
    server.wait_stderr_count(": closed", 2);
}

#[test]
fn the_bare_client_gets_its_echoes_from_the_full_server() {
    let server = Server::start(BIN, &["server", "--port", "0"]);
    let port = server.addr().port().to_string();
    let out = run(
        &bare(),
        &["client", "--port", &port, "hello", "two words", "ünïcode"],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hello\ntwo words\nünïcode\n");
    // The bare client half-closed and the server saw every byte.
    server.wait_stderr("echoed 23 bytes, closed");
}

#[test]
fn the_bare_file_is_at_most_80_lines() {
    let source = include_str!("../examples/tcp-echo-bare.rs");
    let lines = source.lines().count();
    assert!(lines <= 80, "tcp-echo-bare.rs has {lines} lines");
}
