//! Integration tests: the real `framing` binary on port 0, with its own
//! client and with raw sockets playing broken or hostile peers.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use test_support::{Server, run, stderr, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_framing");

fn server(strategy: &str, extra: &[&str]) -> Server {
    let mut args = vec!["server", "--port", "0", "--strategy", strategy];
    args.extend_from_slice(extra);
    Server::start(BIN, &args)
}

fn client(server: &Server, strategy: &str, extra: &[&str]) -> std::process::Output {
    let port = server.addr().port().to_string();
    let mut args = vec!["client", "--port", &port, "--strategy", strategy];
    args.extend_from_slice(extra);
    run(BIN, &args, b"")
}

#[test]
fn every_strategy_carries_messages_from_client_to_server() {
    for strategy in ["delimiter", "length", "netstring"] {
        let server = server(strategy, &[]);
        let out = client(&server, strategy, &["hello", "two words", "tab\there"]);
        assert!(out.status.success(), "{strategy}: {}", stderr(&out));
        server.wait_stderr("3 messages, closed");
        assert_eq!(
            server.wait_stdout_lines(3),
            [
                "message: hello",
                "message: two words",
                "message: tab\\there"
            ],
            "{strategy}"
        );
    }
}

#[test]
fn eof_strategy_reads_the_whole_stream_as_one_message() {
    let server = server("eof", &[]);
    let out = client(&server, "eof", &["first", "second"]);
    assert!(out.status.success(), "{}", stderr(&out));
    server.wait_stderr("1 message, closed");
    assert_eq!(server.wait_stdout_lines(1), ["message: firstsecond"]);
}

#[test]
fn fixed_strategy_pads_and_gets_the_farewell() {
    let server = server("fixed", &[]);
    let out = client(&server, "fixed", &["Hi"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "reply: Farewell, client\n");
    server.wait_stdout("message: Hi              ");
    let refused = client(&server, "fixed", &["this is far too long"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("does not fit a 16-byte record"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn length_client_reads_stdin_lines_when_given_no_messages() {
    let server = server("length", &[]);
    let port = server.addr().port().to_string();
    let out = run(
        BIN,
        &["client", "--port", &port, "--strategy", "length"],
        b"one\nsay \x00 and \x1b\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    server.wait_stderr("2 messages, closed");
    assert_eq!(
        server.wait_stdout_lines(2),
        ["message: one", "message: say \\x00 and \\x1b"]
    );
}

#[test]
fn an_oversized_length_ends_that_connection_and_the_server_serves_the_next() {
    let server = server("length", &["--max-frame", "1000"]);
    let mut hostile = server.connect();
    hostile.write_all(&u32::MAX.to_be_bytes()).unwrap();
    server.wait_stderr("frame length 4294967295 is over the 1000-byte limit (--max-frame)");
    let mut buf = Vec::new();
    let _ = hostile.read_to_end(&mut buf); // EOF or reset: either way it is closed
    let out = client(&server, "length", &["still here"]);
    assert!(out.status.success(), "{}", stderr(&out));
    server.wait_stdout("message: still here");
}

#[test]
fn a_frame_cut_short_by_eof_is_an_error_not_a_message() {
    for (strategy, partial) in [
        ("length", &b"\x00\x00\x00\x0aabc"[..]),
        ("netstring", b"10:abc"),
        ("delimiter", b"no newline"),
    ] {
        let server = server(strategy, &[]);
        let mut peer = server.connect();
        peer.write_all(partial).unwrap();
        peer.shutdown(Shutdown::Write).unwrap();
        server.wait_stderr("connection ended");
        server.wait_stderr("the stream ended inside");
        let out = client(&server, strategy, &["next"]);
        assert!(out.status.success(), "{strategy}: {}", stderr(&out));
        // The next client's message is the first and only one printed:
        // nothing of the broken frame was passed off as a message.
        assert_eq!(server.wait_stdout_lines(1), ["message: next"], "{strategy}");
    }
}

#[test]
fn frames_sent_one_byte_at_a_time_are_reassembled() {
    let server = server("netstring", &[]);
    let mut peer = server.connect();
    peer.set_nodelay(true).unwrap();
    for byte in b"5:hello,11:hello world," {
        peer.write_all(&[*byte]).unwrap();
    }
    peer.shutdown(Shutdown::Write).unwrap();
    server.wait_stderr("2 messages, closed");
    assert_eq!(
        server.wait_stdout_lines(2),
        ["message: hello", "message: hello world"]
    );
}

#[test]
fn an_overlong_delimited_message_is_refused() {
    let server = server("delimiter", &["--max-len", "10"]);
    let mut peer = server.connect();
    peer.write_all(&[b'a'; 50]).unwrap();
    server.wait_stderr("message longer than 10 bytes (--max-len)");
    let out = client(&server, "delimiter", &["ok"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_custom_delimiter_is_honoured() {
    let server = server("delimiter", &["--delimiter", "\\r\\n"]);
    let out = client(
        &server,
        "delimiter",
        &["--delimiter", "\\r\\n", "a\nb", "c"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    server.wait_stderr("2 messages, closed");
    assert_eq!(
        server.wait_stdout_lines(2),
        ["message: a\\nb", "message: c"]
    );
}

#[test]
fn the_deadlock_is_detected_and_explained() {
    let server = Server::start(BIN, &["upper-server", "--port", "0"]);
    let port = server.addr().port().to_string();
    // Far more than loopback's socket buffers can hold on both sides.
    let out = run(
        BIN,
        &["deadlock-client", "--port", &port, "--bytes", "64000000"],
        b"",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: deadlock: no progress for 2 s; sent "),
        "{err}"
    );
    assert!(err.contains("of 64000000 bytes, received 0"), "{err}");
    assert!(err.contains("--fix"), "{err}");
    // The server notices the client gave up, and serves the next one.
    server.wait_stderr("connection ended");
    let fixed = run(
        BIN,
        &[
            "deadlock-client",
            "--port",
            &port,
            "--bytes",
            "64000000",
            "--fix",
        ],
        b"",
    );
    assert!(fixed.status.success(), "{}", stderr(&fixed));
    assert_eq!(
        stdout(&fixed),
        "sent 64000000 bytes, received 64000000 bytes back, all upper-cased\n"
    );
}

#[test]
fn a_small_send_does_not_deadlock_even_without_the_fix() {
    let server = Server::start(BIN, &["upper-server", "--port", "0"]);
    let port = server.addr().port().to_string();
    let out = run(
        BIN,
        &["deadlock-client", "--port", &port, "--bytes", "1000"],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "sent 1000 bytes, received 1000 bytes back, all upper-cased\n"
    );
}

#[test]
fn servers_stop_on_sigint_within_2_s_with_an_idle_client() {
    for args in [
        &["server", "--port", "0", "--strategy", "length"][..],
        &["upper-server", "--port", "0"],
    ] {
        let mut server = Server::start(BIN, args);
        let _idle = server.connect();
        let (status, took) = server.stop_with(libc::SIGINT);
        assert!(status.success(), "{args:?}: {status}");
        assert!(took < Duration::from_secs(2), "{args:?}: took {took:?}");
    }
}

#[test]
fn bad_options_are_usage_errors() {
    for args in [
        &["server", "--strategy", "morse"][..],
        &["server", "--strategy", "fixed", "--size", "0"],
        &["server", "--strategy", "delimiter", "--delimiter", ""],
    ] {
        let out = run(BIN, args, b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn a_trickling_client_is_cut_off_by_max_connection_secs() {
    let server = server(
        "netstring",
        &["--idle-timeout", "2", "--max-connection-secs", "1"],
    );
    let mut trickler = server.connect();
    trickler
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut cut_off = false;
    // One byte of an endless netstring per 300 ms (the pause is a read that
    // times out): never idle for 2 s, so only the connection limit helps.
    for byte in b"9999:".iter().chain([b'x'; 25].iter()) {
        if trickler.write_all(&[*byte]).is_err() {
            cut_off = true;
            break;
        }
        match trickler.read(&mut [0u8; 16]) {
            Ok(0) => {
                cut_off = true;
                break;
            }
            Ok(_) => panic!("the server answered a half-sent netstring"),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                cut_off = true;
                break;
            }
        }
    }
    assert!(cut_off, "the trickling client was never cut off");
    server.wait_stderr("(--max-connection-secs)");
    let out = client(&server, "netstring", &["my turn"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(server.wait_stdout_lines(1), ["message: my turn"]);
}
