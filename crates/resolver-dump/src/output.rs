//! Showing the results: a table for people (numbers and names side by
//! side), or JSON for scripts (one object per result, fixed keys, in
//! getaddrinfo's order, so two runs or two machines can be diffed).

use std::io::Write;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::gai::AddrInfo;
use crate::{names, printable};

/// One result as a JSON object, keys in the documented order.
pub fn json_object(info: &AddrInfo) -> String {
    let name = |name: Option<&str>, value: i32| name.map_or(Value::from(value), Value::from);
    let fields = [
        ("family", name(names::family(info.family), info.family)),
        (
            "socktype",
            name(names::socktype(info.socktype), info.socktype),
        ),
        ("protocol", Value::from(info.protocol)),
        (
            "canonname",
            info.canonname
                .as_deref()
                .map_or(Value::Null, |c| Value::from(printable::json_value(c))),
        ),
        ("address", Value::from(info.address.ip().to_string())),
        ("port", Value::from(info.address.port())),
    ];
    let body: Vec<String> = fields
        .iter()
        .map(|(key, value)| format!("{key:?}:{value}"))
        .collect();
    printable::terminal_safe_json(&format!("{{{}}}", body.join(",")))
}

/// `[{...},{...}]`, one result per line for readable diffs.
pub fn print_json(out: &mut impl Write, results: &[AddrInfo]) -> Result<()> {
    let objects: Vec<String> = results.iter().map(json_object).collect();
    writeln!(out, "[{}]", objects.join(",\n ")).context("writing to stdout")
}

/// A table with every field, numbers and names.
pub fn print_table(out: &mut impl Write, results: &[AddrInfo]) -> Result<()> {
    let rows: Vec<[String; 6]> = results
        .iter()
        .map(|info| {
            [
                names::both(names::family(info.family), info.family),
                names::both(names::socktype(info.socktype), info.socktype),
                names::both(names::protocol(info.protocol), info.protocol),
                info.address.ip().to_string(),
                info.address.port().to_string(),
                info.canonname
                    .as_deref()
                    .map_or(String::new(), printable::text),
            ]
        })
        .collect();
    let header = [
        "family",
        "socktype",
        "protocol",
        "address",
        "port",
        "canonname",
    ];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| -> String {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    writeln!(out, "{}", line(&header)).context("writing to stdout")?;
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        writeln!(out, "{}", line(&cells)).context("writing to stdout")?;
    }
    writeln!(out, "({})", names::count(rows.len(), "result")).context("writing to stdout")
}
