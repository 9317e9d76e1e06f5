//! The local API's and the files' defences (issue 9, item 4): loopback only unless
//! allowed, the token on every route, private state folders, request size limits, ids
//! that cannot escape the logs or storage folders, secrets masked on every surface, and
//! DAG files that cannot include code from outside the DAGs folder.

use std::io::{Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use serde_json::Value;

use crate::harness::{Daemon, Env};
use crate::repo_root;

/// Secrets the DAG below holds; none may ever be printed.
const SECRETS: &[&str] = &[
    "extra-env-value-7f3a",
    "hunter2-db-password",
    "AKIAIOSFODNN7EXAMPLE",
    "conf-token-9c1e",
];

/// A paused DAG whose tasks carry secrets in every place a task can.
const SECRET_DAG: &str = r#"
description = "holds secrets"
is_paused_upon_creation = true
params = { api_token = "conf-token-9c1e", region = "eu-west-1" }

[tasks.call]
type = "call_async"
func = "secfns:take"
data = { x = 1, db_password = "hunter2-db-password" }
extra_env = { PLAIN_LOOKING = "extra-env-value-7f3a" }

[tasks.sh]
type = "bash"
bash_command = "echo listing # --access-key AKIAIOSFODNN7EXAMPLE"
env = { MODE = "extra-env-value-7f3a" }
"#;

fn secret_env() -> Env {
    let env = Env::new();
    std::fs::copy(
        repo_root().join("tests/fixtures/api/fns.py"),
        env.dags.path().join("fns.py"),
    )
    .expect("copy fns.py");
    // Answers with the names of its arguments only, never their values.
    env.write(
        "secfns.py",
        "def take(**kwargs):\n    return sorted(kwargs)\n",
    );
    env.write("sec.toml", SECRET_DAG);
    env
}

fn assert_no_secret(surface: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{surface} shows the secret {s}:\n{text}");
    }
}

/// A raw request: (status, whole response). `None` status when the server closed the
/// connection without an answer.
fn raw(d: &Daemon, request: &[u8]) -> (Option<u16>, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", d.port)).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    // The server may answer (and close) before it has read everything we send.
    let _ = s.write_all(request);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok());
    (status, text)
}

fn get(d: &Daemon, path: &str, token: Option<&str>) -> (Option<u16>, String) {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    raw(
        d,
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n")
            .as_bytes(),
    )
}

fn post(d: &Daemon, path: &str, body: &[u8]) -> (Option<u16>, String) {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        d.token,
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    raw(d, &req)
}

#[test]
fn the_api_wants_the_token_limits_requests_refuses_escaping_ids_and_masks_secrets() {
    let env = secret_env();
    let mut d = env.start();
    let ti = "/api/v1/dags/sec/dagRuns/r1/taskInstances/call";

    // Every route, without the token, with a wrong one of the same length and with
    // wrong ones of other lengths: 401, and nothing served.
    let same_len: String = d
        .token
        .chars()
        .map(|c| if c == 'a' { 'b' } else { 'a' })
        .collect();
    assert_eq!(same_len.len(), d.token.len());
    let shorter = &d.token[..d.token.len() - 1];
    let longer = format!("{}0", d.token);
    // `/api/v1/health` answers anyone, as Airflow 2's does (it says nothing secret).
    let routes = [
        "/api/v1/version".to_owned(),
        "/api/v1/dags".to_owned(),
        "/api/v1/dags/sec".to_owned(),
        "/api/v1/dags/sec/tasks".to_owned(),
        "/api/v1/dags/sec/dagRuns".to_owned(),
        "/api/v1/dags/sec/dagRuns/r1".to_owned(),
        ti.to_owned(),
        format!("{ti}/xcomEntries/return_value"),
        format!("{ti}/calls"),
        format!("{ti}/logs/1"),
        "/api/v1/importErrors".to_owned(),
        "/api/v1/events".to_owned(),
        "/api/v1/no/such/route".to_owned(),
    ];
    for route in &routes {
        for token in [None, Some(same_len.as_str()), Some(shorter), Some(&longer)] {
            let (status, text) = get(&d, route, token);
            assert_eq!(status, Some(401), "{route} with {token:?}: {text}");
        }
    }
    let (status, text) = get(&d, "/api/v1/health", Some(&d.token));
    assert_eq!(status, Some(200), "{text}");
    let (status, text) = get(&d, "/api/v1/health", None);
    assert_eq!(status, Some(200), "{text}");
    assert!(!text.contains(&d.token), "{text}");

    // A 2 MiB body: 413, before the JSON is read.
    let big = format!(r#"{{"conf": {{"x": "{}"}}}}"#, "a".repeat(2 << 20));
    let (status, text) = post(&d, "/api/v1/dags/sec/dagRuns", big.as_bytes());
    assert_eq!(status, Some(413), "{}", &text[..text.len().min(500)]);
    // Far too many headers: refused by the HTTP layer (431) or the connection dropped.
    let headers: String = (0..2000).map(|i| format!("X-H{i}: v\r\n")).collect();
    let (status, _) = raw(
        &d,
        format!(
            "GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n{headers}Connection: close\r\n\r\n",
            d.token
        )
        .as_bytes(),
    );
    assert!(matches!(status, None | Some(431)), "{status:?}");

    // Ids that could name another file: 400 on every route that reads files.
    let bad_ids = [
        "..",
        "%2e%2e",
        "%2E%2E",
        "..%2F..%2Fetc",
        "%2Fetc%2Fpasswd",
        "a%00b",
        "a%5C..%5Cb",
    ];
    for bad in bad_ids {
        for path in [
            format!("/api/v1/dags/{bad}/dagRuns/r1/taskInstances/call/logs/1"),
            format!("/api/v1/dags/sec/dagRuns/{bad}/taskInstances/call/logs/1"),
            format!("/api/v1/dags/sec/dagRuns/r1/taskInstances/{bad}/logs/1"),
            format!("{ti}/logs/{bad}"),
            format!("/api/v1/dags/sec/dagRuns/{bad}/taskInstances/call/calls"),
            format!("/api/v1/dags/sec/dagRuns/r1/taskInstances/{bad}/calls"),
            format!("{ti}/xcomEntries/{bad}"),
            format!("/api/v1/dags/sec/dagRuns/{bad}/taskInstances/call/xcomEntries/return_value"),
        ] {
            let (status, text) = get(&d, &path, Some(&d.token));
            assert_eq!(status, Some(400), "{path}: {text}");
            assert!(!text.contains("root:"), "{path}: {text}");
        }
    }
    // A run id that climbs, through the trigger route.
    let (status, text) = post(
        &d,
        "/api/v1/dags/sec/dagRuns",
        br#"{"dag_run_id": "../../x"}"#,
    );
    assert_eq!(status, Some(400), "{text}");

    // Secrets in a run's conf do not come back out (the terminal UI shows only what the
    // API answers).
    let (status, text) = post(
        &d,
        "/api/v1/dags/sec/dagRuns",
        br#"{"dag_run_id": "r1", "conf": {"api_token": "conf-token-9c1e", "note": "AKIAIOSFODNN7EXAMPLE", "db": {"PASSWORD": "hunter2-db-password"}, "region": "eu-west-1"}}"#,
    );
    assert_eq!(status, Some(200), "{text}");
    assert_no_secret("POST /dagRuns", &text);
    for path in [
        "/api/v1/dags/sec/dagRuns".to_owned(),
        "/api/v1/dags/sec/dagRuns/r1".to_owned(),
        "/api/v1/dags/sec".to_owned(),
        "/api/v1/dags/sec/tasks".to_owned(),
        "/api/v1/dags/sec/dagRuns/r1/taskInstances".to_owned(),
    ] {
        let (status, text) = get(&d, &path, Some(&d.token));
        assert_eq!(status, Some(200), "{path}: {text}");
        assert_no_secret(&path, &text);
    }
    let (_, run) = d.get("/api/v1/dags/sec/dagRuns/r1");
    assert_eq!(run["conf"]["api_token"], "***", "{run}");
    assert_eq!(run["conf"]["db"]["PASSWORD"], "***", "{run}");
    assert_eq!(run["conf"]["region"], "eu-west-1", "{run}");

    // Nothing outside the home was written, and the scheduler's own log is clean.
    assert_eq!(d.terminate(), 0);
    assert_no_secret("the scheduler's stderr", &d.log());
}

#[test]
fn the_api_binds_loopback_unless_explicitly_allowed_and_then_warns() {
    let env = secret_env();
    let (code, _, err) = env.run(&[
        "scheduler",
        "--exit-when-idle",
        "--api-port",
        "0",
        "--api-host",
        "0.0.0.0",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("refusing to serve the API on 0.0.0.0, which is not a loopback address")
            && err.contains("--allow-non-loopback"),
        "{err}"
    );
    // Refused before anything was opened.
    assert!(!env.home().join("state").exists(), "{err}");

    // The config key alone is not enough either.
    env.write_config("[api]\nhost = \"0.0.0.0\"\n");
    let (code, _, err) = env.run(&["scheduler", "--exit-when-idle", "--api-port", "0"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("refusing to serve the API on 0.0.0.0"),
        "{err}"
    );

    let (code, _, err) = env.run(&[
        "scheduler",
        "--exit-when-idle",
        "--api-port",
        "0",
        "--allow-non-loopback",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning: the API listens on 0.0.0.0, not loopback"),
        "{err}"
    );
    assert!(err.contains("API on http://0.0.0.0:"), "{err}");

    // A loopback address other than 127.0.0.1 needs nothing.
    std::fs::remove_file(env.home().join("lithoflow.toml")).expect("rm");
    let (code, _, err) = env.run(&[
        "scheduler",
        "--exit-when-idle",
        "--api-port",
        "0",
        "--api-host",
        "::1",
    ]);
    // Machines without IPv6 cannot bind ::1; either way it is not refused as non-loopback.
    assert!(!err.contains("refusing"), "{err}");
    assert!(code == 0 || err.contains("cannot listen on ::1"), "{err}");
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("exists")
        .permissions()
        .mode()
        & 0o777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn state_folders_and_the_token_are_private_and_open_ones_are_refused() {
    let env = secret_env();
    // A home that does not exist yet: everything created private.
    let home = env.home().join("fresh");
    let run = |home: &Path| {
        let out = env
            .cmd(&["scheduler", "--exit-when-idle", "--api-port", "0"])
            .env("LITHOFLOW_HOME", home)
            .output()
            .expect("runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&home);
    assert_eq!(code, 0, "{err}");
    for dir in ["", "state", "logs", "storage"] {
        assert_eq!(mode(&home.join(dir)), 0o700, "{dir}");
    }
    assert_eq!(mode(&home.join("api-token")), 0o600);

    // Each of them readable by others: refused, naming the path and the chmod to run.
    for (path, open, fix) in [
        (home.clone(), 0o755, "700"),
        (home.join("state"), 0o750, "700"),
        (home.join("logs"), 0o705, "700"),
        (home.join("storage"), 0o770, "700"),
        (home.join("api-token"), 0o644, "600"),
        (home.join("api-token"), 0o640, "600"),
    ] {
        chmod(&path, open);
        let (code, err) = run(&home);
        assert_eq!(code, 2, "{}: {err}", path.display());
        let p = path.display();
        assert!(
            err.contains(&format!("{p} is accessible to other users"))
                && err.contains(&format!("run `chmod {fix} {p}`")),
            "{err}"
        );
        chmod(&path, if fix == "600" { 0o600 } else { 0o700 });
    }
    let (code, err) = run(&home);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn every_command_creates_the_home_private_so_the_scheduler_accepts_it() {
    let env = secret_env();
    env.write(
        "plain.toml",
        "[tasks.one]\ntype = \"call_async\"\nfunc = \"secfns:take\"\ndata = { a = 1 }\n",
    );
    // Each command on a home that does not exist yet, then the scheduler on that home.
    for args in [
        &["tasks", "test", "plain", "one"][..],
        &["dags", "test", "plain"][..],
        &["dags", "trigger", "plain"][..],
    ] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let home = tmp.path().join("fresh");
        let out = env
            .cmd(args)
            .env("LITHOFLOW_HOME", &home)
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for dir in ["", "state", "logs", "storage"] {
            let path = home.join(dir);
            if path.exists() {
                assert_eq!(mode(&path), 0o700, "{args:?} created {}", path.display());
            }
        }
        let out = env
            .cmd(&["scheduler", "--exit-when-idle", "--api-port", "0"])
            .env("LITHOFLOW_HOME", &home)
            .output()
            .expect("runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "the scheduler after {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn cli_ids_cannot_escape_the_logs_or_storage_folders() {
    let env = secret_env();
    for bad in ["../../x", "/tmp/x", "..", "a/b", "a\\b"] {
        let (code, out, err) = env.run(&["dags", "trigger", "sec", "-r", bad]);
        assert_eq!(code, 2, "{bad}: {out}{err}");
        assert!(err.contains("run id"), "{bad}: {err}");
    }
    let conf_run = env.run(&[
        "dags",
        "trigger",
        "sec",
        "-c",
        r#"{"run_id": "../../x", "password": "hunter2-db-password"}"#,
    ]);
    // A conf key named run_id is only conf: the run gets its own id; the password in the
    // conf is not echoed.
    assert_eq!(conf_run.0, 0, "{conf_run:?}");
    assert_no_secret("dags trigger", &conf_run.1);
    assert!(conf_run.1.contains("***"), "{}", conf_run.1);
    for (dag, run, task) in [
        ("sec", "../../x", "call"),
        ("../../etc", "x", "call"),
        ("sec", "x", "../../passwd"),
        ("sec", "/etc/passwd", "call"),
    ] {
        let (code, out, err) = env.run(&["tasks", "logs", dag, task, "-r", run]);
        assert_ne!(code, 0, "{dag} {run} {task}: {out}");
        assert!(!out.contains("root:"), "{out}");
        assert!(!err.contains("root:"), "{err}");
    }
    // Nothing was written outside the home's folders.
    let outside: Vec<_> = std::fs::read_dir(env.home())
        .expect("home")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !["state", "logs", "storage", "api-token", "x"].contains(&n.as_str()))
        .collect();
    assert!(outside.is_empty(), "{outside:?}");
    assert!(!env.home().join("x").exists());
}

#[test]
fn secrets_are_masked_in_cli_output_and_logs() {
    let env = secret_env();
    for args in [
        &["dags", "show", "sec"][..],
        &["dags", "show", "sec", "-o", "json"],
        &["tasks", "list", "sec"],
        &["tasks", "list", "sec", "-o", "json"],
        &["tasks", "list", "sec", "-o", "plain"],
    ] {
        let out = env.ok(args);
        assert_no_secret(&format!("{args:?}"), &out);
        if args[0] == "dags" {
            assert!(out.contains("***"), "{args:?}: {out}");
        }
    }
    let show = env.json(&["dags", "show", "sec", "-o", "json"]);
    let call = show["tasks"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["task_id"] == "call"))
        .cloned()
        .unwrap_or(Value::Null);
    assert!(
        call.to_string()
            .contains(r#""extra_env":{"PLAIN_LOOKING":"***"}"#),
        "{call}"
    );

    // A real run: the task logs and the command's output hold no secret lithoflow put
    // there (the task's env reaches the function, which does not print it).
    let (code, out, err) = env.run(&["dags", "test", "sec"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_no_secret("dags test", &format!("{out}{err}"));
    let mut stack = vec![env.home().join("logs")];
    let mut logs = 0;
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir)
            .expect("logs")
            .filter_map(Result::ok)
        {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                logs += 1;
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                assert_no_secret(&p.display().to_string(), &text);
            }
        }
    }
    assert!(logs >= 2, "the tries were logged");
}

#[test]
fn include_paths_cannot_leave_the_dags_folder() {
    let env = Env::new();
    env.write(
        "inc.toml",
        "[tasks.a]\ntype = \"call_async\"\nfunc = \"fns:add\"\ninclude_modules = [\"lib/\", \"helpers.py\", \"json\", \"../outside\", \"/etc\", \"lib/../../up.py\"]\n",
    );
    let (code, out, err) = env.run(&["dags", "validate"]);
    assert_eq!(code, 2, "{out}{err}");
    let all = format!("{out}{err}");
    let file = env.dags.path().join("inc.toml");
    for (col, path) in [(50, "../outside"), (64, "/etc"), (72, "lib/../../up.py")] {
        let expected = format!(
            "{}:4:{col}: error: `include_modules` path {path:?} leaves the DAGs folder",
            file.display()
        );
        assert!(all.contains(&expected), "{expected}\n{all}");
    }
    assert!(all.contains("(none are listed)"), "{all}");
    for fine in ["\"lib/\"", "\"helpers.py\"", "\"json\""] {
        assert!(!all.contains(&format!("path {fine}")), "{all}");
    }
}

#[test]
fn include_paths_listed_in_lithoflow_toml_may_be_included_and_nothing_else() {
    let env = Env::new();
    let shared = tempfile::tempdir().expect("temp dir");
    let lib = shared.path().join("pylib");
    std::fs::create_dir(&lib).expect("lib folder");
    std::fs::write(
        lib.join("sharedmod.py"),
        "def triple(x):\n    return 3 * x\n",
    )
    .expect("module");
    let outside = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        outside.path().join("evil.py"),
        "def triple(x):\n    return -1\n",
    )
    .expect("module");
    let dag = |include: &str| {
        format!(
            "[tasks.a]\ntype = \"call_async\"\nfunc = \"sharedmod:triple\"\ndata = {{ x = 14 }}\ninclude_modules = [{include:?}]\n"
        )
    };
    // Not listed: refused at validation, naming the key to set.
    env.write("shared.toml", &dag(&format!("{}/", lib.display())));
    let (code, out, err) = env.run(&["dags", "validate"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("leaves the DAGs folder")
            && format!("{out}{err}").contains("[dags] include_paths"),
        "{out}{err}"
    );

    // Listed: the DAG validates and its task imports the module from there.
    env.write_config(&format!(
        "[dags]\ninclude_paths = [{:?}]\n",
        shared.path().display().to_string()
    ));
    let (code, out, err) = env.run(&["dags", "validate"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = env.run(&["tasks", "test", "shared", "a"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("42"), "{out}{err}");

    // Climbing out of a listed folder, or naming another folder, is still refused.
    for bad in [
        format!(
            "{}/../{}/",
            shared.path().display(),
            outside.path().display()
        ),
        format!("{}/", outside.path().display()),
        format!("{}/pylib/../../", shared.path().display()),
    ] {
        env.write("shared.toml", &dag(&bad));
        let (code, out, err) = env.run(&["dags", "validate"]);
        assert_eq!(code, 2, "{bad} is refused: {out}{err}");
        assert!(
            format!("{out}{err}").contains(&format!(
                "listed: {:?}",
                shared.path().display().to_string()
            )),
            "{out}{err}"
        );
    }

    // A relative path in the config is an error with its position.
    env.write("shared.toml", &dag(&format!("{}/", lib.display())));
    env.write_config("[dags]\ninclude_paths = [\"relative/lib\"]\n");
    let (code, out, err) = env.run(&["tasks", "test", "shared", "a"]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains(
            "lithoflow.toml:2:18: error: `dags.include_paths`: expected an absolute folder path"
        ),
        "{err}"
    );
}

#[test]
fn a_dag_in_a_subfolder_may_include_another_folder_of_the_dags_folder() {
    let env = Env::new();
    std::fs::create_dir_all(env.dags.path().join("team")).expect("subfolder");
    std::fs::create_dir_all(env.dags.path().join("common")).expect("common");
    std::fs::write(
        env.dags.path().join("common/commonmod.py"),
        "def plus(x):\n    return x + 1\n",
    )
    .expect("module");
    std::fs::write(
        env.dags.path().join("team/sub.toml"),
        "[tasks.a]\ntype = \"call_async\"\nfunc = \"commonmod:plus\"\ndata = { x = 41 }\ninclude_modules = [\"../common/\"]\n",
    ).expect("DAG file");
    let (code, out, err) = env.run(&["dags", "validate"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = env.run(&["tasks", "test", "sub", "a"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("42"), "{out}{err}");
}
