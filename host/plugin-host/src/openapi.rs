//! What `/openapi.json` says of the plugin endpoints (given to their [`Endpoint`](warden_api::Endpoint)s in
//! [`crate::http`]): query parameters, request bodies and answers, so that a client generated from the
//! document can upload, bind and read views.

use serde_json::{Value, json};
use warden_api::schema;
use warden_domain::plugin::{
    DEFAULT_DEADLINE_MS, DEFAULT_MEMORY_MIB, MAX_CONFIG_ENTRIES, MAX_CONFIG_VALUE, MAX_DEADLINE_MS,
    MAX_KIB_PER_EVENT, MAX_MEMORY_MIB, MAX_ROWS_PER_EVENT, MAX_TOTAL_MIB, MAX_TOTAL_ROWS,
};

fn error() -> Value {
    json!({ "$ref": "#/components/schemas/ErrorBody" })
}

fn error_answer(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": error() } } })
}

fn answer(description: &str, schema: Value, etag: bool) -> Value {
    let mut answer = json!({
        "description": description,
        "content": { "application/json": { "schema": schema } },
    });
    if etag {
        answer["headers"] = json!({
            "ETag": { "description": "The plugin's sequence", "schema": { "type": "string" } },
        });
    }
    answer
}

/// What a write answers: the plugin's id, sequence, position and change date.
fn written() -> Value {
    json!({
        "type": "object",
        "required": ["id", "sequence", "position", "change_date"],
        "properties": {
            "id": { "type": "string", "description": "The plugin's id" },
            "sequence": { "type": "integer", "description": "The plugin's sequence after the write (its ETag)" },
            "position": { "type": "integer", "description": "The global position of the write's last event" },
            "change_date": { "type": "string", "format": "date-time" },
        },
    })
}

fn limits() -> Value {
    json!({
        "type": "object",
        "description": "Per-call limits, and for a projection its quotas; a value left out takes its default",
        "additionalProperties": false,
        "properties": {
            "deadline_ms": { "type": "integer", "minimum": 1, "maximum": MAX_DEADLINE_MS, "default": DEFAULT_DEADLINE_MS },
            "memory_mib": { "type": "integer", "minimum": 1, "maximum": MAX_MEMORY_MIB, "default": DEFAULT_MEMORY_MIB },
            "rows_per_event": { "type": "integer", "minimum": 1, "maximum": MAX_ROWS_PER_EVENT, "default": 100 },
            "kib_per_event": { "type": "integer", "minimum": 1, "maximum": MAX_KIB_PER_EVENT, "default": 4096 },
            "total_rows": { "type": "integer", "minimum": 1, "maximum": MAX_TOTAL_ROWS, "default": 100_000 },
            "total_mib": { "type": "integer", "minimum": 1, "maximum": MAX_TOTAL_MIB, "default": 256 },
        },
    })
}

fn target() -> Value {
    json!({
        "oneOf": [
            {
                "type": "object",
                "additionalProperties": false,
                "required": ["kind", "command_types"],
                "properties": {
                    "kind": { "const": "validator" },
                    "command_types": {
                        "type": "array",
                        "minItems": 1,
                        "items": { "type": "string", "minLength": 1, "maxLength": 100, "pattern": "^[a-z0-9._*]+$" },
                        "description": "Command types, e.g. `user.human.add`, or `*`",
                    },
                },
            },
            {
                "type": "object",
                "additionalProperties": false,
                "required": ["kind"],
                "properties": { "kind": { "const": "projection" } },
            },
            {
                "type": "object",
                "additionalProperties": false,
                "required": ["kind", "hook", "order"],
                "properties": {
                    "kind": { "const": "action" },
                    "hook": { "enum": ["pre_authentication", "post_authentication", "pre_registration",
                                       "pre_token", "pre_userinfo", "post_creation"] },
                    "order": { "type": "integer", "minimum": i32::MIN, "maximum": i32::MAX },
                },
            },
        ],
    })
}

/// A binding's settings, as sent and as read back.
fn binding_settings() -> Value {
    json!({
        "type": "object",
        "required": ["target"],
        "additionalProperties": false,
        "properties": {
            "target": target(),
            "org_id": {
                "type": "string",
                "minLength": 1,
                "maxLength": schema::ID_LEN,
                "pattern": schema::IDENTIFIER,
                "description": "Only this organization (not for projections); 404 if the instance has none such",
            },
            "failure_policy": { "enum": ["fail_closed", "allow_failure"], "default": "fail_closed" },
            "limits": limits(),
            "config": {
                "type": "object",
                "maxProperties": MAX_CONFIG_ENTRIES,
                "propertyNames": {
                    "minLength": 1,
                    "maxLength": schema::METADATA_KEY_LEN,
                    "pattern": schema::METADATA_KEY,
                },
                // The bound is in bytes of UTF-8; a character takes at most four.
                "additionalProperties": {
                    "type": "string",
                    "maxLength": MAX_CONFIG_VALUE / 4,
                    "pattern": schema::NO_NUL,
                },
            },
        },
        // A projection binding applies to the whole instance; quotas of rows and bytes apply to projections only.
        "anyOf": [
            {
                "properties": { "target": { "properties": { "kind": { "const": "projection" } } } },
                "not": { "required": ["org_id"] },
            },
            {
                "properties": {
                    "target": { "properties": { "kind": { "enum": ["validator", "action"] } } },
                    "limits": { "propertyNames": { "enum": ["deadline_ms", "memory_mib"] } },
                },
            },
        ],
    })
}

fn binding() -> Value {
    let mut binding = binding_settings();
    // As read back, the limits hold every value in force: the rules of a request body do not apply.
    if let Some(object) = binding.as_object_mut() {
        object.remove("anyOf");
    }
    binding["properties"]["id"] = json!({ "type": "string" });
    binding["required"] = json!(["id", "target", "failure_policy", "limits", "config"]);
    binding
}

fn plugin() -> Value {
    json!({
        "type": "object",
        "required": ["id", "name", "description", "world", "versions", "active_digest", "bindings",
                     "sequence", "loaded", "load_state"],
        "properties": {
            "id": { "type": "string" },
            "name": { "type": "string" },
            "description": { "type": "string" },
            "world": { "enum": ["validator", "projection", "action", null] },
            "versions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["digest", "size"],
                    "properties": {
                        "digest": { "type": "string", "description": "SHA-256, lower-case hex" },
                        "size": { "type": "integer" },
                    },
                },
            },
            "active_digest": { "type": ["string", "null"] },
            "bindings": { "type": "array", "items": binding() },
            "sequence": { "type": "integer" },
            "loaded": { "type": "boolean" },
            "load_state": { "enum": ["loaded", "loading", "failed", "inactive"] },
            "load_error": { "type": "string" },
            "metrics": {
                "type": "object",
                "description": "Calls of the loaded version on the node answering",
                "properties": {
                    "calls": { "type": "integer" }, "failures": { "type": "integer" },
                    "timeouts": { "type": "integer" }, "memory_exhausted": { "type": "integer" },
                    "traps": { "type": "integer" }, "mean_latency_us": { "type": "number" },
                },
            },
            "recent_logs": {
                "type": "array",
                "description": "The last lines (at most 200) the loaded version logged on the node answering",
                "items": { "type": "object" },
            },
        },
    })
}

fn view_row_schema() -> Value {
    json!({
        "type": "object",
        "required": ["key", "value", "updated_at"],
        "properties": {
            "key": { "type": "string" },
            "value": { "description": "The row's JSON document" },
            "updated_at": { "type": "integer", "description": "µs since the Unix epoch" },
        },
    })
}

fn component_body() -> Value {
    json!({
        "required": true,
        "description": "The component's bytes (at most 32 MiB)",
        "content": { "application/wasm": { "schema": { "type": "string", "format": "binary" } } },
    })
}

fn json_body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

fn query(name: &str, required: bool, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": required, "schema": schema, "description": description })
}

fn upload_answers() -> Value {
    json!({
        "201": answer("Uploaded (or the same bytes uploaded before)", written(), true),
        "400": error_answer("Not a component Warden can run; `message` says why"),
        "403": error_answer("The caller lacks `plugin.write` (checked before the body is read)"),
        "413": error_answer("The component is larger than 32 MiB"),
        "503": error_answer("`plugin.compile_busy`: too many compilations wait; retry"),
    })
}

pub(crate) fn upload() -> Value {
    json!({
        "parameters": [
            query("name", true, json!({ "type": "string", "minLength": 1, "maxLength": 100, "pattern": "^[A-Za-z0-9._-]+$" }),
                  "The plugin's name, unique in the instance: letters, digits, `-`, `_` and `.`"),
            query("description", false,
                  json!({ "type": "string", "maxLength": schema::DESCRIPTION_LEN, "pattern": schema::OPTIONAL_TEXT }),
                  "What the plugin is for"),
        ],
        "requestBody": component_body(),
        "responses": upload_answers(),
    })
}

pub(crate) fn upload_version() -> Value {
    json!({
        "parameters": [
            query("activate", false, json!({ "type": "boolean", "default": true }),
                  "Whether the new version takes over at once"),
        ],
        "requestBody": component_body(),
        "responses": upload_answers(),
    })
}

pub(crate) fn list() -> Value {
    let body = json!({
        "type": "object",
        "required": ["plugins"],
        "properties": { "plugins": { "type": "array", "items": plugin() } },
    });
    json!({ "responses": { "200": answer("The plugins of the instance", body, false) } })
}

pub(crate) fn read() -> Value {
    json!({ "responses": { "200": answer("The plugin", plugin(), true) } })
}

pub(crate) fn write_ok() -> Value {
    json!({ "responses": { "200": answer("Done", written(), true) } })
}

pub(crate) fn activate() -> Value {
    let body = json!({
        "type": "object",
        "required": ["digest"],
        "additionalProperties": false,
        "properties": { "digest": { "type": "string", "pattern": "^[0-9a-f]{64}$",
                                    "description": "An uploaded version's digest (SHA-256, lower-case hex)" } },
    });
    json!({ "requestBody": json_body(body), "responses": { "200": answer("Activated", written(), true) } })
}

pub(crate) fn add_binding() -> Value {
    let mut added = written();
    added["properties"]["binding_id"] =
        json!({ "type": "string", "description": "The new binding's id" });
    added["required"] = json!(["id", "sequence", "position", "change_date", "binding_id"]);
    json!({
        "requestBody": json_body(binding_settings()),
        "responses": { "201": answer("Bound", added, true) },
    })
}

pub(crate) fn change_binding() -> Value {
    json!({
        "requestBody": json_body(binding_settings()),
        "responses": { "200": answer("Changed", written(), true) },
    })
}

pub(crate) fn view_rows() -> Value {
    let page = json!({
        "type": "object",
        "required": ["items", "next_after"],
        "properties": {
            "items": { "type": "array", "items": view_row_schema() },
            "next_after": { "type": ["string", "null"], "description": "Pass as `after` for the next page" },
        },
    });
    json!({
        "parameters": [
            query("limit", false, json!({ "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 }),
                  "The most rows of the page (a page also stops at 4 MiB of values)"),
            query("after", false, json!({ "type": "string", "pattern": schema::NO_NUL }),
                  "Rows whose key sorts after this one"),
        ],
        "responses": { "200": answer("A page of rows", page, false) },
    })
}

pub(crate) fn view_row() -> Value {
    json!({ "responses": { "200": answer("The row", view_row_schema(), false) } })
}

pub(crate) fn test_run() -> Value {
    let body = json!({
        "type": "object",
        "required": ["sample"],
        "additionalProperties": false,
        "properties": {
            "binding_id": {
                "type": "string",
                "description": "A binding of the plugin whose `config` and limits the sample takes when it sets none",
            },
            "sample": {
                "type": "object",
                "description": "The input, as `warden plugin test` reads it for the plugin's world. Validator: \
                                `{ config?, limits?, input: { command, state, events } }`; projection: \
                                `{ config?, limits?, views?, events: [event] }`; action: \
                                `{ config?, limits?, context?, hook, ... }` (e.g. `\"hook\": \"pre_token\", \"claims\": []`)",
            },
        },
    });
    let log_line = json!({
        "type": "object",
        "required": ["at_unix_ms", "level", "message", "fields"],
        "properties": {
            "at_unix_ms": { "type": "integer" },
            "level": { "type": "string", "description": "trace, debug, info, warn, error, or stdout/stderr" },
            "message": { "type": "string" },
            "fields": { "type": "array", "items": { "type": "array", "items": { "type": "string" }, "minItems": 2, "maxItems": 2 } },
        },
    });
    let run = json!({
        "type": "object",
        "required": ["world", "digest", "result", "ok", "duration", "logs"],
        "properties": {
            "world": { "type": "string", "enum": ["validator", "projection", "action"] },
            "digest": { "type": "string", "description": "The version run" },
            "result": { "description": "The plugin's answer; a failed call is `{ error, message }`; a projection's is `{ subscriptions, events, rows }`" },
            "ok": { "type": "boolean", "description": "Whether the call (every event, for a projection) succeeded" },
            "duration": { "type": "number", "description": "Time of the call(s) in microseconds, fresh instance included" },
            "logs": { "type": "array", "items": log_line },
        },
    });
    json!({
        "requestBody": json_body(body),
        "responses": {
            "200": answer("The run", run, false),
            "409": error_answer("The active version is not loaded on this node (`plugin.not_loaded`)"),
        },
    })
}
