//! The route table and the OpenAPI 3.1 document generated from it.
//!
//! Every endpoint is declared once, as an [`Endpoint`] holding its handler and its documentation; the router
//! is built from the same table, so the document lists every route by construction. Body schemas are the
//! JSON Schemas (draft 2020-12, as OpenAPI 3.1 uses) of the request and response types.

use axum::extract::State;
use axum::{
    handler::Handler,
    http::{Method, StatusCode, header},
    response::IntoResponse,
    routing::{MethodFilter, MethodRouter},
};
use schemars::{JsonSchema, Schema, SchemaGenerator, generate::SchemaSettings};
use serde_json::{Map, Value, json};
use warden_domain::{authz::Permission, command::Command};

use crate::{ApiState, error::ErrorBody, view::ListPage};

type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

fn root_schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.root_schema_for::<T>()
}

/// What `/openapi.json` says of one route.
#[derive(Clone)]
pub struct Operation {
    method: Method,
    pub(crate) path: &'static str,
    operation_id: &'static str,
    summary: &'static str,
    permission: Option<Permission>,
    authenticated: bool,
    request: Option<SchemaFn>,
    request_optional: bool,
    query: Option<SchemaFn>,
    response: Option<SchemaFn>,
    status: StatusCode,
    described: Option<fn() -> Value>,
}

impl std::fmt::Debug for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// One route with its documentation: the handler, and what `/openapi.json` says of it.
///
/// `S` is the state of the handler; [`Endpoint::with_state`] turns an endpoint served with a state of its own
/// (such as the plugin endpoints') into one of the API's table.
pub struct Endpoint<S = ApiState> {
    pub(crate) operation: Operation,
    pub(crate) route: MethodRouter<S>,
}

impl<S> std::fmt::Debug for Endpoint<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.operation.fmt(f)
    }
}

impl<S: Clone + Send + Sync + 'static> Endpoint<S> {
    /// An authenticated endpoint answering 200 without a documented body.
    pub fn new<H, T>(
        method: Method,
        path: &'static str,
        operation_id: &'static str,
        summary: &'static str,
        handler: H,
    ) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).unwrap_or(MethodFilter::GET);
        Self {
            operation: Operation {
                method,
                path,
                operation_id,
                summary,
                permission: None,
                authenticated: true,
                request: None,
                request_optional: false,
                query: None,
                response: None,
                status: StatusCode::OK,
                described: None,
            },
            route: axum::routing::on(filter, handler),
        }
    }

    /// A `POST` endpoint.
    pub fn post<H: Handler<T, S>, T: 'static>(
        path: &'static str,
        operation_id: &'static str,
        summary: &'static str,
        handler: H,
    ) -> Self {
        Self::new(Method::POST, path, operation_id, summary, handler)
    }

    /// A `PUT` endpoint.
    pub fn put<H: Handler<T, S>, T: 'static>(
        path: &'static str,
        operation_id: &'static str,
        summary: &'static str,
        handler: H,
    ) -> Self {
        Self::new(Method::PUT, path, operation_id, summary, handler)
    }

    /// A `DELETE` endpoint.
    pub fn delete<H: Handler<T, S>, T: 'static>(
        path: &'static str,
        operation_id: &'static str,
        summary: &'static str,
        handler: H,
    ) -> Self {
        Self::new(Method::DELETE, path, operation_id, summary, handler)
    }

    /// A `GET` endpoint.
    pub fn get<H: Handler<T, S>, T: 'static>(
        path: &'static str,
        operation_id: &'static str,
        summary: &'static str,
        handler: H,
    ) -> Self {
        Self::new(Method::GET, path, operation_id, summary, handler)
    }

    /// The permission the caller needs (documented as `x-permission`).
    #[must_use]
    pub fn permission(self, permission: Permission) -> Self {
        self.with(|operation| operation.permission = Some(permission))
    }

    /// The permission the caller needs, as the command `C` the endpoint issues declares it (documented as
    /// `x-permission`).
    #[must_use]
    pub fn command<C: Command>(self) -> Self {
        self.permission(C::PERMISSION)
    }

    /// Served without authentication.
    #[must_use]
    pub fn public(self) -> Self {
        self.with(|operation| operation.authenticated = false)
    }

    /// Takes a JSON body of type `T`.
    #[must_use]
    pub fn body<T: JsonSchema>(self) -> Self {
        self.with(|operation| operation.request = Some(schema_of::<T>))
    }

    /// Takes an optional JSON body of type `T`.
    #[must_use]
    pub fn optional_body<T: JsonSchema>(self) -> Self {
        self.body::<T>()
            .with(|operation| operation.request_optional = true)
    }

    /// Takes query parameters, the properties of `T`.
    #[must_use]
    pub fn query<T: JsonSchema>(self) -> Self {
        self.with(|operation| operation.query = Some(root_schema_of::<T>))
    }

    /// Answers `status` with a JSON body of type `T`.
    #[must_use]
    pub fn returns<T: JsonSchema>(self, status: StatusCode) -> Self {
        self.with(|operation| {
            operation.response = Some(schema_of::<T>);
            operation.status = status;
        })
    }

    /// A read for callers holding `permission`: answers 200 with a `T`.
    #[must_use]
    pub fn reads<T: JsonSchema>(self, permission: Permission) -> Self {
        self.permission(permission).returns::<T>(StatusCode::OK)
    }

    /// A list for callers holding `permission`: answers 200 with a page of `T`, chosen by the query parameters
    /// `Q`.
    #[must_use]
    pub fn lists<Q: JsonSchema, T: JsonSchema>(self, permission: Permission) -> Self {
        self.query::<Q>().reads::<ListPage<T>>(permission)
    }

    /// Documented by `operation` rather than by Rust types, for bodies that are not JSON or whose schema is
    /// written out: it gives the OpenAPI members `parameters` (beside the path's), `requestBody` and
    /// `responses` (beside a `4XX` and a `default` answer with the common error body). Schemas may refer to
    /// `#/components/schemas/ErrorBody`.
    #[must_use]
    pub fn described_by(self, operation: fn() -> Value) -> Self {
        self.with(|documented| documented.described = Some(operation))
    }

    /// The endpoint with its documentation changed by `change`.
    fn with(mut self, change: impl FnOnce(&mut Operation)) -> Self {
        change(&mut self.operation);
        self
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.operation.method
    }

    /// The path, with `{name}` path parameters.
    pub fn path(&self) -> &'static str {
        self.operation.path
    }

    /// The endpoint with its handler's state given, as an endpoint of a router with state `S2`.
    pub fn with_state<S2>(self, state: S) -> Endpoint<S2> {
        Endpoint {
            operation: self.operation,
            route: self.route.with_state(state),
        }
    }
}

/// `GET /openapi.json`: generated once per router, from every endpoint of its table.
pub(crate) async fn serve_document(State(state): State<crate::ApiState>) -> impl IntoResponse {
    let body = state.openapi.get_or_init(|| {
        let doc = document(state.operations.iter());
        serde_json::to_vec_pretty(&doc).unwrap_or_default()
    });
    ([(header::CONTENT_TYPE, "application/json")], body.clone())
}

/// The operation of an endpoint documented by [`Endpoint::described_by`].
fn described(endpoint: &Operation, given: &Value) -> Value {
    let error = json!({ "$ref": "#/components/schemas/ErrorBody" });
    let mut parameters = path_parameters(endpoint.path);
    if let Some(more) = given.get("parameters").and_then(Value::as_array) {
        parameters.extend(more.iter().cloned());
    }
    let mut responses = json!({
        "4XX": { "description": "Bad input, missing token or permission, unknown resource, or conflict",
                 "content": { "application/json": { "schema": error.clone() } } },
        "default": { "description": "An internal error, or the database busy for a moment (503)",
                     "content": { "application/json": { "schema": error.clone() } } },
    });
    if let (Some(all), Some(more)) = (
        responses.as_object_mut(),
        given.get("responses").and_then(Value::as_object),
    ) {
        all.extend(more.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let mut operation = operation_object(endpoint, parameters, responses);
    if let Some(request) = given.get("requestBody") {
        operation["requestBody"] = request.clone();
    }
    operation
}

/// What every operation says: its id, summary, tag, parameters and responses.
fn operation_object(endpoint: &Operation, parameters: Vec<Value>, responses: Value) -> Value {
    json!({
        "operationId": endpoint.operation_id,
        "summary": endpoint.summary,
        "tags": [tag(endpoint.path)],
        "parameters": parameters,
        "responses": responses,
    })
}

fn path_parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            let name = name.trim_start_matches('*');
            json!({
                "name": name,
                "in": "path",
                "required": true,
                "schema": crate::schema::path_parameter(path, name),
            })
        })
        .collect()
}

fn query_parameters(schema: &Schema) -> Vec<Value> {
    let object = schema.as_object();
    let required: Vec<&str> = object
        .and_then(|o| o.get("required"))
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    object
        .and_then(|o| o.get("properties"))
        .and_then(Value::as_object)
        .map(|properties| {
            properties
                .iter()
                .map(|(name, schema)| {
                    let mut schema = without_null(schema);
                    // A query parameter holding U+0000 is refused, whatever its type says.
                    if schema.get("type").and_then(Value::as_str) == Some("string")
                        && schema.get("pattern").is_none()
                        && schema.get("enum").is_none()
                    {
                        schema["pattern"] = json!(crate::schema::NO_NUL);
                    }
                    let mut parameter = json!({
                        "name": name,
                        "in": "query",
                        "required": required.contains(&name.as_str()),
                        "schema": schema,
                    });
                    if let Some(description) = schema.get("description") {
                        parameter["description"] = description.clone();
                    }
                    parameter
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A query parameter's schema without `null`: a parameter is absent or a string.
fn without_null(schema: &Value) -> Value {
    let mut schema = schema.clone();
    if let Some(types) = schema.get_mut("type").and_then(Value::as_array_mut) {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types[0].clone();
            schema["type"] = only;
        }
    }
    if let Some(any_of) = schema.get("anyOf").and_then(Value::as_array) {
        let rest: Vec<Value> = any_of
            .iter()
            .filter(|s| s.get("type").and_then(Value::as_str) != Some("null"))
            .cloned()
            .collect();
        if rest.len() == 1 {
            let mut only = rest[0].clone();
            if let (Some(target), Some(description)) =
                (only.as_object_mut(), schema.get("description"))
            {
                target.insert("description".into(), description.clone());
            }
            return only;
        }
    }
    schema
}

fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

/// Builds the OpenAPI 3.1 document of `endpoints`.
pub(crate) fn document<'a>(endpoints: impl IntoIterator<Item = &'a Operation>) -> Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    settings.meta_schema = None;
    let mut generator = settings.into_generator();
    let error = generator.subschema_for::<ErrorBody>().to_value();
    let error_response = |description: &str| json!({ "description": description, "content": json_content(error.clone()) });

    let mut paths = Map::new();
    for endpoint in endpoints {
        let path = endpoint.path.replace("{*", "{");
        let method = endpoint.method.as_str().to_ascii_lowercase();
        if let Some(given) = endpoint.described {
            let mut operation = described(endpoint, &given());
            document_permission(&mut operation, endpoint.permission);
            let item = paths.entry(path).or_insert_with(|| json!({}));
            item[method] = operation;
            continue;
        }
        let mut parameters = path_parameters(endpoint.path);
        let conditional = endpoint.method != Method::GET && endpoint.path.contains('{');
        if conditional {
            parameters.push(json!({
                "name": "If-Match",
                "in": "header",
                "required": false,
                "description": "The resource's sequence (its ETag, e.g. \"5\"): the change is refused with 409 \
                    `stale_state` if the resource is at another sequence",
                "schema": { "type": "string", "pattern": crate::schema::IF_MATCH },
            }));
        }
        if let Some(query) = endpoint.query {
            parameters.extend(query_parameters(&query(&mut generator)));
        }
        let mut responses = Map::new();
        let mut success = match endpoint.response {
            Some(schema) => json!({
                "description": "Success",
                "content": json_content(schema(&mut generator).to_value()),
            }),
            None => json!({ "description": "Success" }),
        };
        if endpoint.method != Method::GET {
            success["headers"] = json!({
                "ETag": {
                    "description": "The written resource's sequence, for If-Match",
                    "schema": { "type": "string" },
                },
            });
        }
        responses.insert(endpoint.status.as_u16().to_string(), success);
        if endpoint.request.is_some() || endpoint.query.is_some() || !parameters.is_empty() {
            responses.insert(
                "400".into(),
                error_response("Bad input; `field` names the input at fault"),
            );
        }
        if endpoint.authenticated {
            responses.insert(
                "401".into(),
                error_response("Missing, invalid or expired bearer token"),
            );
            responses.insert(
                "403".into(),
                error_response(
                    "The caller sees the resource but lacks the permission (`authz.permission_denied`), or \
                     the user acted on holds privileges the caller does not (`authz.target_more_privileged`)",
                ),
            );
        }
        if endpoint.path.contains('{') || (endpoint.authenticated && endpoint.request.is_some()) {
            responses.insert(
                "404".into(),
                error_response(
                    "The resource (or one the body names) does not exist, or is outside the caller's sight: \
                     both answer the same, so ids of other tenants cannot be probed",
                ),
            );
        }
        responses.insert(
            "503".into(),
            error_response(
                if endpoint.method == Method::GET && endpoint.path.contains('{') && endpoint.authenticated {
                    "`read.catching_up`: the view did not catch up with the resource's latest change in time; \
                     `database.busy`: the database was busy for a moment; retry after `Retry-After` seconds"
                } else {
                    "`database.busy`: the database was busy for a moment; retry after `Retry-After` seconds"
                },
            ),
        );
        if endpoint.method != Method::GET {
            responses.insert(
                "409".into(),
                error_response(
                    "A unique value is taken, the state does not allow the change (e.g. `instance.last_owner`: \
                     the last active IAM_OWNER stays; `org.system`: the system organization is managed by \
                     instance roles only), or If-Match is stale",
                ),
            );
        }
        if endpoint.request.is_some() {
            responses.insert(
                "413".into(),
                error_response("The body is larger than 1 MiB"),
            );
            responses.insert(
                "415".into(),
                error_response("The body is not sent as application/json"),
            );
        }
        responses.insert("default".into(), error_response("An internal error"));

        let mut operation = operation_object(endpoint, parameters, Value::Object(responses));
        if let Some(request) = endpoint.request {
            operation["requestBody"] = json!({
                "required": !endpoint.request_optional,
                "content": json_content(request(&mut generator).to_value()),
            });
        }
        if !endpoint.authenticated {
            operation["security"] = json!([]);
        }
        document_permission(&mut operation, endpoint.permission);
        let item = paths.entry(path).or_insert_with(|| json!({}));
        item[method] = operation;
    }

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Warden management API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Create, change, remove and read the resources of a Warden instance. Authenticate \
                with `Authorization: Bearer <personal access token>`. Write endpoints answer with what the command \
                produced (id, sequence, position, change date) and an `ETag` of the sequence; send it back in \
                `If-Match` to refuse a change on stale state. A read by id reflects every change stored before \
                it (read-your-writes); lists read the views as they are, paged with `offset` and `limit` \
                (at most 500) and telling whether more follow (`has_more`).",
        },
        "paths": paths,
        "components": {
            "schemas": generator.take_definitions(true),
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "description": "A personal access token" },
            },
        },
        "security": [{ "bearer": [] }],
    })
}

/// Documents the permission an operation needs, if any.
fn document_permission(operation: &mut Value, permission: Option<Permission>) {
    if let Some(permission) = permission {
        operation["x-permission"] = json!(permission.as_str());
        operation["description"] = json!(format!(
            "Requires the permission `{}`.",
            permission.as_str()
        ));
    }
}

/// The tag of a path: its first segment after `/api/v1`.
fn tag(path: &str) -> &str {
    path.trim_start_matches("/api/v1")
        .trim_start_matches('/')
        .split('/')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or("meta")
}
