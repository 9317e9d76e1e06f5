//! Lookups with Airflow's precedence, over a real store and a given environment.

use std::collections::BTreeMap;

use super::*;

struct MapEnv(BTreeMap<String, String>);

impl Env for MapEnv {
    fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }

    fn all(&self) -> Vec<(String, String)> {
        self.0.clone().into_iter().collect()
    }
}

fn env(pairs: &[(&str, &str)]) -> MapEnv {
    MapEnv(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

fn store() -> (tempfile::TempDir, Store) {
    let home = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&home.path().join("state")).expect("open");
    (home, store)
}

#[test]
fn the_environment_comes_before_the_store() {
    let (_home, store) = store();
    set_variable(&store, "bucket", "from-store", Some("d")).expect("set");
    set_variable(&store, "other", "stored", None).expect("set");
    let e = env(&[
        ("AIRFLOW_VAR_BUCKET", "from-airflow-env"),
        ("LITHOFLOW_VAR_OTHER", "from-lithoflow-env"),
        ("AIRFLOW_VAR_OTHER", "from-airflow-env"),
    ]);
    assert_eq!(
        get_variable_in(&e, &store, "bucket")
            .expect("get")
            .as_deref(),
        Some("from-airflow-env")
    );
    assert_eq!(
        get_variable_in(&e, &store, "other")
            .expect("get")
            .as_deref(),
        Some("from-lithoflow-env")
    );
    assert_eq!(
        get_variable_in(&env(&[]), &store, "bucket")
            .expect("get")
            .as_deref(),
        Some("from-store")
    );
    assert_eq!(get_variable_in(&e, &store, "missing").expect("get"), None);
}

#[test]
fn connections_come_from_env_uris_and_json_then_the_store() {
    let (_home, store) = store();
    store
        .put_connection(&Connection::from_uri("db", "postgres://u:stored@h/s").expect("uri"))
        .expect("put");
    let e = env(&[
        ("AIRFLOW_CONN_DB", "  mysql://u:envpw@envhost:3306/x  "),
        (
            "AIRFLOW_CONN_API",
            r#"{"conn_type": "http", "host": "api", "password": "jsonpw"}"#,
        ),
        ("AIRFLOW_CONN_BROKEN", "x://h:port"),
    ]);
    let db = get_connection_in(&e, &store, "db")
        .expect("get")
        .expect("found");
    assert_eq!(
        (db.conn_type.as_str(), db.password.as_deref()),
        ("mysql", Some("envpw"))
    );
    let api = get_connection_in(&e, &store, "api")
        .expect("get")
        .expect("found");
    assert_eq!(api.host.as_deref(), Some("api"));
    let stored = get_connection_in(&env(&[]), &store, "db")
        .expect("get")
        .expect("found");
    assert_eq!(stored.password.as_deref(), Some("stored"));
    let err = get_connection_in(&e, &store, "broken")
        .expect_err("bad port")
        .to_string();
    assert!(
        err.starts_with("environment variable AIRFLOW_CONN_BROKEN: Port"),
        "{err}"
    );
    assert_eq!(get_connection_in(&e, &store, "none").expect("get"), None);
}

#[test]
fn masks_are_the_secrets_airflow_masks() {
    let (_home, store) = store();
    set_variable(&store, "db_password", "var-secret-1", None).expect("set");
    set_variable(&store, "plain", "not-a-secret", None).expect("set");
    set_variable(
        &store,
        "cfg",
        r#"{"api_key": "nested-secret", "n": "visible"}"#,
        None,
    )
    .expect("set");
    store
        .put_connection(
            &Connection::from_uri("db", "postgres://u:conn%2Fpw@h/s?token=extra-secret&a=b")
                .expect("uri"),
        )
        .expect("put");
    let e = env(&[
        ("AIRFLOW_VAR_MY_TOKEN", "env-secret-1"),
        ("AIRFLOW_CONN_API", "http://u:env-conn-pw@h"),
    ]);
    let masks = secret_masks_in(&e, &store).expect("masks");
    for s in [
        "var-secret-1",
        "nested-secret",
        "conn/pw",
        "conn%2Fpw",
        "extra-secret",
        "env-secret-1",
        "env-conn-pw",
    ] {
        assert!(masks.contains(&s.to_owned()), "{s} not in {masks:?}");
    }
    for s in ["not-a-secret", "visible", "b"] {
        assert!(!masks.contains(&s.to_owned()), "{s} in {masks:?}");
    }
}

#[test]
fn kept_masks_follow_every_change_to_variables_and_connections() {
    let (_home, store) = store();
    let masks = |store: &Store| secret_masks(store).expect("masks");
    assert!(!masks(&store).contains(&"late-secret-1".to_owned()));
    set_variable(&store, "api_password", "late-secret-1", None).expect("set");
    assert!(masks(&store).contains(&"late-secret-1".to_owned()));
    store
        .put_connection(&Connection::from_uri("c", "http://u:late-conn-pw@h").expect("uri"))
        .expect("put");
    assert!(masks(&store).contains(&"late-conn-pw".to_owned()));
    assert!(store.delete_variable("api_password").expect("delete"));
    assert!(store.delete_connection("c").expect("delete"));
    let after = masks(&store);
    assert!(!after.contains(&"late-secret-1".to_owned()), "{after:?}");
    assert!(!after.contains(&"late-conn-pw".to_owned()), "{after:?}");
}

#[test]
fn keys_and_conn_ids_are_checked_as_airflow_checks_them() {
    assert!(check_variable_key("a.b-c d").is_ok());
    assert!(check_variable_key("").is_err());
    assert!(check_variable_key(&"k".repeat(251)).is_err());
    assert!(check_conn_id("my_db.prod-1").is_ok());
    assert!(check_conn_id("my db").is_err());
    assert!(check_conn_id(&"c".repeat(201)).is_err());
}

#[test]
fn the_airflow_sensitive_names_are_sensitive() {
    for name in [
        "access_token",
        "MY_API_KEY",
        "apikey",
        "Authorization",
        "ssh_passphrase",
        "db_passwd",
        "password",
        "private_key",
        "client_secret",
        "token",
        "keyfile_dict",
        "service_account_json",
    ] {
        assert!(is_sensitive(name), "{name}");
    }
    for name in ["bucket", "region", "host"] {
        assert!(!is_sensitive(name), "{name}");
    }
}
