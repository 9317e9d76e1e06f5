//! The fault-injecting proxy of `tests/fixtures/python/fault_proxy.py`, put in front of the
//! emulator's Lambda API by the Lambda and fault-matrix tests. Its plan file lists HTTP
//! statuses to answer invocations with, one each, in order from the proxy's start; its
//! stats file counts what it served and forwarded.

use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::repo_root;

/// A running proxy; killed when dropped.
pub(crate) struct FaultProxy {
    child: Child,
    port: u16,
    plan: tempfile::NamedTempFile,
    stats: tempfile::NamedTempFile,
}

impl FaultProxy {
    pub(crate) fn start(upstream: &str) -> FaultProxy {
        use std::io::BufRead as _;
        let plan = tempfile::NamedTempFile::new().expect("plan file");
        let stats = tempfile::NamedTempFile::new().expect("stats file");
        let mut child = Command::new("python3")
            .arg(repo_root().join("tests/fixtures/python/fault_proxy.py"))
            .arg(upstream)
            .arg(plan.path())
            .arg(stats.path())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the fault proxy");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the proxy says its port");
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the proxy did not start: {line:?}"));
        FaultProxy {
            child,
            port,
            plan,
            stats,
        }
    }

    /// Answers the next invocations with these HTTP statuses, one each.
    pub(crate) fn inject(&self, statuses: &[u16]) {
        let served = self.stats()["faults_served"].as_u64().unwrap_or(0) as usize;
        // The proxy numbers faults from its start; those already served stay in the list.
        let mut faults = vec![0u16; served];
        faults.extend_from_slice(statuses);
        self.write_plan(&faults);
    }

    /// Answers every invocation from now on with a fault, until [`FaultProxy::heal`].
    pub(crate) fn fail_everything(&self) {
        let faults: Vec<u16> = [429, 500, 429, 503, 502].repeat(20_000);
        self.write_plan(&faults);
    }

    /// Lets every invocation through.
    pub(crate) fn heal(&self) {
        self.write_plan(&[]);
    }

    /// Replaces the plan whole (write, then rename), so the proxy never reads half of it.
    fn write_plan(&self, faults: &[u16]) {
        let tmp = self.plan.path().with_extension("tmp");
        std::fs::write(&tmp, json!({ "faults": faults }).to_string()).expect("write plan");
        std::fs::rename(&tmp, self.plan.path()).expect("replace plan");
    }

    /// What the proxy served and forwarded so far.
    pub(crate) fn stats(&self) -> Value {
        let text = std::fs::read_to_string(self.stats.path()).unwrap_or_default();
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Synchronous (RequestResponse) invocations forwarded to the emulator.
    pub(crate) fn forwarded_sync(&self) -> u64 {
        self.stats()["forwarded_by_type"]["RequestResponse"]
            .as_u64()
            .unwrap_or(0)
    }

    /// The proxy's URL, to use as the Lambda endpoint.
    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
