//! The published JSON Schemas of what validators see of each command (`wit/commands.schema.json`) match the
//! command types they are generated from.
//!
//! After changing a command's shape, regenerate the file and commit it:
//!
//! ```sh
//! WARDEN_UPDATE_SCHEMAS=1 cargo test -p warden-command --test command_schemas
//! ```

use std::path::PathBuf;

use serde_json::{Value, json};
use warden_domain::command;

const REGENERATE: &str =
    "WARDEN_UPDATE_SCHEMAS=1 cargo test -p warden-command --test command_schemas";

fn published() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../wit/commands.schema.json")
}

/// The document: every command type, and the schema of each typed one's serialized form.
fn document() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Warden commands as validator plugins see them",
        "description": "The payload of each command type (`command.payload`, typed in the WIT `command-payload` \
            variant for some, JSON for the others), generated from the command's own type. Secrets never \
            appear: a password is shown as whether it is set. `command_types` lists every command type a \
            validator binding may name (with `*` patterns); `commands` holds the schemas of the typed ones.",
        "command_types": command::types(),
        "commands": command::schemas(),
    })
}

#[test]
fn published_command_schemas_are_current() {
    let generated = format!(
        "{}\n",
        serde_json::to_string_pretty(&document()).expect("a JSON value always serializes")
    );
    let path = published();
    if std::env::var_os("WARDEN_UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &generated).expect("wit/commands.schema.json is writable");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "wit/commands.schema.json differs from the command types; regenerate it with `{REGENERATE}` and commit it"
    );
}

#[test]
fn a_password_is_published_as_whether_it_is_set() {
    let schemas = command::schemas();
    let add = &schemas["user.human.add"];
    assert_eq!(
        add.pointer("/properties/password_set/type"),
        Some(&json!("boolean"))
    );
    assert!(add.pointer("/properties/password_hash").is_none());
    let set = &schemas["user.password.set"];
    let properties = set
        .pointer("/properties")
        .and_then(Value::as_object)
        .expect("user.password.set has properties");
    assert_eq!(
        properties.keys().collect::<Vec<_>>(),
        vec!["change_required"]
    );
}
