//! The prompts' keys (trigger with a conf, confirm a clear) and the conf's parsing.

use ratatui::crossterm::event::{KeyCode, KeyEvent};
use serde_json::{Map, Value};

use super::say;
use crate::app::{App, Prompt, StatusKind};
use crate::msg::Command;

pub(super) fn prompt_key(app: &mut App, key: KeyEvent) -> Option<Command> {
    let prompt = app.prompt.take()?;
    match prompt {
        Prompt::Trigger {
            dag_id,
            mut input,
            error,
        } => match key.code {
            KeyCode::Esc => None,
            KeyCode::Enter => match parse_conf(&input) {
                Ok(conf) => {
                    say(
                        app,
                        format!("triggering a run of {dag_id}…"),
                        StatusKind::Info,
                    );
                    Some(Command::Trigger { dag_id, conf })
                }
                Err(e) => {
                    app.prompt = Some(Prompt::Trigger {
                        dag_id,
                        input,
                        error: Some(e),
                    });
                    None
                }
            },
            KeyCode::Backspace => {
                input.pop();
                app.prompt = Some(Prompt::Trigger {
                    dag_id,
                    input,
                    error: None,
                });
                None
            }
            KeyCode::Char(c) => {
                input.push(c);
                app.prompt = Some(Prompt::Trigger {
                    dag_id,
                    input,
                    error: None,
                });
                None
            }
            _ => {
                app.prompt = Some(Prompt::Trigger {
                    dag_id,
                    input,
                    error,
                });
                None
            }
        },
        Prompt::Pause { dag_id, pause } => match key.code {
            KeyCode::Char('y' | 'Y') | KeyCode::Enter => {
                let verb = if pause { "pausing" } else { "unpausing" };
                say(app, format!("{verb} {dag_id}…"), StatusKind::Info);
                Some(Command::SetPaused {
                    dag_id,
                    paused: pause,
                })
            }
            KeyCode::Char('n' | 'N') | KeyCode::Esc => None,
            _ => {
                app.prompt = Some(Prompt::Pause { dag_id, pause });
                None
            }
        },
        Prompt::Clear {
            ti,
            state,
            downstream,
        } => {
            let with_downstream = match key.code {
                KeyCode::Char('y' | 'Y') | KeyCode::Enter => false,
                KeyCode::Char('d' | 'D') => true,
                KeyCode::Char('n' | 'N') | KeyCode::Esc => return None,
                _ => {
                    app.prompt = Some(Prompt::Clear {
                        ti,
                        state,
                        downstream,
                    });
                    return None;
                }
            };
            say(
                app,
                format!("clearing {} in {}…", ti.task_id, ti.run_id),
                StatusKind::Info,
            );
            Some(Command::Clear {
                ti,
                downstream: with_downstream,
            })
        }
    }
}

/// The trigger prompt's conf: empty, or a JSON object.
pub fn parse_conf(input: &str) -> Result<Map<String, Value>, String> {
    if input.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(input) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(format!(
            "conf must be a JSON object like {{\"n\": 3}}, not {}",
            match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            }
        )),
        Err(e) => Err(format!("conf is not valid JSON: {e}")),
    }
}
