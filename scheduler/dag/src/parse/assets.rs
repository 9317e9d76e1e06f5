//! Assets in a DAG file: `outlets` and `inlets` of a task, and an asset `schedule`
//! (a list of assets, all of them; `{ all = [...] }`, `{ any = [...] }`, nested).

use serde_json::Value;
use toml::de::DeValue;

use super::values::describe;
use super::{Sv, Walker};
use crate::asset::{self, Asset, AssetCondition};

const ASSET: &str = "an asset URI string or a table { uri = \"...\", name = \"...\", group = \"...\", extra = {...} }";

impl Walker<'_> {
    /// `schedule = [...]` or `schedule = { all | any = [...] }` (or one asset).
    pub(super) fn asset_schedule(&mut self, v: &Sv<'_>) -> Option<AssetCondition> {
        match v.get_ref() {
            DeValue::Array(items) => {
                if items.is_empty() {
                    self.warn(
                        v.span(),
                        "`schedule = []` names no asset: the DAG is never triggered by assets (as Airflow's empty list); leave `schedule` out for manual runs only",
                    );
                }
                self.condition_members("schedule", items)
                    .map(AssetCondition::All)
            }
            _ => self.asset_condition("schedule", v),
        }
    }

    /// One member of a condition: an asset, or a nested `{ all = [...] }` /
    /// `{ any = [...] }`.
    fn asset_condition(&mut self, key: &str, v: &Sv<'_>) -> Option<AssetCondition> {
        match v.get_ref() {
            DeValue::Table(t) => {
                let ops: Vec<&str> = t
                    .iter()
                    .map(|(k, _)| k.get_ref().as_ref())
                    .filter(|k| matches!(*k, "all" | "any"))
                    .collect();
                if ops.is_empty() {
                    return self.asset(key, v).map(AssetCondition::Asset);
                }
                if t.len() > 1 {
                    self.error(
                        v.span(),
                        format!("an asset condition in `{key}` is a table with one key, `all` or `any` (schedule = {{ any = [\"s3://b/a\", \"s3://b/b\"] }}), found keys {}", t.iter().map(|(k, _)| format!("`{}`", k.get_ref())).collect::<Vec<_>>().join(", ")),
                    );
                    return None;
                }
                let (op, list) = t.iter().next()?;
                let DeValue::Array(items) = list.get_ref() else {
                    self.error(
                        list.span(),
                        format!(
                            "`{}` in `{key}` must be an array of assets or conditions, found {}",
                            op.get_ref(),
                            describe(list.get_ref())
                        ),
                    );
                    return None;
                };
                if items.is_empty() {
                    self.error(
                        list.span(),
                        format!("`{}` in `{key}` names no asset", op.get_ref()),
                    );
                    return None;
                }
                let members = self.condition_members(key, items)?;
                Some(if op.get_ref().as_ref() == "all" {
                    AssetCondition::All(members)
                } else {
                    AssetCondition::Any(members)
                })
            }
            DeValue::Array(_) => {
                self.error(
                    v.span(),
                    format!("a list inside `{key}`: write a nested condition as {{ all = [...] }} or {{ any = [...] }}"),
                );
                None
            }
            _ => self.asset(key, v).map(AssetCondition::Asset),
        }
    }

    /// Every member of a list, each checked (all problems reported).
    fn condition_members(&mut self, key: &str, items: &[Sv<'_>]) -> Option<Vec<AssetCondition>> {
        let members: Vec<Option<AssetCondition>> = items
            .iter()
            .map(|item| self.asset_condition(key, item))
            .collect();
        members.into_iter().collect()
    }

    /// `outlets` / `inlets`: an array of assets (or one asset).
    pub(super) fn asset_list(&mut self, key: &str, v: &Sv<'_>) -> Option<Vec<Asset>> {
        match v.get_ref() {
            DeValue::Array(items) => {
                let assets: Vec<Option<Asset>> =
                    items.iter().map(|item| self.asset(key, item)).collect();
                let mut assets: Vec<Asset> = assets.into_iter().collect::<Option<_>>()?;
                let mut seen = std::collections::BTreeSet::new();
                assets.retain(|a| seen.insert(a.uri.clone()));
                Some(assets)
            }
            _ => self.asset(key, v).map(|a| vec![a]),
        }
    }

    /// One asset: its URI as a string, or a table with `uri` and/or `name`, `group`,
    /// `extra` (Airflow 3's `Asset(name=..., uri=..., group=..., extra=...)`).
    fn asset(&mut self, key: &str, v: &Sv<'_>) -> Option<Asset> {
        match v.get_ref() {
            DeValue::String(s) => self.asset_of(v, s, None, None, None),
            DeValue::Table(t) => {
                let mut fields: [Option<&Sv<'_>>; 4] = [None; 4];
                let mut ok = true;
                for (k, item) in t.iter() {
                    let slot = match k.get_ref().as_ref() {
                        "uri" => 0,
                        "name" => 1,
                        "group" => 2,
                        "extra" => 3,
                        other => {
                            // In a schedule the table may also have meant a condition.
                            let known: &[&str] = if key == "schedule" {
                                &["uri", "name", "group", "extra", "all", "any"]
                            } else {
                                &["uri", "name", "group", "extra"]
                            };
                            let hint = crate::schema::suggest(other, known.iter().copied())
                                .map_or(String::new(), |s| format!("did you mean `{s}`? "));
                            let expected = if key == "schedule" {
                                "expected uri, name, group or extra (an asset), or all or any (a condition)"
                            } else {
                                "expected uri, name, group or extra"
                            };
                            self.error(
                                k.span(),
                                format!(
                                    "unknown key `{other}` in an asset of `{key}`; {hint}{expected}"
                                ),
                            );
                            ok = false;
                            continue;
                        }
                    };
                    fields[slot] = Some(item);
                }
                let text = |w: &mut Self, i: usize, name: &str| -> Option<Option<String>> {
                    match fields[i] {
                        None => Some(None),
                        Some(item) => match item.get_ref() {
                            DeValue::String(s) => Some(Some(s.to_string())),
                            other => {
                                w.error(
                                    item.span(),
                                    format!(
                                        "`{name}` of an asset must be a string, found {}",
                                        describe(other)
                                    ),
                                );
                                None
                            }
                        },
                    }
                };
                let uri = text(self, 0, "uri");
                let name = text(self, 1, "name");
                let group = text(self, 2, "group");
                let extra = match fields[3] {
                    None => Some(None),
                    Some(item) => match (item.get_ref(), self.json("extra", item)) {
                        (DeValue::Table(_), Some(Value::Object(m))) => Some(Some(m)),
                        _ => {
                            self.wrong_type("extra", item, "a table");
                            None
                        }
                    },
                };
                let (Some(uri), Some(name), Some(group), Some(extra), true) =
                    (uri, name, group, extra, ok)
                else {
                    return None;
                };
                let Some(written) = uri.clone().or_else(|| name.clone()) else {
                    self.error(
                        v.span(),
                        format!("an asset of `{key}` needs a `uri` or a `name`"),
                    );
                    return None;
                };
                // Airflow 3's `Asset(name="x")`: the URI is the name.
                self.asset_of(fields[0].unwrap_or(v), &written, name, group, extra)
            }
            other => {
                self.error(
                    v.span(),
                    format!("`{key}` holds {ASSET}, found {}", describe(other)),
                );
                None
            }
        }
    }

    fn asset_of(
        &mut self,
        v: &Sv<'_>,
        uri: &str,
        name: Option<String>,
        group: Option<String>,
        extra: Option<serde_json::Map<String, Value>>,
    ) -> Option<Asset> {
        let mut a = match Asset::from_uri(uri) {
            Ok(a) => a,
            Err(e) => {
                self.error(v.span(), e);
                return None;
            }
        };
        if asset::has_user_info(uri) {
            self.warn(
                v.span(),
                "an asset URI should not contain user info (user name or password); it is dropped, as Airflow does",
            );
        }
        if let Some(name) = name {
            if let Err(e) = asset::check_identifier("name", &name) {
                self.error(v.span(), e);
                return None;
            }
            if name == "self" || name == "context" {
                self.error(
                    v.span(),
                    format!("{name:?} is a prohibited asset name (Airflow reserves it)"),
                );
                return None;
            }
            a.name = name;
        }
        if let Some(group) = group {
            if group.chars().count() > asset::MAX_ASSET_LEN
                || (!group.is_empty() && group.trim().is_empty())
            {
                self.error(
                    v.span(),
                    "an asset group cannot be just whitespace or exceed 1500 characters",
                );
                return None;
            }
            a.group = group;
        }
        if let Some(extra) = extra {
            a.extra = extra;
        }
        Some(a)
    }
}
