//! The bare file speaks the full lesson's protocol: the bare server with the
//! full client, and the full server with the bare client.

mod support;

use support::BIN;
use test_support::{Server, run, stderr, stdout};

/// `target/<profile>/examples/http-basics-bare`, which `cargo test -p
/// http-basics` builds along with the tests (cargo gives examples no env
/// variable, and `cargo test --test bare` alone does not build them: then
/// this fails rather than run a missing or stale binary).
fn bare() -> String {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/THIS");
    let path = profile.join("examples").join("http-basics-bare");
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/http-basics-bare.rs");
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let built = modified(&path);
    assert!(
        built.is_some() && built >= modified(source.as_ref()),
        "{} is missing or older than its source; `cargo test -p http-basics` \
         (or `cargo build -p http-basics --examples`) builds it",
        path.display()
    );
    path.to_string_lossy().into_owned()
}

#[test]
fn the_full_client_reads_the_bare_server() {
    let server = Server::start(&bare(), &["server", "--port", "0"]);
    let root = format!("http://{}/", server.addr());
    let out = run(BIN, &["get", "--trace", &root], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Hello from the bare server.\n");
    assert!(stderr(&out).contains("trace: < Connection: close\\r\\n"));
    let out = run(BIN, &["get", &format!("http://{}/x", server.addr())], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "error: HTTP 404 Not Found\n");
}

#[test]
fn the_bare_client_reads_the_full_server() {
    let server = Server::start(BIN, &["server", "--port", "0"]);
    let port = server.addr().port().to_string();
    let out = run(
        &bare(),
        &["client", "--port", &port, "/hello.txt", "/missing"],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "Hello from http-basics.\nThis file is served with Content-Type: text/plain.\n\
         404 Not Found: no such page\n"
    );
    assert_eq!(
        stderr(&out),
        "/hello.txt: HTTP/1.1 200 OK\n/missing: HTTP/1.1 404 Not Found\n"
    );
    server.wait_stderr("\"GET /missing HTTP/1.1\" 404");
}

#[test]
fn the_bare_file_is_at_most_80_lines() {
    let source = include_str!("../examples/http-basics-bare.rs");
    let lines = source.lines().count();
    assert!(lines <= 80, "http-basics-bare.rs has {lines} lines");
}
