//! Pools and priority end to end, with real Python workers and a real scheduler: pool
//! slot accounting under concurrent runs of several DAGs with priorities (the start
//! order read from the recorded start dates), the downstream weight rule, a request of
//! two slots that leaves the open slot to a smaller one, a waiting instance reported
//! with its pool, a reschedule-mode sensor giving its slot back between pokes (and a
//! poke-mode one keeping it); and `lithoflow pools` (set, list, get, delete, import, export, errors)
//! on the store and through the API.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::harness::{Env, wait_for};

/// The functions: `hold` waits until its file exists (the test releases it), `work`
/// returns at once.
const FUNCS: &str = r#"
import os, time

def hold(path):
    while not os.path.exists(path):
        time.sleep(0.02)
    return "released"

def work():
    return 1
"#;

fn dag(task: &str, extra: &str) -> String {
    format!(
        "is_paused_upon_creation = false\n\n[tasks.{task}]\ntype = \"python\"\npython_callable = \"poolfns:work\"\n{extra}\n"
    )
}

fn blocker(pool: &str, release: &Path) -> String {
    format!(
        "is_paused_upon_creation = false\n\n[tasks.hold]\ntype = \"python\"\npython_callable = \"poolfns:hold\"\nop_kwargs = {{ path = {:?} }}\npool = \"{pool}\"\n",
        release.display().to_string()
    )
}

/// A run's task instances (through the running scheduler), by task id.
fn tis(env: &Env, dag: &str, run: &str) -> Vec<Value> {
    match env.json(&["tasks", "states-for-dag-run", dag, run, "-o", "json"]) {
        Value::Array(a) => a,
        other => panic!("not a list: {other}"),
    }
}

fn ti(env: &Env, dag: &str, run: &str, task: &str) -> Value {
    tis(env, dag, run)
        .into_iter()
        .find(|t| t["task_id"] == task)
        .unwrap_or_else(|| panic!("{dag}.{task} has no instance"))
}

fn wait_state(env: &Env, dag: &str, run: &str, task: &str, state: &str) -> Value {
    wait_for(
        &format!("{dag}.{task} {state}"),
        Duration::from_secs(120),
        || {
            let t = tis(env, dag, run)
                .into_iter()
                .find(|t| t["task_id"] == task)?;
            (t["state"] == state).then_some(t)
        },
    )
}

fn start_of(env: &Env, dag: &str, task: &str) -> DateTime<Utc> {
    let t = ti(env, dag, "r", task);
    t["start_date"]
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .unwrap_or_else(|| panic!("{dag}.{task} has no start date: {t}"))
        .with_timezone(&Utc)
}

fn trigger(env: &Env, dag: &str) {
    env.ok(&["dags", "trigger", dag, "-r", "r"]);
}

#[test]
fn waiting_instances_of_several_dags_take_a_pools_slot_in_priority_order() {
    let env = Env::new();
    let release = env.home().join("release");
    env.write("poolfns.py", FUNCS);
    env.write("blocker.toml", &blocker("single", &release));
    env.write(
        "low.toml",
        &dag("low_task", "pool = \"single\"\npriority_weight = 1"),
    );
    // Its own weight is 1; the downstream rule adds `after`'s 4: 5 in all.
    env.write(
        "mid.toml",
        &format!(
            "{}\n[tasks.after]\ntype = \"empty\"\nupstream = [\"mid_task\"]\npriority_weight = 4\n",
            dag("mid_task", "pool = \"single\"")
        ),
    );
    env.write(
        "high.toml",
        &dag("high_task", "pool = \"single\"\npriority_weight = 10"),
    );
    env.ok(&["pools", "set", "single", "1", "one at a time"]);
    let _sched = env.start();

    trigger(&env, "blocker");
    wait_state(&env, "blocker", "r", "hold", "running");
    for d in ["low", "mid", "high"] {
        trigger(&env, d);
    }
    for d in ["low", "mid", "high"] {
        wait_state(&env, d, "r", &format!("{d}_task"), "scheduled");
    }
    // The waiting instance says what it waits for, and how many come before it.
    let low = ti(&env, "low", "r", "low_task");
    assert_eq!(
        low["waiting_for"],
        "waiting for a slot in pool single (2 ahead): Not scheduling since there are 0 open slots in pool single and require 1 pool slots",
        "{low}"
    );
    let pool = env.json(&["pools", "get", "single", "-o", "json"]);
    assert_eq!(pool[0]["slots"], 1);

    std::fs::write(&release, "").expect("release");
    for d in ["blocker", "low", "mid", "high"] {
        wait_for(&format!("{d} succeeds"), Duration::from_secs(120), || {
            (env.run_state(d, "r").as_deref() == Some("success")).then_some(())
        });
    }
    let (high, mid, low) = (
        start_of(&env, "high", "high_task"),
        start_of(&env, "mid", "mid_task"),
        start_of(&env, "low", "low_task"),
    );
    let hold_end = ti(&env, "blocker", "r", "hold")["end_date"]
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .expect("hold ended")
        .with_timezone(&Utc);
    assert!(
        hold_end <= high && high < mid && mid < low,
        "start order must be high (10), mid (1 + 4 downstream), low (1): {high} {mid} {low}"
    );
}

/// A sensor waiting for `flag` on a 1-slot pool, and a python task on the same pool that
/// can only start once the sensor gives its slot back.
fn sensor_and_worker(mode: &str, flag: &Path) -> String {
    format!(
        r#"is_paused_upon_creation = false

[tasks.waits]
type = "sensor"
sensor = "file"
filepath = {:?}
mode = "{mode}"
poke_interval = "1s"
pool = "single"
priority_weight = 10

[tasks.works]
type = "python"
python_callable = "poolfns:work"
pool = "single"
"#,
        flag.display().to_string()
    )
}

#[test]
fn a_reschedule_mode_sensor_gives_its_slot_back_between_pokes() {
    let env = Env::new();
    let flag = env.home().join("flag");
    env.write("poolfns.py", FUNCS);
    env.write("sense.toml", &sensor_and_worker("reschedule", &flag));
    env.ok(&["pools", "set", "single", "1", "one at a time"]);
    let _sched = env.start();
    trigger(&env, "sense");
    // The sensor is heavier, so it takes the slot first; between its pokes the slot is
    // free, and the python task runs while the sensor still waits (Airflow's
    // up_for_reschedule holds no slot). Without the hand-back it would wait for the flag.
    wait_state(&env, "sense", "r", "works", "success");
    let waits = ti(&env, "sense", "r", "waits");
    assert!(
        matches!(
            waits["state"].as_str(),
            Some("up_for_reschedule" | "running")
        ),
        "the sensor still waits: {waits}"
    );
    std::fs::write(&flag, "").expect("flag");
    wait_state(&env, "sense", "r", "waits", "success");
}

#[test]
fn a_poke_mode_sensor_keeps_its_slot_while_it_waits() {
    let env = Env::new();
    let flag = env.home().join("flag");
    env.write("poolfns.py", FUNCS);
    env.write("sense.toml", &sensor_and_worker("poke", &flag));
    env.ok(&["pools", "set", "single", "1", "one at a time"]);
    let _sched = env.start();
    trigger(&env, "sense");
    wait_state(&env, "sense", "r", "works", "scheduled");
    // Several pokes later the python task still waits for the sensor's slot.
    wait_for("three pokes", Duration::from_secs(60), || {
        let log = env.ok(&["tasks", "logs", "sense", "waits", "r"]);
        (log.matches("Poking for file").count() >= 3).then_some(())
    });
    assert_eq!(ti(&env, "sense", "r", "works")["state"], "scheduled");
    std::fs::write(&flag, "").expect("flag");
    wait_state(&env, "sense", "r", "works", "success");
    assert!(start_of(&env, "sense", "works") >= start_of(&env, "sense", "waits"));
}

#[test]
fn a_request_for_two_slots_does_not_hold_back_a_smaller_one() {
    let env = Env::new();
    let release = env.home().join("release");
    env.write("poolfns.py", FUNCS);
    env.write("blocker.toml", &blocker("pair", &release));
    env.write(
        "big.toml",
        &dag(
            "wide",
            "pool = \"pair\"\npool_slots = 2\npriority_weight = 10",
        ),
    );
    env.write("small.toml", &dag("narrow", "pool = \"pair\""));
    env.ok(&["pools", "set", "pair", "2", ""]);
    let _sched = env.start();

    trigger(&env, "blocker");
    wait_state(&env, "blocker", "r", "hold", "running");
    trigger(&env, "big");
    wait_state(&env, "big", "r", "wide", "scheduled");
    // The lighter one takes the open slot while the heavier one cannot fit.
    trigger(&env, "small");
    wait_for("small succeeds", Duration::from_secs(120), || {
        (env.run_state("small", "r").as_deref() == Some("success")).then_some(())
    });
    assert_eq!(ti(&env, "big", "r", "wide")["state"], "scheduled");
    let api = env.json(&["pools", "list", "-o", "json"]);
    assert!(api.as_array().is_some_and(|a| a.len() == 2), "{api}");

    std::fs::write(&release, "").expect("release");
    wait_for("big succeeds", Duration::from_secs(120), || {
        (env.run_state("big", "r").as_deref() == Some("success")).then_some(())
    });
    assert!(start_of(&env, "small", "narrow") < start_of(&env, "big", "wide"));
}

#[test]
fn a_pools_new_size_applies_at_once_through_the_running_scheduler() {
    let env = Env::new();
    let release = env.home().join("release");
    env.write("poolfns.py", FUNCS);
    env.write("blocker.toml", &blocker("tiny", &release));
    env.write("next.toml", &dag("then", "pool = \"tiny\""));
    env.ok(&["pools", "set", "tiny", "1", ""]);
    let _sched = env.start();
    trigger(&env, "blocker");
    wait_state(&env, "blocker", "r", "hold", "running");
    trigger(&env, "next");
    wait_state(&env, "next", "r", "then", "scheduled");
    // Through the API: the waiting instance starts while the blocker still holds a slot.
    let out = env.ok(&["pools", "set", "tiny", "2", "bigger"]);
    assert_eq!(out, "Pool tiny created\n");
    wait_for("next succeeds", Duration::from_secs(120), || {
        (env.run_state("next", "r").as_deref() == Some("success")).then_some(())
    });
    assert_eq!(ti(&env, "blocker", "r", "hold")["state"], "running");
    let got = env.json(&["pools", "get", "tiny", "-o", "json"]);
    assert_eq!(got[0]["description"], "bigger");
    // default_pool cannot be deleted through the API either.
    let (code, _, err) = env.run(&["pools", "delete", "default_pool"]);
    assert_ne!(code, 0);
    assert!(err.contains("default_pool cannot be deleted"), "{err}");
    std::fs::write(&release, "").expect("release");
    wait_for("blocker succeeds", Duration::from_secs(120), || {
        (env.run_state("blocker", "r").as_deref() == Some("success")).then_some(())
    });
}

#[test]
fn pools_commands_round_trip_airflows_file_format() {
    let env = Env::new();
    let list = env.json(&["pools", "list", "-o", "json"]);
    assert_eq!(
        list,
        json!([{"pool": "default_pool", "slots": 128, "description": "Default pool", "include_deferred": false}])
    );
    assert_eq!(
        env.ok(&["pools", "set", "etl", "4", "ETL jobs", "--include-deferred"]),
        "Pool etl created\n"
    );
    env.ok(&["pools", "set", "unlimited", "-1", ""]);
    let plain = env.ok(&["pools", "get", "etl", "-o", "plain"]);
    assert!(
        plain.contains("etl") && plain.contains("ETL jobs"),
        "{plain}"
    );
    let table = env.ok(&["pools", "list"]);
    assert!(
        table.contains("unlimited") && table.contains("-1"),
        "{table}"
    );

    let file = env.home().join("pools.json");
    let out = env.ok(&["pools", "export", file.to_str().expect("utf-8")]);
    assert_eq!(out, format!("Exported 3 pools to {}\n", file.display()));
    let exported: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("export")).expect("JSON");
    assert_eq!(
        exported["etl"],
        json!({"slots": 4, "description": "ETL jobs", "include_deferred": true})
    );

    // Delete, then import the export back.
    assert_eq!(env.ok(&["pools", "delete", "etl"]), "Pool etl deleted\n");
    let (code, _, err) = env.run(&["pools", "get", "etl"]);
    assert_ne!(code, 0);
    assert!(err.contains("Pool etl does not exist"), "{err}");
    assert_eq!(
        env.ok(&["pools", "import", file.to_str().expect("utf-8")]),
        "Uploaded 3 pool(s)\n"
    );
    assert_eq!(
        env.json(&["pools", "get", "etl", "-o", "json"])[0]["slots"],
        4
    );

    // Errors: Airflow's wording where it has one.
    for (args, message) in [
        (
            vec!["pools", "delete", "default_pool"],
            "default_pool cannot be deleted",
        ),
        (vec!["pools", "delete", "nope"], "Pool nope does not exist"),
        (
            vec!["pools", "set", "", "1", "x"],
            "Pool name shouldn't be empty",
        ),
        (
            vec!["pools", "set", "x", "-2", "x"],
            "Pool slots must be -1",
        ),
        (
            vec!["pools", "import", "/nonexistent.json"],
            "Missing pools file",
        ),
    ] {
        let (code, _, err) = env.run(&args);
        assert_ne!(code, 0, "{args:?}");
        assert!(err.contains(message), "{args:?}: {err}");
    }
    let bad = env.home().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"ok": {"slots": 1, "description": ""}, "broken": {"slots": 1}}"#,
    )
    .expect("write");
    let (code, _, err) = env.run(&["pools", "import", bad.to_str().expect("utf-8")]);
    assert_ne!(code, 0);
    assert!(err.contains("Failed to update pool(s): broken"), "{err}");
    std::fs::write(&bad, "{not json").expect("write");
    let (_, _, err) = env.run(&["pools", "import", bad.to_str().expect("utf-8")]);
    assert!(err.contains("Invalid json file"), "{err}");
}
