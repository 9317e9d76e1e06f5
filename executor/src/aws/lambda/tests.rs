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
        cancel: CancellationToken::new(),
        events: Some(Arc::clone(events) as Arc<dyn crate::backend::CallEvents>),
        reply,
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
