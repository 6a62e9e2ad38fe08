use super::*;
use crate::error::ErrorKind;
use crate::fixtures::ctx;
use crate::testing::given;

const D1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "2222222222222222222222222222222222222222222222222222222222222222";

fn add_cmd(world: PluginWorld) -> AddPlugin {
    AddPlugin {
        name: "Email-Domains".to_owned(),
        description: "allowed email domains".to_owned(),
        world,
        digest: D1.to_owned(),
        size: 44_000,
    }
}

fn added(world: PluginWorld) -> Vec<PluginEvent> {
    vec![
        PluginEvent::Added(PluginAdded {
            name: "Email-Domains".to_owned(),
            description: "allowed email domains".to_owned(),
            world,
        }),
        PluginEvent::VersionUploaded(VersionUploaded {
            digest: D1.to_owned(),
            size: 44_000,
        }),
        PluginEvent::VersionActivated(VersionActivated {
            digest: D1.to_owned(),
        }),
    ]
}

fn validator_binding(command_types: &[&str]) -> BindingSettings {
    BindingSettings {
        target: BindingTarget::Validator {
            command_types: command_types.iter().map(|s| s.to_string()).collect(),
        },
        org_id: None,
        failure_policy: FailurePolicy::FailClosed,
        limits: Limits::default(),
        config: BTreeMap::from([("domains".to_owned(), "example.com".to_owned())]),
    }
}

#[test]
fn add_uploads_and_activates_first_version_and_claims_name() {
    given::<Plugin>(&[])
        .when(|p| p.add(&add_cmd(PluginWorld::Validator), &ctx()))
        .then_events(added(PluginWorld::Validator))
        .then_unique([UniqueChange::add(
            unique::PLUGIN_NAME,
            "email-domains",
            "name",
        )]);
}

#[test]
fn add_refuses_bad_digest_and_name() {
    let mut cmd = add_cmd(PluginWorld::Validator);
    cmd.digest = "ABC".to_owned();
    given::<Plugin>(&[])
        .when(|p| p.add(&cmd, &ctx()))
        .then_error(ErrorKind::InvalidArgument, "plugin.digest.invalid")
        .then_field("digest");
    let mut cmd = add_cmd(PluginWorld::Validator);
    cmd.name = "no spaces/please".to_owned();
    given::<Plugin>(&[])
        .when(|p| p.add(&cmd, &ctx()))
        .then_error(ErrorKind::InvalidArgument, "plugin.name.invalid")
        .then_field("name");
}

#[test]
fn new_version_is_uploaded_and_activated() {
    given::<Plugin>(&added(PluginWorld::Validator))
        .when(|p| p.upload_version(PluginWorld::Validator, D2, 10, true, &ctx()))
        .then_events([
            PluginEvent::VersionUploaded(VersionUploaded {
                digest: D2.to_owned(),
                size: 10,
            }),
            PluginEvent::VersionActivated(VersionActivated {
                digest: D2.to_owned(),
            }),
        ]);
    given::<Plugin>(&added(PluginWorld::Validator))
        .when(|p| p.upload_version(PluginWorld::Validator, D1, 44_000, true, &ctx()))
        .then_unchanged();
}

#[test]
fn version_must_keep_the_world() {
    given::<Plugin>(&added(PluginWorld::Validator))
        .when(|p| p.upload_version(PluginWorld::Action, D2, 10, true, &ctx()))
        .then_error(ErrorKind::InvalidArgument, "plugin.version.world_mismatch");
}

#[test]
fn activating_an_unknown_version_is_not_found() {
    given::<Plugin>(&added(PluginWorld::Validator))
        .when(|p| p.activate_version(D2, &ctx()))
        .then_error(ErrorKind::NotFound, "plugin.version.not_found")
        .then_field("digest");
}

#[test]
fn validator_binding_is_added_with_sorted_command_types() {
    given::<Plugin>(&added(PluginWorld::Validator))
        .when(|p| {
            p.add_binding(
                "b1",
                &validator_binding(&["user.human.add", "org.add", "org.add"]),
                &ctx(),
            )
        })
        .then_events([PluginEvent::BindingAdded(BindingSet {
            binding_id: "b1".to_owned(),
            settings: validator_binding(&["org.add", "user.human.add"]),
        })]);
}

#[test]
fn binding_must_match_world() {
    let settings = BindingSettings {
        target: BindingTarget::Action {
            hook: ActionHook::PreToken,
            order: 0,
        },
        ..validator_binding(&["x"])
    };
    given::<Plugin>(&added(PluginWorld::Validator))
        .when(|p| p.add_binding("b1", &settings, &ctx()))
        .then_error(ErrorKind::InvalidArgument, "plugin.binding.world_mismatch")
        .then_field("target.kind");
}

#[test]
fn binding_limits_are_bounded() {
    let mut settings = validator_binding(&["user.human.add"]);
    settings.limits.deadline_ms = MAX_DEADLINE_MS + 1;
    given::<Plugin>(&added(PluginWorld::Validator))
        .when(|p| p.add_binding("b1", &settings, &ctx()))
        .then_error(
            ErrorKind::InvalidArgument,
            "plugin.binding.deadline.out_of_range",
        )
        .then_field("limits.deadline_ms");
    let mut settings = validator_binding(&["user.human.add"]);
    settings.limits.memory_mib = 0;
    given::<Plugin>(&added(PluginWorld::Validator))
        .when(|p| p.add_binding("b1", &settings, &ctx()))
        .then_field("limits.memory_mib");
    given::<Plugin>(&added(PluginWorld::Validator))
        .when(|p| p.add_binding("b1", &validator_binding(&[]), &ctx()))
        .then_field("target.command_types");
    given::<Plugin>(&added(PluginWorld::Validator))
        .when(|p| p.add_binding("b1", &validator_binding(&["User Add"]), &ctx()))
        .then_field("target.command_types[0]");
}

#[test]
fn validator_binding_must_name_a_command_type() {
    given::<Plugin>(&added(PluginWorld::Validator))
        .when(|p| {
            p.add_binding(
                "b1",
                &validator_binding(&["user.*", "user.human.added"]),
                &ctx(),
            )
        })
        .then_error(
            ErrorKind::InvalidArgument,
            "plugin.binding.command_type.unknown",
        )
        .then_field("target.command_types[1]");
    for pattern in ["*", "user.*", "user.*.add", "org.add", "project.role.add"] {
        given::<Plugin>(&added(PluginWorld::Validator))
            .when(|p| p.add_binding("b1", &validator_binding(&[pattern]), &ctx()))
            .then_state(|p| assert_eq!(p.bindings.len(), 1));
    }
}

#[test]
fn quotas_are_bounded_and_for_projections_only() {
    let projection = BindingSettings {
        target: BindingTarget::Projection,
        ..validator_binding(&["x"])
    };
    let mut settings = projection.clone();
    settings.limits.total_rows = Some(MAX_TOTAL_ROWS + 1);
    given::<Plugin>(&added(PluginWorld::Projection))
        .when(|p| p.add_binding("b1", &settings, &ctx()))
        .then_error(
            ErrorKind::InvalidArgument,
            "plugin.binding.quota.out_of_range",
        )
        .then_field("limits.total_rows");
    let mut settings = projection.clone();
    settings.limits.rows_per_event = Some(0);
    given::<Plugin>(&added(PluginWorld::Projection))
        .when(|p| p.add_binding("b1", &settings, &ctx()))
        .then_field("limits.rows_per_event");
    let mut settings = validator_binding(&["user.human.add"]);
    settings.limits.kib_per_event = Some(1024);
    given::<Plugin>(&added(PluginWorld::Validator))
        .when(|p| p.add_binding("b1", &settings, &ctx()))
        .then_error(
            ErrorKind::InvalidArgument,
            "plugin.binding.quota.not_a_projection",
        )
        .then_field("limits");
}

#[test]
fn projection_is_bound_once() {
    let settings = BindingSettings {
        target: BindingTarget::Projection,
        ..validator_binding(&["x"])
    };
    let mut events = added(PluginWorld::Projection);
    events.push(PluginEvent::BindingAdded(BindingSet {
        binding_id: "b1".to_owned(),
        settings: settings.clone(),
    }));
    given::<Plugin>(&events)
        .when(|p| p.add_binding("b2", &settings, &ctx()))
        .then_error(
            ErrorKind::PreconditionFailed,
            "plugin.binding.projection_bound",
        );
}

#[test]
fn binding_change_and_removal() {
    let mut events = added(PluginWorld::Validator);
    events.push(PluginEvent::BindingAdded(BindingSet {
        binding_id: "b1".to_owned(),
        settings: validator_binding(&["user.human.add"]),
    }));
    given::<Plugin>(&events)
        .when(|p| p.change_binding("b1", &validator_binding(&["user.human.add"]), &ctx()))
        .then_unchanged();
    let mut changed = validator_binding(&["user.human.add"]);
    changed.failure_policy = FailurePolicy::AllowFailure;
    given::<Plugin>(&events)
        .when(|p| p.change_binding("b1", &changed, &ctx()))
        .then_events([PluginEvent::BindingChanged(BindingSet {
            binding_id: "b1".to_owned(),
            settings: changed.clone(),
        })]);
    given::<Plugin>(&events)
        .when(|p| p.remove_binding("b9", &ctx()))
        .then_error(ErrorKind::NotFound, "plugin.binding.not_found");
    given::<Plugin>(&events)
        .when(|p| p.remove_binding("b1", &ctx()))
        .then_events([PluginEvent::BindingRemoved(BindingRemoved {
            binding_id: "b1".to_owned(),
        })])
        .then_state(|p| assert!(p.bindings.is_empty()));
}

#[test]
fn removal_frees_the_name_and_drops_bindings() {
    let mut events = added(PluginWorld::Validator);
    events.push(PluginEvent::BindingAdded(BindingSet {
        binding_id: "b1".to_owned(),
        settings: validator_binding(&["user.human.add"]),
    }));
    given::<Plugin>(&events)
        .when(|p| p.remove(&ctx()))
        .then_events([PluginEvent::Removed])
        .then_unique([UniqueChange::remove(unique::PLUGIN_NAME, "email-domains")])
        .then_state(|p| {
            assert!(!p.exists());
            assert!(p.bindings.is_empty());
            assert_eq!(p.active_digest, None);
        });
    events.push(PluginEvent::Removed);
    given::<Plugin>(&events)
        .when(|p| p.add_binding("b2", &validator_binding(&["x"]), &ctx()))
        .then_error(ErrorKind::NotFound, "plugin.not_found");
}

#[test]
fn events_round_trip() {
    use crate::aggregate::DomainEvent;
    let mut events = added(PluginWorld::Action);
    events.push(PluginEvent::BindingAdded(BindingSet {
        binding_id: "b1".to_owned(),
        settings: BindingSettings {
            target: BindingTarget::Action {
                hook: ActionHook::PostAuthentication,
                order: -3,
            },
            org_id: Some("org-1".to_owned()),
            failure_policy: FailurePolicy::AllowFailure,
            limits: Limits {
                deadline_ms: 10,
                memory_mib: 16,
                ..Limits::default()
            },
            config: BTreeMap::from([("cidr".to_owned(), "10.0.0.0/8".to_owned())]),
        },
    }));
    events.push(PluginEvent::BindingRemoved(BindingRemoved {
        binding_id: "b1".to_owned(),
    }));
    events.push(PluginEvent::Removed);
    for event in events {
        let decoded =
            PluginEvent::from_stored(event.event_type(), event.revision(), &event.to_payload())
                .expect("decodes");
        assert_eq!(decoded, event);
    }
}
