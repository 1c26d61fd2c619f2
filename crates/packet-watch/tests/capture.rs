//! Real captures: packet-watch on `lo` while a test sends real traffic.
//! Capturing needs root (CI runs as root); a test that cannot capture fails.
//! Each test moves its own thread into a new network namespace (its own
//! `lo`, nothing else on it), so parallel tests never see each other's
//! packets, and every process it starts runs in that namespace too.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use packet_watch::decode::LinkType;
use packet_watch::pcap;
use test_support::wait_deadline;

const BIN: &str = env!("CARGO_BIN_EXE_packet-watch");
const DEADLINE: Duration = Duration::from_secs(10);
const TIMEOUT: Option<Duration> = Some(Duration::from_secs(5));

/// Moves this test's thread into a fresh network namespace with `lo` up.
fn private_network() {
    // SAFETY: unshare(2) changes only this thread's namespaces.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    assert_eq!(
        rc,
        0,
        "unshare(CLONE_NEWNET) failed: {} (these tests need root, as CI has)",
        std::io::Error::last_os_error()
    );
    let status = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .expect("running `ip link set lo up` (iproute2)");
    assert!(status.success(), "ip link set lo up: {status}");
}

/// A running capture; killed on drop if a test fails before stopping it.
struct Watch {
    child: Child,
    stdout: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Watch {
    /// Starts `bin ARGS`, waits for its first line, which must be `first`.
    fn start(bin: &str, args: &[&str], first: &str) -> Watch {
        let mut child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {bin}: {e}"));
        let (tx, stdout) = channel();
        let out = BufReader::new(child.stdout.take().unwrap());
        thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let (sink, mut err) = (Arc::clone(&stderr), child.stderr.take().unwrap());
        thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            sink.lock().unwrap().push_str(&text);
        });
        let watch = Watch {
            child,
            stdout,
            stderr,
        };
        match watch.stdout.recv_timeout(DEADLINE) {
            Ok(line) => assert_eq!(line, first, "stderr: {}", watch.stderr()),
            Err(_) => panic!("no first line from {bin}; stderr: {}", watch.stderr()),
        }
        watch
    }

    fn stderr(&self) -> String {
        // The reader thread fills it at EOF; give it a moment to finish.
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let text = self.stderr.lock().unwrap().clone();
            if !text.is_empty() || Instant::now() > deadline {
                return text;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until a stdout line contains `pattern`; returns the lines so far.
    fn wait_for(&self, pattern: &str, seen: &mut Vec<String>) {
        let deadline = Instant::now() + DEADLINE;
        while !seen.iter().any(|l| l.contains(pattern)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => seen.push(line),
                Err(_) => panic!("no line with {pattern:?}; got {seen:#?}"),
            }
        }
    }

    /// SIGINT, then the exit status, every stdout line (after the first)
    /// and stderr. Also checks that it stopped within 2 s.
    fn stop(mut self) -> (ExitStatus, Vec<String>, String) {
        let started = Instant::now();
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let status = wait_deadline(&mut self.child, DEADLINE).expect("still running after SIGINT");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "took {:?} to stop",
            started.elapsed()
        );
        let lines = self.stdout.try_iter().collect::<Vec<_>>();
        let lines = if lines.is_empty() {
            // The reader may lag the exit by a moment.
            self.stdout
                .recv_timeout(Duration::from_secs(1))
                .into_iter()
                .chain(self.stdout.try_iter())
                .collect()
        } else {
            lines
        };
        (status, lines, self.stderr())
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A one-connection echo server, as tcp-echo's: echo until EOF, then
/// half-close. Returns its address.
fn echo_server() -> (SocketAddr, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(TIMEOUT).unwrap();
        stream.set_write_timeout(TIMEOUT).unwrap();
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            stream.write_all(&buf[..n]).unwrap();
        }
        stream.shutdown(Shutdown::Write).unwrap();
    });
    (addr, handle)
}

/// tcp-echo's `client hello world`: each message, then its echo; then a
/// half-close and read to the server's FIN.
fn echo_client(addr: SocketAddr, messages: &[&str]) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    stream.set_read_timeout(TIMEOUT).unwrap();
    stream.set_write_timeout(TIMEOUT).unwrap();
    stream.set_nodelay(true).unwrap();
    for message in messages {
        stream.write_all(message.as_bytes()).unwrap();
        let mut echo = vec![0; message.len()];
        stream.read_exact(&mut echo).unwrap();
        assert_eq!(echo, message.as_bytes());
    }
    stream.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
}

/// (flags, len) of each of our TCP lines.
fn flags_and_lengths(lines: &[String]) -> Vec<(String, usize)> {
    lines
        .iter()
        .filter(|l| l.contains(" TCP ["))
        .map(|l| {
            let flags = l.split('[').nth(1).unwrap().split(']').next().unwrap();
            let len = l.rsplit_once(" len ").unwrap().1;
            let len = len.split(' ').next().unwrap().parse().unwrap();
            (flags.to_string(), len)
        })
        .collect()
}

fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("packet-watch-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn a_tcp_echo_exchange_on_the_wire() {
    private_network();
    let (addr, server) = echo_server();
    let port = addr.port().to_string();
    let file = temp_path("echo.pcap");
    let args = ["--port", &port, "--pcap", file.to_str().unwrap()];
    let watch = Watch::start(BIN, &args, "capturing on lo");
    echo_client(addr, &["hello", "world"]);
    server.join().unwrap();
    let mut lines = Vec::new();
    // The client's last ACK of the server's FIN is the last packet.
    watch.wait_for(&format!("> {addr} TCP [.] seq 12 ack 12"), &mut lines);
    let (status, rest, stderr) = watch.stop();
    lines.extend(rest);
    assert!(status.success(), "{status}: {stderr}");

    let client = lines[0].split(' ').next().unwrap().to_string();
    // The handshake, with relative sequence numbers, exactly.
    assert_eq!(
        lines[0],
        format!("{client} > {addr} TCP [S] seq 0 win 65495 len 0")
    );
    assert!(lines[1].starts_with(&format!("{addr} > {client} TCP [S.] seq 0 ack 1 win ")));
    assert!(lines[2].starts_with(&format!("{client} > {addr} TCP [.] seq 1 ack 1 win ")));
    // Data both ways, and the two FINs: the client's first (it half-closed).
    let flags = flags_and_lengths(&lines);
    let data: Vec<&String> = lines.iter().filter(|l| l.contains(" len 5")).collect();
    assert_eq!(
        data.iter().filter(|l| l.starts_with(&client)).count(),
        2,
        "{lines:#?}"
    );
    assert_eq!(data.len(), 4, "{lines:#?}");
    let fins: Vec<&String> = lines.iter().filter(|l| l.contains("[F.]")).collect();
    assert_eq!(fins.len(), 2, "{lines:#?}");
    assert!(fins[0].starts_with(&client) && !fins[1].starts_with(&client));
    assert!(
        fins[0].contains("seq 11 "),
        "the FIN follows 10 bytes: {}",
        fins[0]
    );
    assert_eq!(flags.last().unwrap().0, ".");
    assert!(!lines.iter().any(|l| l.contains("retransmission")));
    // The summary: 10 bytes each way, a handshake time, nothing lost.
    assert!(stderr.contains(&format!(
        "connection {client} <> {addr}: handshake (SYN to SYN-ACK) "
    )));
    assert!(stderr.contains(&format!(
        "  {client} > {addr}: 10 bytes, 0 retransmitted segments"
    )));
    assert!(stderr.contains(&format!(
        "  {addr} > {client}: 10 bytes, 0 retransmitted segments"
    )));
    let n = lines.len();
    assert!(
        stderr.contains(&format!(
            "captured {n} packets; kernel: {n} passed the filter, 0 dropped"
        )),
        "{stderr}"
    );

    // The payload bytes, read back from the pcap file.
    let out = Command::new(BIN)
        .args(["--read", file.to_str().unwrap(), "--layers"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let layers = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        layers
            .matches("application layer (7): 5 bytes \"hello\"")
            .count(),
        2
    );
    assert_eq!(
        layers
            .matches("application layer (7): 5 bytes \"world\"")
            .count(),
        2
    );
    assert_eq!(layers.matches("TTL 64, protocol 6 (TCP)").count(), n);

    // And by tcpdump: the same packets, flags and lengths.
    let out = Command::new("tcpdump")
        .args(["-nr", file.to_str().unwrap()])
        .output()
        .expect("running tcpdump -r (Debian's tcpdump package; .ci/run installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Vec<(String, usize)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let flags = l
                .split("Flags [")
                .nth(1)
                .unwrap()
                .split(']')
                .next()
                .unwrap();
            let len = l.rsplit_once("length ").unwrap().1.parse().unwrap();
            (flags.to_string(), len)
        })
        .collect();
    assert_eq!(theirs, flags);
    let _ = std::fs::remove_file(file);
}

#[test]
fn a_peer_that_never_reads_shows_the_window_closing() {
    private_network();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let port = addr.port().to_string();
    let watch = Watch::start(BIN, &["--port", &port], "capturing on lo");
    // The server accepts and never reads: the framing lesson's deadlock.
    let server = thread::spawn(move || listener.accept().unwrap().0);
    let mut client = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    client
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    let mut sent = 0usize;
    // Until a write makes no progress for 0.5 s (both buffers full), at
    // most 256 MiB.
    while sent < 256 << 20 {
        match client.write(&chunk) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    let held = server.join().unwrap();
    let mut lines = Vec::new();
    watch.wait_for(&format!("{addr} > "), &mut lines);
    watch.wait_for(" win 0 len 0", &mut lines);
    let (status, rest, stderr) = watch.stop();
    lines.extend(rest);
    assert!(status.success());
    let zero = lines
        .iter()
        .find(|l| l.contains(" win 0 "))
        .expect("a zero window");
    assert!(
        zero.starts_with(&format!("{addr} > ")),
        "the receiver says it: {zero}"
    );
    let summary = format!("  {addr} > ");
    let receiver = stderr.lines().find(|l| l.starts_with(&summary)).unwrap();
    assert!(
        !receiver.contains(" 0 zero-window advertisements"),
        "{receiver}"
    );
    drop((held, client));
}

#[test]
fn without_cap_net_raw_it_says_to_use_sudo() {
    let out = Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(BIN)
        .args(["--port", "7000"])
        .output()
        .expect("running setpriv (util-linux)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(lines[0].starts_with("error: ") && lines[0].contains("CAP_NET_RAW"));
    assert!(lines[1].starts_with("hint: ") && lines[1].contains("sudo"));
    assert!(
        out.stdout.is_empty(),
        "no `capturing on` line without a socket"
    );
}

/// A thread sending `payload` to `to` as fast as it can until `done` is
/// set, or for 20 s at most.
fn flood(to: SocketAddr, payload: &'static [u8], done: Arc<AtomicBool>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let started = Instant::now();
        while !done.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(20) {
            let _ = socket.send_to(payload, to);
        }
    })
}

#[test]
fn nothing_unfiltered_slips_in_before_the_filter() {
    private_network();
    // Other traffic, all the time: datagrams to a port we do not watch.
    let noise = UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = noise.local_addr().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let flood = flood(target, b"noise", Arc::clone(&done));
    let ours = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = ours.local_addr().unwrap().port();
    // Each start is a chance for a noise packet to slip in (one in three
    // did, when the socket was opened with ETH_P_ALL instead of 0).
    for _ in 0..6 {
        let watch = Watch::start(BIN, &["--port", &port.to_string()], "capturing on lo");
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.send_to(b"ours", ours.local_addr().unwrap()).unwrap();
        let mut lines = Vec::new();
        watch.wait_for(" UDP len 4", &mut lines);
        let (status, rest, stderr) = watch.stop();
        lines.extend(rest);
        assert!(status.success());
        let expected = format!(
            "{} > 127.0.0.1:{port} UDP len 4",
            sender.local_addr().unwrap()
        );
        assert_eq!(lines, [expected], "{stderr}");
        assert!(
            stderr.contains("kernel: 1 passed the filter, 0 dropped"),
            "{stderr}"
        );
    }
    done.store(true, Ordering::Relaxed);
    flood.join().unwrap();
}

#[test]
fn a_refused_datagram_comes_back_as_icmp_port_unreachable() {
    private_network();
    // A bound socket that is not ours to read... rather: a port nobody has.
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    let closed = {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap()
    }; // dropped: nobody listens there now (our own namespace: nobody else)
    let watch = Watch::start(BIN, &[], "capturing on lo");
    probe.connect(closed).unwrap();
    probe.send(b"anyone?").unwrap();
    probe.set_read_timeout(TIMEOUT).unwrap();
    let err = probe.recv(&mut [0; 16]).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    let mut lines = Vec::new();
    watch.wait_for("ICMP", &mut lines);
    let (_, rest, _) = watch.stop();
    lines.extend(rest);
    let me = probe.local_addr().unwrap();
    assert_eq!(
        lines,
        [
            format!("{me} > {closed} UDP len 7"),
            format!("127.0.0.1 > 127.0.0.1 ICMP port unreachable for UDP {me} > {closed}"),
        ]
    );
}

#[test]
fn json_objects_have_exactly_the_designed_keys() {
    private_network();
    let (addr, server) = echo_server();
    let port = addr.port().to_string();
    let watch = Watch::start(
        BIN,
        &["--port", &port, "--json", "--count", "3"],
        "capturing on lo",
    );
    echo_client(addr, &["hi"]);
    server.join().unwrap();
    let mut watch = watch;
    let status = wait_deadline(&mut watch.child, DEADLINE).expect("--count 3 did not end it");
    assert!(status.success());
    let lines: Vec<String> = watch.stdout.try_iter().collect();
    let lines = if lines.len() < 3 {
        let mut more = lines;
        while more.len() < 3 {
            more.push(watch.stdout.recv_timeout(DEADLINE).unwrap());
        }
        more
    } else {
        lines
    };
    assert_eq!(lines.len(), 3, "--count 3: {lines:#?}");
    let keys = [
        "time",
        "src",
        "dst",
        "proto",
        "flags",
        "seq",
        "ack",
        "win",
        "len",
        "retransmission",
    ];
    for (line, flags) in lines.iter().zip(["S", "S.", "."]) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let object = v.as_object().unwrap();
        let mut got: Vec<&str> = object.keys().map(String::as_str).collect();
        let mut want = keys.to_vec();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want);
        assert_eq!(v["flags"], flags);
        assert_eq!(v["proto"], "TCP");
        assert_eq!(v["retransmission"], false);
        assert!(v["time"].as_f64().unwrap() > 1.6e9);
    }
    let syn: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(syn["dst"], addr.to_string());
    assert_eq!(syn["seq"], 0);
    assert_eq!(syn["ack"], serde_json::Value::Null);
}

/// The bare file and the full lesson, on the same traffic, see the same
/// packets: addresses, flags and lengths.
#[test]
fn the_bare_example_sees_what_the_lesson_sees() {
    private_network();
    let (addr, server) = echo_server();
    let port = addr.port().to_string();
    let full = Watch::start(BIN, &["--port", &port], "capturing on lo");
    let bare = Watch::start(&bare(), &[], "capturing on lo");
    echo_client(addr, &["hello", "world"]);
    server.join().unwrap();
    let (mut full_lines, mut bare_lines) = (Vec::new(), Vec::new());
    let last = format!("> {addr} TCP [.] seq 12 ack 12");
    full.wait_for(&last, &mut full_lines);
    let count = full_lines.len();
    while bare_lines.len() < count {
        match bare.stdout.recv_timeout(DEADLINE) {
            Ok(line) => bare_lines.push(line),
            Err(_) => panic!("bare saw only {bare_lines:#?}"),
        }
    }
    // The full lesson's line, without what the bare file does not print.
    let short = |l: &String| {
        let (head, len) = l.rsplit_once(" len ").unwrap();
        let head = head.split(" seq ").next().unwrap();
        format!("{head} len {len}")
    };
    let full_short: Vec<String> = full_lines.iter().map(short).collect();
    assert_eq!(bare_lines, full_short);
    drop(bare); // no Ctrl-C handling: it is killed
}

/// The bare example, built if needed (test-support's `example`).
fn bare() -> String {
    test_support::example(env!("CARGO"), "packet-watch", "packet-watch-bare")
}

#[test]
fn the_bare_file_is_at_most_80_lines() {
    let lines = include_str!("../examples/packet-watch-bare.rs")
        .lines()
        .count();
    assert!(lines <= 80, "packet-watch-bare.rs has {lines} lines");
}

#[test]
fn read_rejects_what_is_not_a_whole_pcap() {
    let run = |path: &Path| Command::new(BIN).arg("--read").arg(path).output().unwrap();
    let text = temp_path("not.pcap");
    std::fs::write(&text, "this is not a capture\n").unwrap();
    let out = run(&text);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.starts_with("error: ") && stderr.contains("is not a pcap file"),
        "{stderr}"
    );

    // Two packets, the second cut short: the first is shown, then the error.
    let file = temp_path("cut.pcap");
    let mut writer = pcap::Writer::create(&file, LinkType::Ethernet).unwrap();
    let mut frame = vec![0u8; 12];
    frame.extend([0x08, 0x06]); // an ARP frame, say
    frame.extend([0u8; 28]);
    for _ in 0..2 {
        writer
            .write(std::time::SystemTime::now(), &frame, frame.len())
            .unwrap();
    }
    writer.flush().unwrap();
    drop(writer);
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() - 10]).unwrap();
    let out = run(&file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ARP len 28\n");
    assert!(
        stderr.contains("error: ")
            && stderr.contains("is cut short: packet 2 has 32 of its 42 bytes"),
        "{stderr}"
    );

    let empty = temp_path("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(run(&empty).status.code(), Some(1));
}

/// The interface disappears under the capture (a lab torn down, a USB
/// adapter pulled): the kernel reports ENETDOWN on the socket, and poll()
/// says POLLERR at once, every time. The capture must end with an error,
/// not spin on it.
#[test]
fn an_interface_that_goes_away_ends_the_capture() {
    private_network();
    let ip = |args: &[&str]| {
        let status = Command::new("ip").args(args).status().unwrap();
        assert!(status.success(), "ip {args:?}: {status}");
    };
    // A veth pair, as the lab's link (this test's namespace only).
    ip(&[
        "link", "add", "pwgone0", "type", "veth", "peer", "name", "pwgone1",
    ]);
    ip(&["link", "set", "pwgone0", "up"]);
    let mut watch = Watch::start(
        BIN,
        &["--interface", "pwgone0", "--port", "7000"],
        "capturing on pwgone0",
    );
    ip(&["link", "del", "pwgone0"]);
    let status = wait_deadline(&mut watch.child, Duration::from_secs(5));
    let stderr = watch.stderr();
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: capturing on pwgone0: the interface went down or away"),
        "{stderr}"
    );
}

/// stdout is a pipe that nobody reads (`packet-watch | less`, and less is
/// suspended), while packets keep coming: the pipe fills, and a write to
/// it blocks for good. SIGTERM must still end the capture within 2 s, and
/// say that output was lost.
#[test]
fn a_stdout_nobody_reads_holds_up_no_stop() {
    private_network();
    let target = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = target.local_addr().unwrap().port().to_string();
    let mut child = Command::new(BIN)
        .args(["--port", &port])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut guard = Guard(Some(child.id()));
    // The first line says the capture is on; after it, nobody reads (the
    // pipe stays open, in `stdout`).
    let (tx, first) = channel();
    let mut out = child.stdout.take().unwrap();
    thread::spawn(move || {
        let mut line = [0u8; 16];
        let read = out.read_exact(&mut line);
        let _ = tx.send((read.map(|()| line), out));
    });
    let (line, stdout) = first.recv_timeout(DEADLINE).expect("no first line");
    assert_eq!(&line.unwrap(), b"capturing on lo\n");
    let (tx, stderr) = channel();
    let mut err = child.stderr.take().unwrap();
    thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        let _ = tx.send(text);
    });
    // 100 000 lines of about 40 bytes: far more than a pipe (64 KiB) and
    // the output queued inside packet-watch hold.
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..100_000 {
        let _ = sender.send_to(b"x", target.local_addr().unwrap());
    }
    let started = Instant::now();
    // SAFETY: kill(2) on our own child, not yet reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = wait_deadline(&mut child, Duration::from_secs(10));
    let took = started.elapsed();
    guard.0 = None;
    let stderr = stderr.recv_timeout(DEADLINE).unwrap_or_default();
    assert!(status.is_some(), "still running 10 s after SIGTERM");
    assert!(
        took < Duration::from_secs(2),
        "took {took:?} to stop: {stderr}"
    );
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{stderr}");
    // The last line says what went wrong (a summary may come before it).
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: writing to stdout: ") && last.contains("is anything reading it?"),
        "{stderr}"
    );
    drop(stdout);
}

/// Kills a process by its id when a test fails before it ended.
struct Guard(Option<u32>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            // SAFETY: kill(2) on a child of ours.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    }
}

/// A capture that cannot start (here: no CAP_NET_RAW) must leave the file
/// `--pcap` names as it was: tcpdump, too, opens its file only once the
/// capture is on.
#[test]
fn a_capture_that_cannot_start_leaves_the_pcap_file_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_path("nobody");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let file = dir.join("precious.pcap");
    std::fs::write(&file, b"an earlier capture").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(BIN)
        .args(["--port", "7000", "--pcap"])
        .arg(&file)
        .output()
        .expect("running setpriv (util-linux)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("sudo"), "{stderr}");
    assert_eq!(std::fs::read(&file).unwrap(), b"an earlier capture");
    let _ = std::fs::remove_dir_all(dir);
}

/// Frames no stack would send, written straight onto `lo` with a packet
/// socket of our own: each is shown with what is wrong with it, and the
/// capture goes on to the next.
#[test]
fn broken_frames_on_the_wire_are_shown_as_broken() {
    private_network();
    let watch = Watch::start(BIN, &[], "capturing on lo");
    let eth = |ether_type: [u8; 2], rest: &[u8]| {
        let mut frame = vec![0u8; 12];
        frame.extend(ether_type);
        frame.extend(rest);
        frame
    };
    let ipv4 = [0x08, 0x00];
    let mut tcp_offset_15 = vec![
        0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
    ];
    tcp_offset_15.extend([
        0, 1, 0x1b, 0x58, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x02, 0, 0, 0, 0, 0, 0,
    ]);
    let frames = [
        // An Ethernet header and nothing inside.
        eth(ipv4, &[]),
        // IPv4 claiming 65535 bytes, 20 present.
        eth(ipv4, &[[0x45, 0, 0xff, 0xff].as_slice(), &[0; 16]].concat()),
        // A header length of 60 bytes, 20 present.
        eth(ipv4, &[[0x4f, 0, 0, 60].as_slice(), &[0; 16]].concat()),
        // TCP whose data offset says 60 bytes of header, 20 present.
        eth(ipv4, &tcp_offset_15),
        // IPv6 claiming 65535 bytes of payload, none present.
        eth(
            [0x86, 0xdd],
            &[[0x60, 0, 0, 0, 0xff, 0xff, 0, 64].as_slice(), &[0; 32]].concat(),
        ),
    ];
    // SAFETY: socket(2); the result is checked, and closed below.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
    assert!(fd >= 0, "{}", std::io::Error::last_os_error());
    // SAFETY: sockaddr_ll is plain data; zero is a valid start.
    let mut to: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    to.sll_family = libc::AF_PACKET as u16;
    // SAFETY: a NUL-terminated name.
    to.sll_ifindex = unsafe { libc::if_nametoindex(c"lo".as_ptr()) } as i32;
    to.sll_halen = 6;
    for frame in &frames {
        // SAFETY: frame and `to` are valid for the lengths passed.
        let sent = unsafe {
            libc::sendto(
                fd,
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&raw const to).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        assert_eq!(
            sent,
            frame.len() as isize,
            "{}",
            std::io::Error::last_os_error()
        );
    }
    // SAFETY: our own socket, closed once.
    unsafe { libc::close(fd) };
    // Then a packet that is fine: the capture is still going.
    let ours = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender
        .send_to(b"still here", ours.local_addr().unwrap())
        .unwrap();
    let mut lines = Vec::new();
    watch.wait_for(" UDP len 10", &mut lines);
    let (status, _, stderr) = watch.stop();
    assert!(status.success(), "{stderr}");
    assert_eq!(lines.len(), frames.len() + 1, "{lines:#?}");
    let wanted = [
        "EtherType 0x0800 len 0 [malformed: ",
        "0.0.0.0 > 0.0.0.0 IPv4 protocol 0 len 0 [truncated: the IPv4 header says 65535 bytes, 20 captured]",
        "EtherType 0x0800 len 20 [malformed: IPv4 Header Error: ",
        "127.0.0.1 > 127.0.0.1 IPv4 len 20 [malformed: TCP Header Error: ",
        ":: > :: IPv6 protocol 0 len 0 [truncated: the IPv6 header says 65575 bytes, 40 captured]",
    ];
    for (line, start) in lines.iter().zip(wanted) {
        assert!(
            line.starts_with(start),
            "{line:?} should start with {start:?}"
        );
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Hand-made pcap files at the edges of the format: a zero snaplen in the
/// header, a record of 0 bytes, a wire length of 0 and of 2^32-1, the
/// largest timestamps, nanoseconds past a second, the other byte order;
/// then a record that claims more than any capture keeps.
#[test]
fn pcap_files_at_the_edges_of_the_format() {
    let header = |magic: u32, snaplen: u32, link: u32| {
        let mut h = Vec::new();
        h.extend(magic.to_le_bytes());
        h.extend(2u16.to_le_bytes());
        h.extend(4u16.to_le_bytes());
        h.extend([0; 8]);
        h.extend(snaplen.to_le_bytes());
        h.extend(link.to_le_bytes());
        h
    };
    let record = |data: &[u8], orig: u32, sec: u32, frac: u32| {
        let mut r = Vec::new();
        for word in [sec, frac, data.len() as u32, orig] {
            r.extend(word.to_le_bytes());
        }
        r.extend(data);
        r
    };
    let mut udp = vec![0u8; 12];
    udp.extend([0x08, 0x00, 0x45, 0, 0, 29, 0, 0, 0, 0, 64, 17, 0, 0]);
    udp.extend([
        127, 0, 0, 1, 127, 0, 0, 1, 0, 9, 0x1b, 0x58, 0, 9, 0, 0, b'x',
    ]);
    let run = |name: &str, bytes: Vec<u8>, extra: &[&str]| {
        let file = temp_path(name);
        std::fs::write(&file, bytes).unwrap();
        let out = Command::new(BIN)
            .arg("--read")
            .arg(&file)
            .args(extra)
            .output()
            .unwrap();
        let _ = std::fs::remove_file(file);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!stderr.contains("panicked"), "{stderr}");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr,
        )
    };
    let mut odd = header(0xa1b2_c3d4, 0, 1);
    odd.extend(record(&[], 0, 1, 0));
    odd.extend(record(&udp, 0, 1, 0));
    odd.extend(record(&udp, u32::MAX, u32::MAX, u32::MAX));
    let (code, stdout, stderr) = run("odd.pcap", odd.clone(), &[]);
    assert_eq!(code, Some(0), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        lines[0].starts_with("unknown len 0 [malformed: "),
        "{stdout}"
    );
    assert_eq!(lines[1], "127.0.0.1:9 > 127.0.0.1:7000 UDP len 1");
    assert_eq!(lines[2], lines[1]);
    let (code, stdout, _) = run("odd-layers.pcap", odd, &["--layers"]);
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("packet 1: 0 bytes, at 1.000000\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("packet 3: 43 bytes of 4294967295 on the wire, at 4294971589.967295\n"),
        "{stdout}"
    );

    // Nanoseconds: a fraction past one second is shown as it adds up.
    let mut nanos = header(0xa1b2_3c4d, 65535, 1);
    nanos.extend(record(&udp, 43, 1, u32::MAX));
    let (code, stdout, _) = run("nanos.pcap", nanos, &["--json"]);
    assert_eq!(code, Some(0));
    assert!(stdout.starts_with("{\"time\":5.294967,"), "{stdout}");

    // The writer's byte order was big-endian; raw IP, no link header.
    let mut be = Vec::new();
    for word in [0xa1b2_c3d4u32.to_be_bytes(), [0, 2, 0, 4], [0; 4], [0; 4]] {
        be.extend(word);
    }
    be.extend(65535u32.to_be_bytes());
    be.extend(101u32.to_be_bytes());
    for word in [1u32, 0, 29, 29] {
        be.extend(word.to_be_bytes());
    }
    be.extend(&udp[14..]);
    let (code, stdout, _) = run("be.pcap", be, &[]);
    assert_eq!(code, Some(0));
    assert_eq!(stdout, "127.0.0.1:9 > 127.0.0.1:7000 UDP len 1\n");

    // A record claiming 256 KiB + 1: refused without allocating, after the
    // packet before it; a header that says 4 GiB of snaplen is no excuse.
    let mut huge = header(0xa1b2_c3d4, u32::MAX, 1);
    huge.extend(record(&udp, 43, 1, 0));
    for word in [1u32, 0, 262_145, 262_145] {
        huge.extend(word.to_le_bytes());
    }
    let (code, stdout, stderr) = run("huge.pcap", huge, &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stdout, "127.0.0.1:9 > 127.0.0.1:7000 UDP len 1\n");
    assert!(
        stderr.contains(
            "is corrupt: packet 2 claims 262145 bytes, more than any capture keeps (262144)"
        ),
        "{stderr}"
    );

    // A link type nobody defined: refused, by number.
    let mut link = header(0xa1b2_c3d4, 65535, 0x0fff_ffff);
    link.extend(record(&udp, 43, 1, 0));
    let (code, _, stderr) = run("link.pcap", link, &[]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("link type 268435455 is not one packet-watch decodes"),
        "{stderr}"
    );
}

/// A flood of packets that pass the filter, faster than the capture can
/// print them: SIGINT still ends it within 2 s (Watch::stop checks), with
/// its summary.
#[test]
fn a_flood_holds_up_no_stop() {
    private_network();
    let target = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = target.local_addr().unwrap();
    let file = temp_path("flood.pcap");
    let args = [
        "--port",
        &to.port().to_string(),
        "--pcap",
        file.to_str().unwrap(),
    ];
    let watch = Watch::start(BIN, &args, "capturing on lo");
    let done = Arc::new(AtomicBool::new(false));
    let floods: Vec<_> = (0..2)
        .map(|_| flood(to, &[0; 100], Arc::clone(&done)))
        .collect();
    let mut lines = Vec::new();
    // Well under way: thousands of lines printed.
    while lines.len() < 5000 {
        match watch.stdout.recv_timeout(DEADLINE) {
            Ok(line) => lines.push(line),
            Err(_) => panic!("the flood is not seen: {} lines", lines.len()),
        }
    }
    let (status, _, stderr) = watch.stop();
    done.store(true, Ordering::Relaxed);
    for flood in floods {
        flood.join().unwrap();
    }
    assert!(status.success(), "{stderr}");
    // The file holds exactly the packets shown, the last block's too.
    let shown: usize = (stderr.split("captured ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {stderr}"));
    let mut reader = pcap::Reader::open(&file).unwrap();
    let mut saved = 0;
    while reader.next_record().unwrap().is_some() {
        saved += 1;
    }
    assert_eq!(saved, shown, "{stderr}");
    let _ = std::fs::remove_file(file);
}

/// `--count N --pcap FILE`: the file holds the N packets shown, although
/// the capture stopped inside a block of its ring.
#[test]
fn count_and_pcap_save_exactly_what_is_shown() {
    private_network();
    let target = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = target.local_addr().unwrap();
    let file = temp_path("count.pcap");
    let args = [
        "--port",
        &to.port().to_string(),
        "--count",
        "3",
        "--pcap",
        file.to_str().unwrap(),
    ];
    let mut watch = Watch::start(BIN, &args, "capturing on lo");
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..5u8 {
        sender.send_to(&[i; 10], to).unwrap();
    }
    let status = wait_deadline(&mut watch.child, DEADLINE);
    assert!(status.is_some_and(|s| s.success()), "{}", watch.stderr());
    let out = Command::new("tcpdump")
        .args(["-nr"])
        .arg(&file)
        .output()
        .unwrap();
    let lines = String::from_utf8_lossy(&out.stdout);
    assert_eq!(lines.lines().count(), 3, "{lines}");
    let _ = std::fs::remove_file(file);
}
