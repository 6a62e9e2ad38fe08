//! `/openapi.json` describes the plugin routes well enough for a generated client: each has its query
//! parameters and request body, and what the server answers matches the documented schema.

use axum::{
    body::Body,
    http::{Method, StatusCode},
};
use serde_json::{Value, json};
use warden_eventstore::both_backends;
use warden_eventstore::testing::TestStore;
use warden_plugin_fixtures as fixtures;

#[macro_use]
mod common;

use common::{Reply, Server};

both_backends!(the_plugin_routes_are_described_as_they_answer);

/// Follows `#/components/schemas/…` references.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .expect("a component reference");
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => false,
    }
}

/// Checks `value` against the parts of JSON Schema the document uses: type, enum, required, properties,
/// items, oneOf.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str) {
    let schema = resolve(doc, schema);
    if let Some(types) = schema.get("type") {
        let names: Vec<&str> = match types {
            Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
            other => other.as_str().into_iter().collect(),
        };
        assert!(
            names.iter().any(|name| type_matches(name, value)),
            "{at}: {value} is not of type {types}"
        );
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        assert!(
            allowed.contains(value),
            "{at}: {value} is not one of {allowed:?}"
        );
    }
    if let Some(variants) = schema.get("oneOf").and_then(Value::as_array) {
        let kind = &value["kind"];
        let variant = variants
            .iter()
            .find(|v| &resolve(doc, v)["properties"]["kind"]["const"] == kind)
            .unwrap_or_else(|| panic!("{at}: no variant for {value}"));
        check(doc, variant, value, at);
    }
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for name in required.iter().filter_map(Value::as_str) {
            assert!(
                value.get(name).is_some(),
                "{at}: `{name}` is missing from {value}"
            );
        }
    }
    if let (Some(properties), Some(object)) = (
        schema.get("properties").and_then(Value::as_object),
        value.as_object(),
    ) {
        for (name, member) in object {
            if let Some(property) = properties.get(name) {
                check(doc, property, member, &format!("{at}.{name}"));
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            check(doc, items, item, &format!("{at}[{i}]"));
        }
    }
}

/// The documented operation of `method` `path`.
fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    let operation = &doc["paths"][path][method];
    assert!(operation.is_object(), "{method} {path} is not documented");
    operation
}

/// Checks that `reply` is what the operation documents for its status.
fn answers_as_documented(doc: &Value, method: &str, path: &str, reply: &Reply) {
    let status = reply.status.as_u16().to_string();
    let answer = &operation(doc, method, path)["responses"][&status];
    let schema = &answer["content"]["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "{method} {path} documents no body for {status}: {answer}"
    );
    check(
        doc,
        schema,
        &reply.body,
        &format!("{method} {path} {status}"),
    );
}

fn query_names(operation: &Value) -> Vec<(String, bool)> {
    operation["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter(|p| p["in"] == "query")
        .map(|p| {
            (
                p["name"].as_str().expect("name").to_owned(),
                p["required"] == true,
            )
        })
        .collect()
}

async fn the_plugin_routes_are_described_as_they_answer(t: TestStore) {
    let server = Server::start(t).await;
    let doc = server
        .json(Method::GET, "/openapi.json", Value::Null)
        .await
        .body;

    // Uploads: the raw component, named by a required `name` query parameter.
    let upload = operation(&doc, "post", "/api/v1/plugins");
    assert!(
        upload["requestBody"]["content"]["application/wasm"].is_object(),
        "{upload:#}"
    );
    assert!(
        query_names(upload).contains(&("name".to_owned(), true)),
        "{upload:#}"
    );
    let version = operation(&doc, "post", "/api/v1/plugins/{id}/versions");
    assert!(query_names(version).contains(&("activate".to_owned(), false)));
    let uploaded = server
        .send(
            Method::POST,
            "/api/v1/plugins?name=copy",
            Body::from(fixtures::bytes(fixtures::HOSTILE_PROJECTION)),
            "application/wasm",
        )
        .await;
    assert_eq!(uploaded.status, StatusCode::CREATED, "{:#}", uploaded.body);
    answers_as_documented(&doc, "post", "/api/v1/plugins", &uploaded);
    let id = uploaded.body["id"].as_str().expect("id").to_owned();

    // Bindings: a JSON body whose schema names the documented settings.
    let bind = operation(&doc, "post", "/api/v1/plugins/{id}/bindings");
    let settings = resolve(
        &doc,
        &bind["requestBody"]["content"]["application/json"]["schema"],
    );
    for member in ["target", "org_id", "config", "limits", "failure_policy"] {
        assert!(
            settings["properties"][member].is_object(),
            "{member}: {settings:#}"
        );
    }
    let body = json!({ "target": { "kind": "projection" }, "limits": { "deadline_ms": 500 } });
    check(&doc, settings, &body, "binding request");
    let bound = server
        .json(
            Method::POST,
            &format!("/api/v1/plugins/{id}/bindings"),
            body.clone(),
        )
        .await;
    assert_eq!(bound.status, StatusCode::CREATED, "{:#}", bound.body);
    answers_as_documented(&doc, "post", "/api/v1/plugins/{id}/bindings", &bound);
    let binding_id = bound.body["binding_id"].as_str().expect("binding id");
    let changed = server
        .json(
            Method::PUT,
            &format!("/api/v1/plugins/{id}/bindings/{binding_id}"),
            body,
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{:#}", changed.body);
    answers_as_documented(
        &doc,
        "put",
        "/api/v1/plugins/{id}/bindings/{binding_id}",
        &changed,
    );

    // Reads.
    let read = server
        .json(Method::GET, &format!("/api/v1/plugins/{id}"), Value::Null)
        .await;
    answers_as_documented(&doc, "get", "/api/v1/plugins/{id}", &read);
    let listed = server
        .json(Method::GET, "/api/v1/plugins", Value::Null)
        .await;
    answers_as_documented(&doc, "get", "/api/v1/plugins", &listed);
    let rows = operation(&doc, "get", "/api/v1/plugins/{id}/views/{table}");
    let names = query_names(rows);
    assert!(names.contains(&("limit".to_owned(), false)), "{names:?}");
    assert!(names.contains(&("after".to_owned(), false)), "{names:?}");
    let page = loop {
        let page = server
            .json(
                Method::GET,
                &format!("/api/v1/plugins/{id}/views/events?limit=1"),
                Value::Null,
            )
            .await;
        if page.body["items"].as_array().is_some_and(|i| !i.is_empty()) {
            break page;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    answers_as_documented(&doc, "get", "/api/v1/plugins/{id}/views/{table}", &page);
    let key = page.body["items"][0]["key"].as_str().expect("key");
    let row = server
        .json(
            Method::GET,
            &format!("/api/v1/plugins/{id}/views/events/{key}"),
            Value::Null,
        )
        .await;
    answers_as_documented(
        &doc,
        "get",
        "/api/v1/plugins/{id}/views/{table}/{key}",
        &row,
    );

    // Activation and removal.
    let digest = read.body["active_digest"].as_str().expect("digest");
    let activate = operation(&doc, "put", "/api/v1/plugins/{id}/active-version");
    let request = &activate["requestBody"]["content"]["application/json"]["schema"];
    assert!(request.is_object(), "{activate:#}");
    check(
        &doc,
        request,
        &json!({ "digest": digest }),
        "activation request",
    );
    let unbound = server
        .json(
            Method::DELETE,
            &format!("/api/v1/plugins/{id}/bindings/{binding_id}"),
            Value::Null,
        )
        .await;
    answers_as_documented(
        &doc,
        "delete",
        "/api/v1/plugins/{id}/bindings/{binding_id}",
        &unbound,
    );
    let removed = server
        .json(
            Method::DELETE,
            &format!("/api/v1/plugins/{id}"),
            Value::Null,
        )
        .await;
    answers_as_documented(&doc, "delete", "/api/v1/plugins/{id}", &removed);
    let missing = server
        .json(Method::GET, &format!("/api/v1/plugins/{id}"), Value::Null)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    check(
        &doc,
        &json!({ "$ref": "#/components/schemas/ErrorBody" }),
        &missing.body,
        "404",
    );
}
