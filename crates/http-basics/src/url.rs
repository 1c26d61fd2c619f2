//! `http://host:port/path?query`: the few parts of a URL a client needs to
//! connect (host, port) and to write its request line (path and query).
//! The fragment (`#...`) is the browser's business and never sent.

/// A parsed `http://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// A name or an address; an IPv6 address without its brackets.
    pub host: String,
    pub port: u16,
    /// Path and query as they go on the request line: `/a%20b?x=1`.
    pub target: String,
}

/// What an `https://` URL gets: the lesson leaves TLS out on purpose.
pub const NO_TLS: &str = "https:// needs TLS (encryption and the server's certificate), which \
    this lesson leaves out: it shows HTTP's own bytes, and TLS would hide them. A client \
    adds it by wrapping the TcpStream in a TLS stream, for example with the rustls crate \
    (rustls::StreamOwned). Try http:// instead";

impl Url {
    /// Parses `text`; the error says what is wrong in words.
    pub fn parse(text: &str) -> Result<Url, String> {
        let scheme_end = text
            .find("://")
            .ok_or_else(|| format!("{text}: not a URL (expected http://HOST[:PORT]/PATH)"))?;
        let scheme = text[..scheme_end].to_ascii_lowercase();
        match scheme.as_str() {
            "http" => {}
            "https" => return Err(NO_TLS.to_string()),
            _ => {
                return Err(format!(
                    "{text}: only http:// URLs are supported, not {scheme}://"
                ));
            }
        }
        let rest = &text[scheme_end + 3..];
        let rest = rest.split('#').next().unwrap_or_default();
        let (authority, target) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        if authority.contains('@') {
            return Err(format!(
                "{text}: user names and passwords in URLs are not supported"
            ));
        }
        let (host, port) = split_authority(authority)
            .ok_or_else(|| format!("{text}: expected HOST or HOST:PORT (1-65535) after http://"))?;
        Ok(Url {
            host,
            port,
            target: encode_target(&target),
        })
    }

    /// Resolves a `Location` (absolute, `/absolute-path` or relative) against
    /// this URL, as a client following a redirect must.
    pub fn join(&self, location: &str) -> Result<Url, String> {
        if location.contains("://") {
            return Url::parse(location);
        }
        if let Some(rest) = location.strip_prefix("//") {
            return Url::parse(&format!("http://{rest}"));
        }
        let target = if location.starts_with('/') {
            location.to_string()
        } else {
            let path = self.target.split('?').next().unwrap_or("/");
            let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
            format!("{dir}{location}")
        };
        Ok(Url {
            host: self.host.clone(),
            port: self.port,
            target: encode_target(target.split('#').next().unwrap_or_default()),
        })
    }

    /// The `Host` field's value: the port only when it is not 80.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; `None` if malformed.
fn split_authority(authority: &str) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        v6.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (v6.to_string(), port)
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        // A name or an IPv4 address: an IPv6 address needs its brackets.
        let name = |b: u8| b.is_ascii_alphanumeric() || b"-._".contains(&b);
        if host.is_empty() || !host.bytes().all(name) {
            return None;
        }
        (host.to_string(), port)
    };
    let port = match port {
        None | Some("") => 80,
        Some(p) => p.parse::<u16>().ok().filter(|&p| p > 0)?,
    };
    Some((host.to_ascii_lowercase(), port))
}

/// Percent-encodes what may not appear on a request line as it is
/// (spaces, control characters, non-ASCII), leaving existing `%XX` alone.
fn encode_target(target: &str) -> String {
    let mut out = String::with_capacity(target.len());
    for b in target.bytes() {
        if b.is_ascii_graphic() && !b"\"<>\\^`{|}".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(host: &str, port: u16, target: &str) -> Url {
        Url {
            host: host.into(),
            port,
            target: target.into(),
        }
    }

    #[test]
    fn urls_parse_into_host_port_and_target() {
        assert_eq!(
            Url::parse("http://example.org").unwrap(),
            url("example.org", 80, "/")
        );
        assert_eq!(
            Url::parse("HTTP://Example.org:8080/a b?q=1#frag").unwrap(),
            url("example.org", 8080, "/a%20b?q=1")
        );
        assert_eq!(
            Url::parse("http://[::1]:7006/x").unwrap(),
            url("::1", 7006, "/x")
        );
        assert_eq!(Url::parse("http://h?x").unwrap(), url("h", 80, "/?x"));
        assert_eq!(
            Url::parse("http://[::1]:7006/").unwrap().host_header(),
            "[::1]:7006"
        );
        assert_eq!(Url::parse("http://h:80/").unwrap().host_header(), "h");
    }

    #[test]
    fn bad_urls_say_why() {
        assert!(
            Url::parse("https://example.org/")
                .unwrap_err()
                .contains("rustls")
        );
        assert!(Url::parse("ftp://h/").unwrap_err().contains("only http://"));
        assert!(Url::parse("example.org").unwrap_err().contains("not a URL"));
        for bad in [
            "http://h:0/",
            "http://h:70000/",
            "http://:80/",
            "http://[zz]/",
            "http://a b/",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
        assert!(
            Url::parse("http://u:p@h/")
                .unwrap_err()
                .contains("passwords")
        );
    }

    #[test]
    fn locations_resolve_against_the_current_url() {
        let base = url("h", 7006, "/docs/page.html?x");
        assert_eq!(base.join("/about/").unwrap(), url("h", 7006, "/about/"));
        assert_eq!(
            base.join("other.html").unwrap(),
            url("h", 7006, "/docs/other.html")
        );
        assert_eq!(base.join("http://g:1/z").unwrap(), url("g", 1, "/z"));
        assert_eq!(base.join("//g/z").unwrap(), url("g", 80, "/z"));
        assert!(base.join("https://g/").is_err());
    }
}
