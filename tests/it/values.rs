//! Airflow variables and connections end to end through the real binary (issue 17):
//! `variables` and `connections` commands on the store and through a running scheduler's
//! API, templates (`{{ var.value.x }}`, `{{ var.json.x.y }}`, `{{ conn.x.host }}`,
//! `get_uri()`) rendered for real Python tasks and bash tasks by `dags test` and by a
//! running `lithoflow scheduler`, the environment's `AIRFLOW_VAR_*`/`AIRFLOW_CONN_*`
//! first, and the secrets (a secret variable's value, a connection's password) never in
//! CLI output, logs, the API or the database files.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Env, wait_for};

/// A secret variable's value and a connection's password: neither may be shown.
const VAR_SECRET: &str = "s3cr3t-var-Value-7781";
const CONN_PASSWORD: &str = "p@ss-Word-5512";
/// The password as it appears in a URI.
const CONN_PASSWORD_QUOTED: &str = "p%40ss-Word-5512";

const FNS: &str = r#"
def show(bucket, cfg_n, host, port, uri, token, password):
    print("bucket is", bucket, "n is", cfg_n)
    print("connecting to", host, port)
    print("uri", uri)
    print("the token is", token)
    print("the password is", password)
    return {"bucket": bucket, "n": cfg_n, "host": host, "port": port}
"#;

const DAG: &str = r#"
is_paused_upon_creation = false

[tasks.show]
type = "python"
python_callable = "fns:show"
op_kwargs = { bucket = "{{ var.value.bucket }}", cfg_n = "{{ var.json.cfg.a.n }}", host = "{{ conn.db.host }}", port = "{{ conn.db.port }}", uri = "{{ conn.db.get_uri() }}", token = "{{ var.value.api_token }}", password = "{{ conn.db.password }}" }

[tasks.sh]
type = "bash"
bash_command = "echo env_bucket=$B default={{ var.value.get('missing', 'fallback') }} pw={{ conn.db.password }}"
env = { B = "{{ var.value.bucket }}" }
"#;

const MISSING: &str = r#"
[tasks.t]
type = "bash"
bash_command = "echo {{ var.value.no_such_key }}"
"#;

fn env() -> Env {
    let env = Env::new();
    env.write("fns.py", FNS);
    env.write("vals.toml", DAG);
    env.write("missing.toml", MISSING);
    env
}

fn setup(env: &Env) {
    env.ok(&[
        "variables",
        "set",
        "bucket",
        "my-bucket",
        "--description",
        "where data goes",
    ]);
    env.ok(&["variables", "set", "cfg", r#"{"a": {"n": 42}}"#, "--json"]);
    env.ok(&["variables", "set", "api_token", VAR_SECRET]);
    let out = env.ok(&[
        "connections",
        "add",
        "db",
        "--conn-uri",
        &format!(
            "postgresql://admin:{CONN_PASSWORD_QUOTED}@DB.example.com:5432/sales?sslmode=require"
        ),
    ]);
    assert!(
        out.contains("postgres://admin:***@db.example.com:5432/sales"),
        "{out}"
    );
    assert_no_secret("connections add", &out);
}

fn assert_no_secret(what: &str, text: &str) {
    for s in [VAR_SECRET, CONN_PASSWORD, CONN_PASSWORD_QUOTED] {
        assert!(!text.contains(s), "{what} shows {s}:\n{text}");
    }
}

/// Every file under `dir`, read as bytes.
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else if let Ok(b) = std::fs::read(&p) {
            out.push((p.display().to_string(), b));
        }
    }
    out
}

fn logs_of(env: &Env) -> String {
    files_under(&env.home().join("logs"))
        .into_iter()
        .map(|(_, b)| String::from_utf8_lossy(&b).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn templates_read_variables_and_connections_and_the_logs_mask_their_secrets() {
    let env = env();
    setup(&env);
    // Nothing secret in the database files (sealed with the home's key). Checked before
    // the run: the bash task returns its output, and XCom keeps what a task returns, as
    // Airflow's does (shown masked).
    for (path, bytes) in files_under(&env.home().join("state")) {
        for s in [VAR_SECRET, CONN_PASSWORD] {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "{path} holds {s}"
            );
        }
    }
    let (code, out, err) = env.run(&["dags", "test", "vals", "2026-01-05", "-o", "json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_no_secret("dags test output", &format!("{out}{err}"));
    let logs = logs_of(&env);
    // Rendered as Airflow renders them: var.value, var.json path, conn fields, get_uri().
    assert!(logs.contains("bucket is my-bucket n is 42"), "{logs}");
    assert!(logs.contains("connecting to db.example.com 5432"), "{logs}");
    assert!(
        logs.contains("uri postgres://admin:***@db.example.com:5432/sales?sslmode=require"),
        "{logs}"
    );
    // The secrets reached the task (it printed them) and the log masks them.
    assert!(logs.contains("the token is ***"), "{logs}");
    assert!(logs.contains("the password is ***"), "{logs}");
    assert!(
        logs.contains("env_bucket=my-bucket default=fallback pw=***"),
        "{logs}"
    );
    assert_no_secret("the task logs", &logs);
    let run_id = env.runs("vals")[0]["run_id"]
        .as_str()
        .expect("a run")
        .to_owned();
    let log = env.ok(&["tasks", "logs", "vals", "show", &run_id]);
    assert!(log.contains("the password is ***"), "{log}");
    assert_no_secret("tasks logs", &log);
    let key = std::fs::metadata(env.home().join("secret-key")).expect("the key file");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&key.permissions()) & 0o777,
        0o600
    );
    // A missing variable fails the task with an error naming it, never an empty string.
    let (code, out, err) = env.run(&["dags", "test", "missing", "-o", "json"]);
    assert_eq!(code, 1, "{out}\n{err}");
    let all = format!("{out}{err}{}", logs_of(&env));
    assert!(
        all.contains("variable \\\"no_such_key\\\" does not exist")
            || all.contains("variable \"no_such_key\" does not exist"),
        "{all}"
    );
}

#[test]
fn the_environment_comes_first_and_its_secrets_are_masked_too() {
    let env = env();
    setup(&env);
    let out = env
        .cmd(&["dags", "test", "vals", "2026-01-05", "-o", "json"])
        .env("AIRFLOW_VAR_BUCKET", "env-bucket")
        .env(
            "AIRFLOW_CONN_DB",
            r#"{"conn_type": "postgres", "host": "env-host", "port": 6543, "password": "env-Secret-991"}"#,
        )
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let logs = logs_of(&env);
    assert!(logs.contains("bucket is env-bucket"), "{logs}");
    assert!(logs.contains("connecting to env-host 6543"), "{logs}");
    assert!(logs.contains("the password is ***"), "{logs}");
    assert!(!logs.contains("env-Secret-991"), "{logs}");
    // `variables get` reads the environment first, like `Variable.get`.
    let got = env
        .cmd(&["variables", "get", "bucket"])
        .env("LITHOFLOW_VAR_BUCKET", "lf-bucket")
        .output()
        .expect("runs");
    assert_eq!(String::from_utf8_lossy(&got.stdout), "lf-bucket\n");
}

#[test]
fn the_commands_mask_secrets_and_round_trip_through_their_files() {
    let env = env();
    setup(&env);
    assert_eq!(env.ok(&["variables", "get", "bucket"]), "my-bucket\n");
    assert_eq!(env.ok(&["variables", "get", "api_token"]), "***\n");
    assert_eq!(
        env.ok(&["variables", "get", "api_token", "--reveal"]),
        format!("{VAR_SECRET}\n")
    );
    assert_eq!(
        env.ok(&["variables", "get", "nope", "-d", "dflt"]),
        "dflt\n"
    );
    let (code, _, err) = env.run(&["variables", "get", "nope"]);
    assert!(
        code != 0 && err.contains("Variable nope does not exist"),
        "{err}"
    );
    let list = env.ok(&["variables", "list", "-o", "json"]);
    assert_no_secret("variables list", &list);
    let conn = env.json(&["connections", "get", "db", "-o", "json"]);
    assert_eq!(conn[0]["host"], "db.example.com");
    assert_eq!(conn[0]["password"], "***");
    assert_no_secret("connections get", &conn.to_string());
    assert_no_secret("connections list", &env.ok(&["connections", "list"]));
    // Exports: Airflow's files, secrets included, private to the user.
    let dir = tempfile::tempdir().expect("tempdir");
    let vfile = dir.path().join("vars.json");
    let cfile = dir.path().join("conns.json");
    let efile = dir.path().join("conns.env");
    for (args, file) in [
        (vec!["variables", "export"], &vfile),
        (vec!["connections", "export"], &cfile),
        (vec!["connections", "export"], &efile),
    ] {
        let mut a = args.clone();
        let f = file.display().to_string();
        a.push(&f);
        let out = env.ok(&a);
        assert_no_secret("export", &out);
        let mode = std::fs::metadata(file).expect("written").permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
    }
    let vars: Value = serde_json::from_slice(&std::fs::read(&vfile).expect("read")).expect("json");
    assert_eq!(vars["cfg"], json!({"a": {"n": 42}}));
    assert_eq!(vars["api_token"], VAR_SECRET);
    let conns: Value = serde_json::from_slice(&std::fs::read(&cfile).expect("read")).expect("json");
    assert_eq!(conns["db"]["password"], CONN_PASSWORD);
    let envtext = std::fs::read_to_string(&efile).expect("read");
    assert!(
        envtext.contains(&format!(
            "db=postgres://admin:{CONN_PASSWORD_QUOTED}@db.example.com:5432/sales?sslmode=require"
        )),
        "{envtext}"
    );
    // Into another home, back from the files.
    let other = Env::new();
    other.ok(&["variables", "import", &vfile.display().to_string()]);
    other.ok(&["connections", "import", &efile.display().to_string()]);
    assert_eq!(
        other.ok(&["variables", "get", "api_token", "--reveal"]),
        format!("{VAR_SECRET}\n")
    );
    let c = other.json(&["connections", "get", "db", "-o", "json"]);
    assert_eq!(c[0]["schema"], "sales");
    assert_eq!(c[0]["extra_dejson"]["sslmode"], "require");
    env.ok(&["variables", "delete", "bucket"]);
    env.ok(&["connections", "delete", "db"]);
    let (code, _, err) = env.run(&["connections", "get", "db"]);
    assert!(code != 0 && err.contains("Connection not found"), "{err}");
}

#[test]
fn a_running_scheduler_serves_them_through_the_api_and_renders_them() {
    let env = env();
    setup(&env);
    let daemon = env.start();
    // The CLI goes through the API while the scheduler holds the store.
    env.ok(&["variables", "set", "bucket", "api-bucket"]);
    assert_eq!(env.ok(&["variables", "get", "bucket"]), "api-bucket\n");
    assert_eq!(env.ok(&["variables", "get", "api_token"]), "***\n");
    let list = env.ok(&["connections", "list", "-o", "json"]);
    assert!(list.contains("db.example.com"), "{list}");
    assert_no_secret("connections list through the API", &list);
    // The routes, shaped like Airflow's.
    let (status, body) = daemon.get("/api/v1/variables?limit=2&order_by=-key");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total_entries"], 3);
    assert_eq!(body["variables"][0]["key"], "cfg");
    let (_, body) = daemon.get("/api/v1/variables/api_token");
    assert_eq!(body["value"], "***");
    let (_, body) = daemon.get("/api/v1/variables/bucket");
    assert_eq!(body["value"], "api-bucket");
    let (_, body) = daemon.get("/api/v1/connections/db");
    assert_eq!(body["connection_id"], "db");
    assert_eq!(body["port"], 5432);
    assert!(body.get("password").is_none(), "{body}");
    assert_no_secret("the API", &body.to_string());
    let (status, _) = daemon.post(
        "/api/v1/connections",
        &json!({"connection_id": "db", "conn_type": "http"}),
    );
    assert_eq!(status, 409);
    let (status, _) = daemon.post(
        "/api/v1/connections",
        &json!({"connection_id": "api", "conn_type": "http", "host": "h", "password": "new-Pw-8080"}),
    );
    assert_eq!(status, 200);
    let (_, body) = daemon.get("/api/v1/connections?order_by=connection_id");
    assert_eq!(body["total_entries"], 2);
    assert!(!body.to_string().contains("new-Pw-8080"));
    // A run of the running scheduler renders the templates (the new value) and masks.
    env.ok(&["dags", "trigger", "vals", "-r", "r1"]);
    wait_for("the run to finish", Duration::from_secs(120), || {
        env.run_state("vals", "r1")
            .filter(|s| s == "success" || s == "failed")
    });
    assert_eq!(env.run_state("vals", "r1").as_deref(), Some("success"));
    let log = env.ok(&["tasks", "logs", "vals", "show", "r1"]);
    assert!(log.contains("bucket is api-bucket"), "{log}");
    assert!(log.contains("the password is ***"), "{log}");
    assert_no_secret("tasks logs through the API", &log);
    let (_, body) = daemon.get("/api/v1/dags/vals/dagRuns/r1/taskInstances/show/logs/1");
    assert_no_secret("the API's log route", &body.to_string());
    // Exports refuse to go through the API, which never answers secrets.
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, _, err) = env.run(&[
        "connections",
        "export",
        &dir.path().join("c.json").display().to_string(),
    ]);
    assert!(code != 0 && err.contains("stop the scheduler"), "{err}");
    assert_no_secret("the scheduler's log", &daemon.log());
}
