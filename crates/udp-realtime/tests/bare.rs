//! The bare file (examples/udp-realtime-bare.rs) speaks the lesson's wire
//! format: the bare server (receiver) plays the full sender's stream, and
//! the full receiver plays the bare client's (sender's).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use test_support::{Server, run, stderr};

const BIN: &str = env!("CARGO_BIN_EXE_udp-realtime");

/// The bare example's binary. Cargo builds examples for `cargo test`, but
/// not for `cargo test --test bare`, so build it here (a no-op when it is
/// fresh) and take its path from cargo's own report.
fn bare() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        let mut child = Command::new(env!("CARGO"))
            .args([
                "build",
                "-q",
                "-p",
                "udp-realtime",
                "--example",
                "udp-realtime-bare",
            ])
            .args(["--message-format", "json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("running cargo build --example udp-realtime-bare");
        let mut json = String::new();
        let mut out = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            std::io::Read::read_to_string(&mut out, &mut json).map(|_| json)
        });
        let started = Instant::now();
        // A cold build on a busy machine can take a while; never forever.
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for cargo") {
                break status;
            }
            if started.elapsed() > Duration::from_secs(300) {
                let _ = child.kill();
                panic!("cargo build --example udp-realtime-bare took over 300 s");
            }
            // Polling a child's exit: std has no wait with a timeout.
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "cargo build --example failed: {status}");
        let json = reader.join().unwrap().unwrap();
        let path = json
            .lines()
            .filter(|line| line.contains(r#""reason":"compiler-artifact""#))
            .find_map(|line| {
                let rest = line.split(r#""executable":""#).nth(1)?;
                Some(PathBuf::from(rest.split('"').next()?))
            })
            .expect("cargo reported the example's executable");
        path.to_string_lossy().into_owned()
    })
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
