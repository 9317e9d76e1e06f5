//! The store's unit tests: records, schema migrations, the run index.

use super::*;
use serde_json::json;

fn run(dag: &str, id: &str, after: i64) -> DagRunRecord {
    DagRunRecord {
        version: SCHEMA_VERSION,
        dag_id: dag.to_owned(),
        run_id: id.to_owned(),
        run_type: "manual".to_owned(),
        state: RunState::Queued,
        logical_date: None,
        data_interval_start: None,
        data_interval_end: None,
        run_after: DateTime::from_timestamp(after, 0).expect("valid"),
        queued_at: None,
        start_date: None,
        end_date: None,
        conf: serde_json::Map::new(),
        note: None,
        backfill_id: None,
        user_note: None,
    }
}

#[test]
fn records_survive_a_reopen_and_prefixes_do_not_leak() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("state");
    {
        let s = Store::open_again(&path).expect("opens");
        s.put_run(&run("a", "r1", 10)).expect("put");
        s.put_run(&run("a", "r2", 20)).expect("put");
        s.put_run(&run("ab", "r1", 30)).expect("put");
        let mut ti = TaskInstanceRecord::new("t", 2);
        ti.state = TaskState::Success;
        s.put_ti("a", "r1", &ti).expect("put");
        s.put_xcom("a", "r1", "t", "return_value", &serde_json::json!([1, 2]))
            .expect("put");
        s.flush().expect("flush");
    }
    let s = Store::open_again(&path).expect("reopens");
    let ids: Vec<String> = s
        .runs("a")
        .expect("scan")
        .into_iter()
        .map(|r| r.run_id)
        .collect();
    assert_eq!(
        ids,
        ["r2", "r1"],
        "newest first, and DAG `ab` is not DAG `a`"
    );
    assert_eq!(s.tis("a", "r1").expect("scan")[0].state, TaskState::Success);
    assert_eq!(
        s.xcom("a", "r1", "t", "return_value").expect("get"),
        Some(serde_json::json!([1, 2]))
    );
    assert!(s.tis("a", "r2").expect("scan").is_empty());
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("state");
    {
        let db = sled::open(&path).expect("opens");
        db.open_tree("meta")
            .expect("tree")
            .insert("schema_version", &b"99"[..])
            .expect("insert");
        db.flush().expect("flush");
    }
    let err = Store::open_again(&path).err().expect("refused");
    assert!(err.to_string().contains("schema version 99"), "{err}");
}

#[test]
fn a_schema_1_database_is_migrated_once_even_after_a_migration_cut_short() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("state");
    let earlier = DateTime::from_timestamp(5, 0).expect("valid");
    {
        // Schema 1 records (no queued_at), one of them already migrated by a
        // migration that was killed before it recorded the new schema.
        let db = sled::open(&path).expect("opens");
        db.open_tree("meta")
            .expect("tree")
            .insert("schema_version", &b"1"[..])
            .expect("insert");
        let runs = db.open_tree("dag_runs").expect("tree");
        let mut old = serde_json::to_value(run("a", "r1", 10)).expect("json");
        old["version"] = json!(1);
        old.as_object_mut().expect("object").remove("queued_at");
        runs.insert(key(&["a", "r1"]), serde_json::to_vec(&old).expect("bytes"))
            .expect("insert");
        let mut done = run("a", "r2", 20);
        done.version = 2;
        done.queued_at = Some(earlier);
        runs.insert(key(&["a", "r2"]), serde_json::to_vec(&done).expect("bytes"))
            .expect("insert");
        db.flush().expect("flush");
    }
    let s = Store::open_again(&path).expect("migrates");
    assert_eq!(s.schema_version().expect("meta"), Some(SCHEMA_VERSION));
    let r1 = s.run("a", "r1").expect("reads").expect("present");
    assert_eq!(
        (r1.version, r1.queued_at),
        (SCHEMA_VERSION, Some(r1.run_after))
    );
    let r2 = s.run("a", "r2").expect("reads").expect("present");
    assert_eq!(
        r2.queued_at,
        Some(earlier),
        "a migrated record is left alone"
    );
    drop(s);
    assert!(dir.path().join("state.schema-1.bak").join("db").is_file());
    // A second open is a plain open: no second backup.
    drop(Store::open_again(&path).expect("opens"));
    assert!(!dir.path().join("state.schema-1.bak.1").exists());
}

fn ids(runs: &[DagRunRecord]) -> Vec<&str> {
    runs.iter().map(|r| r.run_id.as_str()).collect()
}

#[test]
fn recent_runs_come_newest_first_from_the_index_with_offset_and_limit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = Store::open(&dir.path().join("state")).expect("opens");
    // Written out of order; two share a run_after (the greater run id comes first, as
    // `runs` sorts), one before 1970 and one with nanoseconds.
    for (id, after) in [("c", 30), ("a", 10), ("b2", 20), ("b1", 20), ("old", -5)] {
        s.put_run(&run("d", id, after)).expect("put");
    }
    let mut nanos = run("d", "n", 20);
    nanos.run_after += chrono::Duration::nanoseconds(1);
    s.put_run(&nanos).expect("put");
    s.put_run(&run("d2", "other", 99)).expect("put");
    s.put_run(&run("d\u{1}", "x", 99)).expect("put");

    let all = s.recent_runs("d", 0, 100).expect("reads");
    assert_eq!(ids(&all), ["c", "n", "b2", "b1", "a", "old"]);
    assert_eq!(
        ids(&all),
        ids(&s.runs("d").expect("scan")),
        "the scan's order"
    );
    assert_eq!(ids(&s.recent_runs("d", 0, 2).expect("reads")), ["c", "n"]);
    assert_eq!(ids(&s.recent_runs("d", 2, 2).expect("reads")), ["b2", "b1"]);
    assert!(s.recent_runs("d", 6, 2).expect("reads").is_empty());
    assert_eq!(s.run_count("d").expect("count"), 6);
    assert_eq!(s.run_count("nope").expect("count"), 0);
    let streamed: Vec<String> = s
        .runs_newest_first("d")
        .map(|r| r.expect("reads").run_id)
        .collect();
    assert_eq!(streamed, ids(&all));

    // A run written again keeps one entry, moved when its run_after changes.
    let mut moved = run("d", "a", 40);
    moved.state = RunState::Success;
    s.put_run(&moved).expect("put");
    s.put_run(&moved).expect("put again");
    let all = s.recent_runs("d", 0, 100).expect("reads");
    assert_eq!(ids(&all), ["a", "c", "n", "b2", "b1", "old"]);
    assert_eq!(all[0].state, RunState::Success);
    assert_eq!(s.run_count("d").expect("count"), 6);
}

#[test]
fn a_deleted_run_leaves_the_index_with_its_task_instances_and_xcom() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("state");
    {
        let s = Store::open_again(&path).expect("opens");
        for (id, after) in [("r1", 10), ("r10", 20), ("r2", 30)] {
            s.put_run(&run("d", id, after)).expect("put");
            s.put_ti("d", id, &TaskInstanceRecord::new("t", 1))
                .expect("ti");
            s.put_ti("d", id, &TaskInstanceRecord::new("u", 1))
                .expect("ti");
            s.put_xcom("d", id, "t", "return_value", &json!(1))
                .expect("xcom");
        }
        assert_eq!(
            s.run_record_counts("d", "r1").expect("counts"),
            RemovedRecords {
                runs: 1,
                task_instances: 2,
                xcom: 1
            }
        );
        let removed = s.delete_run("d", "r1").expect("deletes");
        assert_eq!(
            removed,
            RemovedRecords {
                runs: 1,
                task_instances: 2,
                xcom: 1
            }
        );
        assert_eq!(
            s.delete_run("d", "r1").expect("again"),
            RemovedRecords::default()
        );
        s.flush().expect("flush");
    }
    let s = Store::open_again(&path).expect("reopens");
    assert_eq!(
        ids(&s.recent_runs("d", 0, 10).expect("reads")),
        ["r2", "r10"]
    );
    assert_eq!(s.run_count("d").expect("count"), 2);
    assert!(s.run("d", "r1").expect("reads").is_none());
    assert!(s.tis("d", "r1").expect("reads").is_empty());
    assert!(
        s.xcom("d", "r1", "t", "return_value")
            .expect("reads")
            .is_none()
    );
    // `r1` is a prefix of `r10`: its records are untouched.
    assert_eq!(s.tis("d", "r10").expect("reads").len(), 2);
    assert!(
        s.xcom("d", "r10", "t", "return_value")
            .expect("reads")
            .is_some()
    );
}

#[test]
fn a_schema_2_database_gets_its_run_index_when_migrated() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("state");
    {
        // What lithoflow wrote with schema 2: runs, no index, no counts.
        let db = sled::open(&path).expect("opens");
        db.open_tree("meta")
            .expect("tree")
            .insert("schema_version", &b"2"[..])
            .expect("insert");
        let runs = db.open_tree("dag_runs").expect("tree");
        for (dag, id, after) in [
            ("a", "r1", 10),
            ("a", "r3", 30),
            ("a", "r2", 20),
            ("b", "x", 5),
        ] {
            let mut r = run(dag, id, after);
            r.version = 2;
            runs.insert(key(&[dag, id]), serde_json::to_vec(&r).expect("bytes"))
                .expect("insert");
        }
        // A migration cut short left a stale entry and a wrong count behind.
        db.open_tree("dag_runs_by_recency")
            .expect("tree")
            .insert(
                recency_key("a", run("a", "gone", 1).run_after, "gone"),
                &[] as &[u8],
            )
            .expect("insert");
        db.open_tree("dag_run_counts")
            .expect("tree")
            .insert("a", &count_bytes(9))
            .expect("insert");
        db.flush().expect("flush");
    }
    let s = Store::open_again(&path).expect("migrates");
    assert_eq!(s.schema_version().expect("meta"), Some(SCHEMA_VERSION));
    assert_eq!(
        ids(&s.recent_runs("a", 0, 10).expect("reads")),
        ["r3", "r2", "r1"]
    );
    assert_eq!(ids(&s.recent_runs("b", 0, 10).expect("reads")), ["x"]);
    assert_eq!(
        (
            s.run_count("a").expect("count"),
            s.run_count("b").expect("count")
        ),
        (3, 1)
    );
    let r1 = s.run("a", "r1").expect("reads").expect("present");
    assert_eq!(r1.version, SCHEMA_VERSION, "marked as of the new schema");
    drop(s);
    assert!(dir.path().join("state.schema-2.bak").join("db").is_file());
}

#[test]
fn a_schema_3_database_keeps_its_xcom_at_map_index_minus_one_when_migrated() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("state");
    {
        // What lithoflow wrote with schema 3: bare JSON values, no map index.
        let db = sled::open(&path).expect("opens");
        db.open_tree("meta")
            .expect("tree")
            .insert("schema_version", &b"3"[..])
            .expect("insert");
        let mut r = run("a", "r1", 10);
        r.version = 3;
        db.open_tree("dag_runs")
            .expect("tree")
            .insert(key(&["a", "r1"]), serde_json::to_vec(&r).expect("bytes"))
            .expect("insert");
        let xcom = db.open_tree("xcom").expect("tree");
        for (task, value) in [("t", json!([1, 2])), ("u", json!({"a": "b"}))] {
            xcom.insert(
                key(&["a", "r1", task, "return_value"]),
                serde_json::to_vec(&value).expect("bytes"),
            )
            .expect("insert");
        }
        db.flush().expect("flush");
    }
    let s = Store::open_again(&path).expect("migrates");
    assert_eq!(s.schema_version().expect("meta"), Some(SCHEMA_VERSION));
    assert_eq!(
        s.xcom("a", "r1", "t", "return_value").expect("reads"),
        Some(json!([1, 2]))
    );
    assert_eq!(
        s.xcom_all("a", "r1", "u", "return_value").expect("reads"),
        vec![(-1, json!({"a": "b"}))]
    );
    let r1 = s.run("a", "r1").expect("reads").expect("present");
    assert_eq!(r1.version, SCHEMA_VERSION, "marked as of the new schema");
    // Opening again (a migration done twice) changes nothing.
    drop(s);
    let s = Store::open_again(&path).expect("opens");
    assert_eq!(
        s.xcom_entries("a", "r1", "t").expect("reads").len(),
        1,
        "no entry twice"
    );
}

#[test]
fn a_schema_4_database_keeps_its_task_instances_at_map_index_minus_one_when_migrated() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("state");
    {
        // What lithoflow wrote with schema 4: task instances keyed by task id alone,
        // with no map index in the record.
        let db = sled::open(&path).expect("opens");
        db.open_tree("meta")
            .expect("tree")
            .insert("schema_version", &b"4"[..])
            .expect("insert");
        let mut r = run("a", "r1", 10);
        r.version = 4;
        db.open_tree("dag_runs")
            .expect("tree")
            .insert(key(&["a", "r1"]), serde_json::to_vec(&r).expect("bytes"))
            .expect("insert");
        let tis = db.open_tree("task_instances").expect("tree");
        for (task, state) in [("t", "success"), ("t2", "failed")] {
            let record = json!({
                "version": 4, "task_id": task, "state": state, "try_number": 1,
                "max_tries": 1, "start_date": null, "end_date": null, "duration_s": null,
                "error": null, "job_id": null, "next_retry_at": null,
                "calls_done": 0, "calls_failed": 0, "calls_total": 0
            });
            tis.insert(
                key(&["a", "r1", task]),
                serde_json::to_vec(&record).expect("bytes"),
            )
            .expect("insert");
        }
        db.flush().expect("flush");
    }
    let s = Store::open_again(&path).expect("migrates");
    assert_eq!(s.schema_version().expect("meta"), Some(SCHEMA_VERSION));
    let t = s.ti("a", "r1", "t").expect("reads").expect("present");
    assert_eq!(
        (t.map_index, t.state, t.version),
        (-1, TaskState::Success, SCHEMA_VERSION)
    );
    let all = s.tis("a", "r1").expect("reads");
    assert_eq!(
        all.iter()
            .map(|t| (t.task_id.as_str(), t.map_index))
            .collect::<Vec<_>>(),
        [("t", -1), ("t2", -1)],
        "each instance once, under its new key"
    );
    assert_eq!(s.task_tis("a", "r1", "t").expect("reads").len(), 1);
    let r1 = s.run("a", "r1").expect("reads").expect("present");
    assert_eq!(r1.version, SCHEMA_VERSION, "marked as of the new schema");
    drop(s);
    assert!(dir.path().join("state.schema-4.bak").join("db").is_file());
    let s = Store::open_again(&path).expect("opens again");
    assert_eq!(s.tis("a", "r1").expect("reads").len(), 2);
}

#[test]
fn mapped_instances_are_kept_per_map_index_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = Store::open(&dir.path().join("state")).expect("opens");
    for i in [10, 2, 0, 1] {
        s.put_ti("d", "r", &TaskInstanceRecord::mapped("m", i, 1))
            .expect("put");
    }
    s.put_ti("d", "r", &TaskInstanceRecord::new("m2", 1))
        .expect("put");
    let got: Vec<(String, i32)> = s
        .tis("d", "r")
        .expect("reads")
        .into_iter()
        .map(|t| (t.task_id, t.map_index))
        .collect();
    assert_eq!(
        got,
        [("m", 0), ("m", 1), ("m", 2), ("m", 10), ("m2", -1)]
            .map(|(t, i)| (t.to_owned(), i))
            .to_vec()
    );
    assert_eq!(s.task_tis("d", "r", "m").expect("reads").len(), 4);
    assert!(s.ti("d", "r", "m").expect("reads").is_none());
    assert!(s.ti_at("d", "r", "m", 2).expect("reads").is_some());
    s.delete_ti("d", "r", "m", 2).expect("delete");
    assert!(s.ti_at("d", "r", "m", 2).expect("reads").is_none());
    for i in [1, 0] {
        s.put_xcom_at(
            "d",
            "r",
            "m",
            i,
            RETURN_KEY,
            &json!(i * 10),
            chrono::Utc::now(),
        )
        .expect("xcom");
    }
    assert_eq!(
        s.mapped_results("d", "r", "m").expect("reads"),
        [json!(0), json!(10)]
    );
    s.clear_xcom_at("d", "r", "m", 0).expect("clear");
    assert_eq!(s.mapped_results("d", "r", "m").expect("reads"), [json!(10)]);
}
