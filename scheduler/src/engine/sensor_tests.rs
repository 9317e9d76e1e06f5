//! Sensors in the engine against a fake executor with tokio's paused clock: the poke
//! times, no worker held between pokes, timeout (failed without retry, or skipped with
//! soft_fail), reschedule mode's recorded wait and its resumption by a new engine (a
//! scheduler restart) without the timeout being reset, and Airflow's exponential
//! backoff. A python sensor's pokes are the fake's tries; the store is a real one.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{
    CallbackInput, CallbackOutput, Clock, Engine, RunControl, TaskExecutor, TryInput, TryOutput,
};
use crate::ops::{self, TriggerRequest};
use crate::store::{RunState, Store, TaskState};
use lithoflow_dag::{Dag, Task};

/// Answers each python poke with the next scripted value (then `false`), recording the
/// virtual second of each poke and how many run at once.
struct Poker {
    t0: Instant,
    answers: Mutex<VecDeque<Value>>,
    pokes: Mutex<Vec<f64>>,
}

impl TaskExecutor for Poker {
    fn run_try(&self, input: TryInput) -> BoxFuture<'static, TryOutput> {
        if input.task.task_id != "s" {
            return Box::pin(async {
                TryOutput::failed(crate::taskrun::TaskError::Skip("not a poke".into()))
            });
        }
        self.pokes
            .lock()
            .expect("pokes")
            .push((Instant::now() - self.t0).as_secs_f64());
        let answer = self
            .answers
            .lock()
            .expect("answers")
            .pop_front()
            .unwrap_or(json!(false));
        assert!(input.job_key.contains("/poke-"), "{}", input.job_key);
        Box::pin(async move {
            // A poke takes a second of virtual time.
            tokio::time::sleep(Duration::from_secs(1)).await;
            TryOutput {
                value: Ok(answer),
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

struct VirtualClock {
    base: DateTime<Utc>,
    t0: Instant,
}

impl Clock for VirtualClock {
    fn now(&self) -> DateTime<Utc> {
        self.base + chrono::Duration::from_std(Instant::now() - self.t0).expect("small")
    }
}

struct Harness {
    home: tempfile::TempDir,
    store: Arc<Store>,
    poker: Arc<Poker>,
    clock: Arc<VirtualClock>,
    dag: Arc<Dag>,
}

impl Harness {
    fn new(task: &str, answers: Vec<Value>) -> Harness {
        let home = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open(&home.path().join("state")).expect("store"));
        let toml = format!(
            "[tasks.s]\ntype = \"sensor\"\nsensor = \"python\"\npython_callable = \"m:f\"\n{task}\n\n[tasks.after]\ntype = \"empty\"\nupstream = [\"s\"]\n"
        );
        let (dag, diags) = lithoflow_dag::parse_dag(Path::new("/dags/t.toml"), &toml);
        assert!(diags.is_empty(), "{diags:?}");
        let t0 = Instant::now();
        Harness {
            home,
            store,
            poker: Arc::new(Poker {
                t0,
                answers: Mutex::new(answers.into()),
                pokes: Mutex::new(Vec::new()),
            }),
            clock: Arc::new(VirtualClock {
                base: Utc
                    .with_ymd_and_hms(2026, 12, 1, 0, 0, 0)
                    .single()
                    .expect("date"),
                t0,
            }),
            dag: Arc::new(dag.expect("dag")),
        }
    }

    fn engine(&self) -> Engine {
        Engine::with_executor(
            Arc::clone(&self.store),
            self.poker.clone(),
            self.home.path().join("logs"),
        )
        .with_clock(self.clock.clone())
    }

    fn trigger(&self) {
        let req = TriggerRequest {
            run_id: Some("r".to_owned()),
            logical_date: Some(self.clock.base),
            ..TriggerRequest::default()
        };
        ops::trigger(&self.store, &self.dag, req, self.clock.now()).expect("trigger");
    }

    fn pokes(&self) -> Vec<f64> {
        self.poker.pokes.lock().expect("pokes").clone()
    }

    fn ti(&self) -> crate::store::TaskInstanceRecord {
        self.store
            .ti("t", "r", "s")
            .expect("read")
            .expect("the sensor's instance")
    }
}

#[tokio::test(start_paused = true)]
async fn a_sensor_pokes_every_interval_and_its_value_is_the_xcom() {
    let h = Harness::new(
        "poke_interval = \"60s\"",
        vec![
            json!(false),
            json!(0),
            json!({ "__lithoflow_poke_return_value__": true, "is_done": true, "xcom_value": {"rows": 3} }),
        ],
    );
    h.trigger();
    let run = h
        .engine()
        .run(Arc::clone(&h.dag), "r", None)
        .await
        .expect("ends");
    // (`after` is skipped by the fake: the run succeeds either way.)
    assert_eq!(run.state, RunState::Success);
    // Each poke takes a second; the next comes poke_interval after the last ended.
    assert_eq!(h.pokes(), vec![0.0, 61.0, 122.0]);
    assert_eq!(h.ti().state, TaskState::Success);
    assert_eq!(
        h.store.xcom("t", "r", "s", "return_value").expect("read"),
        Some(json!({"rows": 3}))
    );
}

#[tokio::test(start_paused = true)]
async fn a_timeout_fails_the_sensor_without_retry_or_skips_it_with_soft_fail() {
    for (extra, state) in [
        ("", TaskState::Failed),
        ("soft_fail = true", TaskState::Skipped),
    ] {
        let h = Harness::new(
            &format!("poke_interval = 60\ntimeout = 150\nretries = 3\n{extra}"),
            Vec::new(),
        );
        h.trigger();
        h.engine()
            .run(Arc::clone(&h.dag), "r", None)
            .await
            .expect("ends");
        // Pokes at 0, 61, 122, 183: after the one at 183 the run duration (184 s) is
        // past the timeout.
        assert_eq!(h.pokes(), vec![0.0, 61.0, 122.0, 183.0], "{extra}");
        let ti = h.ti();
        assert_eq!((ti.state, ti.try_number), (state, 1), "{extra}");
        if state == TaskState::Failed {
            let error = ti.error.unwrap_or_default();
            assert!(
                error.starts_with("Sensor has timed out; run duration of 184"),
                "{error}"
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn reschedule_mode_records_the_wait_and_a_new_engine_resumes_it() {
    let h = Harness::new(
        "mode = \"reschedule\"\npoke_interval = 100\ntimeout = 250",
        Vec::new(),
    );
    h.trigger();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let engine = h.engine();
    let dag = Arc::clone(&h.dag);
    let first = tokio::spawn(async move {
        let out = engine.run_controlled(dag, "r", None, Some(rx)).await;
        drop(engine);
        out
    });
    // Between the first and the second poke: up_for_reschedule, with the next poke.
    tokio::time::sleep(Duration::from_secs(50)).await;
    let ti = h.ti();
    assert_eq!(ti.state, TaskState::UpForReschedule);
    let wait = ti.sensor.expect("the wait is recorded");
    assert_eq!(wait.first_poke, h.clock.base);
    assert_eq!(
        wait.next_poke_at,
        Some(h.clock.base + chrono::Duration::seconds(101))
    );
    // The scheduler stops (a drain, with the grace period running tries get): the
    // sensor stops waiting at once, and its wait stays recorded.
    let drained_at = Instant::now();
    tx.send(RunControl::Drain {
        deadline: drained_at + Duration::from_secs(3600),
    })
    .expect("send");
    let run = first.await.expect("joins").expect("drained");
    assert_eq!(run.state, RunState::Running);
    assert!(Instant::now() - drained_at < Duration::from_secs(1));
    assert_eq!(h.ti().state, TaskState::UpForReschedule);
    // Restarted 20 s later: the next poke is at the recorded time, and the timeout still
    // counts from the first poke (pokes at 0, 101, 202, 303; 304 > 250 ends it).
    tokio::time::sleep(Duration::from_secs(20)).await;
    h.engine()
        .run(Arc::clone(&h.dag), "r", None)
        .await
        .expect("ends");
    assert_eq!(h.pokes(), vec![0.0, 101.0, 202.0, 303.0]);
    let ti = h.ti();
    assert_eq!((ti.state, ti.try_number), (TaskState::Failed, 1));
    assert!(
        ti.error
            .unwrap_or_default()
            .contains("run duration of 304 seconds"),
    );
}

#[test]
fn exponential_backoff_is_airflows_formula() {
    // The intervals Airflow 2.10's _get_next_poke_interval gives in reschedule mode for
    // dag `d`, task `t`, first poke 2026-12-01 00:00 UTC, poke_interval 60 (computed
    // with its Python code).
    let (dag, _) = lithoflow_dag::parse_dag(
        Path::new("d.toml"),
        "[tasks.t]\ntype = \"sensor\"\nsensor = \"time_delta\"\ndelta = 1\nmode = \"reschedule\"\nexponential_backoff = true\ntimeout = 86400\n",
    );
    let dag = dag.expect("valid");
    let Some(lithoflow_dag::TaskKind::Sensor(spec)) = dag.task("t").map(|t| t.kind.clone()) else {
        panic!("a sensor")
    };
    let start = Utc
        .with_ymd_and_hms(2026, 12, 1, 0, 0, 0)
        .single()
        .expect("date");
    let next = |spec: &lithoflow_dag::SensorSpec, elapsed: u64| {
        spec.next_poke_interval("d", "t", start, 1, Duration::from_secs(elapsed))
            .as_secs()
    };
    let got: Vec<u64> = [0, 10, 100, 1000, 5000]
        .iter()
        .map(|e| next(&spec, *e))
        .collect();
    assert_eq!(got, vec![48, 48, 79, 579, 4093]);
    let capped = lithoflow_dag::SensorSpec {
        max_wait: Some(Duration::from_secs(100)),
        ..spec.clone()
    };
    assert_eq!(next(&capped, 5000), 100);
    let near_timeout = lithoflow_dag::SensorSpec {
        timeout: Duration::from_secs(1100),
        ..spec
    };
    assert_eq!(next(&near_timeout, 1000), 100);
}
