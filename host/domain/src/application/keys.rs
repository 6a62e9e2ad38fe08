//! An application's public keys, for `private_key_jwt` client authentication (RFC 7523 §2.2, OIDC Core §9):
//! the client signs an assertion with its private key, the provider checks it with a key registered here.
//! The permission is checked on the application's project, as for its other changes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ApiAuthMethod, AppConfig, Application, ApplicationEvent, OidcAuthMethod};
use crate::aggregate::{CommandContext, Decision};
use crate::command::command;
use crate::error::DomainError;
use crate::public_key::{KeyOwner, PublicKeyAdded, check_key_id, check_new_key};

/// The most public keys an application may have.
pub const MAX_APP_KEYS: usize = 20;

/// The rules of applications' keys.
const APP_KEYS: KeyOwner = KeyOwner {
    code: "application.key",
    name: "application",
    max: MAX_APP_KEYS,
};

/// Payload of `application.key.removed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppKeyRemoved {
    /// The key id.
    pub key_id: String,
}

impl Application {
    /// True when the auth method is `private_key_jwt`: the client authenticates with an assertion signed by
    /// one of its keys, and with nothing else.
    pub fn authenticates_with_keys(&self) -> bool {
        match &self.config {
            Some(AppConfig::Oidc(c)) => c.auth_method == OidcAuthMethod::PrivateKeyJwt,
            Some(AppConfig::Api(c)) => c.auth_method == ApiAuthMethod::PrivateKeyJwt,
            None => false,
        }
    }

    /// Adds a public key for `private_key_jwt`; the expiry must lie in the future.
    pub fn add_key(
        &self,
        key: &PublicKeyAdded,
        ctx: &CommandContext,
    ) -> Result<Decision<ApplicationEvent>, DomainError> {
        self.ensure_exists()?;
        let key = check_new_key(&APP_KEYS, &self.keys, key, ctx.now_unix_ms)?;
        Ok(Decision::event(ApplicationEvent::KeyAdded(key)))
    }

    /// Removes a public key: assertions signed with it are refused from then on.
    pub fn remove_key(
        &self,
        key_id: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<ApplicationEvent>, DomainError> {
        self.ensure_exists()?;
        check_key_id(&APP_KEYS, &self.keys, key_id)?;
        Ok(Decision::event(ApplicationEvent::KeyRemoved(
            AppKeyRemoved {
                key_id: key_id.to_owned(),
            },
        )))
    }
}

/// `application.key.add`: registers a public key for `private_key_jwt` on an application. Its serialized form
/// is the key, with the id generated for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct AddAppKey {
    /// The key.
    pub key: PublicKeyAdded,
}

command!(AddAppKey: Application, "application.key.add", AppWrite, |self, app, ctx| {
    app.add_key(&self.key, ctx)
});

/// `application.key.remove`: removes an application's public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RemoveAppKey {
    /// The key id.
    pub key_id: String,
}

command!(RemoveAppKey: Application, "application.key.remove", AppWrite, |self, app, ctx| {
    app.remove_key(&self.key_id, ctx)
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::application::{ApiAppAdded, ApiConfig};
    use crate::fixtures::ctx;
    use crate::public_key::KeyFormat;
    use crate::testing::given;

    fn api_added() -> ApplicationEvent {
        ApplicationEvent::ApiAdded(ApiAppAdded {
            project_id: "project-1".to_owned(),
            org_id: "org-1".to_owned(),
            name: "Shop API".to_owned(),
            client_id: "client-2".to_owned(),
            config: ApiConfig {
                auth_method: ApiAuthMethod::PrivateKeyJwt,
                access_token_type: Default::default(),
            },
            client_secret_hash: None,
        })
    }

    const PEM: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----";

    fn key(key_id: &str) -> PublicKeyAdded {
        PublicKeyAdded {
            key_id: key_id.to_owned(),
            format: KeyFormat::Pem,
            public_key: PEM.to_owned(),
            expires_at_unix_ms: i64::MAX,
        }
    }

    #[test]
    fn keys_are_added_and_removed() {
        given::<Application>(&[api_added()])
            .when(|a| a.add_key(&key("k1"), &ctx()))
            .then_events([ApplicationEvent::KeyAdded(key("k1"))])
            .then_state(|a| assert!(a.keys["k1"].valid_at(0)));
        given::<Application>(&[api_added(), ApplicationEvent::KeyAdded(key("k1"))])
            .when(|a| a.remove_key("k1", &ctx()))
            .then_events([ApplicationEvent::KeyRemoved(AppKeyRemoved {
                key_id: "k1".to_owned(),
            })])
            .then_state(|a| assert!(a.keys.is_empty()));
    }

    #[test]
    fn key_refusals_name_the_field() {
        given::<Application>(&[api_added(), ApplicationEvent::KeyAdded(key("k1"))])
            .when(|a| a.add_key(&key("k1"), &ctx()))
            .then_error(ErrorKind::AlreadyExists, "application.key.already_exists")
            .then_field("key_id");
        given::<Application>(&[api_added()])
            .when(|a| a.remove_key("k9", &ctx()))
            .then_error(ErrorKind::NotFound, "application.key.not_found")
            .then_field("key_id");
        let private = PublicKeyAdded {
            public_key: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----".to_owned(),
            ..key("k2")
        };
        given::<Application>(&[api_added()])
            .when(|a| a.add_key(&private, &ctx()))
            .then_error(ErrorKind::InvalidArgument, "application.key.private")
            .then_field("public_key");
        let symmetric = PublicKeyAdded {
            format: KeyFormat::Jwk,
            public_key: r#"{"kty":"oct","k":"c2VjcmV0"}"#.to_owned(),
            ..key("k3")
        };
        given::<Application>(&[api_added()])
            .when(|a| a.add_key(&symmetric, &ctx()))
            .then_error(ErrorKind::InvalidArgument, "application.key.private")
            .then_field("public_key");
        let expired = PublicKeyAdded {
            expires_at_unix_ms: 1,
            ..key("k4")
        };
        given::<Application>(&[api_added()])
            .when(|a| a.add_key(&expired, &ctx()))
            .then_error(
                ErrorKind::InvalidArgument,
                "application.key.expires_at.in_past",
            )
            .then_field("expires_at");
        given::<Application>(&[])
            .when(|a| a.add_key(&key("k1"), &ctx()))
            .then_error(ErrorKind::NotFound, "application.not_found");
    }

    #[test]
    fn keys_are_limited() {
        let mut events = vec![api_added()];
        events.extend((0..MAX_APP_KEYS).map(|i| ApplicationEvent::KeyAdded(key(&format!("k{i}")))));
        given::<Application>(&events)
            .when(|a| a.add_key(&key("extra"), &ctx()))
            .then_error(
                ErrorKind::PreconditionFailed,
                "application.key.limit_reached",
            );
    }
}
