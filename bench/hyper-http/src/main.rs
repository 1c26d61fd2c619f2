//! Baseline for `make bench`: the HTTP server a Rust user would write with
//! hyper 1.x (the library behind axum and reqwest) on tokio's
//! multi-threaded runtime, one task per connection, keep-alive on.
//!
//! Usage: `hyper-http --root DIR [--port 0] [--memory]`. GET /NAME answers
//! with the file DIR/NAME, read per request as the lesson server does
//! (std::fs: a small cached file reads in microseconds, less than a
//! tokio::fs round trip through the blocking pool); with `--memory` every
//! file is read once at start and served from memory, the fastest a
//! server can answer. Names with `/` or `..` are 404. The first stdout
//! line is `listening on ADDR`. Runs until killed (the bench kills it).

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

struct Site {
    root: PathBuf,
    memory: Option<HashMap<String, Bytes>>,
}

fn parse_args() -> Result<(u16, PathBuf, bool), String> {
    let (mut port, mut root, mut memory) = (0u16, None, false);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--memory" => memory = true,
            "--port" | "--root" => {
                let value = args.next().ok_or(format!("{flag} needs a value"))?;
                if flag == "--port" {
                    port = value.parse().map_err(|e| format!("--port {value}: {e}"))?;
                } else {
                    root = Some(PathBuf::from(value));
                }
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok((port, root.ok_or("--root DIR is required")?, memory))
}

fn respond(site: &Site, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let name = req.uri().path().trim_start_matches('/');
    let found = if name.is_empty() || name.contains('/') || name.contains("..") {
        None
    } else if let Some(files) = &site.memory {
        files.get(name).cloned()
    } else {
        std::fs::read(site.root.join(name)).ok().map(Bytes::from)
    };
    match found {
        Some(body) => Response::new(Full::new(body)),
        None => {
            let mut not_found = Response::new(Full::new(Bytes::from_static(b"not found\n")));
            *not_found.status_mut() = StatusCode::NOT_FOUND;
            not_found
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let (port, root, memory) = match parse_args() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}\nusage: hyper-http --root DIR [--port P] [--memory]");
            return std::process::ExitCode::from(2);
        }
    };
    let memory = memory.then(|| {
        let mut files = HashMap::new();
        for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            if let (Ok(name), Ok(bytes)) =
                (entry.file_name().into_string(), std::fs::read(entry.path()))
            {
                files.insert(name, Bytes::from(bytes));
            }
        }
        files
    });
    let site = Arc::new(Site { root, memory });
    let listener = match TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: binding 127.0.0.1:{port}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let Ok(local) = listener.local_addr() else {
        return std::process::ExitCode::FAILURE;
    };
    let mut out = std::io::stdout().lock();
    if writeln!(out, "listening on {local}")
        .and_then(|()| out.flush())
        .is_err()
    {
        return std::process::ExitCode::FAILURE;
    }
    drop(out);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue; // EMFILE and friends: the bench never gets there
        };
        let _ = stream.set_nodelay(true);
        let site = Arc::clone(&site);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let site = Arc::clone(&site);
                async move { Ok::<_, Infallible>(respond(&site, &req)) }
            });
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
