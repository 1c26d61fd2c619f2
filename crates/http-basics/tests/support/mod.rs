//! Helpers shared by this lesson's integration tests: a response reader
//! built from the lesson's own library (httparse heads, the body decoders),
//! temporary directories, and the paths of the real peers.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use http_basics::body::read_body;
use http_basics::head::read_head;
use http_basics::response::{self, Head};
use http_basics::wire::Wire;

pub const BIN: &str = env!("CARGO_BIN_EXE_http-basics");

/// A response read off a raw connection.
#[derive(Debug)]
pub struct Resp {
    pub head: Head,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.value(name)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A raw connection to the server, with 5 s timeouts.
pub struct Raw {
    pub wire: Wire<TcpStream>,
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Raw {
        Raw {
            wire: Wire::new(test_support::connect(addr)),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.wire
            .get_mut()
            .write_all(bytes)
            .expect("sending a request");
    }

    /// Reads one response; `head_request` for the answer to a HEAD.
    pub fn read(&mut self, head_request: bool) -> Resp {
        let (head, len) = read_head(&mut self.wire, 1 << 16, response::parse)
            .expect("reading a response head")
            .expect("a response, not EOF");
        self.wire.consume(len);
        let plan = response::plan(head_request, &head).expect("a framing");
        let mut body = Vec::new();
        read_body(&mut self.wire, plan.framing, 1 << 24, &mut body).expect("reading a body");
        Resp { head, body }
    }

    pub fn exchange(&mut self, bytes: &[u8]) -> Resp {
        self.send(bytes);
        self.read(bytes.starts_with(b"HEAD "))
    }

    /// True if the server closed the connection (EOF within 5 s).
    pub fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        if !self.wire.buffer().is_empty() {
            return false;
        }
        self.wire.get_mut().read_to_end(&mut rest).is_ok() && rest.is_empty()
    }
}

/// One request on a new connection.
pub fn request(addr: SocketAddr, bytes: &[u8]) -> Resp {
    Raw::connect(addr).exchange(bytes)
}

/// `GET path HTTP/1.1` with a Host, on a new connection.
pub fn get(addr: SocketAddr, path: &str) -> Resp {
    request(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes(),
    )
}

/// A fresh temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("http-basics-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating a temp dir");
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn str(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temp path")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn timeout() -> Duration {
    Duration::from_secs(5)
}
