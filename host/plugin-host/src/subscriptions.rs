//! What a projection plugin's subscriptions select: the event types Warden stores that match its patterns.
//!
//! One rule decides whether a pattern matches an event type, [`warden_wasm_runtime::subscription_matches`]
//! (the same event type, or a prefix before a trailing `*`; `*` alone matches all). The spooler of a
//! projection plugin reads exactly the known event types its patterns match ([`selected_event_types`]), the
//! runtime hands the plugin only events its patterns match, and `warden plugin test` uses the same rule, so a
//! subscription means the same everywhere. A pattern that matches no event type Warden has is refused at
//! upload ([`check_subscriptions`]): it could only ever leave the view empty.

use std::sync::OnceLock;

use warden_domain::{
    Aggregate,
    application::{Application, ApplicationEvent},
    instance::{Instance, InstanceEvent},
    org::{OrgEvent, Organization},
    plugin::{Plugin, PluginEvent},
    project::{Project, ProjectEvent},
    user::{User, UserEvent},
    user_grant::{UserGrant, UserGrantEvent},
};
use warden_wasm_runtime::subscription_matches;

/// An event type Warden stores, with the aggregate type whose events it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KnownEventType {
    /// The aggregate type, e.g. `user`.
    pub aggregate_type: &'static str,
    /// The event type, e.g. `user.human.added`.
    pub event_type: &'static str,
}

/// Every event type of the domain, in aggregate and event type order.
pub fn known_event_types() -> &'static [KnownEventType] {
    static KNOWN: OnceLock<Vec<KnownEventType>> = OnceLock::new();
    KNOWN.get_or_init(|| {
        let groups: [(&'static str, &'static [(&'static str, u16)]); 7] = [
            (Application::TYPE, ApplicationEvent::EVENT_TYPES),
            (Instance::TYPE, InstanceEvent::EVENT_TYPES),
            (Organization::TYPE, OrgEvent::EVENT_TYPES),
            (Plugin::TYPE, PluginEvent::EVENT_TYPES),
            (Project::TYPE, ProjectEvent::EVENT_TYPES),
            (User::TYPE, UserEvent::EVENT_TYPES),
            (UserGrant::TYPE, UserGrantEvent::EVENT_TYPES),
        ];
        let mut known: Vec<KnownEventType> = groups
            .into_iter()
            .flat_map(|(aggregate_type, types)| {
                types.iter().map(move |(event_type, _)| KnownEventType {
                    aggregate_type,
                    event_type,
                })
            })
            .collect();
        known.sort();
        known.dedup();
        known
    })
}

/// The known event types at least one of `patterns` matches.
pub fn selected_event_types(patterns: &[String]) -> Vec<KnownEventType> {
    known_event_types()
        .iter()
        .filter(|known| {
            patterns
                .iter()
                .any(|pattern| subscription_matches(pattern, known.event_type))
        })
        .copied()
        .collect()
}

/// Why a projection's subscriptions are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the subscription `{pattern}` matches no event type Warden stores (event types look like \
     `user.human.added`; a trailing `*` matches a prefix, e.g. `user.*`, and `*` alone matches all)"
)]
pub struct UnknownSubscription {
    /// The pattern that matches nothing.
    pub pattern: String,
}

/// Checks that every pattern matches at least one event type Warden stores.
pub fn check_subscriptions(patterns: &[String]) -> Result<(), UnknownSubscription> {
    for pattern in patterns {
        let matches = known_event_types()
            .iter()
            .any(|known| subscription_matches(pattern, known.event_type));
        if !matches {
            return Err(UnknownSubscription {
                pattern: pattern.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn wildcards_select_known_event_types() {
        let user = selected_event_types(&patterns(&["user.*"]));
        assert!(user.iter().any(|k| k.event_type == "user.human.added"));
        assert!(user.iter().all(|k| k.aggregate_type == "user"));
        assert!(!user.iter().any(|k| k.event_type.starts_with("user_grant.")));
        let all = selected_event_types(&patterns(&["*"]));
        assert_eq!(all.len(), known_event_types().len());
        let exact = selected_event_types(&patterns(&["org.added"]));
        assert_eq!(exact.len(), 1);
        assert_eq!(exact[0].aggregate_type, "org");
    }

    #[test]
    fn patterns_matching_nothing_are_refused() {
        assert!(check_subscriptions(&patterns(&["user.*", "org.added", "*"])).is_ok());
        let refused = check_subscriptions(&patterns(&["org.added", "users.*"])).unwrap_err();
        assert_eq!(refused.pattern, "users.*");
        assert!(check_subscriptions(&patterns(&["user.human"])).is_err());
    }
}
