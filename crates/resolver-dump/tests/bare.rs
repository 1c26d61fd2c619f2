//! The bare file asks the same question and gets the same answer: its
//! output against the full lesson's `--json`, result by result, in order.

use serde_json::Value;
use test_support::{run, stderr, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_resolver-dump");

/// The bare file's binary (built first if needed).
fn bare() -> String {
    test_support::example(env!("CARGO"), "resolver-dump", "resolver-dump-bare")
}

/// The full lesson's JSON result as the bare file prints it (the book's
/// Python tuple).
fn as_tuple(result: &Value) -> String {
    let address = result["address"].as_str().expect("address");
    let port = &result["port"];
    let sockaddr = if result["family"] == "AF_INET6" {
        format!("('{address}', {port}, 0, 0)")
    } else {
        format!("('{address}', {port})")
    };
    format!(
        "({}, {}, {}, '', {sockaddr})",
        result["family"].as_str().expect("family"),
        result["socktype"].as_str().expect("socktype"),
        result["protocol"]
    )
}

#[test]
fn the_bare_file_prints_what_the_full_lesson_finds() {
    let hostname = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let hostname = hostname.trim();
    let mut questions = vec![
        vec!["localhost", "smtp"],
        vec!["127.0.0.1", "53"],
        vec!["::1", "http"],
        vec!["localhost"],
        vec!["::ffff:127.0.0.1", "25"],
    ];
    if !hostname.is_empty() {
        questions.push(vec![hostname, "domain"]);
    }
    let mut compared = 0;
    for question in &questions {
        let bare_out = run(&bare(), question, b"");
        assert!(
            bare_out.status.success(),
            "{question:?}: {}",
            stderr(&bare_out)
        );
        let mut json_args = vec!["--json"];
        json_args.extend(question);
        let full = run(BIN, &json_args, b"");
        assert!(full.status.success(), "{question:?}: {}", stderr(&full));
        let results: Value = serde_json::from_slice(&full.stdout).expect("JSON");
        let expected: Vec<String> = results
            .as_array()
            .expect("an array")
            .iter()
            .map(as_tuple)
            .collect();
        let got: Vec<String> = stdout(&bare_out).lines().map(String::from).collect();
        assert!(!got.is_empty(), "{question:?}: no results");
        assert_eq!(got, expected, "{question:?}");
        compared += got.len();
    }
    assert!(compared >= 10, "only {compared} results compared");
}

#[test]
fn both_fail_with_getaddrinfos_own_words() {
    for question in [
        &["nosuch.invalid", "http"][..],
        &["localhost", "nosuchservice"],
    ] {
        let bare_out = run(&bare(), question, b"");
        let full = run(BIN, question, b"");
        assert_eq!(bare_out.status.code(), Some(1), "{question:?}");
        assert_eq!(full.status.code(), Some(1), "{question:?}");
        let words = stderr(&bare_out)
            .strip_prefix("error: ")
            .expect("an error: line")
            .trim_end()
            .to_string();
        assert!(
            stderr(&full).contains(&format!("): {words} (EAI_")),
            "{question:?}: bare said {words:?}; full: {}",
            stderr(&full)
        );
    }
}

#[test]
fn the_bare_file_is_at_most_80_lines() {
    let lines = include_str!("../examples/resolver-dump-bare.rs")
        .lines()
        .count();
    assert!(lines <= 80, "resolver-dump-bare.rs has {lines} lines");
}
