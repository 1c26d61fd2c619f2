//! Integration tests: the real `framing` binary on port 0, with its own
//! client and with raw sockets playing broken or hostile peers.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use test_support::{Server, run, stderr, stdout};

mod util;

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
fn batch_output_prints_every_message_before_the_client_hears_back() {
    let server = server("length", &["--batch-output", "--ack"]);
    let out = client(&server, "length", &["--ack", "one", "two", "three"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        server.wait_stdout_lines(3),
        ["message: one", "message: two", "message: three"]
    );
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

// ------------------------------------------------- what the client knows

#[test]
fn a_message_over_the_servers_limit_is_never_reported_as_delivered() {
    // The server's buffer held the whole message when it refused it, so a
    // plain close would be a FIN, and the client would call that success.
    for (strategy, limit) in [
        ("length", "--max-frame"),
        ("netstring", "--max-frame"),
        ("delimiter", "--max-len"),
        ("eof", "--max-frame"),
    ] {
        let server = server(strategy, &[limit, "10"]);
        // The client's own limit is the default (larger): only the server refuses.
        let out = client(&server, strategy, &["a message longer than ten bytes"]);
        server.wait_stderr(&format!("({limit})"));
        if strategy == "eof" {
            // eof's server closes its side at the start: without --ack its
            // client cannot know, so it is not asked to here.
            let out = client(&server, strategy, &["--ack", "longer than ten bytes"]);
            assert_eq!(out.status.code(), Some(1), "{strategy}: {}", stderr(&out));
            continue;
        }
        assert_eq!(out.status.code(), Some(1), "{strategy}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("it refused"), "{strategy}: {err}");
        assert!(
            err.contains("hint: the server's log says what it refused"),
            "{err}"
        );
    }
}

#[test]
fn a_client_on_another_strategy_is_told_it_failed() {
    for (on, sends) in [
        ("length", "delimiter"),
        ("length", "netstring"),
        ("length", "fixed"),
        ("delimiter", "length"),
        ("delimiter", "netstring"),
        ("delimiter", "fixed"),
        ("netstring", "length"),
        ("netstring", "delimiter"),
        ("fixed", "length"),
        ("fixed", "netstring"),
    ] {
        let server = server(on, &[]);
        let out = client(&server, sends, &["hello world"]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "server {on}, client {sends}: {}",
            stderr(&out)
        );
    }
    // An eof server takes any bytes as its one message: only an
    // acknowledgement tells the sender that was not what it meant.
    let server = server("eof", &[]);
    let out = client(&server, "length", &["--ack", "hello"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does it run with --ack?"),
        "{}",
        stderr(&out)
    );
    let acking = self::server("eof", &["--ack"]);
    let out = client(&acking, "length", &["--ack", "hello"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not an acknowledgement in `length` framing"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn ack_confirms_what_the_server_printed() {
    for strategy in ["length", "netstring", "delimiter", "eof"] {
        let server = server(strategy, &["--ack"]);
        let out = client(&server, strategy, &["--ack", "one", "two", "three"]);
        assert!(out.status.success(), "{strategy}: {}", stderr(&out));
        let expected = if strategy == "eof" { 1 } else { 3 };
        assert_eq!(
            stdout(&out),
            format!("reply: ack {expected}\n"),
            "{strategy}"
        );
        // Without --ack on the client, the ack is a surprise it reports.
        let out = client(&server, strategy, &["one"]);
        assert_eq!(out.status.code(), Some(1), "{strategy}");
        assert!(
            stderr(&out).contains("pass --ack here too"),
            "{}",
            stderr(&out)
        );
        // And --ack on the client only: no ack comes, so no success.
        let plain = self::server(strategy, &[]);
        let out = client(&plain, strategy, &["--ack", "one"]);
        assert_eq!(out.status.code(), Some(1), "{strategy}: {}", stdout(&out));
    }
    // A refusal is a reset, never an ack.
    let server = server("length", &["--ack", "--max-frame", "3"]);
    let out = client(&server, "length", &["--ack", "ok", "too long"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}

#[test]
fn what_a_strategy_cannot_carry_is_refused_before_connecting() {
    // Nobody listens on this port: an error about the message, not about
    // the connection, proves the client checked before connecting.
    let (_held, port) = test_support::refused_port();
    let port = port.to_string();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--strategy", "length", "first", "", "third"],
            "message 2 \"\" cannot be sent with --strategy length: an empty message cannot be sent: its zero length is the end marker",
        ),
        (
            &["--strategy", "delimiter", "a\nb"],
            "message 1 \"a\\nb\" cannot be sent with --strategy delimiter",
        ),
        (
            &["--strategy", "fixed", "seventeen bytes!!"],
            "message 1 \"seventeen bytes!!\" cannot be sent with --strategy fixed: a 17-byte message does not fit a 16-byte record (--size)",
        ),
        (
            &["--strategy", "netstring", "--max-frame", "4", "hello"],
            "message 1 (5 bytes) is over --max-frame (4 bytes)",
        ),
        (
            &["--strategy", "eof", "--max-frame", "8", "hello", "world"],
            "the messages together (10 bytes) is over --max-frame (8 bytes)",
        ),
    ];
    for (extra, says) in cases {
        let mut args = vec!["client", "--port", &port];
        args.extend_from_slice(extra);
        let out = run(BIN, &args, b"");
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        assert!(
            stderr(&out).starts_with(&format!("error: {says}")),
            "{extra:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn a_refused_line_of_stdin_resets_the_conversation_it_was_part_of() {
    // `first` is already sent when the empty line comes: the server must
    // not take the conversation for complete.
    let server = server("length", &[]);
    let port = server.addr().port().to_string();
    let out = run(
        BIN,
        &["client", "--port", &port, "--strategy", "length"],
        b"first\n\nthird\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("line 2 of stdin"), "{}", stderr(&out));
    server.wait_stderr("connection ended");
    assert!(
        !server.stderr_lines().iter().any(|l| l.contains("closed")),
        "{:?}",
        server.stderr_lines()
    );
}

#[test]
fn the_client_streams_stdin_as_it_reads_it() {
    // 512 lines of 64 KiB - 1 bytes (32 MB), written while the client
    // runs. The old client read all of stdin before connecting: nothing
    // reached the server until stdin closed, and the whole input sat in
    // its memory.
    const LINES: usize = 512;
    let server = server("delimiter", &[]);
    let port = server.addr().port().to_string();
    let mut client = util::Proc::spawn(&["client", "--port", &port, "--strategy", "delimiter"]);
    let mut stdin = client.stdin();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        let body = vec![b'y'; 65_535 - 12];
        for i in 0..LINES {
            let line = [format!("line {i:>6} ").as_bytes(), &body, b"\n"].concat();
            if stdin.write_all(&line).is_err() {
                return;
            }
        }
        // Keep stdin open until the test has looked at the client.
        let _ = released.recv_timeout(test_support::DEADLINE);
    });
    let lines = server.wait_stdout_lines(LINES);
    assert!(lines[LINES - 1].starts_with(&format!("message: line {:>6} ", LINES - 1)));
    let peak = util::status_kb(client.pid(), "VmHWM");
    assert!(peak < 16 * 1024, "the client's memory peaked at {peak} kB");
    release.send(()).unwrap();
    writer.join().unwrap();
    assert!(client.wait().success());
}

// ------------------------------------------------- hints

#[test]
fn a_refused_client_is_told_the_server_command_it_needs() {
    let (_held, port) = test_support::refused_port();
    let port = port.to_string();
    let out = run(
        BIN,
        &[
            "client",
            "--port",
            &port,
            "--strategy",
            "netstring",
            "--ack",
            "hi",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "`cargo run -p framing -- server --strategy netstring --port {port} --ack`"
        )),
        "{}",
        stderr(&out)
    );
    let out = run(BIN, &["deadlock-client", "--port", &port], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "`cargo run -p framing -- upper-server --port {port}`"
        )),
        "{}",
        stderr(&out)
    );
}

// ------------------------------------------------- the bare file

/// `examples/framing-bare.rs`, built by `cargo test` next to this test.
fn bare() -> String {
    let exe = std::env::current_exe().expect("the test's own path");
    let bare = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/debug")
        .join("examples/framing-bare");
    assert!(
        bare.exists(),
        "{} is missing: run the tests with cargo test, which builds the examples",
        bare.display()
    );
    bare.to_string_lossy().into_owned()
}

#[test]
fn the_bare_server_takes_the_full_clients_length_frames() {
    let bare = bare();
    let server = Server::start(&bare, &["server", "--port", "0"]);
    let out = client(&server, "length", &["hello", "two words"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        server.wait_stdout_lines(2),
        ["message: hello", "message: two words"]
    );
}

#[test]
fn the_full_server_takes_the_bare_clients_length_frames() {
    let bare = bare();
    let server = server("length", &[]);
    let port = server.addr().port().to_string();
    let out = run(
        &bare,
        &["client", "--port", &port, "hello", "two words"],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    server.wait_stderr("2 messages, closed");
    assert_eq!(
        server.wait_stdout_lines(2),
        ["message: hello", "message: two words"]
    );
}

// ------------------------------------------------- --trace tells the truth

#[test]
fn server_trace_narrates_each_real_read_with_its_count() {
    use test_support::strace::Attached;
    let server = server("netstring", &["--trace"]);
    let strace = Attached::to(server.pid());
    let port = server.addr().port().to_string();
    // Two clients: one sends in one write, the other a byte at a time, so
    // there are reads of many sizes, EOF included.
    let out = run(
        BIN,
        &[
            "client",
            "--port",
            &port,
            "--strategy",
            "netstring",
            "hello",
            "two words",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    server.wait_stderr("2 messages, closed");
    let mut peer = server.connect();
    peer.set_nodelay(true).unwrap();
    for byte in b"3:abc," {
        peer.write_all(&[*byte]).unwrap();
    }
    peer.shutdown(Shutdown::Write).unwrap();
    server.wait_stderr_count("1 message, closed", 1);
    let calls = strace.finish();
    let clients: Vec<i64> = calls
        .iter()
        .filter(|c| c.name.starts_with("accept") && c.ret.is_some())
        .filter_map(|c| c.ret)
        .collect();
    assert!(!clients.is_empty(), "no accept in the strace: {calls:#?}");
    let kernel: Vec<i64> = calls
        .iter()
        .filter(|c| {
            matches!(c.name.as_str(), "read" | "recvfrom") && clients.contains(&c.fd.unwrap_or(-1))
        })
        .filter_map(|c| c.ret)
        .collect();
    let narrated: Vec<i64> = server
        .stderr_lines()
        .iter()
        .filter_map(|l| l.strip_prefix("trace: recv() -> "))
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .collect();
    assert!(kernel.len() >= 3, "too few reads to compare: {kernel:?}");
    assert_eq!(narrated, kernel, "narrated recv() counts vs the kernel's");
}

#[test]
fn ipv6_loopback_carries_messages_too() {
    // Needs ::1 (every CI machine and this one have it): without it the
    // server fails to bind and this test fails, never skips.
    let server = Server::start(
        BIN,
        &[
            "server",
            "--host",
            "::1",
            "--port",
            "0",
            "--strategy",
            "netstring",
        ],
    );
    assert!(server.addr().is_ipv6(), "{}", server.addr());
    let port = server.addr().port().to_string();
    let out = run(
        BIN,
        &[
            "client",
            "--host",
            "[::1]",
            "--port",
            &port,
            "--strategy",
            "netstring",
            "over v6",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(server.wait_stdout_lines(1), ["message: over v6"]);
}

#[test]
fn the_server_log_says_how_far_a_refused_client_got() {
    // Its client cannot know (without --ack); the server's log can say.
    let server = server("length", &["--max-frame", "5"]);
    let out = client(
        &server,
        "length",
        &["--max-frame", "100", "one", "two", "too long"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    server.wait_stderr(
        "connection ended after 2 messages: reading a length-prefixed frame: frame length 8",
    );
    let mut server = server;
    let (status, _) = server.stop_with(libc::SIGINT);
    assert!(status.success());
    server.wait_stderr("stopped: served 1 client, 2 messages");
}
