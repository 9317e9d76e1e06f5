//! Listings as a table, JSON or plain columns (`-o table|json|plain`), like Airflow's
//! `AirflowConsole`.

use comfy_table::{ContentArrangement, Table, presets};
use serde_json::{Map, Value};

use crate::cli::OutputFormat;

/// Renders rows (JSON objects) with the given columns. JSON output keeps every field
/// of every row; table and plain show the columns.
pub(crate) fn render(
    rows: &[Map<String, Value>],
    columns: &[&str],
    format: OutputFormat,
) -> String {
    match format {
        OutputFormat::Json => {
            let mut s = serde_json::to_string_pretty(rows).unwrap_or_else(|_| "[]".to_owned());
            s.push('\n');
            s
        }
        OutputFormat::Table | OutputFormat::Plain if rows.is_empty() => {
            "No data found\n".to_owned()
        }
        OutputFormat::Table | OutputFormat::Plain => {
            let mut table = Table::new();
            if format == OutputFormat::Table {
                table.load_preset(presets::UTF8_FULL_CONDENSED);
            } else {
                table.load_preset(presets::NOTHING);
            }
            table.set_content_arrangement(ContentArrangement::Disabled);
            table.set_header(columns.iter().copied());
            for row in rows {
                table.add_row(
                    columns
                        .iter()
                        .map(|c| cell(row.get(*c).unwrap_or(&Value::Null))),
                );
            }
            let mut s = table.to_string();
            if format == OutputFormat::Plain {
                s = s
                    .lines()
                    .map(|l| l.trim().to_owned())
                    .collect::<Vec<_>>()
                    .join("\n");
            }
            s.push('\n');
            s
        }
    }
}

/// A JSON value as table text: strings bare, lists joined with commas, null empty.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rows() -> Vec<Map<String, Value>> {
        let row = json!({"dag_id": "a", "tags": ["x", "y"], "tasks": 3, "schedule": null});
        vec![row.as_object().expect("object").clone()]
    }

    #[test]
    fn table_and_plain_show_the_columns() {
        let cols = ["dag_id", "schedule", "tags", "tasks"];
        insta::assert_snapshot!(render(&rows(), &cols, OutputFormat::Table), @r"
        ┌────────┬──────────┬──────┬───────┐
        │ dag_id ┆ schedule ┆ tags ┆ tasks │
        ╞════════╪══════════╪══════╪═══════╡
        │ a      ┆          ┆ x, y ┆ 3     │
        └────────┴──────────┴──────┴───────┘
        ");
        insta::assert_snapshot!(render(&rows(), &cols, OutputFormat::Plain), @r"
        dag_id  schedule  tags  tasks
        a                 x, y  3
        ");
        assert_eq!(render(&[], &cols, OutputFormat::Plain), "No data found\n");
        assert_eq!(render(&[], &cols, OutputFormat::Json), "[]\n");
    }
}
