//! HTML of the login pages: escaping, the page frame, and the headers every page carries.
//!
//! Pages are built with `format!`; every value that is not a literal of this crate goes through [`esc`]
//! (text and attribute values alike: it escapes `&`, `<`, `>`, `"` and `'`). There is no script anywhere, and
//! the Content-Security-Policy forbids one.

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::Response,
};

use crate::texts::Texts;

/// The stylesheet, served at [`STYLE_PATH`].
pub const STYLE: &str = include_str!("../assets/style.css");
/// Where the stylesheet is served.
pub const STYLE_PATH: &str = "/login/assets/style.css";

/// The Content-Security-Policy of every login page: nothing but this origin's stylesheet, images and forms; no
/// scripts, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'none'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Escapes text for HTML text and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query parameter value.
pub fn query_value(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Sets the security headers of a login page (those it already has are kept).
pub fn secure_headers(headers: &mut HeaderMap) {
    let set = |headers: &mut HeaderMap, name: header::HeaderName, value: &'static str| {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        CONTENT_SECURITY_POLICY,
    );
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::CACHE_CONTROL, "no-store");
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
}

/// What a page shows around its content.
#[derive(Debug, Clone)]
pub struct Frame<'a> {
    /// The texts.
    pub texts: &'a Texts,
    /// The brand line above the heading (instance or organization name).
    pub brand: &'a str,
    /// The page's title and heading.
    pub title: &'a str,
}

/// A whole page: `body` is HTML built by this crate (its values escaped).
pub fn page(status: StatusCode, frame: &Frame<'_>, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <title>{title} – {brand}</title>\n<link rel=\"stylesheet\" href=\"{STYLE_PATH}\">\n</head>\n\
         <body>\n<main>\n<header><p class=\"brand\">{brand}</p><h1>{title}</h1></header>\n{body}\n</main>\n\
         </body>\n</html>\n",
        lang = esc(frame.texts.lang),
        title = esc(frame.title),
        brand = esc(frame.brand),
    );
    let mut response = Response::new(Body::from(html));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure_headers(response.headers_mut());
    response
}

/// A `303 See Other` to `location` (a path of this server or a URL the caller checked).
pub fn redirect(location: &str) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    secure_headers(response.headers_mut());
    response
}

/// An error message box.
pub fn error_box(message: &str) -> String {
    format!("<p class=\"error\" role=\"alert\">{}</p>", esc(message))
}

/// A hidden form field.
pub fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
        esc(name),
        esc(value)
    )
}

/// A labelled input.
pub fn input(
    name: &str,
    kind: &str,
    label: &str,
    value: &str,
    autocomplete: &str,
    autofocus: bool,
) -> String {
    format!(
        "<label for=\"{name}\">{label}</label>\n<input id=\"{name}\" name=\"{name}\" type=\"{kind}\" \
         value=\"{value}\" autocomplete=\"{autocomplete}\" required{focus}>",
        name = esc(name),
        kind = esc(kind),
        label = esc(label),
        value = esc(value),
        autocomplete = esc(autocomplete),
        focus = if autofocus { " autofocus" } else { "" },
    )
}

/// The stylesheet response.
pub fn stylesheet() -> Response {
    let mut response = Response::new(Body::from(STYLE));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(
            hidden("login_name", "\"><img src=x>"),
            "<input type=\"hidden\" name=\"login_name\" value=\"&quot;&gt;&lt;img src=x&gt;\">"
        );
    }

    #[test]
    fn pages_carry_the_security_headers() {
        let frame = Frame {
            texts: &crate::texts::EN,
            brand: "<Acme>",
            title: "Sign in",
        };
        let response = page(StatusCode::OK, &frame, "<p>x</p>");
        let headers = response.headers();
        assert!(
            headers[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap_or_default()
                .contains("frame-ancestors 'none'")
        );
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    }
}
