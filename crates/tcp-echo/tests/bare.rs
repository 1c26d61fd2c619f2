//! The bare file speaks the full lesson's protocol: the bare server with the
//! full client, and the full server with the bare client.

use test_support::{Server, run, stderr, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_tcp-echo");

/// `target/<profile>/examples/tcp-echo-bare`, which `cargo test -p tcp-echo`
/// builds along with the tests (cargo gives examples no env variable, and
/// `cargo test --test bare` alone does not build them: then this fails
/// rather than run a missing or stale binary).
fn bare() -> String {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/THIS");
    let path = profile.join("examples").join("tcp-echo-bare");
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/tcp-echo-bare.rs");
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let built = modified(&path);
    assert!(
        built.is_some() && built >= modified(source.as_ref()),
        "{} is missing or older than its source; `cargo test -p tcp-echo` \
         (or `cargo build -p tcp-echo --examples`) builds it",
        path.display()
    );
    path.to_string_lossy().into_owned()
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
