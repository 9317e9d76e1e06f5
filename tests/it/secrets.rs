//! Hard-coded credentials never leave lithoflow: `lithoflow migrate` on a DAG file that
//! holds some writes references instead and prints none of them, and `lithoflow dags
//! validate` masks them in every snippet it shows, also for errors that are about
//! something else on the same line (issue 16, item 5). The credentials in the fixtures are
//! made up; they only look real.

use std::path::{Path, PathBuf};

use crate::{lithoflow, private_home};

/// The credentials `fixtures/airflow/example_hardcoded_credentials.py` hard-codes.
const SECRETS: &[&str] = &[
    "Wq7Zt2Lp9XvB4nR8kM3sYc6Hd1Gf5JaQ0eUiTo8P",
    "AKIAZ7QW3ERT5YUI9OPL",
    "r8Xv2Lq9Zt4Wb7Np1Kc6Hs3Mf5Jd0Gy8Ta2Ue4Q",
    "xoxb-2231-5560-Zq8xWv2LmN4pRt6YbC0d",
    "sk-proj-4fJk29XmQpL0vBn7RtYwZs1",
    "Tr0ub4dor-Xk29",
];

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn assert_no_secret(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} holds {s}:\n{text}");
    }
}

/// Runs `lithoflow ARGS`: exit code, stdout and stderr together.
fn run(home: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = lithoflow()
        .env("LITHOFLOW_HOME", home)
        .args(args)
        .output()
        .expect("lithoflow runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn migrate_and_validate_never_copy_or_print_a_hard_coded_credential() {
    let home = private_home();
    let work = tempfile::tempdir().expect("a temporary folder");
    let src = work.path().join("airflow");
    std::fs::create_dir_all(&src).expect("created");
    let dag = src.join("example_hardcoded_credentials.py");
    std::fs::copy("fixtures/airflow/example_hardcoded_credentials.py", &dag).expect("copied");
    let out = work.path().join("dags");
    let (src_s, out_s) = (src.to_string_lossy(), out.to_string_lossy());
    let migrate = |partial: bool| {
        let mut args = vec![
            "migrate",
            &*src_s,
            "--out",
            &*out_s,
            "--now",
            "2026-11-28T10:00:00Z",
            "--static",
        ];
        if partial {
            args.push("--allow-partial");
        }
        run(home.path(), &args)
    };

    // Without --allow-partial a credential fails the DAG, as any untranslatable part does.
    let (code, printed) = migrate(false);
    assert_eq!(code, Some(1), "{printed}");
    assert_no_secret("migrate's output", &printed);
    assert!(files_under(&out).is_empty(), "{:?}", files_under(&out));

    let (code, printed) = migrate(true);
    assert_eq!(code, Some(0), "{printed}");
    assert_no_secret("migrate --allow-partial's output", &printed);
    for expected in [
        "example_hardcoded_credentials.py:11:20: error: hard-coded credential in `WEATHER_API_KEY`: not copied; the TOML refers to `{{ var.value.weather_api_key }}` instead",
        "example_hardcoded_credentials.py:42:48: error: hard-coded credential in `warehouse_uri`: not copied; the TOML refers to the connection's password `{{ conn.warehouse.password }}` instead",
        "example_hardcoded_credentials.py:48:57: error: hard-coded credential in `bash_command`",
    ] {
        assert!(printed.contains(expected), "{expected} missing:\n{printed}");
    }
    let written = files_under(&out);
    assert_eq!(written.len(), 2, "{written:?}");
    for f in &written {
        let text = std::fs::read_to_string(f).expect("readable");
        assert_no_secret(&f.display().to_string(), &text);
    }
    let toml = std::fs::read_to_string(out.join("example_hardcoded_credentials.toml"))
        .expect("the TOML was written");
    assert!(
        toml.contains(r#"api_key = "{{ var.value.weather_api_key }}""#)
            && toml.contains("max_tokens = 100")
            && toml.contains(r#"token_url = "https://auth.example.com/oauth/token""#),
        "{toml}"
    );

    // Validating what was written, as text and as JSON, echoes nothing either.
    for format in ["plain", "json"] {
        let (code, printed) = run(home.path(), &["dags", "validate", &*out_s, "-o", format]);
        assert_eq!(code, Some(2), "{printed}");
        assert_no_secret("dags validate", &printed);
    }
}

#[test]
fn validate_masks_a_credential_on_a_line_with_an_unrelated_error() {
    let home = private_home();
    let file = "fixtures/invalid/secret_on_a_line_with_another_error.toml";
    let (code, printed) = run(home.path(), &["dags", "validate", file]);
    assert_eq!(code, Some(2), "{printed}");
    assert_no_secret("dags validate", &printed);
    assert!(
        printed.contains(r#"6 | data = { api_key = "***", x = nan, url = "postgresql://etl:***@db.internal/sales" }"#),
        "{printed}"
    );
}
