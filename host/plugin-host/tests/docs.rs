//! The shell examples of the plugin guide work as written: every `curl` that sends a JSON body says so with
//! its `Content-Type`, without which the server answers 415.

use std::path::Path;

/// The `curl` commands of the shell blocks of `markdown`, each with its continuation lines joined.
fn curl_commands(markdown: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_shell = false;
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        if line.starts_with("```") {
            in_shell = !in_shell && line.trim() == "```sh";
            continue;
        }
        if !in_shell {
            continue;
        }
        if let Some(command) = current.as_mut() {
            command.push(' ');
            command.push_str(line.trim());
        } else if line.trim_start().starts_with("curl ") {
            current = Some(line.trim().to_owned());
        }
        let open_quotes = current
            .as_ref()
            .is_some_and(|c| c.matches('\'').count() % 2 == 1);
        if current.is_some() && !line.trim_end().ends_with('\\') && !open_quotes {
            commands.extend(current.take());
        }
    }
    commands
}

#[test]
fn every_documented_curl_with_a_json_body_sends_its_content_type() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for doc in ["docs/plugins.md", "README.md"] {
        let text = std::fs::read_to_string(repo.join(doc)).expect("read the guide");
        let commands = curl_commands(&text);
        assert!(!commands.is_empty(), "{doc} has curl examples");
        for command in commands {
            let json_body = command.contains(" -d ") || command.contains(" --data '");
            if json_body {
                assert!(
                    command.contains("Content-Type: application/json"),
                    "{doc}: this example is answered 415: {command}"
                );
            }
        }
    }
}

/// The routes the guide names: `/api/v1/plugins…` right after an HTTP method (in prose, code or backticks).
fn documented_routes(markdown: &str) -> Vec<(String, String)> {
    let mut routes = Vec::new();
    for (at, _) in markdown.match_indices("/api/v1/plugins") {
        let before = markdown[..at].trim_end_matches(' ');
        let Some(method) = ["GET", "POST", "PUT", "DELETE"]
            .into_iter()
            .find(|m| before.ends_with(m))
        else {
            continue;
        };
        let path: String = markdown[at..]
            .chars()
            .take_while(|c| !c.is_whitespace() && !matches!(c, '`' | ',' | ')' | '?'))
            .collect();
        routes.push((method.to_owned(), path));
    }
    routes
}

#[test]
fn every_route_of_the_guide_is_served_and_documented_in_openapi() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text = std::fs::read_to_string(repo.join("docs/plugins.md")).expect("read the guide");
    let routes = documented_routes(&text);
    assert!(routes.len() >= 8, "{routes:?}");
    let endpoints = warden_plugin_host::endpoints();
    for (method, path) in &routes {
        assert!(
            endpoints
                .iter()
                .any(|e| e.method().as_str() == method.as_str() && e.path() == path),
            "docs/plugins.md names {method} {path}, which the server does not serve"
        );
    }
    // And the guide names every plugin route.
    for endpoint in &endpoints {
        assert!(
            routes
                .iter()
                .any(|(m, p)| endpoint.method().as_str() == m.as_str() && p == endpoint.path()),
            "docs/plugins.md does not mention {} {}",
            endpoint.method(),
            endpoint.path()
        );
    }
}

#[test]
fn the_guide_states_the_limits_the_server_enforces() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text = std::fs::read_to_string(repo.join("docs/plugins.md")).expect("read the guide");
    let upload_mib = warden_plugin_host::MAX_COMPONENT_BYTES >> 20;
    assert!(
        text.contains(&format!("The size limit is {upload_mib} MiB")),
        "the upload limit is {upload_mib} MiB"
    );
    let json_mib = warden_plugin_host::MAX_JSON_BODY >> 20;
    assert!(
        text.contains(&format!("JSON bodies of at most {json_mib} MiB")),
        "the JSON body limit is {json_mib} MiB"
    );
    use warden_domain::plugin::{
        DEFAULT_DEADLINE_MS, DEFAULT_MEMORY_MIB, MAX_DEADLINE_MS, MAX_MEMORY_MIB,
    };
    assert!(text.contains(&format!(
        "`deadline_ms` (default {DEFAULT_DEADLINE_MS}, at most {MAX_DEADLINE_MS})"
    )));
    assert!(text.contains(&format!(
        "`memory_mib` (default {DEFAULT_MEMORY_MIB}, at most {MAX_MEMORY_MIB})"
    )));
    // Bindings grant nothing: the guide says a body with `grants` is refused, as the server does.
    assert!(text.contains("`400 binding.grants_unsupported`"));
}
