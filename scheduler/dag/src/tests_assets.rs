//! Unit tests of assets in DAG files: outlets, inlets and asset schedules.

use std::path::Path;

use serde_json::json;

use super::asset::AssetCondition;
use super::*;
use crate::tests::errors;

fn parse_ok(text: &str) -> Dag {
    let (dag, diags) = parse_dag(Path::new("t.toml"), text);
    let rendered: String = diags.iter().map(ToString::to_string).collect();
    assert!(
        diags.iter().all(|d| !d.is_error()),
        "unexpected errors:\n{rendered}"
    );
    dag.expect("valid DAG")
}

fn condition(dag: &Dag) -> &AssetCondition {
    dag.schedule
        .as_ref()
        .and_then(Schedule::assets)
        .expect("an asset schedule")
}

#[test]
fn a_list_schedule_is_all_of_its_assets() {
    let dag = parse_ok(r#"schedule = ["s3://bucket/raw.csv", "asset://orders"]"#);
    let c = condition(&dag);
    assert_eq!(
        c.expression(),
        json!({"all": ["s3://bucket/raw.csv", "asset://orders/"]})
    );
    assert!(!c.evaluate(&|u| u == "s3://bucket/raw.csv"));
    assert!(c.evaluate(&|u| u == "s3://bucket/raw.csv" || u == "asset://orders/"));
    assert_eq!(dag.schedule_str(), Some("Asset"));
    let now = chrono::Utc::now();
    assert!(
        timetable::next_dagrun_info(&dag, None, &timetable::TimeRestriction::of(&dag), now)
            .is_none(),
        "an asset schedule has no time-based runs"
    );
}

#[test]
fn nested_any_and_all_tables() {
    let dag = parse_ok(
        r#"schedule = { any = ["asset://a", { all = ["asset://b", { uri = "asset://c", name = "c", group = "g", extra = { k = 1 } }] }] }"#,
    );
    let c = condition(&dag);
    assert_eq!(
        c.expression(),
        json!({"any": ["asset://a/", {"all": ["asset://b/", "asset://c/"]}]})
    );
    assert!(c.evaluate(&|u| u == "asset://a/"));
    assert!(!c.evaluate(&|u| u == "asset://b/"));
    assert!(c.evaluate(&|u| u == "asset://b/" || u == "asset://c/"));
    let c_asset = c
        .assets()
        .into_iter()
        .find(|a| a.uri == "asset://c/")
        .expect("c");
    assert_eq!((c_asset.name.as_str(), c_asset.group.as_str()), ("c", "g"));
    assert_eq!(c_asset.extra.get("k"), Some(&json!(1)));
}

#[test]
fn outlets_and_inlets_of_tasks_and_defaults() {
    let dag = parse_ok(
        r#"
[default_args]
inlets = ["s3://b/in"]

[tasks.produce]
type = "empty"
outlets = ["s3://b/out/", { name = "orders" }, "s3://b/out"]

[tasks.other]
type = "empty"
outlets = { uri = "file:///tmp/x", group = "files" }
"#,
    );
    let produce = dag.task("produce").expect("produce");
    let uris: Vec<&str> = produce.outlets.iter().map(|a| a.uri.as_str()).collect();
    assert_eq!(
        uris,
        ["s3://b/out", "orders"],
        "normalised, repeats dropped"
    );
    assert_eq!(produce.outlets[1].name, "orders");
    assert_eq!(produce.inlets[0].uri, "s3://b/in");
    let other = dag.task("other").expect("other");
    assert_eq!(other.outlets[0].group, "files");
    assert_eq!(other.outlets[0].name, "file:///tmp/x");
}

#[test]
fn bad_assets_are_reported_with_their_place() {
    let errs = errors(
        r#"schedule = ["airflow://x", " ", 3, ["a"], { all = [] }, { all = ["a"], any = ["b"] }, { url = "a" }]

[tasks.t]
type = "empty"
outlets = [{ group = "g" }, { name = "self" }, { uri = "s3://b/k", extra = "x" }]
"#,
    );
    let want = [
        "t.toml:1:13: error: asset URI \"airflow://x\": the scheme 'airflow' is reserved",
        "t.toml:1:28: error: an asset uri cannot be just whitespace",
        "t.toml:1:33: error: `schedule` holds an asset URI string",
        "t.toml:1:36: error: a list inside `schedule`",
        "t.toml:1:51: error: `all` in `schedule` names no asset",
        "t.toml:1:57: error: an asset condition in `schedule` is a table with one key",
        "t.toml:1:89: error: unknown key `url` in an asset of `schedule`; did you mean `uri`?",
        "t.toml:5:12: error: an asset of `outlets` needs a `uri` or a `name`",
        "t.toml:5:29: error: \"self\" is a prohibited asset name",
        "t.toml:5:76: error: `extra` must be a table",
    ];
    assert_eq!(errs.len(), want.len(), "{errs:#?}");
    for (e, w) in errs.iter().zip(want) {
        assert!(e.starts_with(w), "{e}\n  expected to start with\n{w}");
    }
}

#[test]
fn user_info_in_a_uri_is_dropped_with_a_warning() {
    let (dag, diags) = parse_dag(
        Path::new("t.toml"),
        "[tasks.t]\ntype = \"empty\"\noutlets = [\"postgres://u:pw@db:5432/x/y\"]\n",
    );
    let dag = dag.expect("valid");
    assert_eq!(dag.tasks[0].outlets[0].uri, "postgres://db:5432/x/y");
    assert!(diags.iter().any(|d| d.headline().contains("user info")));
}

#[test]
fn a_misspelt_condition_in_a_schedule_is_suggested_as_a_condition() {
    let errs = errors("schedule = { al = [\"s3://b/k\"] }\n[tasks.a]\ntype = \"empty\"\n");
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].contains("did you mean `all`?") && errs[0].contains("or all or any (a condition)"),
        "{errs:?}"
    );
}
