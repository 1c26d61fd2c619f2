//! The sender: one datagram every 20 ms, each with the next frame of
//! audio, a sequence number and a media timestamp, and (`--redundancy K`)
//! low-quality copies of the K frames before it. It never waits for an
//! answer and never sends anything again: a frame that is lost is lost,
//! and the next datagram carries its copy.

use std::collections::VecDeque;
use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use common::endpoint::{ConnectFailed, Endpoint, connect_tcp, family_name};
use common::{log, narrate, out};

use crate::audio::{self, COPY_BYTES, FRAME_MS};
use crate::source::{self, Source};
use crate::wire;

#[derive(clap::Args)]
pub struct SendArgs {
    #[command(flatten)]
    endpoint: Endpoint<7005>,
    /// A WAV file to send instead of the melody (any rate, channels and
    /// sample size: converted to 16 kHz mono 16-bit).
    #[arg(long, conflicts_with = "seconds")]
    input: Option<PathBuf>,
    /// Seconds of the melody to send [default: 10].
    #[arg(long, value_parser = common::args::seconds)]
    seconds: Option<Duration>,
    /// Low-quality copies of the previous frames in each datagram: 0, 1 or 2.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=2))]
    redundancy: u8,
    /// Send the same datagrams over TCP, each after its length (u32).
    #[arg(long)]
    pub tcp: bool,
}

pub fn run(args: &SendArgs) -> Result<()> {
    let (source, what) = match &args.input {
        Some(path) => (source::read_wav(path)?, path.display().to_string()),
        None => {
            let seconds = args.seconds.unwrap_or(Duration::from_secs(10));
            (
                Source::melody(seconds.as_secs_f64()),
                "the melody".to_string(),
            )
        }
    };
    let k = usize::from(args.redundancy);
    let mut link = Link::open(&args.endpoint, args.tcp)?;
    let frames = source.frames();
    let size = wire::MIN_DATAGRAM + k * (3 + COPY_BYTES);
    log!(
        "sending {what} to {} over {}: {frames} frames of 20 ms, redundancy {k} ({size}-byte datagrams)",
        link.peer(),
        if args.tcp { "TCP" } else { "UDP" },
    );

    // The copies of the last K frames, newest first: distance 1, 2.
    let mut history: VecDeque<[u8; COPY_BYTES]> = VecDeque::with_capacity(k + 1);
    let mut copies = Vec::with_capacity(k);
    let mut datagram = Vec::with_capacity(wire::MAX_DATAGRAM);
    let start = Instant::now();
    for index in 0..frames {
        let frame = source.frame(index);
        copies.clear();
        copies.extend(
            history
                .iter()
                .enumerate()
                .map(|(i, copy)| (i as u8 + 1, *copy)),
        );
        // Sequence numbers wrap at 2^32 (after 2.7 years of 20 ms frames).
        let seq = index as u32;
        wire::encode(seq, &copies, &frame, &mut datagram);
        // An absolute deadline: frame N leaves at start + N x 20 ms. Sleeping
        // 20 ms after each send instead would add every send's own time
        // and every oversleep: the stream would drift later and later.
        let due = start + Duration::from_millis(FRAME_MS * index);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        link.send(seq, &datagram)?;
        history.push_front(audio::low_quality(&frame));
        history.truncate(k);
    }
    // The last frame plays for 20 ms too: 10 s of audio takes 10 s.
    let end = start + Duration::from_millis(FRAME_MS * frames);
    if let Some(wait) = end.checked_duration_since(Instant::now()) {
        std::thread::sleep(wait);
    }
    let took = start.elapsed().as_secs_f64();
    link.finish()?;
    let audio = frames as f64 * FRAME_MS as f64 / 1000.0;
    out!("sent {frames} frames ({audio:.2} s of audio) in {took:.2} s")
}

/// Where the datagrams go: a connected UDP socket, or a TCP stream.
enum Link {
    Udp {
        socket: UdpSocket,
        peer: SocketAddr,
        lost: u64,
    },
    Tcp {
        stream: TcpStream,
        peer: SocketAddr,
        framed: Vec<u8>,
    },
}

impl Link {
    fn open(endpoint: &Endpoint<7005>, tcp: bool) -> Result<Link> {
        if tcp {
            let stream = connect_tcp(&endpoint.host, endpoint.port, Duration::from_secs(5))?;
            let peer = stream
                .peer_addr()
                .context("reading the receiver's address")?;
            // Without TCP_NODELAY, Nagle's algorithm holds a small write back
            // until the previous one is acknowledged: a frame would wait for
            // a round trip before it even left.
            stream.set_nodelay(true).context("setting TCP_NODELAY")?;
            narrate!("setsockopt(TCP_NODELAY, 1)");
            // A receiver that stops reading must not hang us forever.
            stream
                .set_write_timeout(Some(Duration::from_secs(5)))
                .context("setting a write timeout")?;
            return Ok(Link::Tcp {
                stream,
                peer,
                framed: Vec::with_capacity(4 + wire::MAX_DATAGRAM),
            });
        }
        let peer = endpoint.resolve()?[0];
        let local: SocketAddr = if peer.is_ipv6() {
            "[::]:0".parse()?
        } else {
            "0.0.0.0:0".parse()?
        };
        let socket =
            UdpSocket::bind(local).with_context(|| format!("creating a UDP socket for {peer}"))?;
        narrate!("socket({}, SOCK_DGRAM)", family_name(&peer));
        // Port 0: the kernel picks ours (connect() would bind one anyway).
        let bound = socket
            .local_addr()
            .context("reading the socket's address")?;
        narrate!("bind({local}) -> {bound}");
        // connect() sends nothing: it fixes the destination, and lets the
        // kernel tell us (ECONNREFUSED) when nobody listens there.
        socket
            .connect(peer)
            .map_err(|e| anyhow::Error::new(e).context(ConnectFailed(peer)))?;
        narrate!("connect({peer})");
        Ok(Link::Udp {
            socket,
            peer,
            lost: 0,
        })
    }

    fn peer(&self) -> SocketAddr {
        match self {
            Link::Udp { peer, .. } | Link::Tcp { peer, .. } => *peer,
        }
    }

    fn send(&mut self, seq: u32, datagram: &[u8]) -> Result<()> {
        match self {
            Link::Udp { socket, peer, lost } => match socket.send(datagram) {
                Ok(n) => {
                    narrate!("send() -> {n} bytes (seq {seq})");
                    Ok(())
                }
                // An ICMP "port unreachable" for an earlier datagram: nobody
                // receives at that address (the receiver is not running).
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => Err(anyhow::Error::new(e)
                    .context(format!(
                        "sending to {peer}: nobody receives there (ICMP port unreachable)"
                    ))),
                // Full queue (ENOBUFS), a firewall (EPERM): this frame is
                // lost, as on a bad link. The stream goes on.
                Err(e) => {
                    *lost += 1;
                    if *lost <= 3 {
                        log!("seq {seq}: not sent ({e}); the stream goes on");
                    }
                    Ok(())
                }
            },
            Link::Tcp {
                stream,
                peer,
                framed,
            } => {
                // The length, then the datagram, in one write: one segment.
                framed.clear();
                framed.extend_from_slice(&(datagram.len() as u32).to_be_bytes());
                framed.extend_from_slice(datagram);
                stream.write_all(framed).map_err(|e| {
                    let e = if e.kind() == ErrorKind::WouldBlock {
                        anyhow!("the receiver has read nothing for 5 s")
                    } else {
                        anyhow::Error::new(e)
                    };
                    e.context(format!("sending seq {seq} to {peer} over TCP"))
                })?;
                narrate!("send() -> {} bytes (seq {seq})", framed.len());
                Ok(())
            }
        }
    }

    fn finish(self) -> Result<()> {
        match self {
            Link::Udp { lost, .. } => {
                if lost > 0 {
                    log!("{lost} datagrams could not be sent");
                }
            }
            Link::Tcp { stream, peer, .. } => {
                // "No more frames": the receiver reads EOF once every byte
                // before it has arrived.
                stream
                    .shutdown(std::net::Shutdown::Write)
                    .with_context(|| format!("closing the stream to {peer}"))?;
                narrate!("shutdown(Write)");
            }
        }
        Ok(())
    }
}
