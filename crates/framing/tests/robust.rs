//! The framing servers keep their promises when the world around them
//! does not: closed pipes, peers that trickle or stream through a stop,
//! hostile headers with the largest limits, flags at their extremes.

mod util;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use test_support::{DEADLINE, Server, run, stderr, stdout};
use util::{BIN, Proc, collect, status_kb, watch_lines};

fn client(port: u16, strategy: &str, extra: &[&str]) -> std::process::Output {
    let port = port.to_string();
    let mut args = vec!["client", "--port", &port, "--strategy", strategy];
    args.extend_from_slice(extra);
    run(BIN, &args, b"")
}

// ---------------------------------------------------------------- pipes

#[test]
fn a_closed_stdout_stops_the_server_with_its_error_and_the_client_hears_of_it() {
    for batch in [None, Some("--batch-output")] {
        closed_stdout(batch);
    }
}

fn closed_stdout(batch: Option<&str>) {
    let mut args = vec!["server", "--port", "0", "--strategy", "length"];
    args.extend(batch);
    let (mut server, addr, stdout) = Proc::server(&args);
    let errors = collect(server.stderr());
    drop(stdout); // nobody reads what the server prints any more
    let out = client(addr.port(), "length", &["hello"]);
    // The server could not print the message: the client must not hear
    // "all is well" (a clean close), and the server stops at once.
    assert_eq!(out.status.code(), Some(1), "{batch:?}: {}", stderr(&out));
    assert!(stderr(&out).contains("reset"), "{}", stderr(&out));
    let status = server.wait();
    let errors = errors.recv_timeout(DEADLINE).expect("server stderr");
    assert_eq!(status.code(), Some(1), "server stderr: {errors}");
    assert!(
        errors.contains("error: writing to stdout: Broken pipe"),
        "{errors}"
    );
    assert!(
        !errors.contains("connection ended"),
        "the client was blamed: {errors}"
    );
}

#[test]
fn a_closed_stderr_never_stops_a_server() {
    for args in [
        &["--trace", "server", "--port", "0", "--strategy", "length"][..],
        &["--trace", "upper-server", "--port", "0"],
    ] {
        let (mut server, addr, mut stdout) = Proc::server(args);
        drop(server.stderr()); // every log and trace line now fails
        for round in 0..3 {
            let out = if args[1] == "server" {
                client(addr.port(), "length", &["hello"])
            } else {
                let port = addr.port().to_string();
                run(
                    BIN,
                    &["deadlock-client", "--port", &port, "--bytes", "1000"],
                    b"",
                )
            };
            assert!(
                out.status.success(),
                "{args:?} round {round}: {}",
                stderr(&out)
            );
        }
        // The ctrlc thread logs too: a signal must still stop the server.
        let (status, took) = server.signal(libc::SIGTERM);
        assert!(status.success(), "{args:?}: {status}");
        assert!(took < Duration::from_secs(2), "{args:?}: took {took:?}");
        if args[1] == "server" {
            let mut printed = String::new();
            stdout.read_to_string(&mut printed).unwrap();
            assert_eq!(printed, "message: hello\n".repeat(3));
        }
    }
}

// ---------------------------------------------------------------- stop

/// Sends one byte every 50 ms (the attack's pace, not a synchronisation)
/// until `done`, for at most 20 s.
fn trickle(mut peer: std::net::TcpStream, first: &'static [u8], done: Arc<AtomicBool>) {
    peer.set_nodelay(true).unwrap();
    if peer.write_all(first).is_err() {
        return;
    }
    for _ in 0..400 {
        if done.load(Ordering::SeqCst) || peer.write_all(b"x").is_err() {
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_stop_ends_a_trickling_connection_within_2_s() {
    // A byte every 50 ms: never idle, and never the 100 ms of silence the
    // old servers waited for before they looked at the stop flag.
    for (args, first) in [
        (
            &["--trace", "server", "--port", "0", "--strategy", "length"][..],
            &b"\x00\x00\x10\x00"[..],
        ),
        (&["--trace", "upper-server", "--port", "0"], b""),
    ] {
        let mut server = Server::start(BIN, args);
        let done = Arc::new(AtomicBool::new(false));
        let peer = server.connect();
        let trickler = {
            let done = Arc::clone(&done);
            thread::spawn(move || trickle(peer, first, done))
        };
        server.wait_stderr_count("recv() -> 1 bytes", 3);
        let (status, took) = server.stop_with(libc::SIGTERM);
        done.store(true, Ordering::SeqCst);
        trickler.join().unwrap();
        assert!(status.success(), "{args:?}: {status}");
        assert!(took < Duration::from_secs(2), "{args:?}: took {took:?}");
    }
}

#[test]
fn a_stop_ends_a_streaming_connection_within_2_s() {
    // `yes | framing client`: messages without end, as fast as TCP goes.
    let (mut server, addr, stdout) =
        Proc::server(&["server", "--port", "0", "--strategy", "delimiter"]);
    let printed = watch_lines(stdout, "message: y");
    let done = Arc::new(AtomicBool::new(false));
    let streamer = {
        let done = Arc::clone(&done);
        let mut peer = test_support::connect(addr);
        thread::spawn(move || {
            let block = b"y\n".repeat(32 * 1024);
            // At most 2 GB, and only until the server is gone.
            for _ in 0..(2_000_000_000 / block.len()) {
                if done.load(Ordering::SeqCst) || peer.write_all(&block).is_err() {
                    return;
                }
            }
        })
    };
    printed
        .recv_timeout(DEADLINE)
        .expect("the server printed a streamed message");
    let (status, took) = server.signal(libc::SIGTERM);
    done.store(true, Ordering::SeqCst);
    streamer.join().unwrap();
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(2), "took {took:?}");

    // The upper-server, with a client that streams and reads it all back.
    let (mut server, addr, _stdout) = Proc::server(&["--trace", "upper-server", "--port", "0"]);
    let trace = watch_lines(server.stderr(), "send() -> ");
    let mut peer = test_support::connect(addr);
    let mut reader = peer.try_clone().unwrap();
    let drain = thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
    });
    let done2 = Arc::clone(&done);
    done.store(false, Ordering::SeqCst);
    let streamer = thread::spawn(move || {
        let block = vec![b'a'; 64 * 1024];
        for _ in 0..(2_000_000_000 / block.len()) {
            if done2.load(Ordering::SeqCst) || peer.write_all(&block).is_err() {
                return;
            }
        }
    });
    trace
        .recv_timeout(DEADLINE)
        .expect("the upper-server wrote back");
    let (status, took) = server.signal(libc::SIGTERM);
    done.store(true, Ordering::SeqCst);
    streamer.join().unwrap();
    drain.join().unwrap();
    assert!(status.success(), "upper-server: {status}");
    assert!(took < Duration::from_secs(2), "upper-server took {took:?}");
}

// ---------------------------------------------------------------- limits

#[test]
fn flags_out_of_range_are_usage_errors_that_say_the_range() {
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "server",
                "--strategy",
                "length",
                "--max-connection-secs",
                "18446744073709551615",
            ],
            "at most",
        ),
        (
            &["server", "--strategy", "length", "--idle-timeout", "0"],
            "above 0",
        ),
        (
            &["upper-server", "--max-connection-secs", "1e20"],
            "at most",
        ),
        (
            &["server", "--strategy", "length", "--max-frame", "0"],
            "1 to 18446744073709551615",
        ),
        (
            &["server", "--strategy", "netstring", "--max-frame", "12x"],
            "1 to 18446744073709551615",
        ),
        (
            &[
                "server",
                "--strategy",
                "delimiter",
                "--max-len",
                "18446744073709551616",
            ],
            "1 to 18446744073709551615",
        ),
        (
            &["server", "--strategy", "fixed", "--size", "0"],
            "1..=1048576",
        ),
        (
            &["client", "--strategy", "length", "--timeout", "0", "x"],
            "above 0",
        ),
        (&["deadlock-client", "--stall-secs", "1e20"], "at most"),
        (
            &["server", "--strategy", "delimiter", "--delimiter", "\\x+1"],
            "two hex digits",
        ),
        (
            &["server", "--strategy", "delimiter", "--delimiter", "\\x1"],
            "two hex digits",
        ),
        (
            &[
                "client",
                "--strategy",
                "delimiter",
                "--delimiter",
                "a\\x1",
                "m",
            ],
            "two hex digits",
        ),
        (&["server", "--strategy", "morse"], "possible values"),
        (
            &["server", "--strategy", "delimiter", "--delimiter", ""],
            "empty",
        ),
    ];
    for (args, says) in cases {
        let out = run(BIN, args, b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn a_huge_header_with_the_largest_limit_allocates_nothing_before_its_data() {
    // The largest --max-frame (2^64 - 1): only the decoders' own care is
    // left. The old ones allocated what a header claimed (`vec![0; len]`)
    // before reading the body: `99999999999:` (12 bytes) asked for 100 GB
    // and aborted the server; `ff ff ff ff` grew its address space by 4 GiB.
    let max = usize::MAX.to_string();
    for (strategy, header, claimed) in [
        ("netstring", &b"99999999999:"[..], "99999999999"),
        ("length", &b"\xff\xff\xff\xff"[..], "4294967295"),
    ] {
        let server = Server::start(
            BIN,
            &[
                "server",
                "--port",
                "0",
                "--strategy",
                strategy,
                "--max-frame",
                &max,
            ],
        );
        let mut peer = server.connect();
        peer.write_all(&[header, &[b'x'; 100]].concat()).unwrap();
        peer.shutdown(Shutdown::Write).unwrap();
        // EOF after 100 bytes: the decoder has done all it will do.
        server.wait_stderr(&format!("100 of {claimed} bytes"));
        let peak = status_kb(server.pid(), "VmPeak");
        assert!(
            peak < 1024 * 1024,
            "{strategy}: the server's address space peaked at {peak} kB"
        );
        // 2^64 itself: refused, not wrapped to 0 (an empty message).
        if strategy == "netstring" {
            let mut peer = server.connect();
            peer.write_all(b"18446744073709551616:,").unwrap();
            server.wait_stderr(&format!("over the {max}-byte limit (--max-frame)"));
        }
        let out = client(server.addr().port(), strategy, &["next"]);
        assert!(out.status.success(), "{strategy}: {}", stderr(&out));
        // The first and only message: nothing was passed off as one.
        assert_eq!(server.wait_stdout_lines(1), ["message: next"], "{strategy}");
    }
}

#[test]
fn lengths_past_the_limit_or_the_integers_are_refused() {
    let server = Server::start(
        BIN,
        &[
            "server",
            "--port",
            "0",
            "--strategy",
            "netstring",
            "--max-frame",
            "4294967295",
        ],
    );
    // The 12-byte header, and 2^64, which once wrapped to 0 (an
    // empty message).
    for header in [&b"99999999999:"[..], b"18446744073709551616:,"] {
        let mut peer = server.connect();
        peer.write_all(header).unwrap();
        let _ = peer.read_to_end(&mut Vec::new()); // closed: EOF or reset
    }
    server.wait_stderr_count("over the 4294967295-byte limit (--max-frame)", 2);
    let out = client(server.addr().port(), "netstring", &["still here"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The first and only message: nothing was passed off as one.
    assert_eq!(server.wait_stdout_lines(1), ["message: still here"]);
}

#[test]
fn eof_with_the_largest_limit_prints_the_whole_message() {
    // `max + 1` once wrapped to 0 here, and the message came out empty.
    let server = Server::start(
        BIN,
        &[
            "server",
            "--port",
            "0",
            "--strategy",
            "eof",
            "--max-frame",
            "18446744073709551615",
        ],
    );
    let out = client(
        server.addr().port(),
        "eof",
        &["--max-frame", "18446744073709551615", "hello world"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(server.wait_stdout_lines(1), ["message: hello world"]);
}

// ---------------------------------------------------------------- output

#[test]
fn characters_that_reorder_or_split_a_line_are_escaped_in_the_output() {
    let server = Server::start(BIN, &["server", "--port", "0", "--strategy", "netstring"]);
    let out = client(
        server.addr().port(),
        "netstring",
        &[
            "txt\u{202e}exe",
            "one\u{2028}two",
            "zero\u{200b}width\u{feff}",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        server.wait_stdout_lines(3),
        [
            "message: txt\\u{202e}exe",
            "message: one\\u{2028}two",
            "message: zero\\u{200b}width\\u{feff}",
        ]
    );
}

#[test]
fn an_error_line_quotes_only_a_short_prefix_of_the_message() {
    // 100 KB on the command line (argv allows 128 KiB per argument), with
    // the delimiter in it: refused before connecting.
    let (_held, port) = test_support::refused_port();
    let long = format!("{}|{}", "a".repeat(50_000), "b".repeat(50_000));
    let out = client(
        port,
        "delimiter",
        &["--delimiter", "|", "--max-len", "4294967295", &long],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("cannot be sent"), "{err}");
    assert!(err.len() < 1000, "{} bytes of stderr", err.len());

    // 50 MB on stdin, to a server: refused as it is read.
    let server = Server::start(
        BIN,
        &[
            "server",
            "--port",
            "0",
            "--strategy",
            "delimiter",
            "--delimiter",
            "|",
            "--max-len",
            "4294967295",
        ],
    );
    let port = server.addr().port().to_string();
    let mut line = vec![b'a'; 50_000_000];
    line[100] = b'|';
    line.push(b'\n');
    let out = run(
        BIN,
        &[
            "client",
            "--port",
            &port,
            "--strategy",
            "delimiter",
            "--delimiter",
            "|",
            "--max-len",
            "4294967295",
        ],
        &line,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("line 1 of stdin"),
        "{}",
        &err[..err.len().min(500)]
    );
    assert!(err.len() < 1000, "{} bytes of stderr", err.len());
}
