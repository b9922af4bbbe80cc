//! The report as text (one line per check, fixes and details indented below) or as one JSON
//! object carrying the same verdicts.

use serde_json::{json, Value};

use super::{Report, Status};

pub fn text(r: &Report) -> String {
    let width = r.lines.iter().map(|l| l.id.len()).max().unwrap_or(0);
    let indent = " ".repeat(5 + 1 + width + 2);
    let mut out = String::new();
    for l in &r.lines {
        out.push_str(&format!(
            "{:<5} {:<width$}  {}\n",
            l.status.label(),
            l.id,
            l.summary
        ));
        for d in &l.details {
            out.push_str(&format!("{indent}{d}\n"));
        }
        if let Some(fix) = &l.fix {
            out.push_str(&format!("{indent}fix: {fix}\n"));
        }
    }
    out.push_str(&format!(
        "{} FAIL, {} warn, {} ok\n",
        r.count(Status::Fail),
        r.count(Status::Warn),
        r.count(Status::Ok)
    ));
    out
}

pub fn json(r: &Report) -> Value {
    let checks: Vec<Value> = r
        .lines
        .iter()
        .map(|l| {
            json!({
                "id": l.id,
                "status": l.status.label(),
                "summary": l.summary,
                "fix": l.fix,
                "details": l.details,
            })
        })
        .collect();
    let values: Vec<Value> = r
        .values
        .iter()
        .map(
            |v| json!({"section": v.section, "key": v.key, "value": v.value, "default": v.default}),
        )
        .collect();
    json!({
        "config_file": r.config_path.display().to_string(),
        "ok": !r.failed(),
        "counts": {
            "FAIL": r.count(Status::Fail),
            "warn": r.count(Status::Warn),
            "ok": r.count(Status::Ok),
        },
        "checks": checks,
        "values": values,
    })
}
