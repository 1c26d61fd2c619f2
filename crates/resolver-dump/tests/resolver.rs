//! Integration tests: compare resolver-dump with an independent
//! implementation, Python's socket.getaddrinfo / getnameinfo (the book's
//! own tool), over a matrix of hosts, services, families, types and flags.
//! No DNS is needed: everything resolves from /etc/hosts, /etc/services
//! and numeric addresses.

use std::net::TcpListener;
use std::process::Command;

use serde_json::Value;
use test_support::{run, stderr, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_resolver-dump");

/// Python's answers to a list of questions, as JSON in our format: for
/// each, a list of result objects, or {"error": gai_strerror text}. One
/// python3 process answers them all: starting it costs more than asking.
const PYTHON: &str = r#"
import json, socket, sys
F = {"any": 0, "inet": socket.AF_INET, "inet6": socket.AF_INET6}
T = {"any": 0, "stream": socket.SOCK_STREAM, "dgram": socket.SOCK_DGRAM, "raw": socket.SOCK_RAW}
answers = []
for host, service, family, socktype, flags in json.load(sys.stdin):
    bits = 0
    for flag in flags:
        bits |= getattr(socket, "AI_" + flag.upper().replace("-", ""))
    try:
        results = socket.getaddrinfo(host, service, F[family], T[socktype], 0, bits)
    except socket.gaierror as e:
        answers.append({"error": e.strerror}); continue
    answers.append([{"family": fam.name, "socktype": typ.name, "protocol": proto,
                     "canonname": canon or None, "address": addr[0], "port": addr[1]}
                    for fam, typ, proto, canon, addr in results])
print(json.dumps(answers))
"#;

type Question<'a> = (
    Option<&'a str>,
    Option<&'a str>,
    &'a str,
    &'a str,
    &'a [&'a str],
);

fn python(questions: &[Question]) -> Vec<Value> {
    let out = run(
        "python3",
        &["-c", PYTHON],
        serde_json::json!(questions).to_string().as_bytes(),
    );
    assert!(out.status.success(), "python3 failed: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("python printed JSON")
}

fn ours(
    host: Option<&str>,
    service: Option<&str>,
    family: &str,
    socktype: &str,
    flags: &[&str],
) -> Value {
    let mut args = vec!["--json", "--family", family, "--socktype", socktype];
    let flag_args: Vec<String> = flags.iter().map(|f| format!("--{f}")).collect();
    args.extend(flag_args.iter().map(String::as_str));
    match (host, service) {
        (Some(host), Some(service)) => args.extend([host, service]),
        (Some(host), None) => args.push(host),
        (None, Some(service)) => args.extend(["--service", service]),
        (None, None) => unreachable!(),
    }
    let out = run(BIN, &args, b"");
    if out.status.success() {
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("bad JSON {e}: {}", stdout(&out)))
    } else {
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        // The error line carries getaddrinfo's own message; extract it.
        let line = stderr(&out).lines().next().unwrap().to_string();
        let message = line.rsplit_once("}): ").map(|(_, m)| m).unwrap_or(&line);
        let message = message.rsplit_once(" (EAI_").map_or(message, |(m, _)| m);
        serde_json::json!({ "error": message })
    }
}

#[test]
fn results_match_pythons_getaddrinfo_for_a_matrix_of_questions() {
    let hostname = std::fs::read_to_string("/etc/hostname")
        .unwrap_or_default()
        .trim()
        .to_string();
    let mut hosts = vec![Some("localhost"), Some("127.0.0.1"), Some("::1"), None];
    if !hostname.is_empty() {
        hosts.push(Some(hostname.as_str()));
    }
    let services = [Some("25"), Some("smtp"), Some("http"), Some("domain"), None];
    let flag_sets: [&[&str]; 6] = [
        &[],
        &["passive"],
        &["canonname"],
        &["addrconfig", "v4mapped"],
        &["v4mapped", "all"],
        &["numeric-host"],
    ];
    let mut questions: Vec<Question> = Vec::new();
    for host in &hosts {
        for service in services {
            if host.is_none() && service.is_none() {
                continue; // getaddrinfo needs one of the two
            }
            for family in ["any", "inet", "inet6"] {
                for socktype in ["any", "stream", "dgram"] {
                    for flags in flag_sets {
                        questions.push((*host, service, family, socktype, flags));
                    }
                }
            }
        }
    }
    let expected = python(&questions);
    assert_eq!(expected.len(), questions.len());
    let mut compared = 0;
    for ((host, service, family, socktype, flags), expected) in questions.iter().zip(&expected) {
        let got = ours(*host, *service, family, socktype, flags);
        assert_eq!(
            &got, expected,
            "host {host:?} service {service:?} {family} {socktype} {flags:?}"
        );
        compared += 1;
    }
    assert!(compared >= 300, "only {compared} questions compared");
}

#[test]
fn socktype_any_returns_each_address_once_per_type_in_order() {
    let got = ours(Some("127.0.0.1"), Some("53"), "any", "any", &[]);
    let types: Vec<&str> = got
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["socktype"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW"]);
}

#[test]
fn the_table_shows_numbers_and_names() {
    let out = run(BIN, &["127.0.0.1", "smtp"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("getaddrinfo(\"127.0.0.1\", \"smtp\", {ai_family=AF_UNSPEC"),
        "{text}"
    );
    assert!(
        text.contains("AF_INET (2)  SOCK_STREAM (1)  IPPROTO_TCP (6)  127.0.0.1  25"),
        "{text}"
    );
}

#[test]
fn reverse_lookups_match_pythons_getnameinfo() {
    for (addr, port, flags, py_flags) in [
        ("127.0.0.1", "25", vec![], "0"),
        ("127.0.0.1", "53", vec!["--dgram"], "socket.NI_DGRAM"),
        (
            "127.0.0.1",
            "80",
            vec!["--numeric-host", "--numeric-serv"],
            "socket.NI_NUMERICHOST|socket.NI_NUMERICSERV",
        ),
        (
            "::1",
            "443",
            vec!["--numeric-serv"],
            "socket.NI_NUMERICSERV",
        ),
    ] {
        let script = format!(
            "import socket,json; h,s=socket.getnameinfo(({addr:?},{port}),{py_flags}); print(json.dumps({{'host':h,'service':s}}))"
        );
        let expected: Value = serde_json::from_slice(
            &Command::new("python3")
                .args(["-c", &script])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let mut args = vec!["--json", "--reverse", addr, port];
        args.extend(flags);
        let out = run(BIN, &args, b"");
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let got: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(got, expected, "{args:?}");
    }
}

#[test]
fn errors_exit_1_with_getaddrinfos_message_and_a_hint() {
    for (args, message, hint) in [
        // A name that is nowhere: tests/private_hosts.rs, where no DNS
        // server can answer differently from machine to machine.
        (
            &["--numeric-host", "localhost", "80"][..],
            "Name or service not known (EAI_NONAME)",
            "hint: --numeric-host (AI_NUMERICHOST) accepts only an IP address, and \"localhost\"",
        ),
        (
            &["localhost", "nosuchservice"],
            "Servname not supported for ai_socktype (EAI_SERVICE)",
            "hint: \"nosuchservice\" is not in /etc/services for that socket type",
        ),
        (
            &["--numeric-serv", "localhost", "smtp"],
            "(EAI_NONAME)",
            "hint: --numeric-serv (AI_NUMERICSERV) accepts only a port number, and \"smtp\"",
        ),
        (
            &["--family", "inet6", "--numeric-host", "127.0.0.1"],
            "Address family for hostname not supported (EAI_ADDRFAMILY)",
            "hint: the host has no address of the --family you asked for",
        ),
        (
            &["--protocol", "99", "localhost", "80"],
            "(EAI_SERVICE)",
            "hint: a port number needs a socket type that has ports",
        ),
        (
            &["--canonname", "--service", "80"],
            "Bad value for ai_flags (EAI_BADFLAGS)",
            "hint: --canonname (AI_CANONNAME) needs a host",
        ),
    ] {
        let out = run(BIN, args, b"");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert!(err.starts_with("error: getaddrinfo("), "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(err.contains(hint), "{args:?}: {err}");
    }
    let out = run(BIN, &["--reverse", "not-an-address"], b"");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn counts_say_1_result_and_2_results() {
    let out = run(
        BIN,
        &["--trace", "--socktype", "stream", "127.0.0.1", "80"],
        b"",
    );
    assert!(stdout(&out).ends_with("\n(1 result)\n"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("trace: -> 1 result\n"),
        "{}",
        stderr(&out)
    );
    let out = run(
        BIN,
        &[
            "--trace",
            "--socktype",
            "stream",
            "--passive",
            "--service",
            "80",
        ],
        b"",
    );
    assert!(
        stdout(&out).ends_with("\n(2 results)\n"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("trace: -> 2 results\n"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_option_values_are_usage_errors() {
    for args in [
        &["--family", "ipx", "localhost"][..],
        &["--socktype", "seqpacket", "localhost"],
        &[],
        &["--protocol", "tcp", "localhost"],
        &["--reverse", "127.0.0.1", "99999"],
        // --json promises one JSON array on stdout; --connect's report of
        // each try is text, which would break every JSON reader.
        &["--json", "--connect", "127.0.0.1", "80"],
    ] {
        let out = run(BIN, args, b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn connect_tries_each_stream_result_and_reports_the_one_that_worked() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    // ::1 first (nobody listens there), then 127.0.0.1 (our listener).
    let out = run(
        BIN,
        &[
            "--connect",
            "--socktype",
            "stream",
            "--v4mapped",
            "--all",
            "--family",
            "inet6",
            "localhost",
            &port,
        ],
        b"",
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(
        text.contains(&format!(
            "connect [::ffff:127.0.0.1]:{port}: connected; using this one"
        )),
        "{text}"
    );
    let out = run(BIN, &["--connect", "127.0.0.1", &port], b"");
    assert!(
        stdout(&out).contains(&format!("connect 127.0.0.1:{port}: connected")),
        "{}",
        stdout(&out)
    );
    drop(listener);
    let (_held, port) = test_support::refused_port();
    let port = port.to_string();
    let out = run(BIN, &["--connect", "127.0.0.1", &port], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("Connection refused"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("no address accepted a TCP connection"),
        "{}",
        stderr(&out)
    );
}

/// Runs resolver-dump with the given stdout and stderr, killed after the
/// deadline.
fn run_with(
    args: &[&str],
    out: std::process::Stdio,
    err: std::process::Stdio,
) -> std::process::Output {
    let child = Command::new(BIN)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("starting resolver-dump");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(test_support::DEADLINE) {
        Ok(output) => output.expect("collecting the output"),
        Err(_) => {
            // SAFETY: kill(2) on the child we spawned; its waiter has not reaped it.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!("resolver-dump {args:?} still running after the deadline");
        }
    }
}

/// A pipe whose reader is gone: writing to it fails with EPIPE.
fn closed_pipe() -> std::process::Stdio {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    writer.into()
}

#[test]
fn a_closed_stdout_is_an_error_and_a_closed_stderr_is_ignored() {
    use std::process::Stdio;
    for args in [
        &["localhost", "smtp"][..],
        &["--json", "127.0.0.1", "53"],
        &["--reverse", "127.0.0.1", "25"],
    ] {
        let out = run_with(args, closed_pipe(), Stdio::piped());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.starts_with("error: writing to stdout: Broken pipe"),
            "{args:?}: {err}"
        );
        // --trace narrates into a closed pipe: the answer still comes.
        let mut traced = vec!["--trace"];
        traced.extend_from_slice(args);
        let out = run_with(&traced, Stdio::piped(), closed_pipe());
        assert_eq!(out.status.code(), Some(0), "{traced:?}");
        assert!(!out.stdout.is_empty(), "{traced:?}");
    }
    // A failure whose error line cannot be written still exits 1, not 101.
    let out = run_with(&["nosuch.invalid"], Stdio::piped(), closed_pipe());
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn values_at_the_edges_of_the_command_line_do_not_panic() {
    let long = "a".repeat(10_000);
    for args in [
        &["--protocol", "2147483647", "localhost"][..],
        &["--protocol=-2147483648", "localhost"],
        &["--reverse", "127.0.0.1", "65535"],
        &["--reverse", "::ffff:127.0.0.1", "0"],
        &["", "0"],
        &["--service", ""],
        &[long.as_str()],
        &["\u{1b}[31mred", "\u{202e}"],
    ] {
        let out = run(BIN, args, b"");
        let code = out.status.code();
        assert!(
            matches!(code, Some(0 | 1)),
            "{:?}: {code:?} {}",
            &args[..1],
            stderr(&out)
        );
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(!all.contains("panicked"), "{all}");
        assert!(
            !all.contains('\u{1b}') && !all.contains('\u{202e}'),
            "raw: {all}"
        );
    }
}
