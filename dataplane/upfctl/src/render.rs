//! Turns the admin sockets' JSON answers into text for a terminal.
//!
//! Lists become aligned tables with chosen columns; single objects become
//! an indented `key: value` tree. Fields a process does not send are shown
//! as `-`, so an older or newer process still renders.

use std::fmt::Write;

use serde_json::Value;

/// One column: its heading and how to get its cell from a row object.
pub struct Column {
    /// Heading.
    pub title: &'static str,
    /// Cell text of a row.
    pub cell: fn(&Value) -> String,
}

/// The text of a scalar (strings unquoted, null as `-`).
pub fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => a.iter().map(scalar).collect::<Vec<_>>().join(","),
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| format!("{k}={}", scalar(v)))
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// The cell of field `key` of `row`.
pub fn field(row: &Value, key: &str) -> String {
    row.get(key).map(scalar).unwrap_or_else(|| "-".into())
}

/// An aligned table of `rows` (an array of objects).
pub fn table(rows: &Value, cols: &[Column]) -> String {
    let empty = Vec::new();
    let rows = rows.as_array().unwrap_or(&empty);
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| cols.iter().map(|c| (c.cell)(r)).collect())
        .collect();
    let mut width: Vec<usize> = cols.iter().map(|c| c.title.len()).collect();
    for row in &cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, items: &mut dyn Iterator<Item = String>| {
        let parts: Vec<String> = items.zip(&width).map(|(s, w)| format!("{s:<w$}")).collect();
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    };
    line(&mut out, &mut cols.iter().map(|c| c.title.to_string()));
    for row in cells {
        line(&mut out, &mut row.into_iter());
    }
    if rows.is_empty() {
        out.push_str("(none)\n");
    }
    out
}

/// An indented `key: value` rendering of any JSON value.
pub fn tree(v: &Value) -> String {
    let mut out = String::new();
    tree_into(&mut out, v, 0);
    out
}

fn tree_into(out: &mut String, v: &Value, depth: usize) {
    let pad = "  ".repeat(depth);
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                if is_leaf(x) {
                    let _ = writeln!(out, "{pad}{k}: {}", scalar(x));
                } else {
                    let _ = writeln!(out, "{pad}{k}:");
                    tree_into(out, x, depth + 1);
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                if is_leaf(x) {
                    let _ = writeln!(out, "{pad}- {}", scalar(x));
                } else {
                    let _ = writeln!(out, "{pad}[{i}]");
                    tree_into(out, x, depth + 1);
                }
            }
        }
        x => {
            let _ = writeln!(out, "{pad}{}", scalar(x));
        }
    }
}

/// Scalars, empty containers and arrays of scalars print on one line.
fn is_leaf(v: &Value) -> bool {
    match v {
        Value::Array(a) => a.iter().all(|x| !x.is_array() && !x.is_object()),
        Value::Object(o) => o.is_empty(),
        _ => true,
    }
}

/// Per-port totals over every worker of a `workers` answer, joined with
/// the static port list of a `ports` answer.
pub fn port_totals(ports: &Value, workers: &Value) -> Value {
    const KEYS: [&str; 7] = [
        "rx_packets",
        "rx_bytes",
        "tx_packets",
        "tx_bytes",
        "rx_missed",
        "tx_dropped",
        "rx_errors",
    ];
    let empty = Vec::new();
    let mut rows = Vec::new();
    for p in ports.as_array().unwrap_or(&empty) {
        let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
        let mut row = p.clone();
        for k in KEYS {
            let total: u64 = workers
                .as_array()
                .unwrap_or(&empty)
                .iter()
                .filter_map(|w| w.get("ports").and_then(Value::as_array))
                .flatten()
                .filter(|q| q.get("port").and_then(Value::as_str) == Some(name))
                .filter_map(|q| q.get(k).and_then(Value::as_u64))
                .sum();
            if let Some(o) = row.as_object_mut() {
                o.insert(k.into(), Value::from(total));
            }
        }
        rows.push(row);
    }
    Value::Array(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_aligns_and_marks_missing_fields() {
        let rows = json!([{"a": "x", "b": 12345}, {"a": "longer", "b": null}, {"a": "z"}]);
        let t = table(
            &rows,
            &[
                Column {
                    title: "A",
                    cell: |r| field(r, "a"),
                },
                Column {
                    title: "BEE",
                    cell: |r| field(r, "b"),
                },
            ],
        );
        assert_eq!(t, "A       BEE\nx       12345\nlonger  -\nz       -\n");
        assert_eq!(table(&json!([]), &[]), "\n(none)\n");
    }

    #[test]
    fn tree_nests_objects_and_arrays() {
        let v = json!({"seid": 7, "pdrs": [{"id": 1, "sdf": ["a", "b"]}], "up": true, "x": {}});
        assert_eq!(
            tree(&v),
            "pdrs:\n  [0]\n    id: 1\n    sdf: a,b\nseid: 7\nup: yes\nx: \n"
        );
    }

    #[test]
    fn port_totals_sum_over_workers() {
        let ports = json!([{"name": "n3"}, {"name": "n6"}]);
        let workers = json!([
            {"ports": [{"port": "n3", "rx_packets": 5}, {"port": "n6", "tx_packets": 2}]},
            {"ports": [{"port": "n3", "rx_packets": 7}]}
        ]);
        let t = port_totals(&ports, &workers);
        assert_eq!(t[0]["rx_packets"], 12);
        assert_eq!(t[1]["tx_packets"], 2);
        assert_eq!(t[1]["rx_packets"], 0);
    }
}
