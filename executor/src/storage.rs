//! Job data in the localhost storage: `<root>/lithoflow.jobs/<job_key>/`, holding the
//! job's description, its status and its results, so a job reference can be resolved
//! after the task that made it has finished.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use serde::Serialize;

use crate::error::Error;
use crate::partition::Chunking;
use crate::protocol::ObjectPart;

/// The top folder of job data inside a storage.
pub const JOBS_PREFIX: &str = "lithoflow.jobs";

/// A folder used as storage.
#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: PathBuf,
    /// Writes small jobs' files off their jobs' path; one per folder in a process.
    writer: Arc<Writer>,
}

impl LocalStorage {
    /// Storage rooted at `root` (for example `$LITHOFLOW_HOME/storage`).
    pub fn new(root: impl Into<PathBuf>) -> LocalStorage {
        let root = root.into();
        let writer = Writer::of(&root);
        LocalStorage { root, writer }
    }

    /// Writes `files` (name, JSON bytes) in the job's folder later, in order, each
    /// atomically, on a thread of their own: a one-call job's `results.json` and
    /// `status.json` (two folders and two files, a few hundred microseconds on ext4) then
    /// cost its task nothing. A file that cannot be written is reported in a warning, as
    /// [`LocalStorage::put_json`]'s callers do. [`LocalStorage::settle`] waits for them;
    /// [`Storage::clean`] and [`Storage::read`] do before they touch the job's data.
    pub fn put_later(&self, job_key: &str, files: Vec<(&'static str, Vec<u8>)>) {
        self.writer.send(WriterOp::Write {
            dir: self.job_dir(job_key),
            files,
        });
    }

    /// Returns once every write [`LocalStorage::put_later`] took (in this process, for
    /// this folder) is done.
    pub async fn settle(&self) {
        self.writer.settle().await;
    }

    /// The folder of a job. Keys are `/`-separated; segments that could escape the
    /// storage (`..`, empty, absolute) are replaced.
    pub fn job_dir(&self, job_key: &str) -> PathBuf {
        let mut dir = self.root.join(JOBS_PREFIX);
        for seg in safe_key(job_key).split('/') {
            dir.push(seg);
        }
        dir
    }

    /// Writes `name` in the job's folder as `write` writes it, atomically (write then
    /// rename).
    pub fn put_with(
        &self,
        job_key: &str,
        name: &str,
        write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
    ) -> Result<PathBuf, Error> {
        write_atomically(&self.job_dir(job_key), name, write)
    }

    /// Writes `name` (JSON) in the job's folder, atomically (write then rename).
    pub fn put_json<T: Serialize>(
        &self,
        job_key: &str,
        name: &str,
        value: &T,
    ) -> Result<PathBuf, Error> {
        // Encoded straight into the file (a map's results.json can be large).
        write_atomically(&self.job_dir(job_key), name, |w| {
            serde_json::to_writer(w, value).map_err(std::io::Error::from)
        })
    }

    /// Deletes a job's data (`clean_data`).
    pub fn clean(&self, job_key: &str) -> Result<(), Error> {
        let dir = self.job_dir(job_key);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::Storage { path: dir, source }),
        }
    }

    /// The storage's root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// The thread that writes a storage folder's small job files (see
/// [`LocalStorage::put_later`]), started with the first of them.
#[derive(Debug, Default)]
struct Writer {
    tx: Mutex<Option<std::sync::mpsc::Sender<WriterOp>>>,
    /// Operations sent and not yet done.
    pending: AtomicUsize,
}

#[derive(Debug)]
enum WriterOp {
    Write {
        dir: PathBuf,
        files: Vec<(&'static str, Vec<u8>)>,
    },
    Barrier(tokio::sync::oneshot::Sender<()>),
}

impl Writer {
    /// The writer of `root` in this process: every [`LocalStorage`] of one folder shares
    /// it, so a reader elsewhere (the API) can wait for what a job wrote.
    fn of(root: &Path) -> Arc<Writer> {
        static WRITERS: OnceLock<Mutex<HashMap<PathBuf, Arc<Writer>>>> = OnceLock::new();
        let mut writers = WRITERS
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(writers.entry(root.to_path_buf()).or_default())
    }

    fn send(self: &Arc<Writer>, op: WriterOp) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        let mut tx = self.tx.lock().unwrap_or_else(PoisonError::into_inner);
        if tx.is_none() {
            let (sender, rx) = std::sync::mpsc::channel();
            let writer = Arc::clone(self);
            let started = std::thread::Builder::new()
                .name("lithoflow-jobdata".to_owned())
                .spawn(move || {
                    while let Ok(op) = rx.recv() {
                        writer.run(op);
                    }
                });
            match started {
                Ok(_) => *tx = Some(sender),
                Err(e) => {
                    // No thread: written here and now.
                    tracing::warn!(error = %e, "failed to start the job data writer; writing in place");
                    drop(tx);
                    self.run(op);
                    return;
                }
            }
        }
        if let Some(Err(std::sync::mpsc::SendError(op))) = tx.as_ref().map(|t| t.send(op)) {
            drop(tx);
            self.run(op);
        }
    }

    fn run(&self, op: WriterOp) {
        match op {
            WriterOp::Write { dir, files } => {
                use std::io::Write as _;
                for (name, body) in files {
                    if let Err(e) = write_atomically(&dir, name, |w| w.write_all(&body)) {
                        tracing::warn!(error = %e, "failed to write the job's data");
                    }
                }
            }
            WriterOp::Barrier(done) => {
                let _ = done.send(());
            }
        }
        self.pending.fetch_sub(1, Ordering::SeqCst);
    }

    async fn settle(self: &Arc<Writer>) {
        if self.pending.load(Ordering::SeqCst) == 0 {
            return;
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(WriterOp::Barrier(tx));
        let _ = rx.await;
    }
}

/// Writes `dir/name` through `write` atomically: into `.name.tmp`, then renamed; a
/// half-written file (a full disk) is not left behind.
fn write_atomically(
    dir: &Path,
    name: &str,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> Result<PathBuf, Error> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir).map_err(|source| Error::Storage {
        path: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let written = std::fs::File::create(&tmp).and_then(|file| {
        let mut w = std::io::BufWriter::with_capacity(64 * 1024, file);
        write(&mut w)?;
        w.flush()
    });
    written.map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        Error::Storage {
            path: tmp.clone(),
            source,
        }
    })?;
    std::fs::rename(&tmp, &path).map_err(|source| Error::Storage {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// A job key with every segment made safe (`..`, empty and odd characters replaced).
pub fn safe_key(job_key: &str) -> String {
    job_key
        .split('/')
        .map(|seg| {
            let safe: String = seg
                .chars()
                .map(|c| {
                    if c.is_alphanumeric() || "_.-+:=".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            match safe.as_str() {
                "" | "." | ".." => "_".to_owned(),
                _ => safe,
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Where a job's data goes: a local folder or an S3 bucket, both under
/// `lithoflow.jobs/<job_key>/`.
#[derive(Debug, Clone)]
pub enum Storage {
    /// A local folder.
    Local(LocalStorage),
    /// An S3 bucket.
    #[cfg(feature = "aws")]
    S3(crate::aws::s3::S3Storage),
}

impl Storage {
    /// The key prefix of a job's data: `lithoflow.jobs/<job_key>`.
    pub fn job_prefix(job_key: &str) -> String {
        format!("{JOBS_PREFIX}/{}", safe_key(job_key))
    }

    /// Where `name` of a job lives, as users see it (a path, or `s3://bucket/key`).
    pub fn location(&self, job_key: &str, name: &str) -> String {
        match self {
            Storage::Local(l) => l.job_dir(job_key).join(name).to_string_lossy().into_owned(),
            #[cfg(feature = "aws")]
            Storage::S3(s) => format!("s3://{}/{}/{name}", s.bucket, Self::job_prefix(job_key)),
        }
    }

    /// Writes `name` in the job's data, as `write` writes it (straight into the file
    /// on localhost storage).
    pub(crate) async fn put_with(
        &self,
        job_key: &str,
        name: &str,
        write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> Result<(), Error> {
        match self {
            Storage::Local(l) => l.put_with(job_key, name, |w| write(w)).map(drop),
            #[cfg(feature = "aws")]
            Storage::S3(s) => {
                let mut body = Vec::new();
                write(&mut body).map_err(|e| Error::Cloud {
                    service: "s3",
                    message: format!("cannot encode {name}: {e}"),
                })?;
                s.put(&format!("{}/{name}", Self::job_prefix(job_key)), body)
                    .await
            }
        }
    }

    /// Writes `name` (JSON) in the job's data.
    pub async fn put_json<T: Serialize>(
        &self,
        job_key: &str,
        name: &str,
        value: &T,
    ) -> Result<(), Error> {
        match self {
            Storage::Local(l) => l.put_json(job_key, name, value).map(drop),
            #[cfg(feature = "aws")]
            Storage::S3(s) => {
                let body = serde_json::to_vec(value).map_err(|e| Error::Cloud {
                    service: "s3",
                    message: format!("cannot encode {name}: {e}"),
                })?;
                s.put(&format!("{}/{name}", Self::job_prefix(job_key)), body)
                    .await
            }
        }
    }

    /// Writes `name` (raw bytes, which may hold a `/`: `xcom/return_value.json`) in the
    /// job's data; returns its location (a path, or `s3://bucket/key`).
    pub async fn put_bytes(
        &self,
        job_key: &str,
        name: &str,
        body: Vec<u8>,
    ) -> Result<String, Error> {
        let name = safe_key(name);
        match self {
            Storage::Local(l) => {
                let path = l.job_dir(job_key).join(&name);
                let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                let io = |source| Error::Storage {
                    path: path.clone(),
                    source,
                };
                tokio::fs::create_dir_all(&dir).await.map_err(io)?;
                tokio::fs::write(&path, body).await.map_err(io)?;
                Ok(path.to_string_lossy().into_owned())
            }
            #[cfg(feature = "aws")]
            Storage::S3(s) => {
                let key = format!("{}/{name}", Self::job_prefix(job_key));
                s.put(&key, body).await?;
                Ok(s.location(&key))
            }
        }
    }

    /// Reads data written by [`Storage::put_bytes`]: a path inside this (local) storage,
    /// or an `s3://bucket/key` (read with this S3 storage's client, whatever the bucket).
    pub async fn read(&self, location: &str) -> Result<Vec<u8>, Error> {
        match self {
            Storage::Local(l) => {
                let path = Path::new(location);
                let escapes = path
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir));
                if location.starts_with("s3://") || escapes || !path.starts_with(l.root()) {
                    return Err(Error::Config(format!(
                        "`{location}` is not in the localhost storage at {}",
                        l.root().display()
                    )));
                }
                l.settle().await;
                tokio::fs::read(path)
                    .await
                    .map_err(|source| Error::Storage {
                        path: path.to_path_buf(),
                        source,
                    })
            }
            #[cfg(feature = "aws")]
            Storage::S3(s) => {
                let loc = crate::aws::s3::S3Location::parse(location).ok_or_else(|| {
                    Error::Config(format!("`{location}` is not an s3://bucket/key location"))
                })?;
                s.for_bucket(&loc.bucket).get(&loc.key).await
            }
        }
    }

    /// Deletes a job's data (`clean_data`).
    pub async fn clean(&self, job_key: &str) -> Result<(), Error> {
        match self {
            Storage::Local(l) => {
                l.settle().await;
                l.clean(job_key)
            }
            #[cfg(feature = "aws")]
            Storage::S3(s) => {
                s.delete_prefix(&format!("{}/", Self::job_prefix(job_key)))
                    .await
            }
        }
    }
}

/// The objects `obj = "s3://..."` names, for one job: read with the job's S3 storage's
/// client, or (with localhost storage) with one built on first use from the job's AWS
/// settings. Without the `aws` feature an S3 location is an error that says so.
pub(crate) struct S3Objects {
    /// The job's own S3 storage, if its storage is S3.
    #[cfg(feature = "aws")]
    storage: Option<crate::aws::s3::S3Storage>,
    /// The client built for objects when the job's storage is not S3.
    #[cfg(feature = "aws")]
    built: tokio::sync::OnceCell<crate::aws::s3::S3Storage>,
}

impl S3Objects {
    /// The objects of a job whose data goes to `storage`.
    #[cfg_attr(
        not(feature = "aws"),
        expect(unused_variables, reason = "only an S3 storage has a client to reuse")
    )]
    pub(crate) fn new(storage: &Storage) -> S3Objects {
        S3Objects {
            #[cfg(feature = "aws")]
            storage: match storage {
                Storage::S3(s) => Some(s.clone()),
                Storage::Local(_) => None,
            },
            #[cfg(feature = "aws")]
            built: tokio::sync::OnceCell::new(),
        }
    }

    /// The S3 client objects are read with.
    #[cfg(feature = "aws")]
    async fn client(&self, config: &crate::config::ExecutorConfig) -> crate::aws::s3::S3Storage {
        if let Some(s) = &self.storage {
            return s.clone();
        }
        self.built
            .get_or_init(|| async {
                crate::aws::s3::S3Storage::for_objects(&crate::aws::AwsSettings::from_config(
                    config,
                ))
                .await
            })
            .await
            .clone()
    }

    /// The parts of the objects an `s3://bucket/key`, `s3://bucket/prefix/` or
    /// `s3://bucket` location names, reading only the bytes around part boundaries.
    #[cfg(feature = "aws")]
    pub(crate) async fn parts(
        &self,
        config: &crate::config::ExecutorConfig,
        location: &str,
        chunking: Chunking,
    ) -> Result<Vec<ObjectPart>, String> {
        let s3 = self.client(config).await;
        crate::aws::s3::object_parts(&s3, location, chunking)
            .await
            .map_err(|e| format!("`obj` {location:?}: {e}"))
    }

    #[cfg(not(feature = "aws"))]
    pub(crate) async fn parts(
        &self,
        _config: &crate::config::ExecutorConfig,
        location: &str,
        _chunking: Chunking,
    ) -> Result<Vec<ObjectPart>, String> {
        Err(format!(
            "`obj` {location:?} is in S3, which needs a lithoflow built with the `aws` feature"
        ))
    }

    /// Bytes `start..end` of `s3://bucket/key`.
    #[cfg(feature = "aws")]
    pub(crate) async fn range(
        &self,
        config: &crate::config::ExecutorConfig,
        bucket: &str,
        key: &str,
        (start, end): (u64, u64),
    ) -> Result<Vec<u8>, String> {
        self.client(config)
            .await
            .for_bucket(bucket)
            .get_range(key, start, end)
            .await
            .map_err(|e| e.to_string())
    }

    #[cfg(not(feature = "aws"))]
    pub(crate) async fn range(
        &self,
        _config: &crate::config::ExecutorConfig,
        bucket: &str,
        key: &str,
        _range: (u64, u64),
    ) -> Result<Vec<u8>, String> {
        Err(format!(
            "`s3://{bucket}/{key}` is in S3, which needs a lithoflow built with the `aws` feature"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn files_put_later_are_written_in_order_before_settle_returns_and_before_a_clean() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let local = LocalStorage::new(tmp.path());
        let storage = Storage::Local(local.clone());
        for i in 0..200 {
            local.put_later(
                &format!("dag/run/t{i}/1"),
                vec![
                    ("results.json", format!("[{i}]").into_bytes()),
                    ("status.json", b"{\"state\":\"success\"}".to_vec()),
                ],
            );
        }
        // Another handle on the same folder (as the API makes) waits for them too.
        LocalStorage::new(tmp.path()).settle().await;
        for i in 0..200 {
            let dir = local.job_dir(&format!("dag/run/t{i}/1"));
            let results = std::fs::read_to_string(dir.join("results.json")).expect("results");
            assert_eq!(results, format!("[{i}]"));
            assert!(dir.join("status.json").is_file());
            assert!(!dir.join(".results.json.tmp").exists());
        }
        // A clean right after a write handed over removes what it wrote, never before.
        local.put_later("dag/run/late/1", vec![("results.json", b"[]".to_vec())]);
        storage.clean("dag/run/late/1").await.expect("clean");
        local.settle().await;
        assert!(!local.job_dir("dag/run/late/1").exists());
        // And a read waits for the file it asks for.
        local.put_later("dag/run/read/1", vec![("status.json", b"{}".to_vec())]);
        let location = storage.location("dag/run/read/1", "status.json");
        assert_eq!(storage.read(&location).await.expect("read"), b"{}");
    }

    #[test]
    fn job_keys_cannot_escape_the_storage() {
        let s = LocalStorage::new("/st");
        assert_eq!(
            s.job_dir("dag/run 1/../t/1"),
            PathBuf::from("/st/lithoflow.jobs/dag/run_1/_/t/1")
        );
        assert_eq!(s.job_dir("/abs"), PathBuf::from("/st/lithoflow.jobs/_/abs"));
    }
}
