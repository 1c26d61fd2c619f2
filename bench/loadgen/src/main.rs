//! Load generator for `make bench`: blocking sockets and std threads only,
//! every socket with a timeout, every reply verified, errors counted.
//!
//! ```text
//! loadgen stream --addr A [--bytes N]            one connection, N bytes echoed
//! loadgen rtt    --addr A [--count N]            64-byte round trips, p50/p99
//! loadgen conns  --addr A --connections C --requests R --size S
//! loadgen econns --addr A --connections C --requests R --size S [--threads T]
//!                                                same work, T threads polling
//! loadgen frames --addr A [--frames N] [--size S]  pipelined length frames
//! loadgen idle   --addr A --connections C [--hold-secs T]
//! ```
//!
//! Each mode prints ONE line of `key=value` pairs on stdout (the bench script
//! parses it) and exits 1 if anything failed or did not verify.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

/// Every connect, read and write gives up after this long: a stuck server
/// becomes a counted error, never a hung bench.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Stack for each connection thread in `conns`/`idle`: 1000 threads at the
/// default 2 MiB would reserve 2 GB of address space for nothing.
const SMALL_STACK: usize = 64 * 1024;
/// Stream chunk size: the writer's `write` size and the reader's buffer.
const CHUNK: usize = 64 * 1024;
/// The stream pattern repeats every PERIOD bytes (a prime, so it never lines
/// up with chunk boundaries and a shifted or dropped chunk cannot verify).
const PERIOD: usize = 251;

type Result<T> = std::result::Result<T, String>;

struct Args {
    mode: String,
    addr: SocketAddr,
    bytes: u64,
    count: usize,
    connections: usize,
    requests: usize,
    size: usize,
    frames: u64,
    hold: Duration,
    threads: usize,
}

fn parse_args() -> Result<Args> {
    let mut argv = std::env::args().skip(1);
    let mode = argv
        .next()
        .ok_or("missing mode (stream|rtt|conns|econns|frames|idle)")?;
    let mut args = Args {
        mode,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        bytes: 256 << 20,
        count: 20_000,
        connections: 100,
        requests: 100,
        size: 64,
        frames: 100_000,
        hold: Duration::from_secs(2),
        threads: 1,
    };
    while let Some(flag) = argv.next() {
        let value = argv.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--addr" => args.addr = value.parse().map_err(|e| bad(&e))?,
            "--bytes" => args.bytes = value.parse().map_err(|e| bad(&e))?,
            "--count" => args.count = value.parse().map_err(|e| bad(&e))?,
            "--connections" => args.connections = value.parse().map_err(|e| bad(&e))?,
            "--requests" => args.requests = value.parse().map_err(|e| bad(&e))?,
            "--size" => args.size = value.parse().map_err(|e| bad(&e))?,
            "--frames" => args.frames = value.parse().map_err(|e| bad(&e))?,
            "--threads" => args.threads = value.parse().map_err(|e| bad(&e))?,
            "--hold-secs" => {
                args.hold = Duration::from_secs_f64(value.parse().map_err(|e| bad(&e))?)
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if args.addr.port() == 0 {
        return Err("--addr HOST:PORT is required".into());
    }
    if args.threads == 0 {
        return Err("--threads must be at least 1".into());
    }
    if args.size < 2 {
        return Err("--size must be at least 2 (payload plus newline)".into());
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: error: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match args.mode.as_str() {
        "stream" => stream(&args),
        "rtt" => rtt(&args),
        "conns" => conns(&args),
        "econns" => econns::econns(&args),
        "frames" => frames(&args),
        "idle" => idle(&args),
        other => Err(format!("unknown mode {other}")),
    };
    match result {
        Ok(line) => {
            let mut out = std::io::stdout().lock();
            match writeln!(out, "{line}").and_then(|()| out.flush()) {
                Ok(()) if line.contains("errors=0") || !line.contains("errors=") => {
                    ExitCode::SUCCESS
                }
                Ok(()) => ExitCode::FAILURE,
                Err(_) => ExitCode::FAILURE,
            }
        }
        Err(e) => {
            eprintln!("loadgen {}: error: {e}", args.mode);
            ExitCode::FAILURE
        }
    }
}

/// A connected socket with read/write timeouts and TCP_NODELAY (our requests
/// are small writes someone waits for; Nagle would delay them).
fn connect(addr: SocketAddr) -> Result<TcpStream> {
    let stream =
        TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .and_then(|()| stream.set_nodelay(true))
        .map_err(|e| format!("socket options: {e}"))?;
    Ok(stream)
}

/// `read_exact` with errors that say what happened (a timeout is WouldBlock).
fn read_exact(stream: &mut TcpStream, buf: &mut [u8]) -> Result<()> {
    stream.read_exact(buf).map_err(|e| match e.kind() {
        ErrorKind::UnexpectedEof => "server closed mid-reply".to_string(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut => format!("no reply within {TIMEOUT:?}"),
        _ => format!("read: {e}"),
    })
}

mod econns;

// The one definition of a percentile (nearest rank), shared with the
// tcp-threaded load client so both report the same p50 for the same data.
#[path = "../../../crates/common/src/percentile.rs"]
mod percentile;
use percentile::percentile;

/// Single-connection throughput: a writer thread sends `bytes` of a known
/// pattern while this thread reads the echo and checks every byte.
fn stream(args: &Args) -> Result<String> {
    let mut reader = connect(args.addr)?;
    let mut writer = reader.try_clone().map_err(|e| format!("clone: {e}"))?;
    // The pattern, long enough that any chunk can start at any phase.
    let pattern: Vec<u8> = (0..CHUNK + PERIOD).map(|i| (i % PERIOD) as u8).collect();
    let pattern = Arc::new(pattern);
    let total = args.bytes;
    let start = Instant::now();
    let writer_pattern = Arc::clone(&pattern);
    let writer_thread = thread::spawn(move || -> Result<()> {
        let mut sent = 0u64;
        while sent < total {
            let phase = (sent % PERIOD as u64) as usize;
            let len = (total - sent).min(CHUNK as u64) as usize;
            writer
                .write_all(&writer_pattern[phase..phase + len])
                .map_err(|e| format!("write after {sent} bytes: {e}"))?;
            sent += len as u64;
        }
        // Half-close: the server echoes the tail, then closes its side.
        writer
            .shutdown(Shutdown::Write)
            .map_err(|e| format!("shutdown: {e}"))
    });
    let mut buf = vec![0u8; CHUNK];
    let mut received = 0u64;
    let mut mismatch = None;
    let read_result: Result<()> = loop {
        match reader.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                let phase = (received % PERIOD as u64) as usize;
                if mismatch.is_none() && buf[..n] != pattern[phase..phase + n] {
                    mismatch = Some(received);
                }
                received += n as u64;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => break Err(format!("read after {received} bytes: {e}")),
        }
    };
    let elapsed = start.elapsed().as_secs_f64();
    let write_result = writer_thread
        .join()
        .map_err(|_| "writer thread panicked".to_string())?;
    write_result?;
    read_result?;
    if let Some(at) = mismatch {
        return Err(format!("echo differs from what was sent at byte {at}"));
    }
    if received != total {
        return Err(format!("sent {total} bytes, got {received} back"));
    }
    let mb_s = total as f64 / 1e6 / elapsed;
    Ok(format!(
        "bytes={total} secs={elapsed:.3} mb_s={mb_s:.1} errors=0"
    ))
}

/// Round trips on one connection: send 64 bytes, read the 64-byte echo,
/// check it, repeat. Each request differs (a counter in it), so a stale or
/// misrouted reply cannot pass.
fn rtt(args: &Args) -> Result<String> {
    const SIZE: usize = 64;
    let mut stream = connect(args.addr)?;
    let warmup = (args.count / 10).max(100);
    let mut request = [b'x'; SIZE];
    let mut reply = [0u8; SIZE];
    let mut samples = Vec::with_capacity(args.count);
    let mut errors = 0u64;
    for i in 0..warmup + args.count {
        request[..8].copy_from_slice(&(i as u64).to_be_bytes());
        let t0 = Instant::now();
        stream
            .write_all(&request)
            .map_err(|e| format!("write request {i}: {e}"))?;
        read_exact(&mut stream, &mut reply)?;
        let us = t0.elapsed().as_nanos() as u64;
        if reply != request {
            errors += 1;
        }
        if i >= warmup {
            samples.push(us);
        }
    }
    let _ = stream.shutdown(Shutdown::Write);
    samples.sort_unstable();
    let p50 = percentile(&samples, 50.0) as f64 / 1000.0;
    let p99 = percentile(&samples, 99.0) as f64 / 1000.0;
    Ok(format!(
        "count={} p50_us={p50:.1} p99_us={p99:.1} errors={errors}",
        args.count
    ))
}

/// The request line for connection `conn`, request `req`: `size` bytes,
/// digits identifying it, padding, and `\n` last.
fn request_line(conn: usize, req: usize, size: usize) -> Vec<u8> {
    let mut line = format!("{conn}:{req}:").into_bytes();
    line.resize(size - 1, b'.');
    line.truncate(size - 1);
    line.push(b'\n');
    line
}

/// Counters shared by the connection threads.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    errors: AtomicU64,
    connections_served: AtomicU64,
}

/// C connections, each sending R line requests of S bytes and verifying each
/// echo. All connect first and meet at a barrier, so the timed part is the
/// requests, not the handshakes.
fn conns(args: &Args) -> Result<String> {
    let tally = Arc::new(Tally::default());
    let barrier = Arc::new(Barrier::new(args.connections + 1));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let mut handles = Vec::with_capacity(args.connections);
    for conn in 0..args.connections {
        let (tally, barrier, first_error) = (
            Arc::clone(&tally),
            Arc::clone(&barrier),
            Arc::clone(&first_error),
        );
        let (addr, requests, size) = (args.addr, args.requests, args.size);
        let spawned = thread::Builder::new()
            .stack_size(SMALL_STACK)
            .spawn(move || {
                let connected = connect(addr);
                // Everyone waits here, connected or not, so the barrier
                // always fills.
                barrier.wait();
                let result = connected.and_then(|mut stream| {
                    let mut reply = vec![0u8; size];
                    for req in 0..requests {
                        let line = request_line(conn, req, size);
                        stream
                            .write_all(&line)
                            .map_err(|e| format!("conn {conn} write {req}: {e}"))?;
                        read_exact(&mut stream, &mut reply)
                            .map_err(|e| format!("conn {conn} request {req}: {e}"))?;
                        if reply != line {
                            return Err(format!("conn {conn} request {req}: wrong echo"));
                        }
                        tally.ok.fetch_add(1, Ordering::Relaxed);
                    }
                    let _ = stream.shutdown(Shutdown::Write);
                    Ok(())
                });
                match result {
                    Ok(()) => {
                        tally.connections_served.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        tally.errors.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut slot) = first_error.lock() {
                            slot.get_or_insert(e);
                        }
                    }
                }
            });
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                // The threads already started are parked at the barrier; it
                // would never fill, so give up loudly.
                return Err(format!("spawning connection thread {conn}: {e}"));
            }
        }
    }
    Ok(run_and_report(
        "conns",
        "",
        args.connections,
        &barrier,
        handles,
        &tally,
        &first_error,
    ))
}

/// The timed part of `conns` and `econns`: opens the barrier (everyone is
/// connected), joins the workers, and prints the one result line.
fn run_and_report(
    mode: &str,
    extra: &str,
    connections: usize,
    barrier: &Barrier,
    handles: Vec<thread::JoinHandle<()>>,
    tally: &Tally,
    first_error: &std::sync::Mutex<Option<String>>,
) -> String {
    barrier.wait();
    let start = Instant::now();
    for h in handles {
        if h.join().is_err() {
            tally.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let ok = tally.ok.load(Ordering::Relaxed);
    let errors = tally.errors.load(Ordering::Relaxed);
    if let Ok(slot) = first_error.lock()
        && let Some(e) = slot.as_ref()
    {
        eprintln!("loadgen {mode}: first error: {e}");
    }
    format!(
        "connections={connections}{extra} served={} requests={ok} secs={elapsed:.3} rps={:.0} errors={errors}",
        tally.connections_served.load(Ordering::Relaxed),
        ok as f64 / elapsed
    )
}

/// Pipelined length-prefixed frames (4-byte big-endian length, payload;
/// a zero length ends the conversation). The server does not reply; it
/// prints each message, so the script verifies the count from its stdout.
/// We time from the first byte to the server's close (our read sees EOF),
/// which comes only after it has decoded every frame.
fn frames(args: &Args) -> Result<String> {
    let mut stream = connect(args.addr)?;
    let size = args.size;
    // Payloads are printable, distinct per position in a 10-frame cycle, so
    // the script can spot-check them in the server's output.
    let mut batch = Vec::with_capacity(1024 * (4 + size));
    let frames_per_batch = 1024u64;
    for i in 0..frames_per_batch {
        batch.extend_from_slice(&(size as u32).to_be_bytes());
        let mut payload = format!("frame-{}", i % 10).into_bytes();
        payload.resize(size, b'.');
        batch.extend_from_slice(&payload);
    }
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < args.frames {
        let n = (args.frames - sent).min(frames_per_batch);
        stream
            .write_all(&batch[..n as usize * (4 + size)])
            .map_err(|e| format!("write after {sent} frames: {e}"))?;
        sent += n;
    }
    stream
        .write_all(&0u32.to_be_bytes())
        .and_then(|()| stream.flush())
        .map_err(|e| format!("write terminator: {e}"))?;
    let _ = stream.shutdown(Shutdown::Write);
    // Drain until the server closes; anything it sends is unexpected. A
    // server under strace decodes slowly, so one read timeout is not the
    // end: give up only after FRAMES_DEADLINE without the close.
    const FRAMES_DEADLINE: Duration = Duration::from_secs(60);
    let mut buf = [0u8; 4096];
    let mut unexpected = 0usize;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => unexpected += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
                    && start.elapsed() < FRAMES_DEADLINE =>
            {
                continue;
            }
            // A reset after the terminator still means the server is done.
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => return Err(format!("waiting for the server to close: {e}")),
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    Ok(format!(
        "frames={} size={size} secs={elapsed:.3} frames_s={:.0} unexpected_bytes={unexpected} errors={}",
        args.frames,
        args.frames as f64 / elapsed,
        u8::from(unexpected > 0)
    ))
}

/// Opens C connections, makes one verified round trip on each (so the server
/// has really taken it on, thread and buffer included), prints
/// `connected=C`, then holds them idle for --hold-secs and closes them.
fn idle(args: &Args) -> Result<String> {
    let tally = Arc::new(Tally::default());
    let ready = Arc::new(Barrier::new(args.connections + 1));
    let release = Arc::new(Barrier::new(args.connections + 1));
    let mut handles = Vec::with_capacity(args.connections);
    for conn in 0..args.connections {
        let (tally, ready, release) =
            (Arc::clone(&tally), Arc::clone(&ready), Arc::clone(&release));
        let addr = args.addr;
        let h = thread::Builder::new()
            .stack_size(SMALL_STACK)
            .spawn(move || {
                let line = request_line(conn, 0, 16);
                let opened = connect(addr).and_then(|mut stream| {
                    stream.write_all(&line).map_err(|e| format!("write: {e}"))?;
                    let mut reply = [0u8; 16];
                    read_exact(&mut stream, &mut reply)?;
                    if reply[..] != line[..] {
                        return Err("wrong echo".to_string());
                    }
                    Ok(stream)
                });
                let held = match opened {
                    Ok(s) => {
                        tally.ok.fetch_add(1, Ordering::Relaxed);
                        Some(s)
                    }
                    Err(e) => {
                        if tally.errors.fetch_add(1, Ordering::Relaxed) == 0 {
                            eprintln!("loadgen idle: conn {conn}: {e}");
                        }
                        None
                    }
                };
                ready.wait();
                release.wait();
                drop(held);
            })
            .map_err(|e| format!("spawning connection thread {conn}: {e}"))?;
        handles.push(h);
    }
    ready.wait();
    {
        // Tell the script now: it measures the server while we hold.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "connected={} errors={}",
            tally.ok.load(Ordering::Relaxed),
            tally.errors.load(Ordering::Relaxed)
        );
        let _ = out.flush();
    }
    thread::sleep(args.hold);
    release.wait();
    for h in handles {
        let _ = h.join();
    }
    Ok(format!(
        "held={} errors={}",
        tally.ok.load(Ordering::Relaxed),
        tally.errors.load(Ordering::Relaxed)
    ))
}
