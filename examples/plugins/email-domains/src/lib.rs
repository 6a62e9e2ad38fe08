//! Validator: the email address of a new user (or a changed email) must be at an allowed domain.
//!
//! Configuration of the binding:
//! * `allowed_domains`: comma-separated domains, e.g. `example.com, acme.org`; `*.example.com` allows
//!   every subdomain of `example.com` (but not `example.com` itself).
//!
//! Commands without an email address pass.

use warden_plugin_sdk::{Error, Validator, config, export_validator, log, types::*};

struct EmailDomains;

impl Validator for EmailDomains {
    fn validate(input: ValidationInput) -> Result<Vec<Violation>, Error> {
        let Some(email) = input.command.email() else {
            return Ok(Vec::new());
        };
        let allowed = config::list("allowed_domains");
        if allowed.is_empty() {
            return Err("the binding sets no `allowed_domains`".into());
        }
        let Some((_, domain)) = email.rsplit_once('@') else {
            return Ok(vec![Violation::new(
                "email",
                "email.invalid",
                "the email address has no domain",
            )]);
        };
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        if allowed.iter().any(|rule| matches(rule, &domain)) {
            return Ok(Vec::new());
        }
        log::info(
            "email domain refused",
            &[
                ("domain", &domain),
                ("command", &input.command.command_type),
            ],
        );
        Ok(vec![Violation::new(
            "email",
            "email.domain-not-allowed",
            format!(
                "email addresses at {domain} are not allowed here; use an address at {}",
                allowed.join(" or ")
            ),
        )])
    }
}

/// Whether `domain` (lowercase) is allowed by `rule` (`example.com` or `*.example.com`).
fn matches(rule: &str, domain: &str) -> bool {
    let rule = rule.to_ascii_lowercase();
    match rule.strip_prefix("*.") {
        Some(parent) => domain
            .strip_suffix(parent)
            .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
        None => domain == rule,
    }
}

export_validator!(EmailDomains);
