//! `POST /echo`: answers with what it received. Form fields
//! (`application/x-www-form-urlencoded`, what an HTML form sends) are
//! decoded and listed, as an HTML page for a browser (its `Accept` asks for
//! `text/html`) or as `name: value` lines for anything else; any other body
//! comes back verbatim with the Content-Type it came with.

use http_basics::form;
use http_basics::request::Request;

use crate::reply::{Payload, Reply};

pub fn echo(request: &Request, body: Vec<u8>) -> Reply {
    let content_type = request
        .head
        .values("content-type")
        .next()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default();
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if media == "application/x-www-form-urlencoded" {
        let fields = form::decode(&body);
        let wants_html = request
            .head
            .tokens("accept")
            .iter()
            .any(|t| t.starts_with("text/html"));
        return if wants_html {
            page(&fields)
        } else {
            lines(&fields)
        };
    }
    let content_type = if content_type.is_empty() {
        "application/octet-stream".to_string()
    } else {
        content_type
    };
    let mut reply = Reply::new(200, &content_type, Payload::Bytes(body));
    // Whatever came in goes out: if it was HTML with a script, the
    // browser must not run it as this site's page (reflected XSS).
    reply.header("Content-Security-Policy", "sandbox");
    reply.header("X-Content-Type-Options", "nosniff");
    reply
}

fn lines(fields: &[(Vec<u8>, Vec<u8>)]) -> Reply {
    let mut text = Vec::new();
    for (name, value) in fields {
        text.extend_from_slice(name);
        text.extend_from_slice(b": ");
        text.extend_from_slice(value);
        text.push(b'\n');
    }
    Reply::new(200, "text/plain; charset=utf-8", Payload::Bytes(text))
}

fn page(fields: &[(Vec<u8>, Vec<u8>)]) -> Reply {
    let mut rows = String::new();
    for (name, value) in fields {
        rows.push_str(&format!(
            "<tr><th>{}</th><td>{}</td></tr>\n",
            escape(&String::from_utf8_lossy(name)),
            escape(&String::from_utf8_lossy(value))
        ));
    }
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>echo</title>\
         <link rel=\"stylesheet\" href=\"/style.css\"></head>\n<body>\n<h1>echo</h1>\n\
         <p>The server received {} form fields by POST and decoded them:</p>\n\
         <table id=\"fields\">\n{rows}</table>\n<p><a href=\"/\">back</a></p>\n</body>\n</html>\n",
        fields.len()
    );
    let mut reply = Reply::new(
        200,
        "text/html; charset=utf-8",
        Payload::Bytes(html.into_bytes()),
    );
    // The values are escaped; this is the second line of defence.
    reply.header("Content-Security-Policy", "script-src 'none'");
    reply
}

/// Text for HTML: what a peer sent must never become markup.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
