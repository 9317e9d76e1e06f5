//! Benchmark of the aws_lambda backend's client side (bench/aws/run.sh).
//!
//! Drives one `FunctionExecutor` through its public API only (`JobSpec` with
//! `CallOptions.config` set to `backend = aws_lambda`, `storage = aws_s3` and the endpoint
//! URLs), against one of two targets:
//!
//! - `--target emulator --endpoint URL`: a running ministack (S3 and Lambda on one port).
//!   The runtime function is deployed first (`Runtimes::deploy`, what `lithoflow runtime
//!   deploy` does; `unchanged` when it is already there).
//! - `--target trivial`: a fake AWS endpoint inside this process, on its own thread with
//!   its own single-threaded tokio runtime, that answers instantly: Lambda `GetFunction`
//!   (an Active function running this build's runtime) and `Invoke` (RequestResponse: the
//!   runtime's answer, `result` = the call's index; Event: 202, and the call's `init` and
//!   `status.json` appear at once in its in-memory S3), plus the S3 calls the executor
//!   makes (head/create bucket, put, get, head, ListObjectsV2, delete). Its thread's CPU
//!   time is measured separately and subtracted, so the figures are the client's.
//!
//! Measured, each after one untimed warm-up job per setting:
//!
//! - **submit rate** (`--submit-calls` calls, for each `--pools` value of
//!   `invoke_pool_threads`): a map with `async_invoke = true` (Event invocations, what
//!   Lithops always uses); from the first call handed to the backend until Lambda
//!   accepted (HTTP 202) every call (`Job::accepted`). Against the emulator the function's
//!   reserved concurrency is set to 0 meanwhile, so accepted calls never execute (the
//!   emulator would start one Python process per concurrent execution), and the job is
//!   cancelled once accepted. Against the trivial endpoint the job runs to the end (the
//!   status objects are there at once), which also gives the async path's end-to-end
//!   time.
//! - **map end to end** (`--map-calls` calls, for each `--map-pools` value): a plain
//!   (synchronous, RequestResponse) map, submit to results.
//! - the **CPU time** of this process (user + system, `/proc/self/stat`) over each timed
//!   window, minus the fake endpoint's thread; for the emulator also the emulator's CPU
//!   (`--emulator-pid`: the process and its direct children).
//!
//! ```text
//! cargo run --release --manifest-path bench/programs/Cargo.toml --bin bench_lambda -- \
//!     --target emulator|trivial [--endpoint URL] [--bucket NAME]
//!     [--submit-calls N] [--pools 64,500] [--map-calls N] [--map-pools 64]
//!     [--repeats N] [--func module:function] [--functions DIR] [--emulator-pid PID]
//!     [--json PATH]
//! ```
//!
//! Credentials come from the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`;
//! any value works for both targets). Progress goes to stderr; a Markdown summary
//! (medians) goes to stdout, and every sample to `--json`. The functions called must
//! return their argument (`builtins:abs` by default; the trivial endpoint answers each
//! call's index); the results are checked.

/// The allocator the `lithoflow` binary uses (see scheduler/src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "aws")]
mod imp {
    use std::collections::BTreeMap;
    use std::io::Write;
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    use lithoflow_executor::aws::{AwsSettings, deploy};
    use lithoflow_executor::{
        Backend, CallErrorKind, CallOptions, Chunking, ExecutorConfig, ExecutorSettings,
        FunctionExecutor, FunctionRef, JobKind, JobOutcome, JobSpec, MapJob, StorageBackend,
    };
    use serde_json::{Value, json};

    pub(super) type BoxError = Box<dyn std::error::Error + Send + Sync>;

    /// The execution role the runtime function is deployed with (the emulator does not
    /// check it).
    const ROLE: &str = "arn:aws:iam::000000000000:role/lithoflow";
    /// The runtime function's memory, MB (Lithops' default).
    const MEMORY: u64 = 256;
    /// The runtime function's timeout and the calls' timeout, seconds.
    const FUNCTION_TIMEOUT: u64 = 60;
    /// Lithops' invocation submit rate on AWS Lambda, calls per second (issue 6).
    const LITHOPS_SUBMITS_PER_S: f64 = 800.0;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum TargetKind {
        Emulator,
        Trivial,
        /// Only the trivial endpoint, for another client (bench/aws/lithops_submit.py).
        Serve,
    }

    impl TargetKind {
        fn name(self) -> &'static str {
            match self {
                TargetKind::Emulator => "emulator",
                TargetKind::Trivial => "trivial",
                TargetKind::Serve => "serve",
            }
        }
    }

    struct Args {
        target: TargetKind,
        endpoint: Option<String>,
        bucket: String,
        submit_calls: usize,
        pools: Vec<usize>,
        map_calls: usize,
        map_pools: Vec<usize>,
        repeats: usize,
        func: FunctionRef,
        functions: Option<PathBuf>,
        emulator_pid: Option<u32>,
        json: Option<PathBuf>,
    }

    fn parse_list(value: &str) -> Result<Vec<usize>, BoxError> {
        Ok(value
            .split(',')
            .map(str::parse)
            .collect::<Result<Vec<usize>, _>>()?)
    }

    fn parse_args() -> Result<Args, BoxError> {
        let mut target = None;
        let mut endpoint = None;
        let mut bucket = "lithoflow-bench".to_owned();
        let mut submit_calls = None;
        let mut pools = vec![64, 500];
        let mut map_calls = None;
        let mut map_pools = None;
        let mut repeats = 5;
        let mut func = "builtins:abs".to_owned();
        let mut functions = None;
        let mut emulator_pid = None;
        let mut json = None;
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--target" => {
                    target = Some(match value.as_str() {
                        "emulator" => TargetKind::Emulator,
                        "trivial" => TargetKind::Trivial,
                        "serve" => TargetKind::Serve,
                        other => {
                            return Err(format!(
                                "--target is emulator, trivial or serve, not {other}"
                            )
                            .into());
                        }
                    });
                }
                "--endpoint" => endpoint = Some(value),
                "--bucket" => bucket = value,
                "--submit-calls" => submit_calls = Some(value.parse()?),
                "--pools" => pools = parse_list(&value)?,
                "--map-calls" => map_calls = Some(value.parse()?),
                "--map-pools" => map_pools = Some(parse_list(&value)?),
                "--repeats" => repeats = value.parse()?,
                "--func" => func = value,
                "--functions" => functions = Some(std::path::absolute(PathBuf::from(value))?),
                "--emulator-pid" => emulator_pid = Some(value.parse()?),
                "--json" => json = Some(PathBuf::from(value)),
                other => return Err(format!("unknown argument {other}").into()),
            }
        }
        let target = target.ok_or("--target emulator|trivial|serve is required")?;
        if target == TargetKind::Emulator && endpoint.is_none() {
            return Err("--target emulator needs --endpoint http://127.0.0.1:PORT".into());
        }
        let trivial = target == TargetKind::Trivial;
        let (module, function) = func.split_once(':').ok_or("--func is module:function")?;
        Ok(Args {
            target,
            endpoint,
            bucket,
            submit_calls: submit_calls.unwrap_or(if trivial { 5000 } else { 1000 }),
            pools,
            map_calls: map_calls.unwrap_or(if trivial { 5000 } else { 1000 }),
            map_pools: map_pools.unwrap_or_else(|| if trivial { vec![64, 500] } else { vec![64] }),
            repeats: repeats.max(1),
            func: FunctionRef {
                module: module.to_owned(),
                function: function.to_owned(),
            },
            functions,
            emulator_pid,
            json,
        })
    }

    fn log(msg: &str) {
        let _ = writeln!(std::io::stderr(), "[bench_lambda] {msg}");
    }

    /// CPU time from `/proc`.
    mod cpu {
        /// utime + stime of a process (with `children`, plus its reaped children's),
        /// seconds. `/proc/<pid>/stat` counts in USER_HZ, which is 100 on Linux.
        pub(super) fn process(pid: &str, children: bool) -> Option<f64> {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let after = stat.get(stat.rfind(')')? + 1..)?;
            let fields: Vec<&str> = after.split_whitespace().collect();
            // The fields after `(comm)` start at field 3 (state); utime is field 14.
            let wanted: &[usize] = if children {
                &[11, 12, 13, 14]
            } else {
                &[11, 12]
            };
            let ticks = wanted
                .iter()
                .map(|&i| fields.get(i).and_then(|s| s.parse::<u64>().ok()))
                .sum::<Option<u64>>()?;
            Some(ticks as f64 / 100.0)
        }

        /// This process's CPU time, seconds.
        pub(super) fn own() -> f64 {
            process("self", false).unwrap_or(f64::NAN)
        }

        /// CPU time of one thread of this process (its schedstat, in nanoseconds), seconds.
        pub(super) fn thread(tid: u32) -> Option<f64> {
            let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
            let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
            Some(ns as f64 / 1e9)
        }

        /// The calling thread's id.
        pub(super) fn own_tid() -> Option<u32> {
            let link = std::fs::read_link("/proc/thread-self").ok()?;
            link.file_name()?.to_str()?.parse().ok()
        }

        fn ppid(pid: &str) -> Option<u32> {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let after = stat.get(stat.rfind(')')? + 1..)?;
            after.split_whitespace().nth(1)?.parse().ok()
        }

        /// A process and its direct children (the emulator's warm workers), seconds.
        pub(super) fn tree(pid: u32) -> Option<f64> {
            let mut total = process(&pid.to_string(), true)?;
            if let Ok(dir) = std::fs::read_dir("/proc") {
                for entry in dir.filter_map(Result::ok) {
                    let name = entry.file_name();
                    let Some(n) = name.to_str() else { continue };
                    if n.bytes().all(|b| b.is_ascii_digit()) && ppid(n) == Some(pid) {
                        total += process(n, true).unwrap_or(0.0);
                    }
                }
            }
            Some(total)
        }
    }

    /// An AWS endpoint that answers instantly: enough Lambda and S3 for the executor.
    mod fake {
        use std::collections::BTreeMap;
        use std::fmt::Write as _;
        use std::ops::Bound;
        use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
        use std::time::Instant;

        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio::net::TcpStream;

        use super::BoxError;

        /// What the endpoint saw since the last reset.
        #[derive(Debug, Clone, Default)]
        pub(super) struct Stats {
            /// Invoke requests.
            pub(super) invokes: u64,
            /// When the first and the last Invoke request arrived.
            pub(super) first_invoke: Option<Instant>,
            pub(super) last_invoke: Option<Instant>,
            /// Requests by operation.
            pub(super) requests: BTreeMap<&'static str, u64>,
        }

        /// The running endpoint.
        pub(super) struct Server {
            /// `http://127.0.0.1:PORT`.
            pub(super) url: String,
            /// Its thread's id (for its CPU time).
            pub(super) tid: Option<u32>,
            state: Arc<State>,
        }

        struct State {
            /// The `CodeSha256` GetFunction reports: this build's runtime.
            code_sha256: String,
            stats: Mutex<Stats>,
            /// S3 objects by `bucket/key`.
            objects: Mutex<BTreeMap<String, Vec<u8>>>,
        }

        fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
            m.lock().unwrap_or_else(PoisonError::into_inner)
        }

        impl Server {
            /// Starts the endpoint on its own thread, with a single-threaded runtime.
            pub(super) fn start(code_sha256: String) -> Result<Server, BoxError> {
                let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
                listener.set_nonblocking(true)?;
                let url = format!("http://{}", listener.local_addr()?);
                let state = Arc::new(State {
                    code_sha256,
                    stats: Mutex::default(),
                    objects: Mutex::default(),
                });
                let shared = Arc::clone(&state);
                let (tx, rx) = std::sync::mpsc::channel();
                std::thread::Builder::new()
                    .name("fake-aws".to_owned())
                    .spawn(move || {
                        let _ = tx.send(super::cpu::own_tid());
                        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                        else {
                            return;
                        };
                        rt.block_on(accept(listener, shared));
                    })?;
                let tid = rx.recv().ok().flatten();
                Ok(Server { url, tid, state })
            }

            /// Forgets the counts.
            pub(super) fn reset(&self) {
                *lock(&self.state.stats) = Stats::default();
            }

            /// The counts so far.
            pub(super) fn stats(&self) -> Stats {
                lock(&self.state.stats).clone()
            }
        }

        async fn accept(listener: std::net::TcpListener, state: Arc<State>) {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                return;
            };
            loop {
                match listener.accept().await {
                    Ok((sock, _)) => {
                        tokio::spawn(serve(sock, Arc::clone(&state)));
                    }
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
                }
            }
        }

        /// A request's head, as far as this endpoint cares.
        struct Head {
            method: String,
            target: String,
            content_length: usize,
            chunked: bool,
            expect_continue: bool,
            close: bool,
            /// `X-Amz-Invocation-Type: Event`.
            event: bool,
        }

        fn parse_head(bytes: &[u8]) -> Option<Head> {
            let text = std::str::from_utf8(bytes).ok()?;
            let mut lines = text.split("\r\n");
            let mut first = lines.next()?.split(' ');
            let mut head = Head {
                method: first.next()?.to_owned(),
                target: first.next()?.to_owned(),
                content_length: 0,
                chunked: false,
                expect_continue: false,
                close: false,
                event: false,
            };
            for line in lines {
                let Some((name, value)) = line.split_once(':') else {
                    continue;
                };
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    head.content_length = value.parse().ok()?;
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    head.chunked = value.to_ascii_lowercase().contains("chunked");
                } else if name.eq_ignore_ascii_case("expect") {
                    head.expect_continue = value.eq_ignore_ascii_case("100-continue");
                } else if name.eq_ignore_ascii_case("connection") {
                    head.close = value.eq_ignore_ascii_case("close");
                } else if name.eq_ignore_ascii_case("x-amz-invocation-type") {
                    head.event = value == "Event";
                }
            }
            Some(head)
        }

        /// Serves one keep-alive connection.
        async fn serve(mut sock: TcpStream, state: Arc<State>) {
            let _ = sock.set_nodelay(true);
            let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                let mut scanned = 0;
                let head_end = loop {
                    if let Some(p) = find(&buf[scanned..], b"\r\n\r\n") {
                        break scanned + p + 4;
                    }
                    scanned = buf.len().saturating_sub(3);
                    if !fill(&mut sock, &mut buf, &mut chunk).await {
                        return;
                    }
                };
                let Some(head) = parse_head(&buf[..head_end]) else {
                    return;
                };
                if head.expect_continue
                    && buf.len() < head_end + head.content_length
                    && sock
                        .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                        .await
                        .is_err()
                {
                    return;
                }
                let (body, used) = if head.chunked {
                    loop {
                        if let Some((body, used)) = dechunk(&buf[head_end..]) {
                            break (body, head_end + used);
                        }
                        if !fill(&mut sock, &mut buf, &mut chunk).await {
                            return;
                        }
                    }
                } else {
                    let end = head_end + head.content_length;
                    while buf.len() < end {
                        if !fill(&mut sock, &mut buf, &mut chunk).await {
                            return;
                        }
                    }
                    (buf[head_end..end].to_vec(), end)
                };
                buf.drain(..used);
                let answer = state.handle(&head, &body);
                if sock.write_all(&answer).await.is_err() || head.close {
                    return;
                }
            }
        }

        async fn fill(sock: &mut TcpStream, buf: &mut Vec<u8>, chunk: &mut [u8]) -> bool {
            match sock.read(chunk).await {
                Ok(0) | Err(_) => false,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    true
                }
            }
        }

        fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
            hay.windows(needle.len()).position(|w| w == needle)
        }

        fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
            hay.windows(needle.len()).rposition(|w| w == needle)
        }

        /// A complete chunked body and the bytes it took (trailers included), or None
        /// while incomplete.
        fn dechunk(buf: &[u8]) -> Option<(Vec<u8>, usize)> {
            let mut body = Vec::new();
            let mut at = 0;
            loop {
                let line_end = at + find(&buf[at..], b"\r\n")?;
                let size_text = std::str::from_utf8(&buf[at..line_end]).ok()?;
                let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
                at = line_end + 2;
                if size == 0 {
                    loop {
                        let end = at + find(&buf[at..], b"\r\n")?;
                        let empty = end == at;
                        at = end + 2;
                        if empty {
                            return Some((body, at));
                        }
                    }
                }
                if buf.len() < at + size + 2 {
                    return None;
                }
                body.extend_from_slice(&buf[at..at + size]);
                at += size + 2;
            }
        }

        /// The text of a JSON string member (`needle` ends with its opening quote); the
        /// values looked up here hold no escapes.
        fn string_after<'a>(hay: &'a [u8], needle: &[u8]) -> Option<&'a str> {
            let start = find(hay, needle)? + needle.len();
            let len = hay[start..].iter().position(|&b| b == b'"')?;
            std::str::from_utf8(&hay[start..start + len]).ok()
        }

        fn number_after(hay: &[u8], needle: &[u8]) -> Option<u64> {
            let start = find(hay, needle)? + needle.len();
            let digits: String = hay[start..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .map(|&b| char::from(b))
                .collect();
            digits.parse().ok()
        }

        /// Percent-decoding of a URL path or query component.
        fn decode(s: &str) -> String {
            let b = s.as_bytes();
            let mut out = Vec::with_capacity(b.len());
            let mut i = 0;
            while i < b.len() {
                let escaped = if b[i] == b'%' {
                    b.get(i + 1..i + 3)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                } else {
                    None
                };
                match escaped {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b[i]);
                        i += 1;
                    }
                }
            }
            String::from_utf8_lossy(&out).into_owned()
        }

        fn parse_query(q: &str) -> BTreeMap<String, String> {
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode(k), decode(v))
                })
                .collect()
        }

        fn esc(s: &str) -> String {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
        }

        fn respond(status: u16, headers: &[(&str, &str)], body: &[u8], head_only: bool) -> Vec<u8> {
            let reason = match status {
                200 => "OK",
                202 => "Accepted",
                204 => "No Content",
                404 => "Not Found",
                _ => "Bad Request",
            };
            let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
            if status != 204 {
                let _ = write!(head, "content-length: {}\r\n", body.len());
            }
            for (k, v) in headers {
                let _ = write!(head, "{k}: {v}\r\n");
            }
            head.push_str("\r\n");
            let mut out = head.into_bytes();
            if !head_only {
                out.extend_from_slice(body);
            }
            out
        }

        const XML: (&str, &str) = ("content-type", "application/xml");
        const JSON: (&str, &str) = ("content-type", "application/json");

        impl State {
            fn count(&self, kind: &'static str) {
                *lock(&self.stats).requests.entry(kind).or_default() += 1;
            }

            fn handle(&self, head: &Head, body: &[u8]) -> Vec<u8> {
                let (path, query) = head
                    .target
                    .split_once('?')
                    .unwrap_or((head.target.as_str(), ""));
                if let Some(rest) = path.strip_prefix("/2015-03-31/functions/") {
                    return self.lambda(head, rest, body);
                }
                self.s3(head, path, query, body)
            }

            fn lambda(&self, head: &Head, rest: &str, body: &[u8]) -> Vec<u8> {
                let (name, tail) = rest.split_once('/').unwrap_or((rest, ""));
                match (head.method.as_str(), tail) {
                    ("POST", "invocations") => self.invoke(head.event, body),
                    ("GET", "") => {
                        self.count("lambda_get_function");
                        self.get_function(&decode(name))
                    }
                    _ => {
                        self.count("lambda_other");
                        respond(
                            404,
                            &[JSON, ("x-amzn-errortype", "ResourceNotFoundException")],
                            br#"{"Type":"User","message":"not supported by the fake endpoint"}"#,
                            false,
                        )
                    }
                }
            }

            /// An Active function running this build's runtime.
            fn get_function(&self, name: &str) -> Vec<u8> {
                let doc = serde_json::json!({
                    "Configuration": {
                        "FunctionName": name,
                        "FunctionArn": format!("arn:aws:lambda:us-east-1:000000000000:function:{name}"),
                        "Runtime": "python3.11",
                        "Role": super::ROLE,
                        "Handler": "lithoflow_runtime.handler",
                        "CodeSize": 1,
                        "CodeSha256": self.code_sha256,
                        "Timeout": super::FUNCTION_TIMEOUT,
                        "MemorySize": super::MEMORY,
                        "Version": "$LATEST",
                        "State": "Active",
                        "LastUpdateStatus": "Successful",
                        "PackageType": "Zip",
                    },
                    "Tags": {"lithoflow_version": lithoflow_executor::aws::deploy::version()},
                });
                respond(200, &[JSON], doc.to_string().as_bytes(), false)
            }

            /// Answers at once: the runtime's answer for a call, whose result is the
            /// call's index; an Event call "ran" at once, so its start mark and status
            /// object are in the bucket when the 202 goes out.
            fn invoke(&self, event: bool, body: &[u8]) -> Vec<u8> {
                let now = Instant::now();
                {
                    let mut s = lock(&self.stats);
                    s.invokes += 1;
                    s.first_invoke.get_or_insert(now);
                    s.last_invoke = Some(now);
                    let kind = if event {
                        "lambda_invoke_event"
                    } else {
                        "lambda_invoke_sync"
                    };
                    *s.requests.entry(kind).or_default() += 1;
                }
                if find(body, br#""type":"ping""#).is_some() {
                    return respond(
                        200,
                        &[JSON],
                        br#"{"type":"pong","runtime_version":"fake","python":"none"}"#,
                        false,
                    );
                }
                let call_id = string_after(body, br#""call_id":""#).unwrap_or("00000");
                let index = number_after(body, br#""call_index":"#).unwrap_or(0);
                let answer = format!(
                    r#"{{"type":"result","call_id":"{call_id}","ok":true,"result":{index},"stdout":"","stderr":"","duration_s":0.0}}"#
                );
                if !event {
                    return respond(
                        200,
                        &[JSON, ("x-amz-executed-version", "$LATEST")],
                        answer.as_bytes(),
                        false,
                    );
                }
                let aws = rfind(body, br#""aws":{"#).map_or(body, |at| &body[at..]);
                if let (Some(bucket), Some(prefix)) = (
                    string_after(aws, br#""bucket":""#),
                    string_after(aws, br#""prefix":""#),
                ) {
                    let mut objects = lock(&self.objects);
                    objects.insert(format!("{bucket}/{prefix}/init"), Vec::new());
                    objects.insert(
                        format!("{bucket}/{prefix}/status.json"),
                        answer.into_bytes(),
                    );
                }
                respond(
                    202,
                    &[
                        ("x-amz-executed-version", "$LATEST"),
                        ("x-amzn-RequestId", call_id),
                    ],
                    b"",
                    false,
                )
            }

            fn s3(&self, head: &Head, path: &str, query: &str, body: &[u8]) -> Vec<u8> {
                let path = decode(path.trim_start_matches('/'));
                let (bucket, key) = path.split_once('/').unwrap_or((path.as_str(), ""));
                let query = parse_query(query);
                let method = head.method.as_str();
                match (method, key.is_empty()) {
                    ("HEAD", true) => {
                        self.count("s3_head_bucket");
                        respond(200, &[], b"", true)
                    }
                    ("PUT", true) => {
                        self.count("s3_create_bucket");
                        respond(200, &[], b"", false)
                    }
                    ("GET", true) => {
                        self.count("s3_list");
                        respond(200, &[XML], self.list(bucket, &query).as_bytes(), false)
                    }
                    ("POST", true) => {
                        self.count("s3_delete_objects");
                        let text = String::from_utf8_lossy(body);
                        let mut objects = lock(&self.objects);
                        for part in text.split("<Key>").skip(1) {
                            if let Some((k, _)) = part.split_once("</Key>") {
                                objects.remove(&format!("{bucket}/{k}"));
                            }
                        }
                        respond(
                            200,
                            &[XML],
                            br#"<?xml version="1.0" encoding="UTF-8"?><DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></DeleteResult>"#,
                            false,
                        )
                    }
                    ("PUT", false) => {
                        self.count("s3_put");
                        lock(&self.objects).insert(format!("{bucket}/{key}"), body.to_vec());
                        respond(200, &[("etag", "\"fake\"")], b"", false)
                    }
                    ("GET" | "HEAD", false) => {
                        let head_only = method == "HEAD";
                        self.count(if head_only { "s3_head" } else { "s3_get" });
                        let found = lock(&self.objects).get(&format!("{bucket}/{key}")).cloned();
                        match found {
                            Some(bytes) => respond(
                                200,
                                &[
                                    ("etag", "\"fake\""),
                                    ("content-type", "application/octet-stream"),
                                    ("last-modified", "Sat, 28 Nov 2026 00:00:00 GMT"),
                                ],
                                &bytes,
                                head_only,
                            ),
                            None => {
                                let err = format!(
                                    r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>{}</Key></Error>"#,
                                    esc(key)
                                );
                                respond(404, &[XML], err.as_bytes(), head_only)
                            }
                        }
                    }
                    ("DELETE", false) => {
                        self.count("s3_delete");
                        lock(&self.objects).remove(&format!("{bucket}/{key}"));
                        respond(204, &[], b"", false)
                    }
                    _ => {
                        self.count("s3_other");
                        respond(
                            400,
                            &[XML],
                            b"<Error><Code>NotImplemented</Code></Error>",
                            false,
                        )
                    }
                }
            }

            /// ListObjectsV2: up to `max-keys` (1,000) keys after the continuation token.
            fn list(&self, bucket: &str, query: &BTreeMap<String, String>) -> String {
                let prefix = query.get("prefix").map_or("", String::as_str);
                let max = query
                    .get("max-keys")
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(1000usize)
                    .clamp(1, 1000);
                let base = format!("{bucket}/");
                let from = format!("{base}{prefix}");
                let after = query
                    .get("continuation-token")
                    .or_else(|| query.get("start-after"))
                    .map(|t| format!("{base}{t}"));
                let lower = match after {
                    Some(a) if a >= from => Bound::Excluded(a),
                    _ => Bound::Included(from.clone()),
                };
                let mut page = Vec::new();
                let mut truncated = false;
                {
                    let objects = lock(&self.objects);
                    for (k, v) in objects.range::<String, _>((lower, Bound::Unbounded)) {
                        if !k.starts_with(&from) {
                            break;
                        }
                        if page.len() == max {
                            truncated = true;
                            break;
                        }
                        page.push((k[base.len()..].to_owned(), v.len()));
                    }
                }
                let mut xml = String::with_capacity(256 + page.len() * 220);
                xml.push_str(r#"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">"#);
                let _ = write!(
                    xml,
                    "<Name>{}</Name><Prefix>{}</Prefix><KeyCount>{}</KeyCount><MaxKeys>{max}</MaxKeys><IsTruncated>{truncated}</IsTruncated>",
                    esc(bucket),
                    esc(prefix),
                    page.len()
                );
                for (k, size) in &page {
                    let _ = write!(
                        xml,
                        "<Contents><Key>{}</Key><LastModified>2026-11-28T00:00:00.000Z</LastModified><ETag>&quot;fake&quot;</ETag><Size>{size}</Size><StorageClass>STANDARD</StorageClass></Contents>",
                        esc(k)
                    );
                }
                if truncated && let Some((last, _)) = page.last() {
                    let _ = write!(
                        xml,
                        "<NextContinuationToken>{}</NextContinuationToken>",
                        esc(last)
                    );
                }
                xml.push_str("</ListBucketResult>");
                xml
            }
        }
    }

    /// Where the calls go.
    struct Target {
        kind: TargetKind,
        url: String,
        fake: Option<fake::Server>,
        emulator_pid: Option<u32>,
    }

    impl Target {
        fn server_cpu(&self) -> Option<f64> {
            self.fake.as_ref().and_then(|f| f.tid).and_then(cpu::thread)
        }

        fn emulator_cpu(&self) -> Option<f64> {
            self.emulator_pid.and_then(cpu::tree)
        }

        fn stats(&self) -> Option<fake::Stats> {
            self.fake.as_ref().map(fake::Server::stats)
        }
    }

    /// One timed job.
    #[derive(Debug, Clone, Default)]
    struct Sample {
        calls: usize,
        /// Submit → the first call handed to the backend (job set-up).
        setup_s: f64,
        /// First call handed over → every call accepted (async) or answered (sync).
        window_s: f64,
        /// Submit → every call accepted (async) or the results (sync).
        mark_s: f64,
        /// Submit → the results (async against the trivial endpoint; sync).
        done_s: Option<f64>,
        /// This process's CPU over submit → mark, without the fake endpoint's thread.
        cpu_mark_s: f64,
        /// ... over submit → done.
        cpu_done_s: Option<f64>,
        /// The fake endpoint's thread CPU over the whole job.
        server_cpu_s: Option<f64>,
        /// Invoke requests the endpoint saw per second, first to last.
        server_rate: Option<f64>,
        /// The emulator's CPU over the whole job.
        emulator_cpu_s: Option<f64>,
        /// The endpoint's requests by operation over the whole job.
        requests: BTreeMap<&'static str, u64>,
    }

    impl Sample {
        fn json(&self) -> Value {
            json!({
                "calls": self.calls,
                "setup_s": self.setup_s,
                "window_s": self.window_s,
                "submit_rate": self.calls as f64 / self.window_s,
                "mark_s": self.mark_s,
                "done_s": self.done_s,
                "cpu_mark_s": self.cpu_mark_s,
                "cpu_done_s": self.cpu_done_s,
                "server_cpu_s": self.server_cpu_s,
                "server_rate": self.server_rate,
                "emulator_cpu_s": self.emulator_cpu_s,
                "requests": self.requests,
            })
        }
    }

    struct Bench {
        executor: FunctionExecutor,
        target: Target,
        bucket: String,
        func: FunctionRef,
        functions: Option<PathBuf>,
        next_job: usize,
    }

    impl Bench {
        fn config(&self, pool: usize) -> ExecutorConfig {
            ExecutorConfig {
                backend: Some(Backend::AwsLambda),
                storage: Some(StorageBackend::AwsS3),
                region: Some("us-east-1".to_owned()),
                execution_role: Some(ROLE.to_owned()),
                runtime_memory: Some(MEMORY),
                runtime_timeout: Some(FUNCTION_TIMEOUT),
                invoke_pool_threads: u64::try_from(pool).ok(),
                lambda_endpoint_url: Some(self.target.url.clone()),
                storage_bucket: Some(self.bucket.clone()),
                s3_endpoint_url: Some(self.target.url.clone()),
                ..ExecutorConfig::default()
            }
        }

        fn options(&self, pool: usize, async_invoke: bool) -> CallOptions {
            let sys_path: Vec<PathBuf> = self.functions.clone().into_iter().collect();
            CallOptions {
                base_dir: sys_path.first().cloned().unwrap_or_default(),
                sys_path,
                timeout: Some(Duration::from_secs(FUNCTION_TIMEOUT)),
                invoke_pool_threads: Some(pool),
                config: self.config(pool),
                async_invoke,
                ..CallOptions::default()
            }
        }

        fn map(&self, calls: usize) -> JobKind {
            JobKind::Map(MapJob {
                func: self.func.clone(),
                iterdata: (0..calls).map(|i| json!(i)).collect(),
                extra: None,
                chunking: Chunking::Whole,
            })
        }

        /// Deploys the runtime function, as `lithoflow runtime deploy` does.
        async fn deploy(&self) -> Result<(), BoxError> {
            let settings = AwsSettings::from_config(&self.config(64));
            let runtimes = deploy::Runtimes::new(&settings).await;
            let (info, action) = runtimes.deploy(MEMORY, FUNCTION_TIMEOUT).await?;
            log(&format!(
                "runtime {}: {} ({} MB, {} s)",
                info.name,
                action.name(),
                info.memory_mb,
                info.timeout_s
            ));
            Ok(())
        }

        /// Sets (Some) or removes (None) the function's reserved concurrency.
        async fn reserve(&self, concurrency: Option<i32>) -> Result<(), BoxError> {
            let settings = AwsSettings::from_config(&self.config(64));
            let client = lithoflow_executor::aws::lambda_client(&settings).await;
            let name = deploy::function_name(MEMORY);
            match concurrency {
                Some(n) => {
                    client
                        .put_function_concurrency()
                        .function_name(&name)
                        .reserved_concurrent_executions(n)
                        .send()
                        .await
                        .map_err(|e| format!("setting the concurrency of {name}: {e:?}"))?;
                }
                None => {
                    client
                        .delete_function_concurrency()
                        .function_name(&name)
                        .send()
                        .await
                        .map_err(|e| format!("removing the concurrency of {name}: {e:?}"))?;
                }
            }
            Ok(())
        }

        /// Runs one map of `calls` and measures it. `async_invoke`: Event invocations,
        /// timed until every call is accepted (then, against the emulator, cancelled).
        async fn measure(
            &mut self,
            label: &str,
            pool: usize,
            calls: usize,
            async_invoke: bool,
        ) -> Result<Sample, BoxError> {
            let key = format!("bench/{label}/{}", self.next_job);
            self.next_job += 1;
            let options = self.options(pool, async_invoke);
            let kind = self.map(calls);
            let emulator_before = self.target.emulator_cpu();
            let server_before = self.target.server_cpu();
            if let Some(f) = &self.target.fake {
                f.reset();
            }
            let cpu_before = cpu::own();
            let t0 = Instant::now();
            let job = self.executor.submit(JobSpec {
                job_key: key,
                kind,
                options,
            });
            let mut progress = job.progress();
            let first = tokio::spawn(async move {
                loop {
                    if progress.borrow_and_update().invoked >= 1 {
                        return Instant::now();
                    }
                    if progress.changed().await.is_err() {
                        return Instant::now();
                    }
                }
            });
            let client_cpu = |cpu_now: f64, server_now: Option<f64>| {
                let server = match (server_now, server_before) {
                    (Some(a), Some(b)) => a - b,
                    _ => 0.0,
                };
                cpu_now - cpu_before - server
            };
            let emulator = self.target.kind == TargetKind::Emulator;
            let mut sample = Sample {
                calls,
                ..Sample::default()
            };
            let (marked, stats) = if async_invoke {
                job.accepted().await;
                let t = Instant::now();
                sample.cpu_mark_s = client_cpu(cpu::own(), self.target.server_cpu());
                let stats = self.target.stats();
                if emulator {
                    job.cancel();
                }
                (t, stats)
            } else {
                (t0, None)
            };
            let outcome = job.wait().await;
            let done = Instant::now();
            let cpu_done = client_cpu(cpu::own(), self.target.server_cpu());
            let first = first.await?;
            check(&outcome, calls, async_invoke && emulator)?;
            let (marked, stats) = if async_invoke {
                sample.done_s = (!emulator).then(|| (done - t0).as_secs_f64());
                sample.cpu_done_s = (!emulator).then_some(cpu_done);
                (marked, stats)
            } else {
                sample.done_s = Some((done - t0).as_secs_f64());
                sample.cpu_done_s = Some(cpu_done);
                sample.cpu_mark_s = cpu_done;
                (done, self.target.stats())
            };
            sample.setup_s = first.saturating_duration_since(t0).as_secs_f64();
            sample.window_s = marked.saturating_duration_since(first).as_secs_f64();
            sample.mark_s = (marked - t0).as_secs_f64();
            if let Some(s) = &stats
                && let (Some(a), Some(b)) = (s.first_invoke, s.last_invoke)
                && s.invokes > 1
            {
                sample.server_rate =
                    Some((s.invokes - 1) as f64 / b.saturating_duration_since(a).as_secs_f64());
            }
            if let (Some(a), Some(b)) = (self.target.server_cpu(), server_before) {
                sample.server_cpu_s = Some(a - b);
            }
            if let (Some(a), Some(b)) = (self.target.emulator_cpu(), emulator_before) {
                sample.emulator_cpu_s = Some(a - b);
            }
            if let Some(s) = self.target.stats() {
                sample.requests = s.requests;
            }
            Ok(sample)
        }

        /// A warm-up job, then `repeats` timed ones.
        async fn series(
            &mut self,
            what: &str,
            pool: usize,
            calls: usize,
            async_invoke: bool,
            repeats: usize,
        ) -> Result<Vec<Sample>, BoxError> {
            let pause = if self.target.kind == TargetKind::Emulator {
                Duration::from_millis(500)
            } else {
                Duration::from_millis(50)
            };
            let warm = self
                .measure(&format!("{what}-{pool}-warmup"), pool, calls, async_invoke)
                .await?;
            log(&format!(
                "{what}, invoke_pool_threads {pool}, {calls} calls: warm-up {:.3}s",
                warm.done_s.unwrap_or(warm.mark_s)
            ));
            let mut samples = Vec::new();
            for _ in 0..repeats {
                tokio::time::sleep(pause).await;
                let s = self
                    .measure(&format!("{what}-{pool}"), pool, calls, async_invoke)
                    .await?;
                log(&format!(
                    "{what}, invoke_pool_threads {pool}: {:.0} calls/s ({} calls in {:.3}s after {:.1} ms set-up); submit→mark {:.3}s; done {}; CPU {:.3}s{}",
                    calls as f64 / s.window_s,
                    calls,
                    s.window_s,
                    s.setup_s * 1e3,
                    s.mark_s,
                    s.done_s.map_or("-".to_owned(), |d| format!("{d:.3}s")),
                    s.cpu_mark_s,
                    s.server_rate.map_or(String::new(), |r| format!(
                        "; endpoint saw {r:.0} invokes/s"
                    )),
                ));
                samples.push(s);
            }
            Ok(samples)
        }
    }

    /// Checks a map's outcome: every call returned its own index (the functions used
    /// return their argument), or, for a cancelled async job, no call failed otherwise.
    fn check(outcome: &JobOutcome, calls: usize, cancelled: bool) -> Result<(), BoxError> {
        if cancelled {
            if let Some(e) = outcome.calls.iter().find_map(|c| {
                c.error
                    .as_ref()
                    .filter(|e| e.kind != CallErrorKind::Cancelled)
            }) {
                return Err(format!("call {} failed: {}", e.call_index, e.message).into());
            }
            return Ok(());
        }
        let values = match &outcome.result {
            Ok(Value::Array(v)) => v,
            Ok(other) => return Err(format!("the map returned {other}").into()),
            Err(e) => {
                return Err(format!(
                    "the map failed: call {} ({:?}): {}",
                    e.call_index, e.kind, e.message
                )
                .into());
            }
        };
        let right = values.len() == calls
            && values
                .iter()
                .enumerate()
                .all(|(i, v)| v.as_u64() == u64::try_from(i).ok());
        if !right {
            return Err(format!(
                "the map of {calls} returned {} values, not 0..{calls}",
                values.len()
            )
            .into());
        }
        Ok(())
    }

    /// Median, min and max of a figure over samples.
    fn spread(samples: &[Sample], f: impl Fn(&Sample) -> Option<f64>) -> Option<(f64, f64, f64)> {
        let mut xs: Vec<f64> = samples
            .iter()
            .filter_map(f)
            .filter(|x| x.is_finite())
            .collect();
        if xs.is_empty() {
            return None;
        }
        xs.sort_by(f64::total_cmp);
        let n = xs.len();
        let median = if n % 2 == 1 {
            xs[n / 2]
        } else {
            f64::midpoint(xs[n / 2 - 1], xs[n / 2])
        };
        Some((median, xs[0], xs[n - 1]))
    }

    fn cell(s: Option<(f64, f64, f64)>, scale: f64, digits: usize, unit: &str) -> String {
        match s {
            Some((m, lo, hi)) => format!(
                "**{:.d$}{unit}** ({:.d$}–{:.d$})",
                m * scale,
                lo * scale,
                hi * scale,
                d = digits
            ),
            None => "–".to_owned(),
        }
    }

    fn requests_line(samples: &[Sample]) -> String {
        samples.last().map_or(String::new(), |s| {
            s.requests
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
    }

    /// The cell of a CPU time (seconds) per call, in µs.
    fn per_call(samples: &[Sample], cpu: impl Fn(&Sample) -> Option<f64>) -> String {
        cell(
            spread(samples, |x| cpu(x).map(|c| c / x.calls as f64)),
            1e6,
            0,
            " µs",
        )
    }

    /// The closing cell of an emulator row: the emulator's CPU.
    fn emulator_cpu(samples: &[Sample]) -> String {
        format!(
            " {} |\n",
            cell(spread(samples, |x| x.emulator_cpu_s), 1.0, 2, " s")
        )
    }

    /// The Markdown summary.
    fn report(
        target: TargetKind,
        submit: &[(usize, Vec<Sample>)],
        maps: &[(usize, Vec<Sample>)],
    ) -> String {
        let trivial = target == TargetKind::Trivial;
        let mut out = String::new();
        let n = submit.first().map_or(0, |(_, s)| s.len());
        out.push_str(&format!(
            "\n### Submit rate against the {} (async_invoke map, medians of {n}, min–max)\n\n",
            if trivial {
                "trivial local endpoint"
            } else {
                "emulator"
            }
        ));
        out.push_str("| invoke_pool_threads | calls | **submit rate** (first call → all accepted) | vs Lithops' published ~800/s on AWS | submit → all accepted | job set-up | lithoflow CPU to all accepted | CPU per call |");
        out.push_str(if trivial {
            " endpoint-side rate | end to end (results) | CPU end to end |\n|---|---|---|---|---|---|---|---|---|---|---|\n"
        } else {
            " emulator CPU |\n|---|---|---|---|---|---|---|---|---|\n"
        });
        for (pool, s) in submit {
            let calls = s.first().map_or(0, |x| x.calls);
            let rate = spread(s, |x| Some(x.calls as f64 / x.window_s));
            let ratio = rate.map_or("–".to_owned(), |(m, _, _)| {
                format!("{:.1}x", m / LITHOPS_SUBMITS_PER_S)
            });
            out.push_str(&format!(
                "| {pool} | {calls} | {} | {ratio} | {} | {} | {} | {} |",
                cell(rate, 1.0, 0, "/s"),
                cell(spread(s, |x| Some(x.mark_s)), 1e3, 0, " ms"),
                cell(spread(s, |x| Some(x.setup_s)), 1e3, 1, " ms"),
                cell(spread(s, |x| Some(x.cpu_mark_s)), 1e3, 0, " ms"),
                per_call(s, |x| Some(x.cpu_mark_s)),
            ));
            out.push_str(&if trivial {
                format!(
                    " {} | {} | {} |\n",
                    cell(spread(s, |x| x.server_rate), 1.0, 0, "/s"),
                    cell(spread(s, |x| x.done_s), 1e3, 0, " ms"),
                    cell(spread(s, |x| x.cpu_done_s), 1e3, 0, " ms"),
                )
            } else {
                emulator_cpu(s)
            });
        }
        for (pool, s) in submit {
            if trivial {
                out.push_str(&format!(
                    "\nEndpoint requests of one async job (invoke_pool_threads {pool}): {}\n",
                    requests_line(s)
                ));
            }
        }
        let n = maps.first().map_or(0, |(_, s)| s.len());
        out.push_str(&format!(
            "\n### Map end to end against the {} (synchronous invocations, submit → results, medians of {n}, min–max)\n\n",
            if trivial {
                "trivial local endpoint"
            } else {
                "emulator"
            }
        ));
        out.push_str("| invoke_pool_threads | calls | **wall** | calls/s | job set-up | lithoflow CPU | CPU per call |");
        out.push_str(if trivial {
            " endpoint-side rate | endpoint thread CPU |\n|---|---|---|---|---|---|---|---|---|\n"
        } else {
            " emulator CPU |\n|---|---|---|---|---|---|---|---|\n"
        });
        for (pool, s) in maps {
            let calls = s.first().map_or(0, |x| x.calls);
            out.push_str(&format!(
                "| {pool} | {calls} | {} | {} | {} | {} | {} |",
                cell(spread(s, |x| x.done_s), 1e3, 0, " ms"),
                cell(
                    spread(s, |x| x.done_s.map(|d| x.calls as f64 / d)),
                    1.0,
                    0,
                    "/s"
                ),
                cell(spread(s, |x| Some(x.setup_s)), 1e3, 1, " ms"),
                cell(spread(s, |x| x.cpu_done_s), 1e3, 0, " ms"),
                per_call(s, |x| x.cpu_done_s),
            ));
            out.push_str(&if trivial {
                format!(
                    " {} | {} |\n",
                    cell(spread(s, |x| x.server_rate), 1.0, 0, "/s"),
                    cell(spread(s, |x| x.server_cpu_s), 1e3, 0, " ms"),
                )
            } else {
                emulator_cpu(s)
            });
        }
        if trivial {
            for (pool, s) in maps {
                out.push_str(&format!(
                    "\nEndpoint requests of one map (invoke_pool_threads {pool}): {}\n",
                    requests_line(s)
                ));
            }
        }
        out
    }

    /// `--target serve`: the trivial endpoint alone, for the Lithops baseline. Prints
    /// `URL http://127.0.0.1:PORT`, serves until stdin closes, then prints the Invoke
    /// requests it saw as `INVOKES n`.
    fn serve() -> Result<(), BoxError> {
        let server = fake::Server::start(deploy::code_sha256(&deploy::runtime_zip()?))?;
        let mut out = std::io::stdout();
        writeln!(out, "URL {}", server.url)?;
        out.flush()?;
        std::io::copy(&mut std::io::stdin(), &mut std::io::sink())?;
        writeln!(out, "INVOKES {}", server.stats().invokes)?;
        Ok(())
    }

    async fn run(args: Args) -> Result<(), BoxError> {
        let storage = tempfile::tempdir()?;
        let fake = match args.target {
            TargetKind::Serve => return Err("--target serve does not measure".into()),
            TargetKind::Trivial => Some(fake::Server::start(deploy::code_sha256(
                &deploy::runtime_zip()?,
            ))?),
            TargetKind::Emulator => None,
        };
        let url = match (&fake, &args.endpoint) {
            (Some(f), _) => f.url.clone(),
            (None, Some(e)) => e.clone(),
            (None, None) => return Err("no endpoint".into()),
        };
        log(&format!(
            "target {} at {url}; {} CPUs; fake endpoint thread {:?}",
            args.target.name(),
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            fake.as_ref().and_then(|f| f.tid)
        ));
        let settings = ExecutorSettings {
            python: "python3".to_owned(),
            worker_processes: 1,
            storage_root: storage.path().to_owned(),
            default_timeout: Duration::from_secs(FUNCTION_TIMEOUT),
            default_memory: None,
            invoke_pool_threads: lithoflow_executor::aws::DEFAULT_INVOKE_POOL_THREADS,
        };
        let mut bench = Bench {
            executor: FunctionExecutor::new(settings),
            target: Target {
                kind: args.target,
                url,
                fake,
                emulator_pid: args.emulator_pid,
            },
            bucket: args.bucket.clone(),
            func: args.func.clone(),
            functions: args.functions.clone(),
            next_job: 0,
        };
        let emulator = args.target == TargetKind::Emulator;
        if emulator {
            bench.deploy().await?;
            // Accepted Event calls never execute: only the acceptance is measured.
            bench.reserve(Some(0)).await?;
        }
        let mut submit = Vec::new();
        for &pool in &args.pools {
            let s = bench
                .series("submit", pool, args.submit_calls, true, args.repeats)
                .await;
            if s.is_err() && emulator {
                let _ = bench.reserve(None).await;
            }
            submit.push((pool, s?));
        }
        if emulator {
            bench.reserve(None).await?;
        }
        let mut maps = Vec::new();
        for &pool in &args.map_pools {
            let s = bench
                .series("map", pool, args.map_calls, false, args.repeats)
                .await?;
            maps.push((pool, s));
        }
        bench.executor.shutdown();

        let table = report(args.target, &submit, &maps);
        writeln!(std::io::stdout(), "{table}")?;
        if let Some(path) = &args.json {
            let series = |rows: &[(usize, Vec<Sample>)]| -> Vec<Value> {
                rows.iter()
                    .map(|(pool, s)| {
                        json!({
                            "invoke_pool_threads": pool,
                            "samples": s.iter().map(Sample::json).collect::<Vec<_>>(),
                        })
                    })
                    .collect()
            };
            let doc = json!({
                "target": args.target.name(),
                "cpus": std::thread::available_parallelism().map_or(1, |n| n.get()),
                "func": args.func.to_string(),
                "lithops_submits_per_s": LITHOPS_SUBMITS_PER_S,
                "submit": series(&submit),
                "map": series(&maps),
                "markdown": table,
            });
            std::fs::write(path, serde_json::to_vec_pretty(&doc)?)?;
        }
        Ok(())
    }

    pub(super) fn main() -> Result<(), BoxError> {
        let args = parse_args()?;
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
            || std::env::var_os("AWS_SECRET_ACCESS_KEY").is_none()
        {
            return Err("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (any values: neither target checks them)".into());
        }
        if args.target == TargetKind::Serve {
            return serve();
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(run(args))
    }
}

#[cfg(feature = "aws")]
fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    imp::main()
}

#[cfg(not(feature = "aws"))]
fn main() {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "bench_lambda needs the `aws` feature (on by default)"
    );
    std::process::exit(2);
}
