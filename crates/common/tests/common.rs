//! Tests of the shared helpers, without any lesson binary.

use std::io::{Error, ErrorKind};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use anyhow::Context;
use common::endpoint::{BindFailed, connect_tcp, dialable, listen_tcp};
use common::report::hint;
use common::stop::Stop;

#[test]
fn refused_connection_hints_at_the_server_command() {
    let error = anyhow::Error::new(Error::from(ErrorKind::ConnectionRefused)).context("connecting");
    let hint = hint("framing", &error).unwrap();
    assert!(hint.contains("cargo run -p framing -- server"), "{hint}");
}

#[test]
fn address_in_use_hint_names_the_port() {
    let addr: SocketAddr = "127.0.0.1:7123".parse().unwrap();
    let error = anyhow::Error::new(Error::from(ErrorKind::AddrInUse)).context(BindFailed(addr));
    let error = Err::<(), _>(error).context("starting the server").unwrap_err();
    let hint = hint("tcp-echo", &error).unwrap();
    assert!(hint.contains("port 7123 is taken"), "{hint}");
}

#[test]
fn errors_without_a_known_fix_get_no_hint() {
    let error = anyhow::anyhow!("a bad frame");
    assert!(hint("framing", &error).is_none());
}

#[test]
fn listen_tcp_binds_port_zero_and_a_second_bind_fails_with_bind_failed() {
    let listener = listen_tcp("127.0.0.1:0".parse().unwrap(), 16).unwrap();
    let addr = listener.local_addr().unwrap();
    assert_ne!(addr.port(), 0);
    let error = listen_tcp(addr, 16).unwrap_err();
    assert_eq!(error.downcast_ref::<BindFailed>().map(|b| b.0), Some(addr));
    assert!(hint("x", &error).unwrap().contains(&format!("port {} is taken", addr.port())));
}

#[test]
fn ipv6_listener_is_v6_only() {
    let Ok(listener) = listen_tcp("[::1]:0".parse().unwrap(), 16) else {
        eprintln!("no IPv6 loopback here; nothing to test");
        return;
    };
    let port = listener.local_addr().unwrap().port();
    // With IPV6_V6ONLY the same port is still free on IPv4.
    TcpListener::bind(("127.0.0.1", port)).unwrap();
}

#[test]
fn dialable_turns_wildcards_into_loopback() {
    assert_eq!(dialable("0.0.0.0:80".parse().unwrap()), "127.0.0.1:80".parse().unwrap());
    assert_eq!(dialable("[::]:80".parse().unwrap()), "[::1]:80".parse().unwrap());
    assert_eq!(dialable("10.1.2.3:80".parse().unwrap()), "10.1.2.3:80".parse().unwrap());
}

#[test]
fn stop_runs_wakers_once_and_ends_waits_early() {
    let stop = Stop::default();
    let woken = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&woken);
    stop.on_stop(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    assert!(!stop.wait_timeout(Duration::from_millis(1)), "not stopped yet");
    let waiter = {
        let stop = stop.clone();
        thread::spawn(move || stop.wait_timeout(Duration::from_secs(30)))
    };
    stop.trigger();
    assert!(waiter.join().unwrap(), "wait_timeout ended by the stop");
    assert!(stop.is_stopped());
    assert_eq!(woken.load(Ordering::SeqCst), 1);
}

#[test]
fn stop_wakes_a_thread_blocked_in_accept() {
    let listener = listen_tcp("127.0.0.1:0".parse().unwrap(), 16).unwrap();
    let stop = Stop::default();
    stop.wake_accept_on_stop(listener.local_addr().unwrap());
    let (done_tx, done_rx) = mpsc::channel();
    let acceptor = {
        let stop = stop.clone();
        thread::spawn(move || {
            let accepted = listener.accept().map(|_| stop.is_stopped());
            done_tx.send(()).unwrap();
            accepted.unwrap()
        })
    };
    stop.trigger();
    done_rx.recv_timeout(Duration::from_secs(5)).expect("accept() woke up");
    assert!(acceptor.join().unwrap(), "the flag was set when accept returned");
}

#[test]
fn connect_tcp_reports_refusal_with_the_address() {
    let (_held, port) = test_support::refused_port();
    let error = connect_tcp("127.0.0.1", port, Duration::from_secs(2)).unwrap_err();
    assert!(format!("{error:#}").starts_with(&format!("connecting to 127.0.0.1:{port}: ")));
    let io = error.chain().find_map(|e| e.downcast_ref::<Error>()).unwrap();
    assert_eq!(io.kind(), ErrorKind::ConnectionRefused);
}
