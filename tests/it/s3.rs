//! The aws_s3 storage against a real S3-compatible server (the ministack emulator):
//! `S3Storage` itself, the partitioner on `s3://` objects beside the same files on disk,
//! the runtime reading a part from S3 with boto3 (as on Lambda), and DAGs end to end
//! through the binary with `storage = "aws_s3"`: object maps, job data in the bucket,
//! `clean_data`, and a large XCom offloaded to S3 and read back downstream.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use lithoflow_executor::Chunking;
use lithoflow_executor::aws::s3::{self, S3Storage};
use lithoflow_executor::partition;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::emulator::Emulator;
use crate::{lithoflow, repo_root};

/// An SDK client for the emulator, with its test credentials (this process's environment
/// has none, and tests do not change it).
pub(crate) fn client(emu: &Emulator) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(emu.endpoint())
        .force_path_style(true)
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// A storage on `bucket`, created if missing.
async fn storage(emu: &Emulator, bucket: &str) -> S3Storage {
    let s = S3Storage::from_client(bucket, client(emu));
    s.ensure_bucket()
        .await
        .expect("the bucket exists or is created");
    s
}

/// Bytes that are not all text: a deterministic pseudo-random body.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_storage_puts_gets_ranges_lists_and_deletes() {
    let emu = Emulator::start();
    // A missing storage bucket is created (as Lithops does); doing it again is fine.
    let s = storage(&emu, "lf-store").await;
    s.ensure_bucket().await.expect("an existing bucket is fine");

    s.put("a/hello.txt", b"hello, world\n".to_vec())
        .await
        .expect("put");
    assert_eq!(s.get("a/hello.txt").await.expect("get"), b"hello, world\n");
    assert_eq!(s.head("a/hello.txt").await.expect("head"), Some(13));
    assert_eq!(s.head("a/nothing").await.expect("head"), None);
    assert_eq!(
        s.get_range("a/hello.txt", 7, 12).await.expect("range"),
        b"world"
    );
    assert_eq!(
        s.get_range("a/hello.txt", 7, 100).await.expect("range"),
        b"world\n",
        "a range past the end stops at the end"
    );
    assert!(
        s.get_range("a/hello.txt", 5, 5)
            .await
            .expect("empty")
            .is_empty()
    );
    s.put("a/empty", Vec::new()).await.expect("put empty");
    assert_eq!(s.get("a/empty").await.expect("get empty"), b"");
    assert_eq!(s.head("a/empty").await.expect("head"), Some(0));

    // A missing key: the error names the object and the server's code.
    let e = s.get("a/missing").await.expect_err("missing").to_string();
    assert!(
        e.contains("s3://lf-store/a/missing") && e.contains("NoSuchKey"),
        "{e}"
    );

    // A missing bucket (not the storage's own: nothing is created): a clear error.
    let other = s.for_bucket("lf-no-such-bucket");
    let e = other.get("k").await.expect_err("no bucket").to_string();
    assert!(
        e.contains("s3://lf-no-such-bucket/k") && e.contains("`lf-no-such-bucket` does not exist"),
        "{e}"
    );

    // Multipart: a body over one 8 MiB part goes up in parts and comes back whole.
    let big = noise(2 * s3::MULTIPART_PART_SIZE + 12345, 7);
    s.put("big/blob", big.clone()).await.expect("multipart put");
    assert_eq!(
        s.head("big/blob").await.expect("head"),
        Some(big.len() as u64)
    );
    let back = s.get("big/blob").await.expect("get big");
    assert!(back == big, "the multipart object comes back byte for byte");
    let mid = s3::MULTIPART_PART_SIZE as u64 - 10;
    assert_eq!(
        s.get_range("big/blob", mid, mid + 20).await.expect("range"),
        &big[mid as usize..mid as usize + 20],
        "a range across a part boundary"
    );
    let uploads = s
        .client()
        .list_multipart_uploads()
        .bucket("lf-store")
        .send()
        .await
        .expect("list uploads");
    assert!(uploads.uploads().is_empty(), "no upload is left open");

    // Listing is paginated (1000 keys a page) and sorted; deleting is batched.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..1050 {
        let s = s.clone();
        tasks.spawn(async move { s.put(&format!("many/{i:05}"), vec![b'x'; i % 7]).await });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("joined").expect("put");
    }
    let listed = s.list("many/").await.expect("list");
    assert_eq!(listed.len(), 1050);
    assert_eq!(listed[0].key, "many/00000");
    assert_eq!(listed[1049].key, "many/01049");
    assert_eq!(listed[8].size, 1);
    assert!(listed.windows(2).all(|w| w[0].key < w[1].key));
    assert_eq!(s.list("a/").await.expect("list").len(), 2);

    s.delete_prefix("many/").await.expect("delete prefix");
    assert!(s.list("many/").await.expect("list").is_empty());
    s.delete(&["a/hello.txt".to_owned(), "a/never-existed".to_owned()])
        .await
        .expect("deleting a missing key is fine");
    assert_eq!(s.head("a/hello.txt").await.expect("head"), None);
    assert_eq!(s.head("a/empty").await.expect("head"), Some(0));
}

/// The files of the partition comparisons: edge cases of the line rules.
fn sample_files() -> Vec<(&'static str, Vec<u8>)> {
    let mut long = vec![b'L'; 100_000];
    long.extend_from_slice(b"\nshort\n");
    vec![
        ("a.txt", b"aaaa\nbbbb\ncccc\ndddd\n".to_vec()),
        ("b.txt", b"no trailing newline\nlast line".to_vec()),
        ("c.txt", Vec::new()),
        ("d.txt", b"\n\n\n\n".to_vec()),
        ("e.bin", noise(5000, 3)),
        ("f.txt", long),
        ("g.txt", b"x".to_vec()),
    ]
}

/// What a part holds, read from the local file it came from.
fn part_bytes(files: &[(&str, Vec<u8>)], key: &str, range: (u64, u64)) -> Vec<u8> {
    let name = key.rsplit('/').next().expect("a name");
    let data = &files
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no file {name}"))
        .1;
    data[range.0 as usize..range.1 as usize].to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_objects_split_exactly_like_the_same_local_files() {
    let emu = Emulator::start();
    let s = storage(&emu, "lf-parts").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let local = dir.path().join("data");
    std::fs::create_dir(&local).expect("mkdir");
    let files = sample_files();
    for (name, data) in &files {
        std::fs::write(local.join(name), data).expect("write");
        s.put(&format!("data/{name}"), data.clone())
            .await
            .expect("upload");
    }
    // A folder marker is not an object to process (as in Lithops).
    s.put("data/", Vec::new()).await.expect("marker");

    for chunking in [
        Chunking::Whole,
        Chunking::Size(1),
        Chunking::Size(7),
        Chunking::Size(100),
        Chunking::Size(65_536),
        Chunking::Count(1),
        Chunking::Count(3),
        Chunking::Count(10),
    ] {
        let want = partition::local_parts(dir.path(), "data/", chunking).expect("local parts");
        let got = s3::object_parts(&s, "s3://lf-parts/data/", chunking)
            .await
            .expect("s3 parts");
        assert_eq!(got.len(), want.len(), "{chunking:?}");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.bucket.as_deref(), Some("lf-parts"));
            assert_eq!(g.path, None);
            assert_eq!(
                (g.key.as_str(), g.part, g.total_parts, g.range),
                (
                    format!("data/{}", w.key.rsplit('/').next().expect("name")).as_str(),
                    w.part,
                    w.total_parts,
                    w.range
                ),
                "{chunking:?}"
            );
            // And the bytes a function gets are the same.
            assert_eq!(
                s.get_range(&g.key, g.range.0, g.range.1)
                    .await
                    .expect("range"),
                part_bytes(&files, &w.key, w.range)
            );
        }
        // One exact key splits like one file.
        let want = partition::local_parts(&local, "b.txt", chunking).expect("local");
        let got = s3::object_parts(&s, "s3://lf-parts/data/b.txt", chunking)
            .await
            .expect("s3");
        let ranges = |v: &[lithoflow_executor::protocol::ObjectPart]| {
            v.iter()
                .map(|p| (p.part, p.total_parts, p.range))
                .collect::<Vec<_>>()
        };
        assert_eq!(ranges(&got), ranges(&want), "{chunking:?}");
    }

    // What an `obj` names that does not exist: clear errors.
    let e = s3::object_parts(&s, "s3://lf-parts/nothing/", Chunking::Whole)
        .await
        .expect_err("empty prefix")
        .to_string();
    assert!(
        e.contains("no objects found under s3://lf-parts/nothing/"),
        "{e}"
    );
    let e = s3::object_parts(&s, "s3://lf-parts/data", Chunking::Whole)
        .await
        .expect_err("a prefix without its slash")
        .to_string();
    assert!(
        e.contains("s3://lf-parts/data does not exist") && e.contains("trailing `/`"),
        "{e}"
    );
}

#[test]
fn s3_and_local_splitting_agree_on_random_contents() {
    let emu = Emulator::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let s = rt.block_on(storage(&emu, "lf-prop"));
    let dir = tempfile::tempdir().expect("tempdir");
    let case = std::cell::Cell::new(0u32);
    let config = ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(
        data in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'a'), any::<u8>()], 0..400),
        chunk in 1u64..150,
        by_count in any::<bool>(),
    )| {
        case.set(case.get() + 1);
        let chunking = if by_count { Chunking::Count(chunk.min(40)) } else { Chunking::Size(chunk) };
        let name = format!("case-{}", case.get());
        std::fs::write(dir.path().join(&name), &data).expect("write");
        rt.block_on(s.put(&name, data.clone())).expect("upload");
        let want = partition::local_parts(dir.path(), &name, chunking).expect("local");
        let got = rt
            .block_on(s3::object_parts(&s, &format!("s3://lf-prop/{name}"), chunking))
            .expect("s3");
        let ranges = |v: &[lithoflow_executor::protocol::ObjectPart]| {
            v.iter().map(|p| (p.part, p.total_parts, p.range)).collect::<Vec<_>>()
        };
        prop_assert_eq!(ranges(&got), ranges(&want));
    });
}

#[test]
fn the_runtime_reads_its_part_from_s3_itself_as_on_lambda() {
    let emu = Emulator::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let s = rt.block_on(storage(&emu, "lf-runtime"));
    rt.block_on(s.put("in/lines.txt", b"one\ntwo\nthree\nfour\n".to_vec()))
        .expect("upload");
    // Part 2 of 2 with chunk_size 8: "three\nfour\n" (bytes 8..19).
    let script = r#"
import json, sys
ns = {"__name__": "lithoflow_runtime"}
exec(open(sys.argv[1]).read(), ns)
out = []
for rng in ([8, 19], [0, 8], [5, 5]):
    obj = ns["CloudObject"]({"bucket": "lf-runtime", "key": "in/lines.txt", "part": 2,
                             "total_parts": 2, "range": rng})
    out.append({"lines": [l.decode() for l in obj.data_stream], "range": list(obj.data_byte_range)})
    obj.data_stream.close()
try:
    ns["CloudObject"]({"bucket": "lf-runtime", "key": "in/missing", "part": 1,
                       "total_parts": 1, "range": [0, 4]})
except Exception as e:
    out.append({"error": e.kind, "message": str(e)})
print(json.dumps(out))
"#;
    let python = repo_root().join(".emu/venv/bin/python");
    let runtime = repo_root().join("executor/src/runtime/lithoflow_runtime.py");
    let out = Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(&runtime)
        .envs(emu.env())
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        got[0],
        json!({"lines": ["three\n", "four\n"], "range": [8, 18]})
    );
    assert_eq!(
        got[1],
        json!({"lines": ["one\n", "two\n"], "range": [0, 7]})
    );
    assert_eq!(got[2], json!({"lines": [], "range": [5, 4]}));
    assert_eq!(got[3]["error"], "input");
    assert!(
        got[3]["message"]
            .as_str()
            .is_some_and(|m| m.contains("s3://lf-runtime/in/missing")),
        "{got}"
    );
}

const FUNCTIONS: &str = r#"
def describe(obj):
    data = obj.data_stream.read()
    return {"bucket": obj.bucket, "key": obj.key, "part": obj.part,
            "total": obj.total_parts, "range": list(obj.data_byte_range),
            "text": data.decode()}

def join_parts(parts):
    return {"key": parts[0]["key"], "text": "".join(p["text"] for p in parts),
            "parts": len(parts)}

def big(n):
    return "x" * n

def length(value):
    return len(value)

def first_and_count(items):
    return [items[0], len(items)]

def many(n):
    return ["%04d" % i + "y" * 996 for i in range(n)]

def head(x):
    return x[:4]
"#;

const DAG: &str = r#"
dag_id = "s3_e2e"

[lithops_config]
storage = "aws_s3"

[lithops_config.aws_s3]
storage_bucket = "lf-e2e"

[tasks.chunks]
type = "map"
map_function = "fns:describe"
map_iterdata = [{ obj = "s3://lf-inputs/data/" }]
chunk_size = 16

[tasks.per_object]
type = "map_reduce"
map_function = "fns:describe"
reduce_function = "fns:join_parts"
map_iterdata = [{ obj = "s3://lf-inputs/data/" }]
chunk_n = 3
reducer_one_per_object = true

[tasks.big]
type = "call_async"
func = "fns:big"
data = { n = 1500000 }

[tasks.measure]
type = "call_async"
func = "fns:length"
data_from_task = { value = "big" }

[tasks.big_list]
type = "call_async"
func = "fns:many"
data = { n = 1100 }

[tasks.over_big_list]
type = "map_reduce"
map_function = "fns:head"
reduce_function = "fns:first_and_count"
iterdata_from_task = "big_list"

[tasks.cleaned]
type = "map"
map_function = "fns:describe"
map_iterdata = [{ obj = "s3://lf-inputs/data/a.txt" }]
clean_data = true
"#;

/// The input objects of the end-to-end DAG.
const INPUTS: &[(&str, &str)] = &[
    ("data/a.txt", "alpha\nbeta\ngamma\ndelta\nepsilon\n"),
    ("data/b.txt", "one line without a newline"),
    ("data/c.txt", ""),
];

fn write_dag(folder: &Path) {
    std::fs::write(folder.join("fns.py"), FUNCTIONS).expect("functions");
    std::fs::write(folder.join("s3_e2e.toml"), DAG).expect("dag");
}

/// Every key under `prefix` in `bucket`.
async fn keys(s: &S3Storage, bucket: &str, prefix: &str) -> Vec<String> {
    s.for_bucket(bucket)
        .list(prefix)
        .await
        .expect("list")
        .into_iter()
        .map(|o| o.key)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dag_on_aws_s3_storage_maps_over_s3_objects_keeps_job_data_and_offloads_large_xcom() {
    let emu = Emulator::start();
    let inputs = storage(&emu, "lf-inputs").await;
    for (key, text) in INPUTS {
        inputs
            .put(key, text.as_bytes().to_vec())
            .await
            .expect("upload");
    }
    let folder = tempfile::tempdir().expect("dags");
    let home = tempfile::tempdir().expect("home");
    write_dag(folder.path());

    let mut cmd = lithoflow();
    cmd.env("LITHOFLOW_HOME", home.path())
        .envs(emu.env())
        .arg("--dags-folder")
        .arg(folder.path())
        .args(["dags", "test", "s3_e2e", "-o", "json"])
        .timeout(Duration::from_secs(120));
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("joined")
        .expect("lithoflow runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "JSON ({e}): {}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(doc["state"], "success", "{doc:#}\n{stderr}");
    let task = |id: &str| -> &Value {
        doc["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .find(|t| t["task_id"] == id)
            .unwrap_or_else(|| panic!("no task {id} in {doc}"))
    };

    // chunk_size over a prefix: every object, in key order, its parts concatenating to it.
    let parts = task("chunks")["return_value"].as_array().expect("a list");
    for (key, text) in INPUTS {
        let mine: Vec<&Value> = parts.iter().filter(|p| p["key"] == *key).collect();
        assert!(!mine.is_empty(), "{key} has parts: {parts:?}");
        let joined: String = mine
            .iter()
            .map(|p| p["text"].as_str().expect("text"))
            .collect();
        assert_eq!(joined, *text, "{key}");
        for (i, p) in mine.iter().enumerate() {
            assert_eq!(p["bucket"], "lf-inputs");
            assert_eq!(p["part"], i + 1);
            assert_eq!(p["total"], mine.len());
        }
    }
    let a_parts: Vec<&str> = parts
        .iter()
        .filter(|p| p["key"] == "data/a.txt")
        .map(|p| p["text"].as_str().expect("text"))
        .collect();
    assert_eq!(a_parts, ["alpha\nbeta\ngamma\n", "delta\nepsilon\n"]);

    // One reducer per object, each over its object's parts.
    assert_eq!(
        task("per_object")["return_value"],
        json!([
            {"key": "data/a.txt", "text": INPUTS[0].1, "parts": 3},
            {"key": "data/b.txt", "text": INPUTS[1].1, "parts": 3},
            {"key": "data/c.txt", "text": "", "parts": 3},
        ])
    );

    // A large return value lives in S3; the XCom is a reference downstream tasks follow.
    let run_id = doc["run_id"].as_str().expect("run id");
    let big = &task("big")["return_value"];
    let location = big["__lithoflow_xcom__"]
        .as_str()
        .unwrap_or_else(|| panic!("offloaded: {big}"));
    assert!(
        location.starts_with("s3://lf-e2e/lithoflow.jobs/s3_e2e/")
            && location.ends_with("/big/1/xcom/return_value.json"),
        "{location}"
    );
    assert_eq!(big["size"], 1_500_002);
    assert_eq!(task("measure")["return_value"], 1_500_000);
    assert!(task("big_list")["return_value"]["__lithoflow_xcom__"].is_string());
    assert_eq!(task("over_big_list")["return_value"], json!(["0000", 1100]));
    // `tasks test --xcom` follows a reference too.
    let mut cmd = lithoflow();
    cmd.env("LITHOFLOW_HOME", home.path())
        .envs(emu.env())
        .arg("--dags-folder")
        .arg(folder.path())
        .args(["tasks", "test", "s3_e2e", "measure", "-o", "json", "--xcom"])
        .arg(format!("big={big}"))
        .timeout(Duration::from_secs(60));
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("joined")
        .expect("lithoflow runs");
    let tested: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(tested["return_value"], 1_500_000, "{tested}");

    let key = location.trim_start_matches("s3://lf-e2e/");
    let stored = storage(&emu, "lf-e2e")
        .await
        .get(key)
        .await
        .expect("the XCom object");
    assert_eq!(stored.len(), 1_500_002);

    // Job data: under lithoflow.jobs/<dag>/<run>/<task>/<try>/ in the storage bucket.
    let s = storage(&emu, "lf-e2e").await;
    let all = keys(&s, "lf-e2e", "lithoflow.jobs/s3_e2e/").await;
    let run_prefix = key
        .strip_suffix("big/1/xcom/return_value.json")
        .expect("the job prefix");
    assert!(
        run_prefix.starts_with("lithoflow.jobs/s3_e2e/") && run_prefix.contains(&run_id[..10]),
        "{run_prefix} vs {run_id}"
    );
    for t in ["chunks", "per_object", "big", "measure"] {
        for name in ["status.json", "results.json"] {
            let k = format!("{run_prefix}{t}/1/{name}");
            assert!(all.contains(&k), "{k} in {all:#?}");
        }
    }
    let status: Value = serde_json::from_slice(
        &s.get(&format!("{run_prefix}chunks/1/status.json"))
            .await
            .expect("status"),
    )
    .expect("json");
    assert_eq!(status["state"], "success");
    // clean_data: the cleaned task left nothing behind.
    let cleaned: Vec<&String> = all
        .iter()
        .filter(|k| k.starts_with(&format!("{run_prefix}cleaned/")))
        .collect();
    assert!(cleaned.is_empty(), "{cleaned:?}");
    assert_eq!(
        task("cleaned")["return_value"][0]["text"],
        INPUTS[0].1,
        "the cleaned task ran"
    );
}
