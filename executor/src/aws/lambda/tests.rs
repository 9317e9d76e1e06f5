//! The aws_lambda backend's unit tests: request splicing and limits, retried
//! invocations against a canned HTTP server, failure classification, and following
//! asynchronous calls with an offline backend.

use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[test]
fn splice_adds_a_member_without_decoding() {
    let v = json!({"a": 1});
    assert_eq!(
        String::from_utf8(splice(br#"{"type":"call","x":[1]}"#, "aws", &v)).expect("utf8"),
        r#"{"type":"call","x":[1],"aws":{"a":1}}"#
    );
    assert_eq!(
        String::from_utf8(splice(b"{ }\n", "aws", &v)).expect("utf8"),
        r#"{ "aws":{"a":1}}"#
    );
    let spliced = splice(br#"{"type":"call"}"#, "aws", &v);
    let back: Value = serde_json::from_slice(&spliced).expect("json");
    assert_eq!(back["aws"]["a"], 1);
}

#[test]
fn request_limits_name_the_limit_and_what_to_do() {
    assert!(check_request_size(100, 200, Mode::Sync).is_ok());
    let sync =
        check_request_size(7 * 1024 * 1024, SYNC_PAYLOAD_LIMIT, Mode::Sync).expect_err("over 6 MB");
    assert!(sync.contains("7.0 MB"), "{sync}");
    assert!(sync.contains("6.0 MB"), "{sync}");
    assert!(sync.contains("synchronous invocation"), "{sync}");
    let event =
        check_request_size(300 * 1024, EVENT_PAYLOAD_LIMIT, Mode::Event).expect_err("over 256 KB");
    assert!(event.contains("256.0 KB"), "{event}");
    assert!(event.contains("async_invoke"), "{event}");
}

#[test]
fn backoff_grows_exponentially_with_jitter_and_is_capped() {
    for attempt in 1..30 {
        let exp = BACKOFF_BASE
            .saturating_mul(1u32 << (attempt - 1).min(16))
            .min(BACKOFF_CAP);
        let b = crate::aws::backoff(attempt, BACKOFF_BASE, BACKOFF_CAP);
        assert!(
            b >= exp / 2 && b <= exp,
            "attempt {attempt}: {b:?} vs {exp:?}"
        );
    }
    let samples: HashSet<u128> = (0..20)
        .map(|_| crate::aws::backoff(5, BACKOFF_BASE, BACKOFF_CAP).as_micros())
        .collect();
    assert!(samples.len() > 1, "jitter varies the pause");
}

/// A tiny HTTP server answering each request with the next canned response, and
/// counting the requests.
/// A canned HTTP answer: status, headers, body.
type Canned = (u16, Vec<(&'static str, &'static str)>, &'static str);

async fn canned_server(responses: Vec<Canned>) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    tokio::spawn(async move {
        let mut responses = responses.into_iter();
        while let Ok((mut sock, _)) = listener.accept().await {
            // Read one request (headers, then the body by Content-Length).
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let head_end = loop {
                let Ok(n) = sock.read(&mut chunk).await else {
                    break None;
                };
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(p + 4);
                }
            };
            let Some(head_end) = head_end else {
                continue;
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < head_end + len {
                let Ok(n) = sock.read(&mut chunk).await else {
                    break;
                };
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let (status, headers, body) = responses.next().unwrap_or((
                500,
                vec![],
                r#"{"message":"no more canned answers"}"#,
            ));
            let mut resp = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                resp.push_str(&format!("{k}: {v}\r\n"));
            }
            resp.push_str("\r\n");
            resp.push_str(body);
            let _ = sock.write_all(resp.as_bytes()).await;
            let _ = sock.shutdown().await;
        }
    });
    (format!("http://{addr}"), count)
}

fn test_client(endpoint: &str) -> aws_sdk_lambda::Client {
    let conf = aws_sdk_lambda::Config::builder()
        .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
        .region(aws_sdk_lambda::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_lambda::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .endpoint_url(endpoint)
        .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_lambda::Client::from_conf(conf)
}

const THROTTLED: &str = r#"{"Type":"User","message":"Rate Exceeded.","Reason":"ReservedFunctionConcurrentInvocationLimitExceeded"}"#;

/// A Lambda error answer: status, `x-amzn-ErrorType`, body.
fn aws_error(status: u16, kind: &'static str, body: &'static str) -> Canned {
    (status, vec![("x-amzn-ErrorType", kind)], body)
}

fn throttled() -> Canned {
    aws_error(429, "TooManyRequestsException", THROTTLED)
}

/// An invocation of `f` with an empty payload, answered within 10 s.
fn attempt<'a>(
    client: &'a aws_sdk_lambda::Client,
    permits: &'a Semaphore,
    cancel: &'a CancellationToken,
    mode: Mode,
    retry_for: Duration,
) -> Attempt<'a> {
    Attempt {
        client,
        permits: Some(permits),
        function: "f",
        payload: b"{}",
        mode,
        cancel,
        answer_within: Duration::from_secs(10),
        retry_for,
    }
}

#[tokio::test]
async fn throttled_invocations_are_retried_with_backoff_until_they_succeed() {
    let throttle = throttled();
    let server_error = aws_error(502, "ServiceException", r#"{"message":"bad gateway"}"#);
    let ok = (
        200,
        vec![("Content-Type", "application/json")],
        r#"{"ok":1}"#,
    );
    let (url, count) = canned_server(vec![throttle.clone(), server_error, throttle, ok]).await;
    let client = test_client(&url);
    let permits = Semaphore::new(1);
    let cancel = CancellationToken::new();
    let attempt = attempt(
        &client,
        &permits,
        &cancel,
        Mode::Sync,
        Duration::from_secs(30),
    );
    let mut sent = 0;
    let started = std::time::Instant::now();
    let out = invoke(&attempt, || sent += 1)
        .await
        .expect("succeeds after retries");
    assert_eq!(out.status_code(), 200);
    assert_eq!(
        out.payload().map(|b| b.as_ref().to_vec()),
        Some(br#"{"ok":1}"#.to_vec())
    );
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 4);
    assert_eq!(sent, 1, "the call is reported started once");
    // Three pauses: at least half of 100 + 200 + 400 ms.
    assert!(started.elapsed() >= Duration::from_millis(350));
    // The slot was given back.
    assert_eq!(permits.available_permits(), 1);
}

#[tokio::test]
async fn throttling_past_the_budget_gives_up_with_the_last_error() {
    let (url, _) = canned_server(vec![throttled(); 50]).await;
    let client = test_client(&url);
    let permits = Semaphore::new(4);
    let cancel = CancellationToken::new();
    let attempt = attempt(
        &client,
        &permits,
        &cancel,
        Mode::Event,
        Duration::from_millis(500),
    );
    match invoke(&attempt, || {}).await {
        Err(InvokeFailure::GaveUp { attempts, last }) => {
            assert!(attempts >= 2, "{attempts}");
            assert!(last.contains("TooManyRequestsException"), "{last}");
        }
        other => panic!("expected to give up, got {other:?}"),
    }
}

#[tokio::test]
async fn missing_functions_and_oversized_requests_are_not_retried() {
    let missing = aws_error(
        404,
        "ResourceNotFoundException",
        r#"{"Type":"User","message":"Function not found: arn:aws:lambda:us-east-1:000000000000:function:f"}"#,
    );
    let large = aws_error(
        413,
        "RequestTooLargeException",
        r#"{"Type":"User","message":"Request must be smaller than 6291456 bytes for the InvokeFunction operation"}"#,
    );
    let (url, count) = canned_server(vec![missing, large]).await;
    let client = test_client(&url);
    let permits = Semaphore::new(1);
    let cancel = CancellationToken::new();
    let attempt = attempt(
        &client,
        &permits,
        &cancel,
        Mode::Sync,
        Duration::from_secs(30),
    );
    assert!(matches!(
        invoke(&attempt, || {}).await,
        Err(InvokeFailure::NotFound(m)) if m.contains("Function not found")
    ));
    assert!(matches!(
        invoke(&attempt, || {}).await,
        Err(InvokeFailure::TooLarge(m)) if m.contains("6291456")
    ));
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_cancelled_call_stops_retrying() {
    let (url, _) = canned_server(vec![throttled(); 50]).await;
    let client = test_client(&url);
    let permits = Semaphore::new(1);
    let cancel = CancellationToken::new();
    let attempt = attempt(
        &client,
        &permits,
        &cancel,
        Mode::Sync,
        Duration::from_secs(60),
    );
    let stopper = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        stopper.cancel();
    });
    let started = std::time::Instant::now();
    assert!(matches!(
        invoke(&attempt, || {}).await,
        Err(InvokeFailure::Cancelled)
    ));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn lambda_failures_are_classified() {
    let f = Function {
        name: "lithoflow-runtime-0-1-0-256mb".to_owned(),
        timeout: Duration::from_secs(3),
    };
    let timed_out =
        br#"{"errorMessage":"Task timed out after 3.00 seconds","errorType":"Sandbox.Timedout"}"#;
    match runtime_failure(2, "Unhandled", timed_out, &f) {
        WorkResult::Failed { error, .. } => {
            assert_eq!(error.kind, CallErrorKind::Timeout);
            assert_eq!(error.call_index, 2);
            assert!(error.message.contains("3s"), "{}", error.message);
        }
        other => panic!("{other:?}"),
    }
    let oom = br#"{"errorMessage":"RequestId: x Error: Runtime exited with error: signal: killed","errorType":"Runtime.ExitError"}"#;
    assert!(matches!(
        runtime_failure(0, "Unhandled", oom, &f),
        WorkResult::Failed { error, .. } if error.kind == CallErrorKind::Memory
    ));
    let other =
        br#"{"errorMessage":"boom","errorType":"Runtime.HandlerError","stackTrace":["a\n","b\n"]}"#;
    match runtime_failure(0, "Unhandled", other, &f) {
        WorkResult::Failed { error, .. } => {
            assert_eq!(error.kind, CallErrorKind::WorkerDied);
            assert_eq!(error.traceback, "a\nb\n");
        }
        other => panic!("{other:?}"),
    }
}

/// A backend whose clients point nowhere: enough for following calls.
fn offline() -> Arc<Inner> {
    let settings = AwsSettings::from_config(&crate::config::ExecutorConfig::default());
    let client = test_client("http://127.0.0.1:9");
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9")
            .build(),
    );
    Arc::new(Inner {
        storage: S3Storage::from_client("b", s3),
        runtimes: Runtimes::with_client(&settings, client.clone()),
        client,
        permits: Arc::new(Semaphore::new(4)),
        functions: Mutex::default(),
        uploaded: tokio::sync::Mutex::default(),
        pollers: Mutex::default(),
        limits: Limits::default(),
        detached_grace: Duration::from_millis(200),
        settings,
    })
}

/// Records the progress hooks a call fires.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl crate::backend::CallEvents for Recorder {
    fn started(&self) {
        self.0.lock().expect("lock").push("started".to_owned());
    }
    fn finished(&self, ok: bool) {
        self.0.lock().expect("lock").push(format!("finished:{ok}"));
    }
    fn accepted(&self) {
        self.0.lock().expect("lock").push("accepted".to_owned());
    }
}

fn item(events: &Arc<Recorder>) -> (WorkItem, tokio::sync::oneshot::Receiver<WorkResult>) {
    let (reply, rx) = tokio::sync::oneshot::channel();
    let item = WorkItem {
        body: Vec::new(),
        call_index: 3,
        timeout: Duration::from_secs(1),
        cancel: Arc::new(CancellationToken::new()),
        events: Some(Arc::clone(events) as Arc<dyn crate::backend::CallEvents>),
        reply: reply.into(),
        job: None,
        services: None,
        cloud: None,
    };
    (item, rx)
}

/// Following a call of 1 s, bound to no request, not adopted.
fn following(f: &Function) -> Following<'_> {
    Following {
        timeout: Duration::from_secs(1),
        function: f,
        bound: None,
        adopted: None,
    }
}

fn function() -> Function {
    Function {
        name: "lithoflow-runtime-0-1-0-256mb".to_owned(),
        timeout: Duration::from_secs(60),
    }
}

#[tokio::test]
async fn a_followed_call_reports_accepted_started_and_its_answer() {
    let inner = offline();
    let events = Arc::new(Recorder::default());
    let (item, rx) = item(&events);
    let (tx, seen) = mpsc::unbounded_channel();
    let follow = {
        let inner = Arc::clone(&inner);
        tokio::spawn(async move {
            let f = function();
            inner
                .follow(item, seen, std::future::ready(Ok(())), following(&f))
                .await;
        })
    };
    tx.send(Seen::Started).expect("send");
    tx.send(Seen::Finished(
        br#"{"type":"result","call_id":"00003","ok":true,"result":[1,2],"stdout":"hi\n"}"#.to_vec(),
    ))
    .expect("send");
    follow.await.expect("follow");
    match rx.await.expect("a reply") {
        WorkResult::Call { response, .. } => {
            assert!(response.ok);
            assert_eq!(response.result, json!([1, 2]));
            assert_eq!(response.stdout, "hi\n");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        *events.0.lock().expect("lock"),
        vec!["accepted", "started", "finished:true"]
    );
}

#[tokio::test]
async fn a_call_that_never_starts_fails_after_its_timeout_and_the_grace() {
    let inner = offline();
    let events = Arc::new(Recorder::default());
    let (item, rx) = item(&events);
    let (_tx, seen) = mpsc::unbounded_channel();
    let started = Instant::now();
    let f = function();
    inner
        .follow(item, seen, std::future::ready(Ok(())), following(&f))
        .await;
    match rx.await.expect("a reply") {
        WorkResult::Failed { error, .. } => {
            assert_eq!(error.kind, CallErrorKind::Timeout);
            assert_eq!(error.call_index, 3);
            assert!(error.message.contains("never started"), "{}", error.message);
        }
        other => panic!("{other:?}"),
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1200) && took < Duration::from_secs(10),
        "{took:?}"
    );
    assert_eq!(
        *events.0.lock().expect("lock"),
        vec!["accepted", "finished:false"]
    );
}

#[tokio::test]
async fn a_call_the_remote_invoker_could_not_invoke_fails_with_why() {
    let inner = offline();
    let events = Arc::new(Recorder::default());
    let (item, rx) = item(&events);
    let (_tx, seen) = mpsc::unbounded_channel();
    let refused = async { Err("the remote invoker could not invoke the call: boom".to_owned()) };
    let f = function();
    inner.follow(item, seen, refused, following(&f)).await;
    match rx.await.expect("a reply") {
        WorkResult::Infrastructure(m) => assert!(m.contains("boom"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(*events.0.lock().expect("lock"), vec!["finished:false"]);
}

#[tokio::test]
async fn a_runtime_timeout_answer_keeps_its_message_and_traceback() {
    let inner = offline();
    let body = br#"{"type":"result","call_id":"00000","ok":false,"error":{"kind":"timeout","type":"TimeoutError","message":"the call exceeded its timeout of 2s on AWS Lambda","traceback":"Traceback ...\n  in sleepy\n"}}"#;
    match inner
        .decode_body(0, body, Duration::from_secs(2), &function())
        .await
    {
        WorkResult::Failed { error, .. } => {
            assert_eq!(error.kind, CallErrorKind::Timeout);
            assert!(error.message.contains("timeout of 2s"));
            assert!(error.traceback.contains("in sleepy"));
        }
        other => panic!("{other:?}"),
    }
}

// --- Calls adopted after a restart, against the AWS emulator ---------------------------
//
// A real ministack (S3 and a Lambda that runs the lithoflow runtime's handler), as the
// `it` tests use it (scripts/install-emulator.sh installs it in `.emu/`). A "restart" is
// a fresh backend preparing the same job key: it knows only what the bucket holds.

/// A running emulator on a free port; stopped when dropped.
struct Emulator {
    port: u16,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Emulator {
    fn start() -> Emulator {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the executor is inside the repository")
            .to_path_buf();
        let bin = root.join(".emu/venv/bin/ministack");
        // Once per test process, always through the script: it takes a file lock, so
        // tests starting together (threads here, other test processes) never see a
        // half-installed emulator.
        static INSTALLED: std::sync::Once = std::sync::Once::new();
        INSTALLED.call_once(|| {
            let out = std::process::Command::new("bash")
                .arg(root.join("scripts/install-emulator.sh"))
                .output()
                .expect("bash runs scripts/install-emulator.sh");
            assert!(
                out.status.success() && bin.exists(),
                "installing the AWS emulator failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        });
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let dir = tempfile::tempdir().expect("tempdir");
        let tmp = dir.path().join("tmp");
        std::fs::create_dir_all(&tmp).expect("tmp");
        let log = std::fs::File::create(dir.path().join("ministack.log")).expect("log");
        let child = std::process::Command::new(&bin)
            .env("BIND_HOST", "127.0.0.1")
            .env("GATEWAY_PORT", port.to_string())
            .env("SERVICES", "s3,lambda,iam,sts,logs")
            .env("LOG_LEVEL", "WARNING")
            .env("TMPDIR", &tmp)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("the emulator starts");
        let emu = Emulator {
            port,
            child,
            _dir: dir,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !emu.ready() {
            assert!(
                std::time::Instant::now() < deadline,
                "the emulator did not become ready"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        emu
    }

    fn ready(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.write_all(b"GET /_ministack/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .is_err()
        {
            return false;
        }
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.starts_with("HTTP/1.1 200") || out.starts_with("HTTP/1.0 200")
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The functions the adoption tests call: each call appends its argument to a file
/// (how many times a call ran, as Lambda ran it), then returns it times ten.
const MARK_FUNCS: &str = "\
def mark(x, path):
    with open(path, 'a') as f:
        f.write('%d\\n' % x)
    return x * 10
";

/// What a restart keeps: the emulator, the bucket, the function modules.
struct World {
    emu: Emulator,
    modules: tempfile::TempDir,
    /// Outside the modules folder, which is shipped.
    _marks_dir: tempfile::TempDir,
    marks: std::path::PathBuf,
}

impl World {
    fn new() -> World {
        let emu = Emulator::start();
        let modules = tempfile::tempdir().expect("tempdir");
        std::fs::write(modules.path().join("adoptfuncs.py"), MARK_FUNCS).expect("write");
        let marks_dir = tempfile::tempdir().expect("tempdir");
        let marks = marks_dir.path().join("marks.txt");
        World {
            emu,
            modules,
            _marks_dir: marks_dir,
            marks,
        }
    }

    /// A fresh backend (a scheduler process), its function's timeout `timeout_s`.
    async fn backend(&self, timeout_s: u64) -> LambdaBackend {
        let cfg = crate::config::ExecutorConfig {
            storage_bucket: Some("adopt".to_owned()),
            execution_role: Some("arn:aws:iam::000000000000:role/lithoflow".to_owned()),
            runtime_timeout: Some(timeout_s),
            ..Default::default()
        };
        let settings = AwsSettings::from_config(&cfg);
        let client = test_client(&self.emu.endpoint());
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                .region(aws_sdk_s3::config::Region::new("us-east-1"))
                .credentials_provider(aws_sdk_s3::config::Credentials::new(
                    "test", "test", None, None, "test",
                ))
                .endpoint_url(self.emu.endpoint())
                .force_path_style(true)
                .build(),
        );
        let storage = S3Storage::from_client("adopt", s3);
        storage.ensure_bucket().await.expect("the bucket");
        LambdaBackend {
            inner: Arc::new(Inner {
                storage,
                runtimes: Runtimes::with_client(&settings, client.clone()),
                client,
                permits: Arc::new(Semaphore::new(8)),
                functions: Mutex::default(),
                uploaded: tokio::sync::Mutex::default(),
                pollers: Mutex::default(),
                limits: Limits::default(),
                detached_grace: Duration::from_millis(500),
                settings,
            }),
        }
    }

    async fn job(&self, backend: &LambdaBackend, key: &str) -> Arc<CloudJob> {
        let job = backend
            .prepare_job(
                key,
                &[self.modules.path().to_path_buf()],
                &[],
                &[],
                "python3",
            )
            .await
            .expect("the job is prepared");
        Arc::new(job)
    }

    /// The request of map call `index` (its argument is `index`).
    fn body(&self, index: usize) -> Vec<u8> {
        let request = crate::protocol::Request::Call(Box::new(crate::protocol::CallRequest {
            call_id: format!("{index:05}"),
            call_index: index,
            module: "adoptfuncs".to_owned(),
            function: "mark".to_owned(),
            args: vec![json!(index), json!(self.marks.to_string_lossy())],
            kwargs: serde_json::Map::new(),
            extra_env: serde_json::Map::new(),
            sys_path: Vec::new(),
            exclude_modules: Vec::new(),
            memory_mb: None,
            obj: None,
            airflow_context: None,
            context_positional: false,
        }));
        serde_json::to_vec(&request).expect("json")
    }

    /// Runs map calls `indexes` of `job`; returns each one's result (or error) and the
    /// progress hooks it fired.
    async fn run(
        &self,
        backend: &LambdaBackend,
        job: &Arc<CloudJob>,
        indexes: &[usize],
        detached: bool,
    ) -> Vec<(Result<Value, String>, Vec<String>)> {
        let mut waits = Vec::new();
        for &index in indexes {
            let events = Arc::new(Recorder::default());
            let (reply, rx) = tokio::sync::oneshot::channel();
            let item = WorkItem {
                body: self.body(index),
                call_index: index,
                timeout: Duration::from_secs(30),
                cancel: Arc::new(CancellationToken::new()),
                events: Some(Arc::clone(&events) as Arc<dyn crate::backend::CallEvents>),
                reply: reply.into(),
                job: None,
                services: None,
                cloud: Some(Box::new(CloudCall {
                    job: Arc::clone(job),
                    phase: "map",
                    call_id: format!("{index:05}"),
                    memory: None,
                    detached,
                    wait_for: None,
                })),
            };
            backend.submit(item).await.expect("submitted");
            waits.push((rx, events));
        }
        let mut out = Vec::new();
        for (rx, events) in waits {
            let result = match rx.await.expect("a reply") {
                WorkResult::Call { response, .. } if response.ok => Ok(response.result),
                WorkResult::Call { response, .. } => Err(format!("{:?}", response.error)),
                WorkResult::Failed { error, .. } => {
                    Err(format!("{:?}: {}", error.kind, error.message))
                }
                other => Err(format!("{other:?}")),
            };
            let fired = events.0.lock().expect("lock").clone();
            out.push((result, fired));
        }
        out
    }

    /// How many times each argument ran on Lambda.
    fn runs(&self) -> HashMap<u64, usize> {
        let text = std::fs::read_to_string(&self.marks).unwrap_or_default();
        let mut runs = HashMap::new();
        for line in text.lines() {
            *runs.entry(line.parse().expect("a number")).or_default() += 1;
        }
        runs
    }

    async fn put(&self, backend: &LambdaBackend, key: &str, body: &[u8]) {
        backend.inner.put(key, body.to_vec()).await.expect("put");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_backend_takes_finished_calls_from_their_status_and_a_new_try_runs_them_again()
{
    let world = World::new();
    let key = "dag/manual__1/task/1";
    let first = world.backend(60).await;
    let job = world.job(&first, key).await;
    assert_eq!(
        job.calls_prefix,
        "lithoflow.jobs/dag/manual__1/task/1/calls"
    );
    let results = world.run(&first, &job, &[0, 1, 2], false).await;
    for (i, (r, _)) in results.iter().enumerate() {
        assert_eq!(r.as_ref().ok(), Some(&json!(i * 10)), "{results:?}");
    }
    assert_eq!(world.runs(), HashMap::from([(0, 1), (1, 1), (2, 1)]));
    // Synchronous calls write their init and status objects too.
    let keys = first
        .inner
        .list(&format!("{}/map/", job.calls_prefix))
        .await
        .expect("list");
    for i in 0..3 {
        for leaf in ["init", "status.json"] {
            let k = format!("{}/map/{i:05}/{leaf}", job.calls_prefix);
            assert!(keys.contains(&k), "{k} in {keys:?}");
        }
    }
    drop(first);

    // The scheduler restarts and runs the same try again: nothing is invoked.
    let second = world.backend(60).await;
    let job = world.job(&second, key).await;
    assert_eq!(job.earlier.len(), 3, "{:?}", job.earlier);
    let results = world.run(&second, &job, &[0, 1, 2], false).await;
    for (i, (r, fired)) in results.iter().enumerate() {
        assert_eq!(r.as_ref().ok(), Some(&json!(i * 10)), "{results:?}");
        assert_eq!(fired, &["accepted", "started", "finished:true"]);
    }
    assert_eq!(world.runs(), HashMap::from([(0, 1), (1, 1), (2, 1)]));

    // A new try is a new job key: everything runs again.
    let job = world.job(&second, "dag/manual__1/task/2").await;
    assert!(job.earlier.is_empty());
    let results = world.run(&second, &job, &[0, 1, 2], false).await;
    assert!(results.iter().all(|(r, _)| r.is_ok()), "{results:?}");
    assert_eq!(world.runs(), HashMap::from([(0, 2), (1, 2), (2, 2)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_backend_follows_calls_in_flight_and_invokes_calls_whose_objects_are_stale() {
    let world = World::new();
    let key = "dag/manual__2/task/1";
    // Call 4 is given up at its function's timeout after its init.
    let backend = world.backend(10).await;
    let prefix = world.job(&backend, key).await.calls_prefix.clone();
    let digest = |i: usize| request_digest(&world.body(i));
    // What a killed scheduler left: call 1 started (its init, for its request) and
    // still runs; call 2 started for another request (the DAG changed since); call 3
    // answered another request; call 4 started and will never report; a cancel mark.
    world
        .put(
            &backend,
            &format!("{prefix}/map/00001/init"),
            digest(1).as_bytes(),
        )
        .await;
    world
        .put(
            &backend,
            &format!("{prefix}/map/00002/init"),
            b"another request",
        )
        .await;
    world
        .put(
            &backend,
            &format!("{prefix}/map/00003/status.json"),
            br#"{"type":"result","call_id":"00003","ok":true,"result":"stale","request":"another"}"#,
        )
        .await;
    world
        .put(
            &backend,
            &format!("{prefix}/map/00004/init"),
            digest(4).as_bytes(),
        )
        .await;
    world
        .put(&backend, &format!("{prefix}/cancel"), b"{}")
        .await;

    let restarted = world.backend(10).await;
    let job = world.job(&restarted, key).await;
    assert!(
        !restarted
            .inner
            .exists(&format!("{prefix}/cancel"))
            .await
            .expect("head"),
        "the killed run's cancel mark is gone"
    );
    let run = world.run(&restarted, &job, &[0, 1, 2, 3, 4], false);
    let answer = async {
        // Call 1's function ends: its answer is the one it writes.
        let status = format!("{prefix}/map/00001/status.json");
        let body = format!(
            r#"{{"type":"result","call_id":"00001","ok":true,"result":"from the run before","request":"{}"}}"#,
            digest(1)
        );
        // Once calls 0, 2 and 3 ran, call 1 has been seen in flight and not invoked.
        let deadline = Instant::now() + Duration::from_secs(60);
        while world.runs().len() < 3 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        world.put(&restarted, &status, body.as_bytes()).await;
    };
    let (results, ()) = tokio::join!(run, answer);
    assert_eq!(results[0].0, Ok(json!(0)));
    assert_eq!(
        results[1].0,
        Ok(json!("from the run before")),
        "{results:?}"
    );
    assert_eq!(results[1].1, ["accepted", "started", "finished:true"]);
    assert_eq!(results[2].0, Ok(json!(20)));
    assert_eq!(results[3].0, Ok(json!(30)));
    let lost = results[4].0.as_ref().expect_err("call 4 never reports");
    assert!(
        lost.starts_with("Timeout") && lost.contains("adopted after the restart"),
        "{lost}"
    );
    assert_eq!(world.runs(), HashMap::from([(0, 1), (2, 1), (3, 1)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_backend_adopts_asynchronous_calls_too() {
    let world = World::new();
    let key = "dag/manual__3/task/1";
    let first = world.backend(60).await;
    let job = world.job(&first, key).await;
    let results = world.run(&first, &job, &[0, 1], true).await;
    assert!(results.iter().all(|(r, _)| r.is_ok()), "{results:?}");
    let second = world.backend(60).await;
    let job = world.job(&second, key).await;
    let results = world.run(&second, &job, &[0, 1, 2], true).await;
    assert_eq!(
        results.iter().map(|(r, _)| r.clone()).collect::<Vec<_>>(),
        [Ok(json!(0)), Ok(json!(10)), Ok(json!(20))]
    );
    assert_eq!(world.runs(), HashMap::from([(0, 1), (1, 1), (2, 1)]));
}

#[test]
fn a_status_answers_only_its_own_request_and_only_if_the_function_ran() {
    let ok = br#"{"type":"result","ok":true,"result":1,"request":"abc"}"#;
    assert_eq!(adopt::stored_answer(ok, "abc"), adopt::Stored::Answer);
    assert_eq!(adopt::stored_answer(ok, "abd"), adopt::Stored::Stale);
    let unrun = br#"{"type":"result","ok":false,"request":"abc","unrun":true}"#;
    assert_eq!(adopt::stored_answer(unrun, "abc"), adopt::Stored::Stale);
    let old_runtime = br#"{"type":"result","ok":true,"result":1}"#;
    assert_eq!(
        adopt::stored_answer(old_runtime, "abc"),
        adopt::Stored::Stale
    );
    assert_eq!(
        adopt::stored_answer(b"not json", "abc"),
        adopt::Stored::Stale
    );
    assert_eq!(request_digest(b"x").len(), 64);
}
