//! `econns`: the same work as `conns` (C connections, each sending R lines
//! of S bytes and waiting for each echo before the next), driven by
//! readiness on T threads instead of one thread per connection.
//!
//! Why a second load generator: `conns` runs 1 000 client threads on the
//! same two cores as the server, and Linux shares a core fairly among
//! runnable threads, so a server with one thread (event-loop, one loop)
//! gets one share among a thousand clients' worth of wake-ups, while a
//! server with a thread per client gets a share per request in flight.
//! That measures the scheduler as much as the server. Load generators
//! built for the job (wrk, for HTTP) use a few threads polling many
//! sockets, and so does this mode: the server gets the CPU the load does
//! not need, whatever its own thread count.

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use super::{Args, Result, TIMEOUT, Tally, connect, request_line, run_and_report};

/// One connection's progress through its R requests.
struct Conn {
    id: usize,
    stream: TcpStream,
    /// The request in flight (what the echo must equal).
    line: Vec<u8>,
    /// How many bytes of its echo have arrived.
    got: usize,
    reply: Vec<u8>,
    /// Requests completed.
    done: usize,
    finished: bool,
}

pub fn econns(args: &Args) -> Result<String> {
    let threads = args.threads.min(args.connections.max(1));
    let tally = Arc::new(Tally::default());
    let barrier = Arc::new(Barrier::new(threads + 1));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let mut handles = Vec::with_capacity(threads);
    for t in 0..threads {
        let mine: Vec<usize> = (t..args.connections).step_by(threads).collect();
        let (tally, barrier, first_error) = (
            Arc::clone(&tally),
            Arc::clone(&barrier),
            Arc::clone(&first_error),
        );
        let (addr, requests, size) = (args.addr, args.requests, args.size);
        let h = thread::Builder::new()
            .spawn(move || {
                let owned = mine.len();
                let setup = open(addr, &mine, size);
                // Everyone meets here, set up or not, so the barrier fills.
                barrier.wait();
                let result = setup.and_then(|(poll, conns)| drive(poll, conns, requests, &tally));
                if let Err(e) = result {
                    // One error per failed thread; the line says why.
                    tally.errors.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut slot) = first_error.lock() {
                        slot.get_or_insert(format!("thread {t} ({owned} connections): {e}"));
                    }
                }
            })
            .map_err(|e| format!("spawning poll thread {t}: {e}"))?;
        handles.push(h);
    }
    Ok(run_and_report(
        "econns",
        &format!(" threads={threads}"),
        args.connections,
        &barrier,
        handles,
        &tally,
        &first_error,
    ))
}

/// Connects this thread's share (blocking, with the usual timeout and
/// TCP_NODELAY), then hands each socket to one Poll, nonblocking.
fn open(addr: std::net::SocketAddr, ids: &[usize], size: usize) -> Result<(Poll, Vec<Conn>)> {
    let poll = Poll::new().map_err(|e| format!("epoll_create: {e}"))?;
    let mut conns = Vec::with_capacity(ids.len());
    for (index, &id) in ids.iter().enumerate() {
        let std_stream = connect(addr)?;
        std_stream
            .set_nonblocking(true)
            .map_err(|e| format!("conn {id}: nonblocking: {e}"))?;
        let mut stream = TcpStream::from_std(std_stream);
        poll.registry()
            .register(&mut stream, Token(index), Interest::READABLE)
            .map_err(|e| format!("conn {id}: epoll_ctl: {e}"))?;
        conns.push(Conn {
            id,
            stream,
            line: Vec::new(),
            got: 0,
            reply: vec![0u8; size],
            done: 0,
            finished: false,
        });
    }
    Ok((poll, conns))
}

/// Sends the next request. 64 bytes into a socket whose previous request
/// has been answered (so read by the server) always fit the send buffer;
/// a short write would mean something is badly wrong, and is an error.
fn send_next(conn: &mut Conn) -> Result<()> {
    conn.line = request_line(conn.id, conn.done, conn.reply.len());
    conn.got = 0;
    match conn.stream.write(&conn.line) {
        Ok(n) if n == conn.line.len() => Ok(()),
        Ok(n) => Err(format!("conn {}: short write of {n} bytes", conn.id)),
        Err(e) => Err(format!("conn {} write {}: {e}", conn.id, conn.done)),
    }
}

/// Runs every connection to its last request. Gives up if nothing at all
/// happens for TIMEOUT (a stuck server is an error, not a hung bench).
fn drive(mut poll: Poll, mut conns: Vec<Conn>, requests: usize, tally: &Tally) -> Result<()> {
    let mut left = conns.len();
    for conn in conns.iter_mut() {
        if requests == 0 {
            conn.finished = true;
            left -= 1;
            tally.connections_served.fetch_add(1, Ordering::Relaxed);
        } else {
            send_next(conn)?;
        }
    }
    let mut events = Events::with_capacity(1024);
    while left > 0 {
        match poll.poll(&mut events, Some(TIMEOUT)) {
            Ok(()) => {}
            // A signal: poll again.
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("epoll_wait: {e}")),
        }
        if events.is_empty() {
            return Err(format!(
                "{left} connections got no reply within {TIMEOUT:?}"
            ));
        }
        for event in events.iter() {
            let Some(conn) = conns.get_mut(event.token().0) else {
                continue;
            };
            if conn.finished {
                continue;
            }
            // Read until WouldBlock (mio's readiness is edge-triggered).
            loop {
                let want = conn.reply.len();
                match conn.stream.read(&mut conn.reply[conn.got..]) {
                    Ok(0) => return Err(format!("conn {}: server closed mid-reply", conn.id)),
                    Ok(n) => {
                        conn.got += n;
                        if conn.got < want {
                            continue;
                        }
                        if conn.reply != conn.line {
                            return Err(format!(
                                "conn {} request {}: wrong echo",
                                conn.id, conn.done
                            ));
                        }
                        tally.ok.fetch_add(1, Ordering::Relaxed);
                        conn.done += 1;
                        if conn.done == requests {
                            conn.finished = true;
                            left -= 1;
                            let _ = conn.stream.shutdown(Shutdown::Write);
                            let _ = poll.registry().deregister(&mut conn.stream);
                            tally.connections_served.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        send_next(conn)?;
                    }
                    // Nothing more now; the next event says when.
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(format!("conn {} read: {e}", conn.id)),
                }
            }
        }
    }
    Ok(())
}
