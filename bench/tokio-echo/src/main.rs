//! Baseline for `make bench`: the echo server a Rust user would pick instead
//! of a blocking design. Multi-threaded tokio runtime (one worker per CPU),
//! one task per connection, 64 KiB buffer, TCP_NODELAY like the lessons.
//!
//! Usage: `tokio-echo [--host 127.0.0.1] [--port 0] [--workers N]`; the first
//! stdout line is `listening on ADDR`. Runs until killed (the bench kills it).
//! `--workers 1` runs tokio's current-thread runtime: everything on one
//! thread, the like-for-like baseline for event-loop's `--loops 1`. Without
//! it, tokio's default: a multi-threaded runtime with one worker per CPU.

use std::io::Write;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

struct Args {
    host: String,
    port: u16,
    /// None: tokio's default multi-threaded runtime. Some(1): current-thread.
    workers: Option<usize>,
}

fn parse_args() -> Result<Args, String> {
    let (mut host, mut port, mut workers) = ("127.0.0.1".to_string(), 0u16, None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--host" => host = value,
            "--port" => port = value.parse().map_err(|e| format!("--port {value}: {e}"))?,
            "--workers" => match value.parse::<usize>() {
                Ok(n @ 1..=64) => workers = Some(n),
                _ => return Err(format!("--workers {value}: expected 1..=64")),
            },
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(Args {
        host,
        port,
        workers,
    })
}

fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}\nusage: tokio-echo [--host H] [--port P] [--workers N]");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = match args.workers {
        Some(1) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
        None => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    };
    match runtime {
        Ok(rt) => rt.block_on(serve(args.host, args.port)),
        Err(e) => {
            eprintln!("error: starting the tokio runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(host: String, port: u16) -> std::process::ExitCode {
    let listener = match TcpListener::bind((host.as_str(), port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: binding {host}:{port}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let local = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: reading the listener's address: {e}");
            return std::process::ExitCode::FAILURE;
        }
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
        let (mut stream, peer) = match listener.accept().await {
            Ok(pair) => pair,
            Err(e) => {
                // EMFILE and friends: say so and keep accepting (after a pause
                // so a full descriptor table does not spin the CPU).
                eprintln!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        tokio::spawn(async move {
            if let Err(e) = stream.set_nodelay(true) {
                eprintln!("{peer}: setting TCP_NODELAY: {e}");
            }
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) => break, // EOF: the client is done sending.
                    Ok(n) => {
                        if let Err(e) = stream.write_all(&buf[..n]).await {
                            eprintln!("{peer}: write: {e}");
                            return;
                        }
                    }
                    Err(e) => {
                        eprintln!("{peer}: read: {e}");
                        return;
                    }
                }
            }
            // Half-close after the last echo, like the lessons' servers.
            let _ = stream.shutdown().await;
        });
    }
}
