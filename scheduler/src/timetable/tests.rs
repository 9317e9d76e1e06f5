//! Unit tests of the timetables.

use std::path::Path;

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::Value;

use super::*;
use crate::dag::parse_dag;

fn parse_ok(text: &str) -> Dag {
    let (dag, diags) = parse_dag(Path::new("t.toml"), text);
    let rendered: String = diags.iter().map(ToString::to_string).collect();
    assert!(diags.is_empty(), "unexpected diagnostics:\n{rendered}");
    dag.expect("valid DAG")
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("an RFC 3339 time")
        .with_timezone(&Utc)
}

#[test]
fn differential_against_airflow() {
    let Ok(path) = std::env::var("TIMETABLE_CASES") else {
        return;
    };
    let text = std::fs::read_to_string(path).expect("cases");
    let cases: Vec<Value> = serde_json::from_str(&text).expect("json");
    let mut failures = 0;
    for (idx, c) in cases.iter().enumerate() {
        let s = |k: &str| c.get(k).and_then(Value::as_str);
        let mut toml = String::new();
        match s("schedule") {
            Some(sch) => toml.push_str(&format!("schedule = {sch:?}\n")),
            None => {}
        }
        toml.push_str(&format!("timetable = {:?}\n", s("timetable").unwrap_or("cron_trigger")));
        let tz = s("tz").unwrap_or("UTC");
        let fixed = tz.starts_with(['+', '-']);
        if !fixed {
            toml.push_str(&format!("timezone = {tz:?}\n"));
        }
        if let Some(start) = s("start") {
            if fixed {
                let off: FixedOffset = tz.parse().expect("offset");
                toml.push_str(&format!(
                    "start_date = {:?}\n",
                    t(start).with_timezone(&off).to_rfc3339()
                ));
            } else {
                toml.push_str(&format!("start_date = {start:?}\n"));
            }
        }
        if let Some(end) = s("end") {
            toml.push_str(&format!("end_date = {end:?}\n"));
        }
        if c.get("catchup").and_then(Value::as_bool) == Some(true) {
            toml.push_str("catchup = true\n");
        }
        let (dag, _) = parse_dag(Path::new("t.toml"), &toml);
        let Some(dag) = dag else {
            eprintln!("case {idx}: did not parse: {toml}");
            failures += 1;
            continue;
        };
        if fixed {
            assert!(matches!(dag.timezone, DagTimezone::Fixed(_)), "{toml}");
        }
        let now = t(s("now").expect("now"));
        let fmt = |i: &DagRunInfo| {
            serde_json::json!({
                "run_after": i.run_after.to_rfc3339(),
                "start": i.data_interval.start.to_rfc3339(),
                "end": i.data_interval.end.to_rfc3339(),
            })
        };
        let expected = &c["expected"];
        let norm = |v: &Value| -> Value {
            // Compare instants, not spellings.
            match v {
                Value::String(x) => Value::String(t(x).to_rfc3339()),
                Value::Array(a) => Value::Array(a.iter().map(|x| {
                    let m = x.as_object().expect("obj");
                    Value::Object(m.iter().map(|(k, v)| (k.clone(), Value::String(t(v.as_str().expect("s")).to_rfc3339()))).collect())
                }).collect()),
                Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), Value::String(t(v.as_str().expect("s")).to_rfc3339()))).collect()),
                other => other.clone(),
            }
        };
        let got = match s("op") {
            Some("next") => {
                let n = c["n"].as_u64().expect("n") as usize;
                Value::Array(next_executions(&dag, n, now).iter().map(fmt).collect())
            }
            Some("manual") => {
                let di = infer_manual_data_interval(&dag, t(s("run_after").expect("ra")));
                serde_json::json!({"start": di.start.to_rfc3339(), "end": di.end.to_rfc3339()})
            }
            Some("backfill") => Value::Array(
                backfill_infos(&dag, t(s("from").expect("f")), t(s("to").expect("t")), now)
                    .iter()
                    .map(fmt)
                    .collect(),
            ),
            _ => panic!("op"),
        };
        let want = norm(expected);
        if got != want {
            failures += 1;
            if failures < 15 {
                eprintln!("case {idx} MISMATCH\n{toml}{}\n got: {got}\nwant: {want}\n", serde_json::to_string(c).unwrap_or_default());
            }
        }
    }
    assert_eq!(failures, 0, "{failures} of {} cases differ", cases.len());
}
