//! The bare file (examples/udp-realtime-bare.rs) speaks the lesson's wire
//! format: the bare server (receiver) plays the full sender's stream, and
//! the full receiver plays the bare client's (sender's).

use std::sync::OnceLock;

use test_support::{Server, example, run, stderr};

const BIN: &str = env!("CARGO_BIN_EXE_udp-realtime");

/// The bare example's binary, built once for all the tests here.
fn bare() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| example(env!("CARGO"), "udp-realtime", "udp-realtime-bare"))
}

#[test]
fn the_bare_server_plays_the_full_senders_stream() {
    let server = Server::start(bare(), &["server", "--port", "0"]);
    assert!(server.addr().ip().is_loopback(), "{}", server.addr());
    let port = server.addr().port().to_string();
    // Redundancy 2: the bare server skips the copies and finds the frame.
    let out = run(
        BIN,
        &[
            "send",
            "--port",
            &port,
            "--seconds",
            "1",
            "--redundancy",
            "2",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(server.wait_stdout("played"), "played 50 of 50 frames");
}

#[test]
fn the_full_receiver_plays_the_bare_clients_stream() {
    let server = Server::start(BIN, &["receive", "--port", "0", "--playout-ms", "300"]);
    let port = server.addr().port().to_string();
    let out = run(bare(), &["client", "1", "--port", &port], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        server.wait_stdout("frames="),
        "frames=50 primary=50 redundant=0 concealed=0 late=0 duplicate=0 reordered=0 invalid=0"
    );
}

#[test]
fn the_bare_file_is_as_long_as_the_readme_says_and_at_most_80_lines() {
    let lines = include_str!("../examples/udp-realtime-bare.rs")
        .lines()
        .count();
    assert!(lines <= 80, "the bare file has {lines} lines");
    let readme = include_str!("../README.md");
    assert!(
        readme.contains(&format!("idea alone in {lines} lines")),
        "README says another length"
    );
    assert!(
        readme.contains(&format!("all\n   of it, {lines} lines.")),
        "Reading order says another length"
    );
}
