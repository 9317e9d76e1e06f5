//! Dynamic task mapping in the engine, against a fake executor that knows map indexes,
//! with tokio's paused clock: instances each dispatched and retried alone (after the
//! retry delay), `max_active_tis_per_dagrun` in virtual time, the downstream trigger
//! rule over every instance, zero elements, recovery of one instance after a restart,
//! and a clear while the instances run.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{Harness, VirtualClock};
use crate::engine::{
    CallbackInput, CallbackOutput, Engine, RunControl, TaskExecutor, TryInput, TryOutput,
};
use crate::store::{RunState, TaskState};
use crate::taskrun::TaskError;
use lithoflow_dag::{Task, TaskKind};

/// One try the fake saw: task, map index, try, virtual start and end seconds.
type Try = (String, i32, u32, f64, Option<f64>);

/// Each try runs 10 virtual seconds (`long` ones 600) and returns its `x` times 10; the
/// instance at map index 1 of `flaky` fails its first try; `make` returns [1, 2, 3, 4].
struct MapFake {
    t0: Instant,
    tries: Arc<Mutex<Vec<Try>>>,
}

impl MapFake {
    fn tries(&self, task: &str) -> Vec<(i32, u32, f64, Option<f64>)> {
        let mut out: Vec<_> = self
            .tries
            .lock()
            .expect("tries")
            .iter()
            .filter(|t| t.0 == task)
            .map(|t| (t.1, t.2, t.3, t.4))
            .collect();
        out.sort_by_key(|t| (t.0, t.1));
        out
    }
}

fn x_of(task: &Task) -> Option<Value> {
    match &task.kind {
        TaskKind::Python(p) => p.op_kwargs.get("x").cloned(),
        _ => None,
    }
}

impl TaskExecutor for MapFake {
    fn run_try(&self, input: TryInput) -> BoxFuture<'static, TryOutput> {
        let t0 = self.t0;
        let task_id = input.task.task_id.clone();
        let start = (Instant::now() - t0).as_secs_f64();
        let index = {
            let mut tries = self.tries.lock().expect("tries");
            tries.push((
                task_id.clone(),
                input.map_index,
                input.try_number,
                start,
                None,
            ));
            tries.len() - 1
        };
        let tries = Arc::clone(&self.tries);
        let runs_for = Duration::from_secs(if task_id == "long" { 600 } else { 10 });
        let value: Result<Value, String> = match task_id.as_str() {
            "make" => Ok(json!([1, 2, 3, 4])),
            "flaky" if input.map_index == 1 && input.try_number == 1 => {
                Err("instance 1 fails once".to_owned())
            }
            "collect" => Ok(input.xcom.get("double").cloned().unwrap_or(Value::Null)),
            _ => Ok(x_of(&input.task)
                .and_then(|x| x.as_i64())
                .map_or(Value::Null, |x| json!(x * 10))),
        };
        Box::pin(async move {
            tokio::select! {
                () = tokio::time::sleep(runs_for) => {}
                () = input.cancel.cancelled() => {
                    return TryOutput::failed(TaskError::Input("cancelled".to_owned()));
                }
            }
            tries.lock().expect("tries")[index].4 = Some((Instant::now() - t0).as_secs_f64());
            TryOutput {
                value: value.map_err(TaskError::Input),
                job: None,
                output: None,
            }
        })
    }

    fn enforces_execution_timeout(&self, _task: &Task) -> bool {
        false
    }

    fn run_callback(&self, _input: CallbackInput) -> BoxFuture<'static, CallbackOutput> {
        Box::pin(async {
            CallbackOutput {
                result: Ok(()),
                output: String::new(),
            }
        })
    }
}

fn setup(toml: &str) -> (Harness, Arc<MapFake>) {
    let h = Harness::new(toml);
    let fake = Arc::new(MapFake {
        t0: h.clock.t0,
        tries: Arc::new(Mutex::new(Vec::new())),
    });
    (h, fake)
}

fn engine(h: &Harness, fake: &Arc<MapFake>) -> Engine {
    let clock: Arc<VirtualClock> = Arc::clone(&h.clock);
    Engine::with_executor(
        Arc::clone(&h.store),
        fake.clone(),
        h._home.path().join("logs"),
    )
    .with_clock(clock)
}

const DAG: &str = r#"
    [tasks.make]
    type = "python"
    python_callable = "m:make"

    [tasks.double]
    type = "python"
    python_callable = "m:double"
    expand = { x = "make" }
    max_active_tis_per_dagrun = 2

    [tasks.flaky]
    type = "python"
    python_callable = "m:flaky"
    expand = { x = [7, 8, 9] }
    retries = 1
    retry_delay = "30s"

    [tasks.collect]
    type = "python"
    python_callable = "m:collect"
    op_kwargs_from_task = { values = "double" }
    upstream = ["flaky"]
"#;

#[tokio::test(start_paused = true)]
async fn instances_run_retry_and_wait_on_their_own_and_the_downstream_waits_for_all() {
    let (h, fake) = setup(DAG);
    h.trigger("r", 0);
    let run = engine(&h, &fake)
        .run(Arc::clone(&h.dag), "r", None)
        .await
        .expect("run");
    assert_eq!(run.state, RunState::Success, "{:?}", run.note);
    // `make` at 0-10 s; four instances of `double`, two at a time.
    let double = fake.tries("double");
    let starts: Vec<(i32, u32, f64)> = double.iter().map(|t| (t.0, t.1, t.2)).collect();
    assert_eq!(
        starts,
        [(0, 1, 10.0), (1, 1, 10.0), (2, 1, 20.0), (3, 1, 20.0)]
    );
    // The flaky instance alone is retried, 30 s after its first try failed.
    let flaky: Vec<(i32, u32, f64)> = fake
        .tries("flaky")
        .iter()
        .map(|t| (t.0, t.1, t.2))
        .collect();
    assert_eq!(flaky, [(0, 1, 0.0), (1, 1, 0.0), (1, 2, 40.0), (2, 1, 0.0)]);
    // The downstream task ran once every instance of both was done, with the list.
    let collect = fake.tries("collect");
    assert_eq!(collect.len(), 1);
    assert_eq!(collect[0].2, 50.0);
    let value = h
        .store
        .xcom("t", "r", "collect", "return_value")
        .expect("xcom");
    assert_eq!(value, Some(json!([10, 20, 30, 40])));
    let tis = h.store.task_tis("t", "r", "flaky").expect("tis");
    let got: Vec<(i32, TaskState, u32)> = tis
        .iter()
        .map(|t| (t.map_index, t.state, t.try_number))
        .collect();
    assert_eq!(
        got,
        [
            (0, TaskState::Success, 1),
            (1, TaskState::Success, 2),
            (2, TaskState::Success, 1)
        ]
    );
    assert!(h.store.ti("t", "r", "double").expect("read").is_none());
}

#[tokio::test(start_paused = true)]
async fn nothing_to_map_over_skips_the_task_and_its_all_success_downstream() {
    let (h, fake) = setup(
        r#"
        [tasks.none]
        type = "python"
        python_callable = "m:f"
        expand = { x = [] }

        [tasks.after]
        type = "python"
        python_callable = "m:f"
        upstream = ["none"]
        "#,
    );
    h.trigger("r", 0);
    let run = engine(&h, &fake)
        .run(Arc::clone(&h.dag), "r", None)
        .await
        .expect("run");
    assert_eq!(run.state, RunState::Success);
    assert_eq!(h.state("r", "none"), (TaskState::Skipped, 0));
    assert_eq!(h.state("r", "after"), (TaskState::Skipped, 0));
    assert!(fake.tries("none").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_restart_reruns_only_the_instance_left_running_on_its_try() {
    let (h, fake) = setup(DAG);
    h.trigger("r", 0);
    engine(&h, &fake)
        .run(Arc::clone(&h.dag), "r", None)
        .await
        .expect("run");
    // As a kill would leave it: instance 2 of `double` running its try 1, the
    // downstream not run, the run running.
    let mut ti = h
        .store
        .ti_at("t", "r", "double", 2)
        .expect("read")
        .expect("ti");
    ti.state = TaskState::Running;
    h.store.put_ti("t", "r", &ti).expect("write");
    let mut collect = h.store.ti("t", "r", "collect").expect("read").expect("ti");
    collect.state = TaskState::None;
    collect.try_number = 0;
    h.store.put_ti("t", "r", &collect).expect("write");
    let mut run = h.store.run("t", "r").expect("read").expect("run");
    run.state = RunState::Running;
    h.store.put_run(&run).expect("write");
    fake.tries.lock().expect("tries").clear();

    let run = engine(&h, &fake)
        .run(Arc::clone(&h.dag), "r", None)
        .await
        .expect("run");
    assert_eq!(run.state, RunState::Success);
    let again: Vec<(i32, u32)> = fake.tries("double").iter().map(|t| (t.0, t.1)).collect();
    assert_eq!(again, [(2, 1)], "only the instance left running, same try");
    assert!(fake.tries("flaky").is_empty());
    assert_eq!(fake.tries("collect").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_mapped_task_cleared_while_its_instances_run_is_expanded_again() {
    let (h, fake) = setup(
        r#"
        [tasks.long]
        type = "python"
        python_callable = "m:f"
        expand = { x = [1, 2] }
        "#,
    );
    h.trigger("r", 0);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let e = engine(&h, &fake);
    let dag = Arc::clone(&h.dag);
    let running = tokio::spawn(async move { e.run_controlled(dag, "r", None, Some(rx)).await });
    tokio::time::sleep(Duration::from_secs(30)).await;
    tx.send(RunControl::Clear(vec![
        "long".to_owned(),
        "long".to_owned(),
    ]))
    .expect("send");
    let run = running.await.expect("joined").expect("run");
    assert_eq!(run.state, RunState::Success);
    // Both first tries were stopped at 30 s; both instances ran again, on try 2.
    let tries: Vec<(i32, u32, f64, bool)> = fake
        .tries("long")
        .iter()
        .map(|t| (t.0, t.1, t.2, t.3.is_some()))
        .collect();
    assert_eq!(
        tries,
        [
            (0, 1, 0.0, false),
            (0, 2, 30.0, true),
            (1, 1, 0.0, false),
            (1, 2, 30.0, true)
        ]
    );
    let got: Vec<(i32, TaskState, u32)> = h
        .store
        .task_tis("t", "r", "long")
        .expect("tis")
        .iter()
        .map(|t| (t.map_index, t.state, t.try_number))
        .collect();
    assert_eq!(
        got,
        [(0, TaskState::Success, 2), (1, TaskState::Success, 2)]
    );
}
