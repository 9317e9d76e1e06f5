//! `bash` tasks (Airflow's BashOperator): the rendered command runs with `bash -c` in
//! its own process group on the scheduler's machine; stdout and stderr are drained
//! together and kept for the log; the last line of stdout is the XCom value; an exit
//! code in `skip_on_exit_code` (99 by default) skips the task; any other non-zero code
//! fails it. A try past its timeout gets SIGTERM, then SIGKILL, to the whole group.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use lithoflow_dag::BashSpec;

/// What `bash -c` runs: the user's command (`$1`) with a watcher beside it in its
/// process group. The scheduler holds the only write end of the watcher's pipe (the
/// command's original stdin, moved to fd 3; the command itself reads /dev/null as
/// before). When the scheduler exits or is killed, SIGKILL included, the kernel closes
/// that end, the watcher reads end-of-file and kills the whole group, so no command goes
/// on running for a scheduler that will run the task again when it restarts. When the
/// command ends first the scheduler writes a line, and the watcher leaves quietly.
/// `exec -a bash` keeps `$0` what Airflow's `bash -c` gives; the watcher's own output
/// goes nowhere, so it never holds the command's output pipes open.
const DIE_WITH_HOST: &str = r#"exec 3<&0 </dev/null
( exec >/dev/null 2>&1; read -r -u 3 _ || kill -KILL 0 ) &
exec -a bash "$BASH" -c "$1" 3<&-"#;

/// The most output kept per stream for the log (the tail is kept).
const OUTPUT_LIMIT: usize = 1024 * 1024;

/// How long a stopped command has between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// What a bash try did.
#[derive(Debug, Clone)]
pub(crate) struct BashOutcome {
    /// The XCom value (the last line of stdout), or why the task did not succeed.
    pub result: Result<Value, BashEnd>,
    /// The command's output, for the log.
    pub output: String,
    /// Its exit code, when it exited (a bash sensor reads it).
    pub code: Option<i32>,
}

/// How a bash try ended without success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BashEnd {
    /// An exit code in `skip_on_exit_code`.
    Skipped(String),
    /// A failure, with its message.
    Failed(String),
}

/// Told each piece of output as the command prints it: (`stdout` or `stderr`, whole
/// lines; a last line without its newline when the stream ends).
pub(crate) type OnOutput<'a> = dyn Fn(&str, &str) + Sync + 'a;

/// Runs the rendered command. `env` of the spec is already rendered; `dag_dir` is where a
/// relative `cwd` is resolved.
pub(crate) async fn run(
    spec: &BashSpec,
    dag_dir: &Path,
    timeout: Option<Duration>,
    on_output: Option<&OnOutput<'_>>,
) -> BashOutcome {
    let tmp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => return failed(format!("cannot create a working directory: {e}")),
    };
    let cwd = match &spec.cwd {
        Some(c) => {
            let p = dag_dir.join(c);
            if !p.is_dir() {
                return failed(format!(
                    "cwd {} does not exist or is not a directory",
                    p.display()
                ));
            }
            p
        }
        None => tmp.path().to_path_buf(),
    };
    let mut cmd = tokio::process::Command::new("bash");
    cmd.arg("-c")
        .arg(DIE_WITH_HOST)
        .arg("bash")
        .arg(&spec.bash_command)
        .current_dir(&cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(env) = &spec.env {
        if !spec.append_env {
            cmd.env_clear();
        }
        cmd.envs(env_strings(env));
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return failed(format!("cannot start bash: {e}")),
    };
    let pid = child.id();
    let (Some(out), Some(err), Some(mut host)) =
        (child.stdout.take(), child.stderr.take(), child.stdin.take())
    else {
        return failed("bash's pipes are missing".to_owned());
    };
    // Both pipes drained at once, so a command filling one cannot block on the other.
    let drain = async {
        tokio::join!(
            drain_lines(out, "stdout", on_output),
            drain_lines(err, "stderr", on_output)
        )
    };
    let waited = async {
        let (o, e) = drain.await;
        let status = child.wait().await;
        (o, e, status)
    };
    let ended = match timeout {
        Some(limit) => tokio::time::timeout(limit, waited).await.ok(),
        None => Some(waited.await),
    };
    // The command has ended (or is stopped below): its watcher may go without killing
    // what the command left running, as it would have run under Airflow. If this write
    // fails the watcher has gone already.
    let _ = host.write_all(b"ended\n").await;
    drop(host);
    let Some((stdout, stderr, status)) = ended else {
        stop_group(pid, &mut child).await;
        let limit = timeout
            .map(lithoflow_dag::duration::format)
            .unwrap_or_default();
        return BashOutcome {
            result: Err(BashEnd::Failed(format!(
                "the command exceeded its execution_timeout of {limit} and was stopped"
            ))),
            output: String::new(),
            code: None,
        };
    };
    let stdout = tail(&String::from_utf8_lossy(&stdout.unwrap_or_default()));
    let stderr = tail(&String::from_utf8_lossy(&stderr.unwrap_or_default()));
    let mut output = String::new();
    for (name, text) in [("stdout", &stdout), ("stderr", &stderr)] {
        if !text.is_empty() {
            output.push_str(&format!("--- bash {name} ---\n{text}"));
            if !text.ends_with('\n') {
                output.push('\n');
            }
        }
    }
    let code = match status {
        Ok(s) => s.code(),
        Err(e) => {
            return BashOutcome {
                result: Err(BashEnd::Failed(format!("cannot wait for bash: {e}"))),
                output,
                code: None,
            };
        }
    };
    let result = match code {
        Some(0) => Ok(Value::String(
            stdout.lines().last().unwrap_or_default().to_owned(),
        )),
        Some(c) if spec.skip_on_exit_code.contains(&i64::from(c)) => Err(BashEnd::Skipped(
            format!("bash command returned exit code {c}; skipping"),
        )),
        Some(c) => Err(BashEnd::Failed(format!(
            "bash command failed. The command returned a non-zero exit code {c}."
        ))),
        None => Err(BashEnd::Failed(
            "bash command was killed by a signal".to_owned(),
        )),
    };
    BashOutcome {
        result,
        output,
        code,
    }
}

/// Reads a pipe to its end, telling `on_output` each run of whole lines as it arrives.
async fn drain_lines(
    mut pipe: impl tokio::io::AsyncRead + Unpin,
    stream: &str,
    on_output: Option<&OnOutput<'_>>,
) -> std::io::Result<Vec<u8>> {
    let mut all = Vec::new();
    let mut told = 0;
    let mut buf = vec![0u8; 8192];
    loop {
        let n = pipe.read(&mut buf).await?;
        let end = if n == 0 {
            all.len()
        } else {
            all.extend_from_slice(&buf[..n]);
            all[told..]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(told, |nl| told + nl + 1)
        };
        if let Some(f) = on_output
            && end > told
        {
            f(stream, &String::from_utf8_lossy(&all[told..end]));
            told = end;
        }
        if n == 0 {
            return Ok(all);
        }
    }
}

fn failed(message: String) -> BashOutcome {
    BashOutcome {
        result: Err(BashEnd::Failed(message)),
        output: String::new(),
        code: None,
    }
}

/// The environment values as strings (numbers and booleans written as JSON).
fn env_strings(env: &Map<String, Value>) -> Vec<(String, String)> {
    env.iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), s)
        })
        .collect()
}

/// The last [`OUTPUT_LIMIT`] bytes of `s`, on a character boundary.
fn tail(s: &str) -> String {
    if s.len() <= OUTPUT_LIMIT {
        return s.to_owned();
    }
    let mut start = s.len() - OUTPUT_LIMIT;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!(
        "[... output cut to its last {OUTPUT_LIMIT} bytes ...]\n{}",
        &s[start..]
    )
}

/// SIGTERM to the command's process group, then SIGKILL after a grace period. The
/// group's leader is reaped as it goes: unreaped, it stays in the group as a zombie, and
/// every stop took the whole grace period.
async fn stop_group(pid: Option<u32>, leader: &mut tokio::process::Child) {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) else {
        return;
    };
    let group = Pid::from_raw(pid);
    if killpg(group, Signal::SIGTERM).is_err() {
        return;
    }
    let deadline = tokio::time::Instant::now() + KILL_GRACE;
    while tokio::time::Instant::now() < deadline {
        let _ = leader.try_wait();
        // Signal 0: is any process of the group still there?
        if killpg(group, None).is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = killpg(group, Signal::SIGKILL);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(cmd: &str) -> BashSpec {
        BashSpec {
            bash_command: cmd.to_owned(),
            env: None,
            append_env: false,
            cwd: None,
            skip_on_exit_code: vec![99],
        }
    }

    #[tokio::test]
    async fn the_last_line_of_stdout_is_the_value() {
        let o = run(
            &spec("echo one; echo two >&2; echo three"),
            Path::new("."),
            None,
            None,
        )
        .await;
        assert_eq!(o.result, Ok(Value::String("three".into())));
        assert!(
            o.output.contains("one\nthree") && o.output.contains("two"),
            "{}",
            o.output
        );
    }

    #[tokio::test]
    async fn exit_99_skips_and_other_codes_fail() {
        let o = run(&spec("exit 99"), Path::new("."), None, None).await;
        assert!(
            matches!(o.result, Err(BashEnd::Skipped(_))),
            "{:?}",
            o.result
        );
        let o = run(&spec("exit 3"), Path::new("."), None, None).await;
        assert_eq!(
            o.result,
            Err(BashEnd::Failed(
                "bash command failed. The command returned a non-zero exit code 3.".into()
            ))
        );
        let mut s = spec("exit 99");
        s.skip_on_exit_code = vec![];
        assert!(matches!(
            run(&s, Path::new("."), None, None).await.result,
            Err(BashEnd::Failed(_))
        ));
    }

    #[tokio::test]
    async fn env_replaces_the_environment_unless_appended() {
        let mut s = spec("echo \"${GREETING}-${HOME:-none}\"");
        let env: Map<String, Value> = serde_json::from_str(r#"{"GREETING": "hi"}"#).expect("json");
        s.env = Some(env);
        assert_eq!(
            run(&s, Path::new("."), None, None).await.result,
            Ok(Value::String("hi-none".into()))
        );
        s.append_env = true;
        let Ok(Value::String(v)) = run(&s, Path::new("."), None, None).await.result else {
            panic!("succeeds");
        };
        assert!(v.starts_with("hi-") && v != "hi-none", "{v}");
    }

    /// Whether process `pid` is gone (or only a zombie waiting for its parent).
    fn gone(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
    }

    #[tokio::test]
    async fn a_command_whose_scheduler_is_gone_dies_with_what_it_started() {
        // The run's future dropped stands for a scheduler that died: either way the
        // write end of the watcher's pipe closes. kill_on_drop alone reached only the
        // group's leader, and the background `sleep` went on running.
        let dir = tempfile::tempdir().expect("tempdir");
        let pidfile = dir.path().join("pid");
        let cmd = format!(
            "sleep 300 & echo $! > {}.tmp; mv {0}.tmp {0}; wait",
            pidfile.display()
        );
        let task = tokio::spawn(async move { run(&spec(&cmd), Path::new("."), None, None).await });
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let pid: i32 = loop {
            if let Ok(text) = std::fs::read_to_string(&pidfile) {
                break text.trim().parse().expect("a pid");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the command never started"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(!gone(pid));
        task.abort();
        let _ = task.await;
        while !gone(pid) {
            assert!(
                std::time::Instant::now() < deadline + Duration::from_secs(30),
                "the background sleep {pid} outlived its scheduler"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn a_command_that_ends_leaves_what_it_started_running() {
        // As under Airflow: a command may start something that outlives it on purpose.
        let dir = tempfile::tempdir().expect("tempdir");
        let pidfile = dir.path().join("pid");
        let cmd = format!(
            "sleep 300 >/dev/null 2>&1 & echo $! > {}",
            pidfile.display()
        );
        let o = run(&spec(&cmd), Path::new("."), None, None).await;
        assert!(o.result.is_ok(), "{:?}", o.result);
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .expect("pid file")
            .trim()
            .parse()
            .expect("a pid");
        // The watcher leaves at once when told the command ended; give it time to have
        // misbehaved: wait until it is gone from the group (only the sleep remains).
        let group = nix::unistd::Pid::from_raw(pid);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let members = std::fs::read_dir("/proc")
                .expect("/proc")
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
                .filter(|p| {
                    nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(*p))).ok()
                        == nix::unistd::getpgid(Some(group)).ok()
                })
                .filter(|p| !gone(*p))
                .count();
            if members <= 1 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the watcher never left"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            !gone(pid),
            "the command's background sleep was killed when it ended"
        );
        let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
    }

    #[tokio::test]
    async fn a_command_past_its_timeout_is_stopped_with_its_children() {
        let started = std::time::Instant::now();
        let o = run(
            &spec("sleep 30 & sleep 30; echo never"),
            Path::new("."),
            Some(Duration::from_millis(300)),
            None,
        )
        .await;
        assert!(matches!(o.result, Err(BashEnd::Failed(ref m)) if m.contains("execution_timeout")));
        // Well inside the 5 s between SIGTERM and SIGKILL: the group ends at SIGTERM, and
        // its reaped leader no longer counts as a member (it did, and every stop took 5 s).
        assert!(
            started.elapsed() < Duration::from_millis(4500),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn output_is_told_a_line_at_a_time_as_printed_and_before_a_timeout() {
        let told = std::sync::Mutex::new(Vec::<(String, String)>::new());
        let on_output = |stream: &str, text: &str| {
            told.lock()
                .expect("not poisoned")
                .push((stream.to_owned(), text.to_owned()));
        };
        // The command waits until it was told its first line: it is told while it runs.
        let dir = tempfile::tempdir().expect("a temp dir");
        let marker = dir.path().join("seen");
        let command = format!(
            "echo first; printf 'half'; echo oops >&2; while [ ! -e {m} ]; do sleep 0.01; done; echo ' line'; sleep 30",
            m = marker.display()
        );
        let watcher = async {
            loop {
                if told
                    .lock()
                    .expect("not poisoned")
                    .iter()
                    .any(|(_, t)| t == "first\n")
                {
                    std::fs::write(&marker, "").expect("the marker");
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        let s = spec(&command);
        let (o, ()) = tokio::join!(
            run(
                &s,
                Path::new("."),
                Some(Duration::from_secs(3)),
                Some(&on_output),
            ),
            watcher
        );
        assert!(matches!(o.result, Err(BashEnd::Failed(ref m)) if m.contains("execution_timeout")));
        let told = told.into_inner().expect("not poisoned");
        let stdout: String = told
            .iter()
            .filter(|(s, _)| s == "stdout")
            .map(|(_, t)| t.as_str())
            .collect();
        assert_eq!(stdout, "first\nhalf line\n", "{told:?}");
        assert!(
            told.contains(&("stderr".to_owned(), "oops\n".to_owned())),
            "{told:?}"
        );
        // Whole lines only: the half line came with its end.
        assert!(told.iter().all(|(_, t)| t.ends_with('\n')), "{told:?}");
    }
}
