//! Real peers, none written here: curl and Python's urllib against our
//! server, our client against Python's http.server and against nginx (which
//! sends chunked bodies), and headless Chromium submitting the form. They
//! are installed by `.ci/run` (Debian: curl, nginx-light, chromium); a
//! missing one fails its test, it never skips.

mod support;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use support::{BIN, TempDir};
use test_support::{DEADLINE, Server, run, stderr, stdout};

fn our_server(extra: &[&str]) -> Server {
    let mut args = vec!["server", "--port", "0"];
    args.extend_from_slice(extra);
    Server::start(BIN, &args)
}

/// Runs a peer program (bounded by DEADLINE), failing clearly if missing.
fn peer(program: &str, args: &[&str]) -> Output {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{program} is not installed: .ci/run installs it (Debian package)"
    );
    run(program, args, b"")
}

/// curl with the flags every call here needs: no proxy from the
/// environment, bounded in time, silent but showing errors.
fn curl(args: &[&str]) -> Output {
    let mut all = vec!["--noproxy", "*", "--max-time", "10", "-sS"];
    all.extend_from_slice(args);
    peer("curl", &all)
}

fn code(out: &Output) -> String {
    stdout(out).lines().last().unwrap_or_default().to_string()
}

#[test]
fn curl_gets_heads_and_reuses_the_connection() {
    let server = our_server(&[]);
    let base = format!("http://{}", server.addr());
    let out = curl(&[&format!("{base}/hello.txt")]);
    assert_eq!(
        stdout(&out),
        "Hello from http-basics.\nThis file is served with Content-Type: text/plain.\n"
    );

    let out = curl(&["-I", &format!("{base}/")]);
    let head = stdout(&out);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Content-Type: text/html; charset=utf-8\r\n"));

    let out = curl(&[
        "-v",
        &format!("{base}/hello.txt"),
        &format!("{base}/style.css"),
    ]);
    assert!(
        stderr(&out).contains("Re-using existing connection"),
        "{}",
        stderr(&out)
    );
    server.wait_stderr("2 requests; closed by the client");
}

#[test]
fn curl_posts_forms_json_and_chunked_bodies() {
    let server = our_server(&[]);
    let echo = format!("http://{}/echo", server.addr());
    let out = curl(&["-d", "name=Ada", "--data-urlencode", "note=1+1 & 2", &echo]);
    assert_eq!(stdout(&out), "name: Ada\nnote: 1+1 & 2\n");
    let out = curl(&["--json", "{\"lang\": \"Rust\"}", &echo]);
    assert_eq!(stdout(&out), "{\"lang\": \"Rust\"}");
    let out = curl(&[
        "-H",
        "Transfer-Encoding: chunked",
        "-H",
        "Content-Type: text/plain",
        "--data-binary",
        "sent in chunks",
        &echo,
    ]);
    assert_eq!(stdout(&out), "sent in chunks");
    server.wait_stderr("\"POST /echo HTTP/1.1\" 200 14");
}

#[test]
fn curl_sees_every_error_status() {
    let (root, _outside) = traversal_site();
    let server = our_server(&[
        "--root",
        root.str(),
        "--max-body",
        "1000",
        "--max-header",
        "2048",
    ]);
    let base = format!("http://{}", server.addr());
    let status = |args: &[&str]| {
        let mut all = vec!["-o", "/dev/null", "-w", "%{http_code}\n"];
        all.extend_from_slice(args);
        code(&curl(&all))
    };
    assert_eq!(status(&[&format!("{base}/missing")]), "404");
    assert_eq!(
        status(&["-X", "DELETE", &format!("{base}/index.html")]),
        "405"
    );
    let big = "x".repeat(5000);
    assert_eq!(
        status(&["--data-binary", &big, &format!("{base}/echo")]),
        "413"
    );
    let long = format!("X-Long: {}", "y".repeat(3000));
    assert_eq!(status(&["-H", &long, &format!("{base}/")]), "431");
    // --path-as-is: curl sends the dots as they are instead of resolving them.
    let out = curl(&[
        "--path-as-is",
        "-w",
        "\n%{http_code}\n",
        &format!("{base}/../outside/secret.txt"),
    ]);
    assert_eq!(code(&out), "403");
    assert!(!stdout(&out).contains("TOP SECRET"));
    let out = curl(&[
        "--path-as-is",
        "-w",
        "\n%{http_code}\n",
        &format!("{base}/%2e%2e/outside/secret.txt"),
    ]);
    assert_eq!(code(&out), "403");
    let out = curl(&["-w", "\n%{http_code}\n", &format!("{base}/link-out.txt")]);
    assert_eq!(code(&out), "403");
    assert!(!stdout(&out).contains("TOP SECRET"));
}

/// A root with a secret beside it (`../outside/secret.txt`) and a symlink
/// pointing at it from inside.
fn traversal_site() -> (TempDir, TempDir) {
    let top = TempDir::new("traversal");
    let root = TempDir(top.path().join("root"));
    std::fs::create_dir(root.path()).unwrap();
    std::fs::create_dir(top.path().join("outside")).unwrap();
    std::fs::write(top.path().join("outside/secret.txt"), "TOP SECRET\n").unwrap();
    std::fs::write(root.path().join("index.html"), "home\n").unwrap();
    std::os::unix::fs::symlink(
        top.path().join("outside/secret.txt"),
        root.path().join("link-out.txt"),
    )
    .unwrap();
    (root, top)
}

const URLLIB: &str = r#"
import sys, urllib.parse, urllib.request
# No proxy from the environment: the request must go to our server.
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
base = sys.argv[1]
with opener.open(base + "/hello.txt", timeout=10) as r:
    print(r.status, r.headers["Content-Type"])
    print(r.read().decode(), end="")
data = urllib.parse.urlencode({"name": "Guido", "lang": "Python"}).encode()
with opener.open(base + "/echo", data=data, timeout=10) as r:
    print(r.status, r.read().decode(), end="")
"#;

#[test]
fn python_urllib_gets_and_posts() {
    let server = our_server(&[]);
    let out = peer(
        "python3",
        &["-c", URLLIB, &format!("http://{}", server.addr())],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "200 text/plain; charset=utf-8\nHello from http-basics.\nThis file is served with Content-Type: text/plain.\n\
         200 name: Guido\nlang: Python\n"
    );
}

/// A child process killed (by its PID) when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn our_client_against_python_http_server() {
    let dir = TempDir::new("pyserver");
    std::fs::write(dir.path().join("a.txt"), "file a\n").unwrap();
    std::fs::write(dir.path().join("b.txt"), "file b\n").unwrap();
    let mut child = Command::new("python3")
        .args([
            "-u",
            "-m",
            "http.server",
            "0",
            "--bind",
            "127.0.0.1",
            "--directory",
            dir.str(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 -m http.server starts");
    let stdout = child.stdout.take().unwrap();
    let guard = Guard(child);
    // "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(DEADLINE)
        .expect("http.server prints its port");
    let port = line
        .split(" port ")
        .nth(1)
        .and_then(|p| p.split(' ').next())
        .expect("a port in the line");
    let base = format!("http://127.0.0.1:{port}");
    let out = run(
        BIN,
        &[
            "get",
            "--trace",
            &format!("{base}/a.txt"),
            &format!("{base}/b.txt"),
        ],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(test_support::stdout(&out), "file a\nfile b\n");
    // http.server answers HTTP/1.0 and closes: no reuse, two connections.
    let trace = stderr(&out);
    assert!(trace.contains("trace: < HTTP/1.0 200 OK\\r\\n"), "{trace}");
    assert_eq!(trace.matches("trace: connect(").count(), 2);
    let out = run(BIN, &["get", &format!("{base}/missing")], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "error: HTTP 404 File not found\n");
    drop(guard);
}

/// nginx in the foreground (`daemon off`, one process: `master_process
/// off`, so killing its PID stops all of it), on a port found by binding
/// port 0 and closing it; nginx cannot take port 0, so a port another test
/// grabs in between makes nginx exit, and we try again with a new one.
struct Nginx {
    guard: Guard,
    addr: SocketAddr,
    _dir: TempDir,
}

fn nginx(www: &std::path::Path) -> Nginx {
    let found = Command::new("sh")
        .args(["-c", "command -v nginx"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "nginx is not installed: .ci/run installs it (Debian: nginx-light)"
    );
    for attempt in 1..=5 {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = TempDir::new("nginx");
        let d = dir.str();
        // SSI makes nginx assemble the page as it sends it: it cannot know
        // the length up front, so an HTTP/1.1 response goes out chunked.
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\nuser root;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log;\nevents {{ worker_connections 64; }}\nhttp {{\n\
             access_log off;\nclient_body_temp_path {d}/body;\nproxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fastcgi;\nuwsgi_temp_path {d}/uwsgi;\nscgi_temp_path {d}/scgi;\n\
             server {{\nlisten 127.0.0.1:{port};\nroot {};\nlocation / {{ ssi on; }}\n}}\n}}\n",
            www.display()
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let child = Command::new("nginx")
            .args([
                "-e",
                &format!("{d}/error.log"),
                "-c",
                &format!("{d}/nginx.conf"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting nginx");
        let mut guard = Guard(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        // Ready when it accepts a connection; gone if it exited (the port
        // was taken, or the configuration is wrong: its error log says).
        while started.elapsed() < DEADLINE {
            if let Ok(Some(_)) = guard.0.try_wait() {
                break;
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Nginx {
                    guard,
                    addr,
                    _dir: dir,
                };
            }
            thread::sleep(Duration::from_millis(20)); // polling readiness, bounded by DEADLINE
        }
        let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
        assert!(
            log.contains("Address already in use"),
            "nginx did not start (attempt {attempt}): {log}"
        );
    }
    panic!("nginx found no free port in 5 attempts");
}

#[test]
fn our_client_reads_nginx_chunked_responses_on_one_connection() {
    let www = TempDir::new("nginx-www");
    std::fs::write(www.path().join("part.txt"), "part from SSI\n").unwrap();
    std::fs::write(
        www.path().join("page.html"),
        "before\n<!--# include virtual=\"/part.txt\" -->after\n",
    )
    .unwrap();
    // A larger page: many chunks, many reads.
    let big: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(www.path().join("big.txt"), &big).unwrap();
    std::fs::write(
        www.path().join("big.html"),
        "<!--# include virtual=\"/big.txt\" -->",
    )
    .unwrap();
    let nginx = nginx(www.path());
    let base = format!("http://{}", nginx.addr);
    let out = run(
        BIN,
        &[
            "get",
            "--trace",
            &format!("{base}/page.html"),
            &format!("{base}/big.html"),
            &format!("{base}/part.txt"),
        ],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("before\npart from SSI\nafter\n{big}part from SSI\n")
    );
    let trace = stderr(&out);
    assert!(trace.contains("trace: < Server: nginx"), "{trace}");
    assert!(trace.contains("trace: < Transfer-Encoding: chunked\\r\\n"));
    assert!(trace.contains("trace: body framing: Transfer-Encoding: chunked"));
    assert!(trace.contains("trace: chunk: size line \"0\" = 0 bytes"));
    assert!(trace.contains("trace: body framing: Content-Length: the next 14 bytes"));
    assert_eq!(trace.matches("trace: connect(").count(), 1, "{trace}");
    drop(nginx.guard);
}

#[test]
fn headless_chromium_submits_the_form_and_sees_the_echo() {
    let server = our_server(&[]);
    let shot = TempDir::new("shot");
    let png = shot.path().join("echo.png");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser.py");
    let found = Command::new("sh")
        .args(["-c", "command -v chromium"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "chromium is not installed: .ci/run installs it (Debian: chromium)"
    );
    // A browser may take a while to start on a busy machine: 60 s at most
    // (browser.py bounds itself at 50 s), not test_support's 10 s.
    let out = Command::new("timeout")
        .args([
            "-s",
            "KILL",
            "60",
            "python3",
            script,
            &format!("http://{}/", server.addr()),
            png.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .output()
        .expect("running browser.py");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "http://{}/echo\nname\tAda Lovelace\nlang\tRust\nnote\t1 + 1 = 2 & more\n",
            server.addr()
        )
    );
    let image = std::fs::read(&png).expect("the screenshot was written");
    assert!(image.starts_with(b"\x89PNG\r\n\x1a\n") && image.len() > 1000);
    // The browser really POSTed the form, as a form.
    server.wait_stderr("\"POST /echo HTTP/1.1\" 200");
}
