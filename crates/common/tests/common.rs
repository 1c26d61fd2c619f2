//! Tests of the shared helpers, without any lesson binary.

use std::io::{Error, ErrorKind};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use common::args::seconds;
use common::endpoint::{
    BindFailed, Transport, bind_udp, connect_tcp, dialable, listen_tcp, parse_host, resolve,
};
use common::report::hint;
use common::stop::{Stop, Wait};

const SERVER: &str = "cargo run -p framing -- server --strategy length";

#[test]
fn refused_connection_hints_at_the_server_command_the_address_and_the_family() {
    let (_held, port) = test_support::refused_port();
    let error = connect_tcp("127.0.0.1", port, Duration::from_secs(2)).unwrap_err();
    let hint = hint(SERVER, &error).unwrap();
    assert!(hint.contains(&format!("`{SERVER}`")), "{hint}");
    assert!(hint.contains(&format!("127.0.0.1:{port}")), "{hint}");
    assert!(
        hint.contains("--host") && hint.contains("address family"),
        "{hint}"
    );
}

#[test]
fn address_in_use_hint_names_the_port_and_the_right_ss_command() {
    let addr: SocketAddr = "127.0.0.1:7123".parse().unwrap();
    for (transport, ss) in [(Transport::Tcp, "ss -ltnp"), (Transport::Udp, "ss -lunp")] {
        let error = anyhow::Error::new(Error::from(ErrorKind::AddrInUse))
            .context(BindFailed(addr, transport))
            .context("starting the server");
        let hint = hint("x", &error).unwrap();
        assert!(hint.contains("port 7123 is taken"), "{hint}");
        assert!(hint.contains(ss), "{transport:?}: {hint}");
    }
}

#[test]
fn a_timeout_after_connecting_is_not_blamed_on_the_network() {
    // A connect that timed out: nothing answered the SYN.
    let addr: SocketAddr = "192.0.2.1:7000".parse().unwrap();
    let error = anyhow::Error::new(Error::from(ErrorKind::TimedOut))
        .context(common::endpoint::ConnectFailed(addr));
    assert!(hint("x", &error).unwrap().contains("is the host reachable"));
    // A read that timed out on a connection the server's kernel accepted:
    // the network is fine; the server is busy (one client at a time) or stuck.
    let error = anyhow::Error::new(Error::new(ErrorKind::TimedOut, "nothing before --timeout"))
        .context("reading an echo");
    let hint = hint("x", &error).unwrap();
    assert!(
        !hint.contains("reachable") && !hint.contains("firewall"),
        "{hint}"
    );
    assert!(hint.contains("busy with another client"), "{hint}");
}

#[test]
fn errors_without_a_known_fix_get_no_hint() {
    let error = anyhow::anyhow!("a bad frame");
    assert!(hint("x", &error).is_none());
}

#[test]
fn a_second_bind_fails_with_bind_failed_for_tcp_and_udp() {
    let listener = listen_tcp("127.0.0.1:0".parse().unwrap(), 16).unwrap();
    let addr = listener.local_addr().unwrap();
    assert_ne!(addr.port(), 0);
    let error = listen_tcp(addr, 16).unwrap_err();
    let failed = error.downcast_ref::<BindFailed>().unwrap();
    assert_eq!((failed.0, failed.1), (addr, Transport::Tcp));

    let socket = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    let error = bind_udp(addr).unwrap_err();
    assert!(hint("x", &error).unwrap().contains("ss -lunp"));
}

#[test]
fn ipv6_listener_is_v6_only() {
    // CI machines have ::1; a machine without it fails here, loudly.
    let listener = listen_tcp("[::1]:0".parse().unwrap(), 16).expect("IPv6 loopback (::1)");
    let port = listener.local_addr().unwrap().port();
    // With IPV6_V6ONLY the same port is still free on IPv4.
    TcpListener::bind(("127.0.0.1", port)).unwrap();
}

#[test]
fn hosts_are_taken_as_servers_print_them() {
    assert_eq!(parse_host("[::1]").unwrap(), "::1");
    assert_eq!(parse_host("localhost").unwrap(), "localhost");
    assert!(parse_host("[localhost]").is_err());
    assert!(parse_host("").is_err());
    // `listening on 127.0.0.1:7000` copied whole into --host: the port
    // belongs in --port, and the error says so (it was "resolving
    // 127.0.0.1:7000:7000: Name or service not known", exit 1).
    for (with_port, host) in [
        ("127.0.0.1:7000", "127.0.0.1"),
        ("[::1]:7000", "[::1]"),
        ("localhost:7000", "localhost"),
    ] {
        let error = parse_host(with_port).unwrap_err();
        assert!(
            error.contains(&format!("--host {host} --port 7000")),
            "{error}"
        );
    }
    assert_eq!(parse_host("::1").unwrap(), "::1");
    assert_eq!(parse_host("fe80::1%lo").unwrap(), "fe80::1%lo");
    // The zone survives resolving: without it a link-local address cannot
    // be bound or reached ("cannot bind [fe80::5]:7000: Invalid argument").
    let addrs = resolve("fe80::5%1", 7000).unwrap();
    match addrs[..] {
        [SocketAddr::V6(v6)] => assert_eq!((v6.scope_id(), v6.port()), (1, 7000), "{v6}"),
        _ => panic!("{addrs:?}"),
    }
    // A link-local address with its zone, bracketed as Rust prints it.
    assert_eq!(parse_host("[fe80::1%2]").unwrap(), "fe80::1%2");
    assert!(parse_host("[fe80::1%2]:7000").is_err());
    assert!(parse_host("[nonsense%2]").is_err());
    // An IPv4-mapped IPv6 address is its IPv4 address, so it can be bound.
    let addrs = resolve("::ffff:127.0.0.1", 0).unwrap();
    assert_eq!(addrs, vec!["127.0.0.1:0".parse::<SocketAddr>().unwrap()]);
    listen_tcp(addrs[0], 1).unwrap();
}

#[test]
fn a_link_local_address_keeps_its_scope_as_servers_print_it() {
    // fe80::/10 exists on every link at once: without its scope (the
    // interface, `%lo` or `%1`) an address names no link, and bind() says
    // EINVAL. Rust prints a scoped address as `[fe80::1%1]:7000`.
    assert_eq!(parse_host("[fe80::1%1]").unwrap(), "fe80::1%1");
    assert_eq!(parse_host("fe80::1%lo").unwrap(), "fe80::1%lo");
    for host in ["fe80::1%1", "fe80::1%lo"] {
        let addrs = resolve(host, 7000).unwrap();
        match addrs[..] {
            [SocketAddr::V6(v6)] => assert_eq!(v6.scope_id(), 1, "{host}: {v6}"),
            _ => panic!("{host}: {addrs:?}"),
        }
    }
}

#[test]
fn a_host_with_a_port_is_a_usage_error_that_names_port() {
    for host in ["127.0.0.1:7000", "[::1]:7000", "localhost:7000"] {
        let error = parse_host(host).unwrap_err();
        assert!(error.contains("--port"), "{host}: {error}");
    }
    for host in ["::1", "2001:db8::7000", "fe80::1%7"] {
        assert!(parse_host(host).is_ok(), "{host}");
    }
}

#[test]
fn seconds_are_range_checked() {
    assert_eq!(seconds("0.1").unwrap(), Duration::from_millis(100));
    assert_eq!(seconds("86400").unwrap(), Duration::from_secs(86_400));
    for bad in ["0", "-1", "1e20", "NaN", "inf", "86400.5", "ten", ""] {
        assert!(seconds(bad).is_err(), "{bad} was accepted");
    }
    // Above 0, yet 0 as a Duration: a zero timeout, which the socket calls
    // refuse ("cannot set a 0 duration timeout") long after parsing.
    let tiny = seconds("1e-10").unwrap_err();
    assert!(
        tiny.contains("rounds to 0") && tiny.contains("above 0"),
        "{tiny}"
    );
    assert_eq!(seconds("1e-9").unwrap(), Duration::from_nanos(1));
}

#[test]
fn dialable_turns_wildcards_into_loopback() {
    assert_eq!(
        dialable("0.0.0.0:80".parse().unwrap()),
        "127.0.0.1:80".parse().unwrap()
    );
    assert_eq!(
        dialable("[::]:80".parse().unwrap()),
        "[::1]:80".parse().unwrap()
    );
    assert_eq!(
        dialable("10.1.2.3:80".parse().unwrap()),
        "10.1.2.3:80".parse().unwrap()
    );
}

fn counting_waker(stop: &Stop) -> Arc<AtomicUsize> {
    let woken = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&woken);
    stop.on_stop(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    woken
}

#[test]
fn a_second_trigger_runs_no_waker_again() {
    let stop = Stop::new().unwrap();
    let woken = counting_waker(&stop);
    assert_eq!(woken.load(Ordering::SeqCst), 0);
    stop.trigger();
    stop.trigger();
    assert!(stop.is_stopped());
    assert_eq!(woken.load(Ordering::SeqCst), 1);
    // Registered after the stop: runs at once, exactly once.
    let late = counting_waker(&stop);
    stop.trigger();
    assert_eq!(late.load(Ordering::SeqCst), 1);
}

#[test]
fn no_waker_registered_while_stopping_is_missed() {
    for _ in 0..50 {
        let stop = Stop::new().unwrap();
        let woken = Arc::new(AtomicUsize::new(0));
        let registrars: Vec<_> = (0..4)
            .map(|_| {
                let (stop, woken) = (stop.clone(), Arc::clone(&woken));
                thread::spawn(move || {
                    for _ in 0..25 {
                        let woken = Arc::clone(&woken);
                        stop.on_stop(move || {
                            woken.fetch_add(1, Ordering::SeqCst);
                        });
                    }
                })
            })
            .collect();
        stop.trigger();
        registrars.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(
            woken.load(Ordering::SeqCst),
            100,
            "every waker ran exactly once"
        );
    }
}

#[test]
fn wait_timeout_ends_early_on_stop() {
    let stop = Stop::new().unwrap();
    assert!(
        !stop.wait_timeout(Duration::from_millis(1)),
        "not stopped yet"
    );
    let waiter = {
        let stop = stop.clone();
        thread::spawn(move || stop.wait_timeout(Duration::from_secs(30)))
    };
    stop.trigger();
    assert!(waiter.join().unwrap(), "wait_timeout ended by the stop");
}

/// Runs `body` on a thread and fails the test if it has not returned within
/// 5 s after `trigger`.
fn returns_after_stop<T: Send + 'static>(
    stop: &Stop,
    body: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done_tx, done_rx) = mpsc::channel();
    let worker = thread::spawn(move || done_tx.send(body()).unwrap());
    stop.trigger();
    let value = done_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("returned after the stop");
    worker.join().unwrap();
    value
}

#[test]
fn incoming_yields_connections_then_ends_on_stop_without_any_packet() {
    let listener = Arc::new(listen_tcp("127.0.0.1:0".parse().unwrap(), 16).unwrap());
    let addr = listener.local_addr().unwrap();
    let stop = Stop::new().unwrap();
    let _client = test_support::connect(addr);
    let (peer_tx, peer_rx) = mpsc::channel();
    let served = {
        let (stop, listener) = (stop.clone(), Arc::clone(&listener));
        move || {
            let mut count = 0;
            for conn in stop.incoming(&listener) {
                let (_stream, peer) = conn.unwrap();
                peer_tx.send(peer).unwrap();
                count += 1;
            }
            count
        }
    };
    let (started_tx, started_rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        started_tx.send(()).unwrap();
        served()
    });
    started_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    peer_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the client was accepted");
    let count = returns_after_stop(&stop, move || worker.join().unwrap());
    assert_eq!(count, 1, "only the real client, no wake-up connection");
    // Nothing connected to wake it: the accept queue is empty.
    let pending = listener.accept().map(|_| ()).unwrap_err();
    assert_eq!(pending.kind(), ErrorKind::WouldBlock);
}

#[test]
fn wait_readable_wakes_a_socket_no_packet_can_reach() {
    // A connected UDP socket only takes datagrams from its peer, and the peer
    // here never sends: waking it by sending it a packet could never work.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(silent.local_addr().unwrap()).unwrap();
    let stop = Stop::new().unwrap();
    let waiting = stop.clone();
    let seen = returns_after_stop(&stop, move || waiting.wait_readable(&socket, None).unwrap());
    assert_eq!(seen, Wait::Stopped);
}

#[test]
fn wait_readable_times_out_and_sees_data() {
    let stop = Stop::new().unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let started = Instant::now();
    let seen = stop
        .wait_readable(&socket, Some(Duration::from_millis(50)))
        .unwrap();
    assert_eq!(seen, Wait::TimedOut);
    assert!(started.elapsed() >= Duration::from_millis(50));
    socket.send_to(b"x", socket.local_addr().unwrap()).unwrap();
    let seen = stop
        .wait_readable(&socket, Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(seen, Wait::Ready);
}

#[test]
fn incoming_reports_a_fatal_listener_error_once_then_ends() {
    // Bound but never listen()ed: accept() fails with EINVAL, forever.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    let listener: TcpListener = socket.into();
    let stop = Stop::new().unwrap();
    let mut incoming = stop.incoming(&listener);
    let error = incoming.next().expect("an item").map(|_| ()).unwrap_err();
    assert!(
        format!("{error:#}").starts_with("accepting connections on 127.0.0.1:"),
        "{error:#}"
    );
    assert!(
        incoming.next().is_none(),
        "no retry loop after a fatal error"
    );
}

/// A connected pair on loopback: our side, and a peer whose receive
/// buffer is small, so what we write waits in our kernel until it reads.
fn pair_with_a_small_window() -> (std::net::TcpStream, std::net::TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    peer.set_recv_buffer_size(4096).unwrap();
    peer.connect_timeout(
        &listener.local_addr().unwrap().into(),
        Duration::from_secs(5),
    )
    .unwrap();
    let (ours, _) = listener.accept().unwrap();
    let peer: std::net::TcpStream = peer.into();
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    (ours, peer)
}

/// Writes until the kernel takes no more (the peer does not read).
fn fill(stream: &std::net::TcpStream) -> usize {
    use std::io::Write;
    stream.set_nonblocking(true).unwrap();
    let mut written = 0;
    loop {
        match (&*stream).write(&[7; 65536]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("filling: {e}"),
        }
    }
    stream.set_nonblocking(false).unwrap();
    written
}

#[test]
fn finish_returns_once_the_peer_has_every_byte() {
    use common::guard::{Guarded, Limits};
    use std::io::Read;
    let (ours, mut peer) = pair_with_a_small_window();
    let written = fill(&ours);
    let limits = Limits {
        idle: Duration::from_secs(5),
        lifetime: Duration::from_secs(60),
    };
    let guarded = Guarded::new(ours, &Stop::new().unwrap(), limits).unwrap();
    // The peer reads it all, then sees our FIN.
    let reader = thread::spawn(move || {
        let mut all = Vec::new();
        peer.read_to_end(&mut all).unwrap();
        all.len()
    });
    assert_eq!(guarded.finish().unwrap(), 0, "bytes left unacknowledged");
    assert_eq!(reader.join().unwrap(), written);
}

#[test]
fn finish_gives_up_at_a_stop_and_says_what_is_undelivered() {
    use common::guard::{Guarded, Limits};
    let (ours, _peer) = pair_with_a_small_window();
    let written = fill(&ours);
    let stop = Stop::new().unwrap();
    let limits = Limits {
        idle: Duration::from_secs(5),
        lifetime: Duration::from_secs(60),
    };
    let guarded = Guarded::new(ours, &stop, limits).unwrap();
    let trigger = {
        let stop = stop.clone();
        thread::spawn(move || {
            // When the stop comes (the scenario), not a synchronisation.
            thread::sleep(Duration::from_millis(200));
            stop.trigger();
        })
    };
    let started = Instant::now();
    let undelivered = guarded.finish().unwrap();
    trigger.join().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // Our unread bytes, in the peer's small window or not, are not all
    // acknowledged: the peer never read; the count is at most what we wrote
    // plus the FIN.
    assert!(
        undelivered > 0 && undelivered <= written + 1,
        "{undelivered} of {written}"
    );
}
