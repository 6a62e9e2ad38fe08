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
