//! The resolver with files only this test sees: a private mount namespace
//! (`unshare -m`) with temporary files bind-mounted over /etc/hosts and
//! /etc/nsswitch.conf (`hosts: files`, so no DNS server is asked and every
//! answer is the same on every machine). Names nobody would choose are
//! shown escaped, never panicked on, never printed raw to a terminal; and
//! a name that is missing gets the hint of the call that missed it. Needs
//! root, as CI has; without it these tests fail.

use std::process::Output;

use serde_json::Value;
use test_support::{run, stderr, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_resolver-dump");

/// The private hosts file: an address per odd name, and a plain alias to
/// look each one up by (an argument cannot carry invalid UTF-8 through
/// clap, and should not have to).
const HOSTS: &[u8] = b"127.0.0.77 setup-check.test\n\
127.0.1.1 caf\xe9 latin1-alias\n\
127.0.1.2 evil\x1b]0;pwned\x07\x1b[31mred esc-alias\n\
127.0.1.3 abc\xe2\x80\xaedef bidi-alias\n\
127.0.1.4 c1\xc2\x9b31m c1-alias\n\
127.0.1.5 back\\slash backslash-alias\n";

/// A temporary file, removed when dropped.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn temp_file(contents: &[u8]) -> TempFile {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let path = std::env::temp_dir().join(format!("odd-hosts-{}-{n}", std::process::id()));
    std::fs::write(&path, contents).expect("writing the temporary hosts file");
    TempFile(path)
}

/// Name lookups from files only: no DNS, no mDNS.
const NSSWITCH: &[u8] = b"hosts: files\nservices: files\nprotocols: files\n";

/// Runs resolver-dump ARGS with `hosts` as its /etc/hosts and a
/// files-only /etc/nsswitch.conf.
fn with_hosts(hosts: &[u8], args: &[&str]) -> Output {
    let (hosts, nsswitch) = (temp_file(hosts), temp_file(NSSWITCH));
    let utf8 = |file: &TempFile| file.0.to_str().expect("a UTF-8 temp path").to_string();
    let (hosts, nsswitch) = (utf8(&hosts), utf8(&nsswitch));
    // exit 97: the namespace or the mounts could not be set up.
    let script = r#"mount --bind "$0" /etc/hosts && mount --bind "$1" /etc/nsswitch.conf || exit 97
shift; exec "$@""#;
    let mut argv = vec!["-m", "--", "sh", "-c", script, &hosts, &nsswitch, BIN];
    argv.extend_from_slice(args);
    let out = run("unshare", &argv, b"");
    assert_ne!(
        out.status.code(),
        Some(97),
        "cannot bind-mount a private /etc/hosts (these tests need root): {}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("unshare:"),
        "unshare -m failed (these tests need root): {}",
        stderr(&out)
    );
    out
}

/// Nothing a terminal would act on: no C0 control but newline, no DEL, no
/// C1 control, no bidi override; and no panic.
fn assert_terminal_safe(out: &Output) {
    for (name, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let text = String::from_utf8(bytes.clone())
            .unwrap_or_else(|e| panic!("{name} is not UTF-8 (a raw byte leaked): {e}"));
        let bad: Vec<char> = text
            .chars()
            .filter(|&c| (c.is_control() && c != '\n') || c == '\u{202e}')
            .collect();
        assert!(bad.is_empty(), "{name} has raw {bad:?}: {text}");
        assert!(!text.contains("panicked"), "{name}: {text}");
    }
}

#[test]
fn the_private_hosts_file_is_the_one_in_use() {
    let out = with_hosts(
        HOSTS,
        &["--json", "--socktype", "stream", "setup-check.test"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let results: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(results[0]["address"], "127.0.0.77");
}

#[test]
fn a_canonical_name_that_is_not_utf8_is_shown_escaped() {
    let out = with_hosts(
        HOSTS,
        &["--canonname", "--socktype", "stream", "latin1-alias"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_terminal_safe(&out);
    assert!(
        stdout(&out).contains("127.0.1.1  0     caf\\xe9\n"),
        "{}",
        stdout(&out)
    );
    let out = with_hosts(
        HOSTS,
        &[
            "--json",
            "--canonname",
            "--socktype",
            "stream",
            "latin1-alias",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let results: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(results[0]["canonname"], "caf\\xe9");
}

#[test]
fn reverse_lookups_of_odd_names_succeed_and_escape_them() {
    for (address, shown) in [
        ("127.0.1.1", "caf\\xe9"),
        ("127.0.1.2", "evil\\x1b]0;pwned\\x07\\x1b[31mred"),
        ("127.0.1.3", "abc\\u{202e}def"),
        ("127.0.1.4", "c1\\u{9b}31m"),
        ("127.0.1.5", "back\\\\slash"),
    ] {
        let out = with_hosts(HOSTS, &["--trace", "--reverse", address]);
        assert_eq!(out.status.code(), Some(0), "{address}: {}", stderr(&out));
        assert_terminal_safe(&out);
        assert_eq!(stdout(&out), format!("host:    {shown}\nservice: 0\n"));
        assert!(
            stderr(&out).contains(&format!("-> (\"{shown}\", \"0\")")),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn json_carries_odd_names_exactly_with_nothing_raw() {
    for (alias, address, name) in [
        (
            "esc-alias",
            "127.0.1.2",
            "evil\u{1b}]0;pwned\u{7}\u{1b}[31mred",
        ),
        ("bidi-alias", "127.0.1.3", "abc\u{202e}def"),
        ("c1-alias", "127.0.1.4", "c1\u{9b}31m"),
        ("backslash-alias", "127.0.1.5", "back\\slash"),
    ] {
        let out = with_hosts(
            HOSTS,
            &["--json", "--canonname", "--socktype", "stream", alias],
        );
        assert_eq!(out.status.code(), Some(0), "{alias}: {}", stderr(&out));
        assert_terminal_safe(&out);
        let results: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(results[0]["canonname"], name, "{alias}");
        let out = with_hosts(HOSTS, &["--json", "--reverse", address]);
        assert_eq!(out.status.code(), Some(0), "{address}: {}", stderr(&out));
        assert_terminal_safe(&out);
        let answer: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(answer["host"], name, "{address}");
    }
}

#[test]
fn a_name_too_long_for_getnameinfo_is_its_own_error_with_a_hint() {
    let mut hosts = b"127.0.1.6 ".to_vec();
    hosts.extend(std::iter::repeat_n(b'x', 2000));
    hosts.extend(b" long-alias\n");
    let out = with_hosts(&hosts, &["--reverse", "127.0.1.6"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_terminal_safe(&out);
    let err = stderr(&out);
    assert!(
        err.starts_with(
            "error: getnameinfo(127.0.1.6:0, 0): Argument buffer overflow (EAI_OVERFLOW)\n"
        ),
        "{err}"
    );
    assert!(
        err.contains("hint: the name is longer than NI_MAXHOST"),
        "{err}"
    );
    // Forwards, the same name is no problem: getaddrinfo allocates it.
    let out = with_hosts(
        &hosts,
        &["--canonname", "--socktype", "stream", "long-alias"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains(&"x".repeat(2000)), "{}", stdout(&out));
}

#[test]
fn a_failed_getnameinfo_gets_a_getnameinfo_hint() {
    // 192.0.2.1 (TEST-NET-1) is in no hosts file, and there is no DNS here.
    let out = with_hosts(
        HOSTS,
        &[
            "--reverse",
            "192.0.2.1",
            "--name-required",
            "--numeric-serv",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with(
            "error: getnameinfo(192.0.2.1:0, NI_NUMERICSERV|NI_NAMEREQD): \
             Name or service not known (EAI_NONAME)\n"
        ),
        "{err}"
    );
    assert!(
        err.contains("hint: --name-required (NI_NAMEREQD): this address has no name"),
        "{err}"
    );
    assert!(!err.contains("getaddrinfo"), "{err}");
    // Without --name-required the same address comes back as a number.
    let out = with_hosts(HOSTS, &["--reverse", "192.0.2.1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "host:    192.0.2.1\nservice: 0\n");
}

#[test]
fn a_name_that_is_nowhere_gets_the_lookup_hint() {
    let out = with_hosts(HOSTS, &["nosuch.test", "http"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("Name or service not known (EAI_NONAME)"),
        "{err}"
    );
    assert!(
        err.contains("hint: the name does not resolve here"),
        "{err}"
    );
}
