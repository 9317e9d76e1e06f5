//! Variables and connections in the state store (Airflow's `variable` and `connection`
//! tables), with their secrets encrypted at rest.
//!
//! Trees:
//! - `variables`: key -> `VariableRecord` (the value encrypted).
//! - `connections`: conn_id -> `ConnectionRecord` (the password and the extras
//!   encrypted; the other fields, as in Airflow, in clear).
//!
//! Encryption: XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`), an AEAD: a sealed
//! value cannot be read or changed without the key, and each is bound to its record and
//! field (the associated data), so a sealed password copied into another connection does
//! not open. Its 192-bit nonces are random, so no counter has to be kept across processes.
//! The 256-bit key is `secret-key` in the lithoflow home (beside the `state` folder),
//! created 0600 when the first value is sealed, like the API token; a key file that the
//! group or others can read is refused. A database copied without its key file does not
//! reveal what is sealed in it. Airflow's equivalent is the Fernet key of
//! `[core] fernet_key` (`airflow/models/crypto.py`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};
use crate::values::{Connection, Variable};

/// The key file's name, in the folder that holds the state database.
pub(crate) const KEY_FILE: &str = "secret-key";

/// What a sealed value starts with (the scheme, for a future change of cipher).
const SEALED_PREFIX: &str = "xc20p1:";

/// Record format of variables and connections.
const RECORD_VERSION: u32 = 1;

/// The trees and the key of variables and connections.
pub(super) struct ValueTrees {
    variables: sled::Tree,
    connections: sled::Tree,
    key_path: PathBuf,
    cipher: Mutex<Option<Arc<XChaCha20Poly1305>>>,
    /// Counts the changes to variables and connections made through this store (the
    /// only writer of its database), so what is derived from them can be kept until
    /// the next change ([`crate::values::secret_masks`]).
    changes: std::sync::atomic::AtomicU64,
    /// The secrets to mask, with the count of changes they were read at.
    masks: Mutex<Option<(u64, Vec<String>)>>,
}

impl ValueTrees {
    /// Opens the trees of the database `db` at `path`; the key is read when first needed.
    pub(super) fn open(db: &sled::Db, path: &Path) -> Result<ValueTrees, sled::Error> {
        Ok(ValueTrees {
            variables: db.open_tree("variables")?,
            connections: db.open_tree("connections")?,
            key_path: path
                .parent()
                .map_or_else(|| PathBuf::from(KEY_FILE), |p| p.join(KEY_FILE)),
            cipher: Mutex::new(None),
            changes: std::sync::atomic::AtomicU64::new(0),
            masks: Mutex::new(None),
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct VariableRecord {
    version: u32,
    key: String,
    /// Sealed.
    val: String,
    description: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ConnectionRecord {
    version: u32,
    conn_id: String,
    conn_type: String,
    description: Option<String>,
    host: Option<String>,
    schema: Option<String>,
    login: Option<String>,
    /// Sealed.
    password: Option<String>,
    port: Option<u16>,
    /// Sealed.
    extra: Option<String>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Store {
    fn key_err(&self, message: String) -> StoreError {
        StoreError::Db {
            path: self.path.clone(),
            message,
        }
    }

    /// The cipher, its key read from the key file (created when `create` and missing).
    fn cipher(&self, create: bool) -> Result<Arc<XChaCha20Poly1305>, StoreError> {
        let mut cell = self
            .values
            .cipher
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = cell.as_ref() {
            return Ok(Arc::clone(c));
        }
        let path = &self.values.key_path;
        let key = match read_key(path).map_err(|m| self.key_err(m))? {
            Some(k) => k,
            None if create => create_key(path).map_err(|m| self.key_err(m))?,
            None => {
                return Err(self.key_err(format!(
                    "the variables and connection secrets in it are encrypted with the key in {}, which is missing \
                     (a state database copied without its key cannot be read; restore the key file)",
                    path.display()
                )));
            }
        };
        let cipher = Arc::new(XChaCha20Poly1305::new(&key.into()));
        *cell = Some(Arc::clone(&cipher));
        Ok(cipher)
    }

    fn seal(&self, aad: &str, plain: &str) -> Result<String, StoreError> {
        let cipher = self.cipher(true)?;
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce)
            .map_err(|e| self.key_err(format!("failed to get random bytes for a nonce: {e}")))?;
        let sealed = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| self.key_err("failed to encrypt a value".to_owned()))?;
        Ok(format!("{SEALED_PREFIX}{}{}", hex(&nonce), hex(&sealed)))
    }

    fn open_sealed(&self, aad: &str, sealed: &str) -> Result<String, StoreError> {
        let bad = || {
            self.key_err(format!(
                "{aad}: the encrypted value does not open with the key in {} \
                 (another home's key, or a damaged record)",
                self.values.key_path.display()
            ))
        };
        let bytes = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(unhex)
            .filter(|b| b.len() >= 24)
            .ok_or_else(bad)?;
        let (nonce, body) = bytes.split_at(24);
        let cipher = self.cipher(false)?;
        let plain = cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| bad())?;
        String::from_utf8(plain).map_err(|_| bad())
    }

    fn decode<T: serde::de::DeserializeOwned>(
        &self,
        v: &[u8],
        what: &str,
    ) -> Result<T, StoreError> {
        serde_json::from_slice(v).map_err(|source| StoreError::Decode {
            path: self.path.clone(),
            what: what.to_owned(),
            source,
        })
    }

    fn variable_of(&self, rec: VariableRecord) -> Result<Variable, StoreError> {
        let value = self.open_sealed(&format!("variable {:?}", rec.key), &rec.val)?;
        Ok(Variable {
            key: rec.key,
            value,
            description: rec.description,
        })
    }

    /// Stores a variable (replacing one of the same key, description included, as
    /// Airflow's `Variable.set`).
    pub(crate) fn put_variable(&self, var: &Variable) -> Result<(), StoreError> {
        let rec = VariableRecord {
            version: RECORD_VERSION,
            key: var.key.clone(),
            val: self.seal(&format!("variable {:?}", var.key), &var.value)?,
            description: var.description.clone(),
        };
        self.put(&self.values.variables, var.key.as_bytes().to_vec(), &rec)?;
        self.values_changed();
        Ok(())
    }

    /// Counts a change to the variables or connections.
    fn values_changed(&self) {
        self.values
            .changes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// How many changes to the variables and connections this store has made.
    pub(crate) fn values_changes(&self) -> u64 {
        self.values
            .changes
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The secrets to mask kept at `changes` ([`Store::keep_masks`]), if any.
    pub(crate) fn kept_masks(&self, changes: u64) -> Option<Vec<String>> {
        let kept = self
            .values
            .masks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.as_ref()
            .filter(|(at, _)| *at == changes)
            .map(|(_, masks)| masks.clone())
    }

    /// Keeps the secrets to mask read at `changes` changes.
    pub(crate) fn keep_masks(&self, changes: u64, masks: Vec<String>) {
        *self
            .values
            .masks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((changes, masks));
    }

    /// A stored variable.
    pub(crate) fn variable(&self, key: &str) -> Result<Option<Variable>, StoreError> {
        match self.get::<VariableRecord>(&self.values.variables, key.as_bytes(), "variable")? {
            Some(rec) => self.variable_of(rec).map(Some),
            None => Ok(None),
        }
    }

    /// Every stored variable, by key.
    pub(crate) fn variables(&self) -> Result<Vec<Variable>, StoreError> {
        let mut out = Vec::new();
        for item in self.values.variables.iter() {
            let (_, v) = item.map_err(|e| self.db_err(e))?;
            out.push(self.variable_of(self.decode(&v, "variable")?)?);
        }
        Ok(out)
    }

    /// Removes a variable; whether it was there.
    pub(crate) fn delete_variable(&self, key: &str) -> Result<bool, StoreError> {
        let removed = self
            .values
            .variables
            .remove(key.as_bytes())
            .map_err(|e| self.db_err(e))?
            .is_some();
        self.values_changed();
        Ok(removed)
    }

    fn connection_of(&self, rec: ConnectionRecord) -> Result<Connection, StoreError> {
        let open = |field: &str, v: Option<String>| -> Result<Option<String>, StoreError> {
            v.map(|s| self.open_sealed(&format!("connection {:?} {field}", rec.conn_id), &s))
                .transpose()
        };
        let password = open("password", rec.password.clone())?;
        let extra = open("extra", rec.extra.clone())?;
        Ok(Connection {
            conn_id: rec.conn_id,
            conn_type: rec.conn_type,
            description: rec.description,
            host: rec.host,
            schema: rec.schema,
            login: rec.login,
            password,
            port: rec.port,
            extra,
        })
    }

    /// Stores a connection (replacing one of the same id).
    pub(crate) fn put_connection(&self, conn: &Connection) -> Result<(), StoreError> {
        let seal = |field: &str, v: &Option<String>| -> Result<Option<String>, StoreError> {
            v.as_deref()
                .map(|s| self.seal(&format!("connection {:?} {field}", conn.conn_id), s))
                .transpose()
        };
        let rec = ConnectionRecord {
            version: RECORD_VERSION,
            conn_id: conn.conn_id.clone(),
            conn_type: conn.conn_type.clone(),
            description: conn.description.clone(),
            host: conn.host.clone(),
            schema: conn.schema.clone(),
            login: conn.login.clone(),
            password: seal("password", &conn.password)?,
            port: conn.port,
            extra: seal("extra", &conn.extra)?,
        };
        self.put(
            &self.values.connections,
            conn.conn_id.as_bytes().to_vec(),
            &rec,
        )?;
        self.values_changed();
        Ok(())
    }

    /// A stored connection.
    pub(crate) fn connection(&self, conn_id: &str) -> Result<Option<Connection>, StoreError> {
        match self.get::<ConnectionRecord>(
            &self.values.connections,
            conn_id.as_bytes(),
            "connection",
        )? {
            Some(rec) => self.connection_of(rec).map(Some),
            None => Ok(None),
        }
    }

    /// Every stored connection, by id.
    pub(crate) fn connections(&self) -> Result<Vec<Connection>, StoreError> {
        let mut out = Vec::new();
        for item in self.values.connections.iter() {
            let (_, v) = item.map_err(|e| self.db_err(e))?;
            out.push(self.connection_of(self.decode(&v, "connection")?)?);
        }
        Ok(out)
    }

    /// Removes a connection; whether it was there.
    pub(crate) fn delete_connection(&self, conn_id: &str) -> Result<bool, StoreError> {
        let removed = self
            .values
            .connections
            .remove(conn_id.as_bytes())
            .map_err(|e| self.db_err(e))?
            .is_some();
        self.values_changed();
        Ok(removed)
    }
}

/// The key in `path`: `None` when the file does not exist; an error when it is open to
/// the group or others, or not 64 hex digits.
fn read_key(path: &Path) -> Result<Option<[u8; 32]>, String> {
    use std::os::unix::fs::PermissionsExt as _;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(format!(
                "failed to read the key file {}: {e}",
                path.display()
            ));
        }
    };
    let mode = std::fs::metadata(path)
        .map_err(|e| format!("failed to read the key file {}: {e}", path.display()))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "the key file {} is accessible to other users (mode {mode:03o}); run `chmod 600 {}`",
            path.display(),
            path.display()
        ));
    }
    unhex(text.trim())
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .map(Some)
        .ok_or_else(|| {
            format!(
                "the key file {} does not hold a key (64 hexadecimal digits)",
                path.display()
            )
        })
}

/// Creates the key file (32 random bytes, hex) with mode 0600; when another process
/// created it first, reads theirs.
fn create_key(path: &Path) -> Result<[u8; 32], String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| format!("failed to get random bytes for a key: {e}"))?;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match file {
        Ok(mut f) => {
            f.write_all(format!("{}\n", hex(&key)).as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| format!("failed to write the key file {}: {e}", path.display()))?;
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read_key(path)?.ok_or_else(|| format!("the key file {} vanished", path.display()))
        }
        Err(e) => Err(format!(
            "failed to create the key file {}: {e}",
            path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        Connection {
            conn_id: "db".into(),
            conn_type: "postgres".into(),
            host: Some("h".into()),
            login: Some("u".into()),
            password: Some("hunter2-sealed".into()),
            port: Some(5432),
            extra: Some(r#"{"sslmode": "require-sealed"}"#.into()),
            ..Connection::default()
        }
    }

    fn raw_bytes(dir: &Path) -> Vec<u8> {
        let mut all = Vec::new();
        for e in std::fs::read_dir(dir).expect("dir").flatten() {
            if e.path().is_file() {
                all.extend(std::fs::read(e.path()).expect("read"));
            }
        }
        all
    }

    #[test]
    fn values_round_trip_and_secrets_are_not_in_the_files() {
        use std::os::unix::fs::PermissionsExt as _;
        let home = tempfile::tempdir().expect("tempdir");
        let state = home.path().join("state");
        {
            let store = Store::open_again(&state).expect("open");
            let var = Variable {
                key: "api_secret".into(),
                value: "var-value-sealed".into(),
                description: Some("d".into()),
            };
            store.put_variable(&var).expect("put");
            store.put_connection(&conn()).expect("put");
            assert_eq!(store.variable("api_secret").expect("get"), Some(var));
            assert_eq!(store.connection("db").expect("get"), Some(conn()));
            assert_eq!(store.variables().expect("list").len(), 1);
            assert_eq!(store.connections().expect("list").len(), 1);
            store.flush().expect("flush");
        }
        let mode = std::fs::metadata(home.path().join(KEY_FILE))
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let bytes = raw_bytes(&state);
        for secret in ["hunter2-sealed", "require-sealed", "var-value-sealed"] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} is in the database files"
            );
        }
        // The database without its key: the secrets do not open, and the error says why.
        let copy = tempfile::tempdir().expect("tempdir");
        let copied = copy.path().join("state");
        std::fs::create_dir(&copied).expect("mkdir");
        for e in std::fs::read_dir(&state).expect("dir").flatten() {
            if e.path().is_file() {
                std::fs::copy(e.path(), copied.join(e.file_name())).expect("copy");
            }
        }
        let store = Store::open(&copied).expect("open");
        let err = store.connection("db").expect_err("no key").to_string();
        assert!(err.contains("missing"), "{err}");
        // With another key: refused too.
        std::fs::write(copy.path().join(KEY_FILE), format!("{}\n", "ab".repeat(32)))
            .expect("write");
        std::fs::set_permissions(
            copy.path().join(KEY_FILE),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("chmod");
        let store2 = store;
        *store2.values.cipher.lock().expect("lock") = None;
        let err = store2
            .variable("api_secret")
            .expect_err("wrong key")
            .to_string();
        assert!(err.contains("does not open"), "{err}");
    }

    #[test]
    fn a_sealed_value_is_bound_to_its_record() {
        let home = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&home.path().join("state")).expect("open");
        store.put_connection(&conn()).expect("put");
        // Copy db's record under another id: its password does not open there.
        let rec = store
            .values
            .connections
            .get(b"db")
            .expect("get")
            .expect("there");
        let mut v: serde_json::Value = serde_json::from_slice(&rec).expect("json");
        v["conn_id"] = "other".into();
        store
            .values
            .connections
            .insert(b"other", serde_json::to_vec(&v).expect("json"))
            .expect("insert");
        assert!(store.connection("other").is_err());
        assert!(store.delete_connection("other").expect("delete"));
        assert!(!store.delete_connection("other").expect("delete"));
    }

    #[test]
    fn an_open_key_file_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let home = tempfile::tempdir().expect("tempdir");
        let key = home.path().join(KEY_FILE);
        std::fs::write(&key, format!("{}\n", "cd".repeat(32))).expect("write");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let store = Store::open(&home.path().join("state")).expect("open");
        let err = store
            .put_connection(&conn())
            .expect_err("refused")
            .to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }
}
