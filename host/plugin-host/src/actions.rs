//! What action hooks are told, the same for the login pages and the OpenID provider: Warden's user and
//! organization in the plugins' terms.

use warden_command::{CommandError, Commands};
use warden_domain::{Lifecycle, org::Organization, user::User};
use warden_wasm_runtime::{Metadata, Org, UserState};

/// The hook's view of user `id`.
pub fn plugin_user(id: &str, user: &User) -> warden_wasm_runtime::User {
    let human = user.human();
    let state = if user.locked {
        UserState::Locked
    } else if user.lifecycle == Lifecycle::Inactive {
        UserState::Inactive
    } else {
        UserState::Active
    };
    warden_wasm_runtime::User {
        id: id.to_owned(),
        org_id: user.org_id.clone(),
        username: user.login_name.clone(),
        login_names: vec![user.login_name.clone()],
        state,
        email: human.map(|h| h.email.clone()),
        email_verified: human.is_some_and(|h| h.email_verified),
        phone: human.and_then(|h| h.phone.clone()),
        phone_verified: false,
        given_name: human.map(|h| h.profile.given_name.clone()),
        family_name: human.map(|h| h.profile.family_name.clone()),
        display_name: human.map(|h| h.profile.display_name.clone()),
        preferred_language: human.map(|h| h.profile.preferred_language.clone()),
        metadata: user
            .metadata
            .iter()
            .map(|(key, value)| Metadata {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
    }
}

/// The hook's view of organization `org_id`, read as token checks read it (checked against the store within
/// a second); none when it does not exist. `Err` when it cannot be read: the hook does not run without it.
pub async fn plugin_org(
    commands: &Commands,
    instance_id: &str,
    org_id: &str,
) -> Result<Option<Org>, CommandError> {
    let model = commands
        .load_recent::<Organization>(instance_id, org_id)
        .await?;
    Ok(model.state.exists().then(|| Org {
        id: org_id.to_owned(),
        name: model.state.name.clone(),
        primary_domain: model.state.primary_domain.clone(),
    }))
}
