//! The write paths on stored runs, against a real store: Airflow's rules for a run's
//! state, task instances' state with relatives and other runs, the downstream clear
//! after it, notes and deletion.

use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::ops::{TriggerRequest, trigger};

/// `extract >> transform >> load`, plus `side` on its own; `load` has a retry.
const DAG: &str = r#"
[tasks.extract]
type = "bash"
bash_command = "true"

[tasks.transform]
type = "bash"
bash_command = "true"
upstream = ["extract"]

[tasks.load]
type = "bash"
bash_command = "true"
upstream = ["transform"]
retries = 1

[tasks.side]
type = "bash"
bash_command = "true"
"#;

struct Fixture {
    home: tempfile::TempDir,
    store: Store,
    dag: Dag,
}

fn day(n: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, n, 0, 0, 0)
        .single()
        .expect("date")
}

fn fixture() -> Fixture {
    let home = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&home.path().join("state")).expect("store");
    let (dag, diags) = lithoflow_dag::parse_dag(Path::new("/dags/w.toml"), DAG);
    assert!(diags.is_empty(), "{diags:?}");
    Fixture {
        home,
        store,
        dag: dag.expect("dag"),
    }
}

impl Fixture {
    /// A run on day `n` whose instances have these states (others: none recorded).
    fn run(&self, run_id: &str, n: u32, states: &[(&str, TaskState)]) -> DagRunRecord {
        let req = TriggerRequest {
            run_id: Some(run_id.to_owned()),
            logical_date: Some(day(n)),
            ..TriggerRequest::default()
        };
        let mut run = trigger(&self.store, &self.dag, req, day(n)).expect("trigger");
        for (task, state) in states {
            let mut ti = TaskInstanceRecord::new(task, 1);
            ti.state = *state;
            if *state != TaskState::None {
                ti.try_number = 1;
                ti.start_date = Some(day(n));
            }
            if state.is_finished() {
                ti.end_date = Some(day(n) + chrono::Duration::seconds(5));
            }
            self.store.put_ti("w", run_id, &ti).expect("put ti");
        }
        if !states.is_empty() {
            run.state = RunState::Running;
            run.start_date = Some(day(n));
            self.store.put_run(&run).expect("put run");
        }
        run
    }

    fn state(&self, run_id: &str, task: &str) -> TaskState {
        self.store
            .ti("w", run_id, task)
            .expect("read")
            .map_or(TaskState::None, |t| t.state)
    }

    fn run_state(&self, run_id: &str) -> DagRunRecord {
        self.store.run("w", run_id).expect("read").expect("run")
    }

    fn spec(&self, run_id: &str, task: &str, state: TaskState) -> SetTaskStateSpec {
        SetTaskStateSpec {
            run_id: run_id.to_owned(),
            task_id: task.to_owned(),
            map_indexes: None,
            state,
            upstream: false,
            downstream: false,
            future: false,
            past: false,
            dry_run: false,
        }
    }

    fn set(&self, spec: &SetTaskStateSpec) -> Vec<ClearedTi> {
        let plans = task_state_plan(&self.store, &self.dag, spec).expect("plan");
        let listed = planned(&plans);
        if !spec.dry_run {
            for p in plans {
                apply_task_state(&self.store, &self.dag, p, spec.state, day(20)).expect("apply");
            }
        }
        listed
    }
}

fn names(listed: &[ClearedTi]) -> Vec<(String, String, TaskState)> {
    let mut v: Vec<_> = listed
        .iter()
        .map(|t| (t.dag_run_id.clone(), t.task_id.clone(), t.state))
        .collect();
    v.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    v
}

#[test]
fn run_to_success_sets_every_instance_not_successful_to_success() {
    let f = fixture();
    f.run(
        "r",
        1,
        &[
            ("extract", TaskState::Success),
            ("transform", TaskState::Failed),
            ("load", TaskState::UpstreamFailed),
            ("side", TaskState::Skipped),
        ],
    );
    let (run, changed) =
        set_run_state(&f.store, &f.dag, "r", RunState::Success, day(3)).expect("set");
    assert_eq!(run.state, RunState::Success);
    assert_eq!(run.end_date, Some(day(3)));
    // As Airflow's set_dag_run_state_to_success: skipped and failed become success too.
    assert_eq!(changed.len(), 3);
    for t in ["extract", "transform", "load", "side"] {
        assert_eq!(f.state("r", t), TaskState::Success, "{t}");
    }
    // A finished instance keeps its end date; a running one would get now.
    let ti = f
        .store
        .ti("w", "r", "transform")
        .expect("read")
        .expect("ti");
    assert_eq!(ti.end_date, Some(day(1) + chrono::Duration::seconds(5)));
    assert_eq!(ti.error, None);
}

#[test]
fn run_to_failed_fails_running_instances_and_skips_the_unfinished_ones() {
    let f = fixture();
    f.run(
        "r",
        1,
        &[
            ("extract", TaskState::Success),
            ("transform", TaskState::Running),
            ("load", TaskState::None),
            ("side", TaskState::UpForRetry),
        ],
    );
    let (run, _) = set_run_state(&f.store, &f.dag, "r", RunState::Failed, day(3)).expect("set");
    assert_eq!((run.state, run.end_date), (RunState::Failed, Some(day(3))));
    assert_eq!(f.state("r", "extract"), TaskState::Success);
    assert_eq!(f.state("r", "transform"), TaskState::Failed);
    assert_eq!(f.state("r", "load"), TaskState::Skipped);
    assert_eq!(f.state("r", "side"), TaskState::Skipped);
}

#[test]
fn a_queued_run_set_to_failed_gets_its_missing_instances_skipped() {
    let f = fixture();
    f.run("q", 1, &[]);
    let (run, changed) =
        set_run_state(&f.store, &f.dag, "q", RunState::Failed, day(3)).expect("set");
    assert_eq!(run.state, RunState::Failed);
    assert_eq!(changed.len(), 4);
    assert_eq!(f.state("q", "load"), TaskState::Skipped);
}

#[test]
fn run_to_queued_keeps_the_instances_and_resets_the_dates() {
    let f = fixture();
    f.run("r", 1, &[("extract", TaskState::Failed)]);
    set_run_state(&f.store, &f.dag, "r", RunState::Failed, day(2)).expect("fail");
    let (run, changed) =
        set_run_state(&f.store, &f.dag, "r", RunState::Queued, day(3)).expect("queue");
    assert!(changed.is_empty());
    assert_eq!(run.state, RunState::Queued);
    assert_eq!(
        (run.queued_at, run.start_date, run.end_date),
        (Some(day(3)), None, None)
    );
    assert_eq!(f.state("r", "extract"), TaskState::Failed);
    let err = set_run_state(&f.store, &f.dag, "r", RunState::Running, day(3))
        .expect_err("running is refused");
    assert!(matches!(err, OpError::BadRequest(_)), "{err}");
    let err =
        set_run_state(&f.store, &f.dag, "nope", RunState::Success, day(3)).expect_err("no run");
    assert!(matches!(err, OpError::NotFound(_)), "{err}");
}

#[test]
fn task_state_reaches_relatives_and_other_runs_as_asked() {
    let f = fixture();
    let all = [
        ("extract", TaskState::Failed),
        ("transform", TaskState::UpstreamFailed),
        ("load", TaskState::UpstreamFailed),
        ("side", TaskState::Failed),
    ];
    f.run("r1", 1, &all);
    f.run("r2", 2, &all);
    f.run("r3", 3, &all);
    // Alone: one instance in one run.
    let mut spec = f.spec("r2", "transform", TaskState::Success);
    spec.dry_run = true;
    assert_eq!(
        names(&f.set(&spec)),
        vec![("r2".into(), "transform".into(), TaskState::UpstreamFailed)]
    );
    // Upstream and downstream, never the unrelated task.
    spec.upstream = true;
    spec.downstream = true;
    let got: Vec<String> = f.set(&spec).into_iter().map(|t| t.task_id).collect();
    assert_eq!(got.len(), 3);
    assert!(!got.contains(&"side".to_owned()));
    // Future and past: the same task in the later and earlier runs.
    let mut spec = f.spec("r2", "side", TaskState::Skipped);
    spec.dry_run = true;
    spec.future = true;
    let runs: Vec<String> = f.set(&spec).into_iter().map(|t| t.dag_run_id).collect();
    assert_eq!(runs, vec!["r2".to_owned(), "r3".to_owned()]);
    spec.future = false;
    spec.past = true;
    let runs: Vec<String> = f.set(&spec).into_iter().map(|t| t.dag_run_id).collect();
    assert_eq!(runs, vec!["r1".to_owned(), "r2".to_owned()]);
    // A dry run changed nothing.
    assert_eq!(f.state("r2", "side"), TaskState::Failed);
    // Instances already in the state are left out.
    let spec = f.spec("r2", "side", TaskState::Failed);
    assert!(f.set(&spec).is_empty());
    // Refused: a state the API cannot set, a task the DAG lacks.
    let spec = f.spec("r2", "side", TaskState::Running);
    assert!(matches!(
        task_state_plan(&f.store, &f.dag, &spec),
        Err(OpError::BadRequest(_))
    ));
    let spec = f.spec("r2", "nope", TaskState::Success);
    assert!(matches!(
        task_state_plan(&f.store, &f.dag, &spec),
        Err(OpError::NotFound(_))
    ));
}

#[test]
fn marking_a_failed_task_success_clears_its_failed_downstream_so_the_run_goes_on() {
    let f = fixture();
    f.run(
        "r",
        1,
        &[
            ("extract", TaskState::Success),
            ("transform", TaskState::Failed),
            ("load", TaskState::UpstreamFailed),
            ("side", TaskState::Failed),
        ],
    );
    let mut run = f.run_state("r");
    run.state = RunState::Failed;
    run.end_date = Some(day(1));
    f.store.put_run(&run).expect("put");
    f.set(&f.spec("r", "transform", TaskState::Success));
    assert_eq!(f.state("r", "transform"), TaskState::Success);
    // Airflow's set_task_instance_state: the downstream failed instances are cleared,
    // and their run queued to run them; an unrelated failure stays.
    assert_eq!(f.state("r", "load"), TaskState::None);
    assert_eq!(f.state("r", "side"), TaskState::Failed);
    let run = f.run_state("r");
    assert_eq!((run.state, run.end_date), (RunState::Queued, None));
}

#[test]
fn a_task_set_in_a_finished_run_without_failed_downstream_leaves_the_run_as_it_is() {
    let f = fixture();
    f.run("r", 1, &[("side", TaskState::Failed)]);
    let mut run = f.run_state("r");
    run.state = RunState::Failed;
    f.store.put_run(&run).expect("put");
    f.set(&f.spec("r", "side", TaskState::Success));
    assert_eq!(f.state("r", "side"), TaskState::Success);
    assert_eq!(f.run_state("r").state, RunState::Failed);
}

#[test]
fn notes_go_on_runs_and_task_instances() {
    let f = fixture();
    f.run("r", 1, &[("extract", TaskState::Success)]);
    set_note(
        &f.store,
        Some(&f.dag),
        "w",
        "r",
        None,
        Some("looked at".into()),
    )
    .expect("run");
    assert_eq!(f.run_state("r").user_note.as_deref(), Some("looked at"));
    // The failure reason (`note`) is another field.
    assert_eq!(f.run_state("r").note, None);
    set_note(
        &f.store,
        Some(&f.dag),
        "w",
        "r",
        Some(("extract", -1)),
        Some("ok".into()),
    )
    .expect("ti");
    let ti = f.store.ti("w", "r", "extract").expect("read").expect("ti");
    assert_eq!(ti.note.as_deref(), Some("ok"));
    // A task whose instance the run has not created yet gets it, with the note.
    set_note(
        &f.store,
        Some(&f.dag),
        "w",
        "r",
        Some(("load", -1)),
        Some("later".into()),
    )
    .expect("new ti");
    let ti = f.store.ti("w", "r", "load").expect("read").expect("ti");
    assert_eq!(
        (ti.state, ti.note.as_deref()),
        (TaskState::None, Some("later"))
    );
    set_note(&f.store, Some(&f.dag), "w", "r", None, None).expect("removed");
    assert_eq!(f.run_state("r").user_note, None);
    for bad in [
        set_note(&f.store, Some(&f.dag), "w", "nope", None, None),
        set_note(&f.store, Some(&f.dag), "w", "r", Some(("nope", -1)), None),
        set_note(&f.store, Some(&f.dag), "w", "r", Some(("extract", 3)), None),
    ] {
        assert!(matches!(bad, Err(OpError::NotFound(_))), "{bad:?}");
    }
}

#[test]
fn deleting_a_run_removes_its_records_xcom_logs_and_job_data() {
    let f = fixture();
    f.run("r", 1, &[("extract", TaskState::Success)]);
    f.run("keep", 2, &[("extract", TaskState::Success)]);
    f.store
        .put_xcom_at(
            "w",
            "r",
            "extract",
            -1,
            "return_value",
            &serde_json::json!(1),
            day(1),
        )
        .expect("xcom");
    let files = crate::retention::RunFiles {
        logs: f.home.path().join("logs"),
        storage: f.home.path().join("storage"),
    };
    let log = crate::engine::Engine::log_path(&files.logs, "w", "r", "extract", -1, 1);
    std::fs::create_dir_all(log.parent().expect("parent")).expect("mkdir");
    std::fs::write(&log, "log").expect("log");
    delete_run(&f.store, &files, "w", "r").expect("delete");
    assert!(f.store.run("w", "r").expect("read").is_none());
    assert!(f.store.tis("w", "r").expect("read").is_empty());
    assert!(
        f.store
            .xcom("w", "r", "extract", "return_value")
            .expect("read")
            .is_none()
    );
    assert!(!log.exists());
    assert!(f.store.run("w", "keep").expect("read").is_some());
    assert!(matches!(
        delete_run(&f.store, &files, "w", "r"),
        Err(OpError::NotFound(_))
    ));
}

#[test]
fn a_user_action_is_recorded_with_its_owner() {
    let f = fixture();
    audit(
        &f.store,
        AuditRecord::new(events::CLI_TRIGGER, &os_user()).about("w", Some("r")),
    );
    let log = f.store.audit_log().expect("log");
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].event, "cli_dag_trigger");
    assert!(!log[0].owner.is_empty());
}
