use super::*;
use crate::error::ErrorKind;

#[track_caller]
fn refused(result: Result<impl std::fmt::Debug, DomainError>, code: &str, field: &str) {
    let error = result.expect_err("expected a refusal");
    assert_eq!(error.kind, ErrorKind::InvalidArgument);
    assert_eq!(error.code, code);
    assert_eq!(error.field.as_deref(), Some(field));
    assert!(
        error.message.contains(field),
        "message names the field: {}",
        error.message
    );
}

#[test]
fn text_is_trimmed_and_bounded() {
    assert_eq!(
        text("org.name", "name", "  ACME  ", 10),
        Ok("ACME".to_owned())
    );
    refused(
        text("org.name", "name", "   ", 10),
        "org.name.required",
        "name",
    );
    refused(
        text("org.name", "name", "ABCDEFGHIJK", 10),
        "org.name.too_long",
        "name",
    );
    refused(
        text("org.name", "name", "two\nlines", 10),
        "org.name.invalid",
        "name",
    );
    assert_eq!(optional_text("x", "description", "", 10), Ok(String::new()));
}

#[test]
fn text_length_counts_characters_not_bytes() {
    assert_eq!(text("x", "name", "ÄÖÜäöü", 6), Ok("ÄÖÜäöü".to_owned()));
}

#[test]
fn emails() {
    assert_eq!(
        email("user.email", "email", " Alice.L+tag@Example.COM "),
        Ok("Alice.L+tag@example.com".to_owned())
    );
    for bad in [
        "alice",
        "@example.com",
        "alice@",
        "alice@localhost",
        "al ice@example.com",
        "alice..l@example.com",
        ".alice@example.com",
        "alice@exa_mple.com",
        "alice@-example.com",
        "alice@example.123",
        "älice@example.com",
    ] {
        refused(
            email("user.email", "email", bad),
            "user.email.invalid",
            "email",
        );
    }
    refused(
        email("user.email", "email", ""),
        "user.email.required",
        "email",
    );
    let long = format!("{}@{}.com", "a".repeat(64), "b".repeat(200));
    refused(
        email("user.email", "email", &long),
        "user.email.too_long",
        "email",
    );
}

#[test]
fn phones() {
    assert_eq!(
        phone("p", "phone", "+41 44 123-45-67"),
        Ok("+41441234567".to_owned())
    );
    for bad in [
        "0441234567",
        "+0441234567",
        "+41abc",
        "+123",
        "+1234567890123456",
    ] {
        refused(
            phone("user.phone", "phone", bad),
            "user.phone.invalid",
            "phone",
        );
    }
}

#[test]
fn login_names() {
    assert_eq!(
        login_name("l", "login_name", " Alice.L@acme "),
        Ok("Alice.L@acme".to_owned())
    );
    refused(
        login_name("user.login_name", "login_name", "al ice"),
        "user.login_name.invalid",
        "login_name",
    );
    refused(
        login_name("user.login_name", "login_name", "alice/x"),
        "user.login_name.invalid",
        "login_name",
    );
    refused(
        login_name("user.login_name", "login_name", &"a".repeat(201)),
        "user.login_name.too_long",
        "login_name",
    );
}

#[test]
fn languages() {
    for good in ["en", "de-CH", "zh-Hant-TW", "und"] {
        assert_eq!(
            language("l", "preferred_language", good),
            Ok(good.to_owned())
        );
    }
    for bad in ["e", "english", "en_US", "en-", "en-toolongsubtag"] {
        refused(
            language("l", "preferred_language", bad),
            "l.invalid",
            "preferred_language",
        );
    }
}

#[test]
fn domains() {
    assert_eq!(
        domain("d", "domain", " Example.COM ", true),
        Ok("example.com".to_owned())
    );
    assert_eq!(
        domain("d", "domain", "localhost", false),
        Ok("localhost".to_owned())
    );
    refused(
        domain("d", "domain", "localhost", true),
        "d.invalid",
        "domain",
    );
    for bad in [
        "https://example.com",
        "example.com:8080",
        "exa mple.com",
        "-example.com",
        "example..com",
        "10.0.0.1",
    ] {
        refused(domain("d", "domain", bad, false), "d.invalid", "domain");
    }
    refused(
        domain("d", "domain", &format!("{}.com", "a".repeat(64)), true),
        "d.invalid",
        "domain",
    );
}

#[test]
fn identifiers_and_role_keys() {
    assert!(identifier("i", "id", "user-1_x.y@z:1").is_ok());
    refused(identifier("i", "id", ""), "i.required", "id");
    refused(identifier("i", "id", "a b"), "i.invalid", "id");
    assert!(role_key("r", "key", "shop:admin").is_ok());
    refused(role_key("r", "key", "shop admin"), "r.invalid", "key");
    refused(
        role_keys(
            "r",
            "role_keys",
            &["a".to_owned(), "b".to_owned(), "a".to_owned()],
        ),
        "r.duplicate",
        "role_keys[2]",
    );
    refused(
        role_keys("r", "role_keys", &["a".to_owned(), "b c".to_owned()]),
        "r.invalid",
        "role_keys[1]",
    );
}

#[test]
fn metadata_limits() {
    assert!(metadata_key("m", "key", "crm/customer-id").is_ok());
    refused(metadata_key("m", "key", "has space"), "m.invalid", "key");
    refused(
        metadata_key("m", "key", &"k".repeat(201)),
        "m.too_long",
        "key",
    );
    assert!(metadata_value("m", "value", &"v".repeat(MAX_METADATA_VALUE_BYTES)).is_ok());
    refused(
        metadata_value("m", "value", &"v".repeat(MAX_METADATA_VALUE_BYTES + 1)),
        "m.too_long",
        "value",
    );
    refused(metadata_value("m", "value", ""), "m.required", "value");
}

#[test]
fn hashes() {
    assert!(
        password_hash(
            "p",
            "password_hash",
            "$argon2id$v=19$m=19456,t=2,p=1$abc$def"
        )
        .is_ok()
    );
    refused(
        password_hash("p", "password_hash", "hunter2hunter2"),
        "p.invalid",
        "password_hash",
    );
    refused(
        secret_hash("s", "secret_hash", "has space"),
        "s.invalid",
        "secret_hash",
    );
    refused(
        secret_hash("s", "secret_hash", ""),
        "s.required",
        "secret_hash",
    );
}

#[test]
fn expiry_must_be_in_the_future() {
    assert_eq!(expiry("e", "expires_at", 11, 10), Ok(11));
    refused(expiry("e", "expires_at", 10, 10), "e.in_past", "expires_at");
}

#[test]
fn uri_parsing() {
    let uri = parse_uri("HTTPS://User:pw@App.Example.com:8443/cb?x=1#frag").expect("parses");
    assert_eq!(uri.scheme, "https");
    assert_eq!(uri.host.as_deref(), Some("app.example.com"));
    assert_eq!(uri.port, Some(8443));
    assert!(uri.has_userinfo);
    assert!(uri.has_fragment);

    let v6 = parse_uri("http://[::1]:3000/cb").expect("parses");
    assert_eq!(v6.host.as_deref(), Some("[::1]"));
    assert!(v6.is_loopback());

    let custom = parse_uri("com.example.app:/oauth2redirect").expect("parses");
    assert_eq!(custom.host, None);

    assert_eq!(parse_uri("/callback"), Err(UriProblem::NotAbsolute));
    assert_eq!(
        parse_uri("app.example.com/cb"),
        Err(UriProblem::NotAbsolute)
    );
    assert_eq!(parse_uri("1http://x"), Err(UriProblem::NotAbsolute));
    assert_eq!(
        parse_uri("https://exa mple.com"),
        Err(UriProblem::BadCharacter)
    );
    assert_eq!(
        parse_uri("https://ex\u{e4}mple.com"),
        Err(UriProblem::BadCharacter)
    );
    assert_eq!(parse_uri("https:///cb"), Err(UriProblem::BadAuthority));
    assert_eq!(
        parse_uri("https://host:99999/"),
        Err(UriProblem::BadAuthority)
    );
    assert_eq!(parse_uri("https://[::1/"), Err(UriProblem::BadAuthority));
    assert_eq!(
        parse_uri(&format!("https://a.com/{}", "x".repeat(MAX_URI_LEN))),
        Err(UriProblem::TooLong)
    );
}

#[test]
fn absolute_uri_errors_name_the_field() {
    refused(
        absolute_uri("a.uri", "redirect_uris[1]", "/cb"),
        "a.uri.not_absolute",
        "redirect_uris[1]",
    );
}

#[test]
fn web_urls() {
    assert!(web_url("w", "url", "https://app.example.com/home").is_ok());
    assert!(web_url("w", "url", "http://localhost:8080/home").is_ok());
    refused(
        web_url("w", "url", "http://app.example.com/home"),
        "w.https_required",
        "url",
    );
    refused(
        web_url("w", "url", "https://app.example.com/#x"),
        "w.invalid",
        "url",
    );
}

#[test]
fn validators_never_panic_on_odd_input() {
    let odd = [
        "",
        " ",
        "\0",
        "@",
        "@@",
        ":",
        "//",
        "https://",
        "https://[",
        "https://[]",
        "https://@",
        "a:",
        "💥",
        "+",
        "-",
        "..",
        "\u{202e}",
    ];
    for value in odd {
        let _ = text("x", "f", value, 5);
        let _ = email("x", "f", value);
        let _ = phone("x", "f", value);
        let _ = login_name("x", "f", value);
        let _ = language("x", "f", value);
        let _ = domain("x", "f", value, true);
        let _ = parse_uri(value);
        let _ = web_url("x", "f", value);
        let _ = metadata_key("x", "f", value);
        let _ = password_hash("x", "f", value);
    }
}
