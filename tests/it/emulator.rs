//! The AWS emulator for the S3 and Lambda tests: ministack (docs/aws-lambda.md §8), a
//! real server on 127.0.0.1 whose Lambda runs the Python handler. Each test starts its
//! own on a free port; the harness installs it (scripts/install-emulator.sh) when it is
//! missing and fails loudly when it cannot start.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::repo_root;

/// Serializes the one-time install across test threads.
static INSTALL: Mutex<bool> = Mutex::new(false);

fn ensure_installed() -> PathBuf {
    let root = repo_root();
    let bin = root.join(".emu/venv/bin/ministack");
    let mut done = INSTALL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !*done {
        let out = Command::new("bash")
            .arg(root.join("scripts/install-emulator.sh"))
            .output()
            .expect("bash runs scripts/install-emulator.sh");
        assert!(
            out.status.success() && bin.exists(),
            "installing the AWS emulator failed (scripts/install-emulator.sh):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        *done = true;
    }
    bin
}

fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running emulator; stopped when dropped.
pub(crate) struct Emulator {
    /// Its port on 127.0.0.1.
    pub(crate) port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Emulator {
    /// Starts a fresh emulator (S3, Lambda, IAM, STS, logs) and waits until it is ready.
    pub(crate) fn start() -> Emulator {
        let bin = ensure_installed();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut emu = Emulator {
            port: free_port(),
            child: None,
            dir,
        };
        emu.spawn(&bin);
        emu
    }

    fn spawn(&mut self, bin: &PathBuf) {
        let tmp = self.dir.path().join("tmp");
        std::fs::create_dir_all(&tmp).expect("tmp");
        let log = std::fs::File::create(self.log_path()).expect("log");
        let child = Command::new(bin)
            .env("BIND_HOST", "127.0.0.1")
            .env("GATEWAY_PORT", self.port.to_string())
            .env("SERVICES", "s3,lambda,iam,sts,logs")
            .env("LOG_LEVEL", "WARNING")
            .env("TMPDIR", &tmp)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the AWS emulator {}: {e}", bin.display()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.ready() {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("the AWS emulator exited ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "the AWS emulator did not become ready on port {}:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("ministack.log")
    }

    /// What the emulator printed.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn ready(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.write_all(
            b"GET /_ministack/ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        )
        .is_err()
        {
            return false;
        }
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.starts_with("HTTP/1.1 200") || out.starts_with("HTTP/1.0 200")
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment the AWS SDK needs to talk to this emulator (credentials come from
    /// the standard chain, here the environment).
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ]
    }

    /// Stops the server (its data is lost), for fault tests.
    pub(crate) fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port.
    pub(crate) fn restart(&mut self) {
        self.stop();
        let bin = ensure_installed();
        self.spawn(&bin);
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn the_emulator_starts_answers_and_restarts_on_its_port() {
    let mut emu = Emulator::start();
    assert!(emu.ready(), "{}", emu.log());
    let port = emu.port;
    emu.stop();
    assert!(!emu.ready());
    emu.restart();
    assert_eq!(emu.port, port);
    assert!(emu.ready(), "{}", emu.log());
    assert!(
        emu.env()
            .iter()
            .any(|(k, v)| *k == "AWS_ENDPOINT_URL" && v.ends_with(&port.to_string()))
    );
}
