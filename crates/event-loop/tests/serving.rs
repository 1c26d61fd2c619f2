//! The protocols, the flags and the clients, against the real binary on
//! port 0 (and the bare example): behaviour, never speed.

mod support;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use support::*;

const ZEN: [(&str, &str); 3] = [
    ("Beautiful is better than?", "Ugly."),
    ("Explicit is better than?", "Implicit."),
    ("Simple is better than?", "Complex."),
];

/// The lines the client prints for the three questions, in any order.
fn zen_lines() -> BTreeSet<String> {
    ZEN.iter().map(|(q, a)| format!("{q} {a}")).collect()
}

#[test]
fn zen_answers_the_books_questions_many_per_connection() {
    let server = server(&[]);
    let mut stream = server.connect();
    for (question, answer) in ZEN {
        assert_eq!(ask(&mut stream, question), answer);
    }
    assert_eq!(
        ask(&mut stream, "Ugly is better than?"),
        "Error: unknown aphorism."
    );
    // Pipelined in one write, and one question split over three writes.
    stream
        .write_all(b"Simple is better than?Beautiful is better than?")
        .unwrap();
    assert_eq!(read_answer(&mut stream), "Complex.");
    assert_eq!(read_answer(&mut stream), "Ugly.");
    for part in ["Expl", "icit is better ", "than?"] {
        stream.write_all(part.as_bytes()).unwrap();
    }
    assert_eq!(read_answer(&mut stream), "Implicit.");
    drop(stream);
    server.wait_stderr("7 requests, closed");
}

#[test]
fn echo_returns_each_line_and_flushes_before_closing_on_half_close() {
    let server = server(&["--protocol", "echo"]);
    let mut stream = server.connect();
    let burst: String = (0..2000).map(|i| format!("request {i}\n")).collect();
    stream.write_all(burst.as_bytes()).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let mut replies = String::new();
    stream.read_to_string(&mut replies).unwrap();
    assert_eq!(replies, burst);
    server.wait_stderr("2000 requests, closed");
}

#[test]
fn a_request_cut_short_by_eof_is_logged_and_others_are_served() {
    let server = server(&["--protocol", "echo"]);
    let mut half = server.connect();
    half.write_all(b"one\nno newline").unwrap();
    half.shutdown(Shutdown::Write).unwrap();
    let mut reply = String::new();
    half.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "one\n", "the complete line is still answered");
    server.wait_stderr("client closed in the middle of a line (10 bytes, no newline)");
    let zen = support::server(&[]);
    let mut cut = zen.connect();
    cut.write_all(b"Beautiful is").unwrap();
    drop(cut);
    zen.wait_stderr("client sent 12 bytes of a question, then closed");
}

#[test]
fn the_bare_server_answers_the_full_client() {
    let server = Server::start(&bare(), &["server", "--port", "0"]);
    let port = server.addr().port().to_string();
    let out = run(BIN, &["client", "--port", &port], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: BTreeSet<String> = stdout(&out).lines().map(String::from).collect();
    assert_eq!(lines, zen_lines());
    let out = run(BIN, &["client", "--port", &port, "Who?"], b"");
    assert_eq!(stdout(&out), "Who? Error: unknown aphorism.\n");
}

/// Clients connecting while others are being served: every one answered.
/// (The bare loop once called accept() for every event and matched on the
/// token afterwards, so a client's event swallowed, and closed, a new
/// connection that happened to be waiting.)
#[test]
fn the_bare_server_drops_no_new_client_while_it_serves_others() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let server = Server::start(&bare(), &["server", "--port", "0"]);
    let done = Arc::new(AtomicBool::new(false));
    // Two clients keep the loop busy with events of their own (bounded:
    // at most 100 000 questions each, 5 s per answer).
    let busy: Vec<_> = (0..2)
        .map(|_| {
            let (mut stream, done) = (server.connect(), Arc::clone(&done));
            std::thread::spawn(move || {
                for _ in 0..100_000 {
                    if done.load(Ordering::Relaxed) {
                        break;
                    }
                    assert_eq!(ask(&mut stream, "Simple is better than?"), "Complex.");
                }
            })
        })
        .collect();
    let mut lost = Vec::new();
    for i in 0..200 {
        let mut stream = server.connect();
        stream.write_all(b"Beautiful is better than?").unwrap();
        let mut answer = [0u8; 5];
        if let Err(e) = stream.read_exact(&mut answer) {
            lost.push(format!("client {i}: {e}"));
        }
    }
    done.store(true, Ordering::Relaxed);
    for thread in busy {
        thread.join().expect("a busy client lost its answers");
    }
    let first: Vec<_> = lost.iter().take(3).collect();
    assert!(
        lost.is_empty(),
        "{} of 200 new clients lost, first: {first:?}",
        lost.len()
    );
}

#[test]
fn the_full_server_answers_the_bare_client() {
    let server = server(&[]);
    let port = server.addr().port().to_string();
    let out = run(&bare(), &["client", "--port", &port], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "Beautiful is better than? Ugly.\nExplicit is better than? Implicit.\nSimple is better than? Complex.\n"
    );
    let out = run(
        &bare(),
        &["client", "--port", &port, "Simple is better than?", "Why?"],
        b"",
    );
    assert_eq!(
        stdout(&out),
        "Simple is better than? Complex.\nWhy? Error: unknown aphorism.\n"
    );
}

#[test]
fn the_client_asks_all_three_in_a_random_order() {
    let server = server(&[]);
    let port = server.addr().port().to_string();
    let mut orders = BTreeSet::new();
    for _ in 0..12 {
        let out = run(BIN, &["client", "--port", &port], b"");
        assert!(out.status.success(), "{}", stderr(&out));
        let lines: Vec<String> = stdout(&out).lines().map(String::from).collect();
        assert_eq!(lines.iter().cloned().collect::<BTreeSet<_>>(), zen_lines());
        orders.insert(lines);
    }
    // 12 runs, 6 orders: all the same would happen once in 6^11.
    assert!(orders.len() > 1, "always the same order: {orders:?}");
}

#[test]
fn the_client_refuses_a_question_without_its_mark_and_explains_refusal() {
    let out = run(BIN, &["client", "no question mark"], b"");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("a question ends with `?`"),
        "{}",
        stderr(&out)
    );
    let (_holder, port) = test_support::refused_port();
    let out = run(BIN, &["client", "--port", &port.to_string()], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Start it with `cargo run -p event-loop -- server`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn load_flags_that_cost_too_much_together_are_usage_errors() {
    // 10 000 connections of 16 MiB requests would allocate 320 GiB: each
    // flag is in its range, the product is not.
    for args in [
        ["client", "--connections", "10000", "--size", "16777216"],
        ["client", "--connections", "10000", "--requests", "10000"],
    ] {
        let out = run(BIN, &args, b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("at most"), "{}", stderr(&out));
    }
}

#[test]
fn past_max_connections_a_client_sees_eof_and_the_others_keep_working() {
    let server = server(&["--max-connections", "2"]);
    let mut first = server.connect();
    let mut second = server.connect();
    assert_eq!(ask(&mut first, "Simple is better than?"), "Complex.");
    assert_eq!(ask(&mut second, "Simple is better than?"), "Complex.");
    let mut third = server.connect();
    assert!(closed_within(&mut third, Duration::from_secs(5)));
    server.wait_stderr("refused: 2 connections open (--max-connections)");
    assert_eq!(ask(&mut first, "Beautiful is better than?"), "Ugly.");
    drop(first);
    server.wait_stderr("2 requests, closed");
    let mut fourth = server.connect();
    assert_eq!(ask(&mut fourth, "Explicit is better than?"), "Implicit.");
}

#[test]
fn an_overlong_request_closes_only_that_connection() {
    // "Simple is better than" is 21 bytes: exactly --max-line is allowed.
    let server = server(&["--max-line", "21"]);
    let mut good = server.connect();
    assert_eq!(ask(&mut good, "Simple is better than?"), "Complex.");
    let mut bad = server.connect();
    bad.write_all(&[b'y'; 100]).unwrap();
    assert!(closed_within(&mut bad, Duration::from_secs(5)));
    server.wait_stderr("request longer than 21 bytes (--max-line)");
    let mut long = server.connect();
    long.write_all(b"Beautiful is better than?").unwrap();
    assert!(closed_within(&mut long, Duration::from_secs(5)));
    assert_eq!(ask(&mut good, "Simple is better than?"), "Complex.");
}

#[test]
fn idle_and_trickling_clients_are_dropped_but_busy_ones_are_not() {
    let server = server(&["--idle-timeout", "2"]);
    let mut silent = server.connect();
    let mut trickler = server.connect();
    let mut busy = server.connect();
    // For 3 s (past the timeout): the busy client asks every 200 ms, the
    // trickler sends one byte of a question that never ends. This pacing
    // is the behaviour under test, not synchronisation.
    for i in 0..15 {
        assert_eq!(
            ask(&mut busy, "Simple is better than?"),
            "Complex.",
            "round {i}"
        );
        let _ = trickler.write_all(b"x");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(closed_within(&mut silent, Duration::from_secs(5)));
    assert!(closed_within(&mut trickler, Duration::from_secs(5)));
    server.wait_stderr("idle for 2 s (--idle-timeout)");
    server.wait_stderr("no complete request for 2 s");
    assert_eq!(ask(&mut busy, "Beautiful is better than?"), "Ugly.");
}

#[test]
fn the_load_client_counts_exactly_and_needs_the_echo_protocol() {
    let server = server(&["--protocol", "echo"]);
    let port = server.addr().port().to_string();
    let args = [
        "client",
        "--port",
        &port,
        "--connections",
        "3",
        "--requests",
        "7",
        "--size",
        "100",
    ];
    let out = run(BIN, &args, b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let summary = stdout(&out);
    assert_eq!(summary.lines().count(), 1, "{summary}");
    for field in [
        "connections=3 ",
        "requests=21 ",
        "errors=0 ",
        "rps=",
        "p50_us=",
        "p99_us=",
    ] {
        assert!(summary.contains(field), "no {field:?} in {summary}");
    }
    // Against a zen server the lines are never answered: every request fails.
    let zen = support::server(&[]);
    let port = zen.addr().port().to_string();
    let args = [
        "client",
        "--port",
        &port,
        "--connections",
        "2",
        "--requests",
        "3",
        "--timeout",
        "0.5",
    ];
    let out = run(BIN, &args, b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("requests=0 errors=6 "),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("--protocol echo"), "{}", stderr(&out));
}

#[test]
fn loops_2_runs_two_loop_threads_that_serve_everyone() {
    let server = server(&["--protocol", "echo", "--loops", "2"]);
    let names: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", server.pid()))
        .unwrap()
        .map(|t| std::fs::read_to_string(t.unwrap().path().join("comm")).unwrap())
        .collect();
    assert!(
        names.iter().any(|n| n.trim() == "loop-1"),
        "no loop-1 thread: {names:?}"
    );
    let port = server.addr().port().to_string();
    let args = [
        "client",
        "--port",
        &port,
        "--connections",
        "50",
        "--requests",
        "20",
    ];
    let out = run(BIN, &args, b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("requests=1000 errors=0 "),
        "{}",
        stdout(&out)
    );
}

/// SO_REUSEPORT lets sockets of the same user share a port: a second
/// `--loops 2` server started by mistake on the port of a running one
/// would join it, and the kernel would hand it half the clients. The first
/// listener binds without it, so a taken port is an error, as without
/// `--loops`; the others then join that one.
#[test]
fn loops_2_on_a_port_in_use_is_an_error_not_a_silent_share() {
    let first = server(&["--loops", "2"]);
    let port = first.addr().port().to_string();
    let out = run(BIN, &["server", "--port", &port, "--loops", "2"], b"");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Address already in use"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stdout(&out), "", "it must not say `listening on`");
    // The running one has both its loops, and answers.
    let mut stream = first.connect();
    assert_eq!(ask(&mut stream, "Simple is better than?"), "Complex.");
}

#[test]
fn stop_with_idle_clients_exits_0_promptly_and_closes_them() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let mut server = server(&[]);
        let mut idle = server.connect();
        assert_eq!(ask(&mut idle, "Simple is better than?"), "Complex.");
        let _half = {
            let mut half = server.connect();
            half.write_all(b"Beautiful").unwrap();
            half
        };
        let (status, took) = server.stop_with(signal);
        assert!(status.success(), "{status}");
        assert!(took < Duration::from_secs(2), "took {took:?}");
        assert!(closed_within(&mut idle, Duration::from_secs(1)));
        server.wait_stderr("stopped: served 2 connections, 1 requests; refused 0");
    }
}
