//! Extractors that reject bad input with [`ApiError`]s naming the field at fault.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::{HeaderMap, StatusCode, header, request::Parts},
};
use serde::de::DeserializeOwned;
use warden_command::{Caller, Commands};

use crate::error::ApiError;

/// A JSON request body. Needs `Content-Type: application/json`; the error of a body that does not
/// deserialize names the field at fault (unknown, missing, of the wrong type or out of range).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be JSON, sent with `Content-Type: application/json`",
            )
            .with_field("Content-Type"));
        }
        let body = read_body(req, state).await?;
        parse_json(&body).map(Json)
    }
}

/// A JSON request body that may be left out: an empty body is the type's default.
#[derive(Debug, Clone, Copy, Default)]
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let declared_json = is_json(req.headers());
        let has_type = req.headers().contains_key(header::CONTENT_TYPE);
        let body = read_body(req, state).await?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        if has_type && !declared_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be JSON, sent with `Content-Type: application/json`",
            )
            .with_field("Content-Type"));
        }
        parse_json(&body).map(OptionalJson)
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the body must be at most {} bytes", crate::MAX_BODY_BYTES),
            )
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "unreadable_body",
                "the request body could not be read",
            )
        }
    })
}

/// Deserializes a JSON object, naming the field at fault on failure.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "the body must be a JSON object",
        ));
    }
    let mut document: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| malformed(&e))?;
    // JSON Schema counts `5.0` as an integer, as the OpenAPI document's `integer` fields do: take it as 5.
    integral_floats_as_integers(&mut document);
    let value = serde_path_to_error::deserialize(document).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => data_error(&path, &inner.to_string()),
            _ => malformed(&inner),
        }
    })?;
    // U+0000 cannot be stored; it can only arrive escaped, so look closer only when the escape occurs.
    if bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
        let document: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| malformed(&e))?;
        if let Some(field) = nul_path(&document, "") {
            return Err(nul_error(field));
        }
    }
    Ok(value)
}

/// Turns every number of `value` that is a float without fractional part (`5.0`, `1e3`) into the integer it
/// equals, when it fits an `i64` or `u64`.
fn integral_floats_as_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(number) if number.is_f64() => {
            if let Some(float) = number.as_f64().filter(|f| f.fract() == 0.0) {
                // The bounds are exact powers of two; a float below 2^63 (or 2^64) converts without loss.
                if (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&float) {
                    *value = Value::from(float as i64);
                } else if (0.0..1.844_674_407_370_955_2e19).contains(&float) {
                    *value = Value::from(float as u64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}

fn nul_error(field: String) -> ApiError {
    let message = format!("{field} must not contain NUL characters (U+0000)");
    ApiError::invalid(field, "invalid_field", message)
}

/// The path of the first string (or key) in `value` holding U+0000.
fn nul_path(value: &serde_json::Value, path: &str) -> Option<String> {
    use serde_json::Value;
    let here = || {
        if path.is_empty() {
            ".".to_owned()
        } else {
            path.to_owned()
        }
    };
    match value {
        Value::String(s) => s.contains('\0').then(here),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_path(item, &format!("{path}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let field = join(if path.is_empty() { "." } else { path }, key);
            if key.contains('\0') {
                Some(here())
            } else {
                nul_path(item, &field)
            }
        }),
        _ => None,
    }
}

fn malformed(error: &serde_json::Error) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_json",
        format!("the body is not valid JSON: {error}"),
    )
}

/// A message without serde_json's " at line L column C" suffix.
fn strip_location(message: &str) -> &str {
    message
        .rfind(" at line ")
        .map_or(message, |at| &message[..at])
}

/// The name between the first pair of backticks of `message`.
fn quoted(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() || path == "." {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// Turns a deserialization error at `path` into a 400 naming the field.
fn data_error(path: &str, message: &str) -> ApiError {
    let message = strip_location(message);
    let (code, field) = if message.starts_with("unknown field") {
        // The path already ends with the unknown key.
        (
            "unknown_field",
            if path == "." {
                quoted(message).map(str::to_owned)
            } else {
                Some(path.to_owned())
            },
        )
    } else if message.starts_with("missing field") {
        (
            "missing_field",
            quoted(message).map(|name| join(path, name)),
        )
    } else {
        ("invalid_field", (path != ".").then(|| path.to_owned()))
    };
    let error = ApiError::new(
        StatusCode::BAD_REQUEST,
        code,
        match &field {
            Some(field) => format!("{field}: {message}"),
            None => message.to_owned(),
        },
    );
    match field {
        Some(field) => error.with_field(field),
        None => error,
    }
}

/// Query parameters; an unknown, malformed or out-of-range parameter is a 400 naming it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        if let Some((name, _)) = form_urlencoded::parse(query.as_bytes())
            .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(nul_error(name.replace('\0', "")));
        }
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(Query)
            .map_err(|error| {
                let path = error.path().to_string();
                data_error(&path, &error.into_inner().to_string())
            })
    }
}

/// Path parameters; a malformed one is a 400.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let invalid = |rejection: axum::extract::rejection::PathRejection| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_path",
                rejection.body_text(),
            )
        };
        let axum::extract::Path(params) =
            axum::extract::Path::<Vec<(String, String)>>::from_request_parts(parts, state)
                .await
                .map_err(invalid)?;
        if let Some((name, _)) = params.iter().find(|(_, value)| value.contains('\0')) {
            return Err(nul_error(name.clone()));
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Path(value))
            .map_err(invalid)
    }
}

/// The state of a router whose endpoints take an [`Authenticated`] caller.
pub trait Authenticator: Send + Sync {
    /// The command pipeline, which checks tokens.
    fn commands(&self) -> &Commands;
    /// The instance requests act in.
    fn instance_id(&self) -> &str;
}

/// The caller, authenticated by `Authorization: Bearer <personal access token>` (or an access token of the
/// OpenID Connect provider).
#[derive(Debug, Clone)]
pub struct Authenticated(pub Caller);

impl<S: Authenticator> FromRequestParts<S> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::unauthenticated(false));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| ApiError::unauthenticated(true))?;
        let caller = state
            .commands()
            .authenticate(state.instance_id(), token)
            .await?;
        Ok(Authenticated(caller))
    }
}

/// The sequence in an `If-Match` header (`"5"` or `5`), if the request is conditional.
#[derive(Debug, Clone, Copy, Default)]
pub struct IfMatch(pub Option<i64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(header::IF_MATCH) else {
            return Ok(IfMatch(None));
        };
        value
            .to_str()
            .ok()
            .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|sequence| *sequence >= 0)
            .map(|sequence| IfMatch(Some(sequence)))
            .ok_or_else(|| {
                ApiError::invalid(
                    "If-Match",
                    "invalid_if_match",
                    "If-Match must hold the sequence of the resource's ETag, such as \"5\"",
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        nested: Option<Nested>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Nested {
        count: u16,
        uris: Vec<String>,
    }

    fn error(json: &str) -> ErrorBodyView {
        let error = parse_json::<Body>(json.as_bytes()).expect_err("must fail");
        let body = error.body();
        ErrorBodyView {
            code: body.code.to_string(),
            field: body.field.clone(),
        }
    }

    #[derive(Debug, PartialEq)]
    struct ErrorBodyView {
        code: String,
        field: Option<String>,
    }

    fn view(code: &str, field: Option<&str>) -> ErrorBodyView {
        ErrorBodyView {
            code: code.to_owned(),
            field: field.map(str::to_owned),
        }
    }

    #[test]
    fn names_the_field_at_fault() {
        assert_eq!(
            error(r#"{"name": "a", "extra": 1}"#),
            view("unknown_field", Some("extra"))
        );
        assert_eq!(error(r#"{}"#), view("missing_field", Some("name")));
        assert_eq!(error(r#"{"name": 5}"#), view("invalid_field", Some("name")));
        assert_eq!(
            error(r#"{"name": "a", "nested": {"count": 70000, "uris": []}}"#),
            view("invalid_field", Some("nested.count"))
        );
        assert_eq!(
            error(r#"{"name": "a", "nested": {"count": 1, "uris": ["x", 2]}}"#),
            view("invalid_field", Some("nested.uris[1]"))
        );
        assert_eq!(
            error(r#"{"name": "a", "nested": {"count": 1, "uris": [], "x": 1}}"#),
            view("unknown_field", Some("nested.x"))
        );
        assert_eq!(error(r#"{"name": "a""#), view("invalid_json", None));
        assert_eq!(
            error(r#"{"name": "a"} trailing"#),
            view("invalid_json", None)
        );
        assert_eq!(error("[1]"), view("invalid_json", None));
        assert_eq!(
            error(r#"{"name": "a", "nested": {"count": 1, "uris": ["ok", "x\u0000y"]}}"#),
            view("invalid_field", Some("nested.uris[1]"))
        );
        assert!(
            parse_json::<Body>(br#"{"name": "a\\u0000"}"#).is_ok(),
            "an escaped backslash is no NUL"
        );
        assert_eq!(error(""), view("invalid_json", None));
    }

    #[test]
    fn integral_floats_are_integers_as_json_schema_says() {
        let body: Body = parse_json(br#"{"name": "a", "nested": {"count": 5.0, "uris": []}}"#)
            .expect("5.0 is an integer");
        assert_eq!(body.nested.map(|n| n.count), Some(5));
        let body: Body = parse_json(br#"{"name": "a", "nested": {"count": 1e3, "uris": []}}"#)
            .expect("1e3 is an integer");
        assert_eq!(body.nested.map(|n| n.count), Some(1000));
        assert_eq!(
            error(r#"{"name": "a", "nested": {"count": 5.5, "uris": []}}"#),
            view("invalid_field", Some("nested.count"))
        );
        assert_eq!(
            error(r#"{"name": "a", "nested": {"count": 1e6, "uris": []}}"#),
            view("invalid_field", Some("nested.count"))
        );
    }
}
