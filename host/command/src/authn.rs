//! Authentication of bearer tokens: who a personal access token belongs to, and whether that user may act now.
//!
//! A token is accepted only when all of these hold:
//! - it parses as `wdn_pat_<user>_<token>_<secret>`, the user has a token with that id, the secret matches its
//!   stored SHA-256 (compared in constant time) and it has not expired;
//! - the user is active: not locked, not deactivated, not removed;
//! - the user's organization is active: not deactivated, not removed.
//!
//! The user and organization write models come from the pipeline's cache when they were checked against the
//! store recently ([`CommandsConfig::dependency_max_age`](crate::CommandsConfig::dependency_max_age)), and are
//! read from the store otherwise. A change made on this node updates the cache at once; a change made on
//! another node reaches it through [`Commands::observe`](crate::Commands::observe) (the spoolers' scanner hands
//! every new event to it, woken by PostgreSQL `NOTIFY`), which drops the stale models. A refusal is never
//! answered from cached state: it is confirmed on state read from the store first.
//!
//! A token that is not a personal access token is offered to the [`ExternalTokens`] set at wiring (the OpenID
//! Connect provider's access tokens): when it vouches for a user, the same user and organization checks
//! apply, on state read from the store, and the caller acts with that user's memberships like with a PAT.

use std::{future::Future, pin::Pin};

use warden_domain::{Aggregate, Lifecycle, org::Organization, user::User};
use warden_eventstore::AggregateKey;

use crate::{Caller, CommandError, Identity, Inner, Model, secret};

/// The future [`ExternalTokens::user_of`] returns.
pub type ExternalTokensFuture<'a> = Pin<Box<dyn Future<Output = Option<String>> + Send + 'a>>;

/// Bearer tokens issued by another part of Warden (the OpenID Connect provider) that the API accepts.
pub trait ExternalTokens: Send + Sync + std::fmt::Debug {
    /// The id of the user `token` stands for in `instance_id`, if it is valid now and meant for the API.
    fn user_of<'a>(&'a self, instance_id: &'a str, token: &'a str) -> ExternalTokensFuture<'a>;
}

/// Why a token was refused (kept inside: every refusal is the same 401 to the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// Unknown token, wrong secret, expired, or an inactive or locked user.
    Token,
    /// The user's organization is deactivated or removed.
    Org,
}

impl Inner {
    /// A write model from the cache if it was checked recently, else read from the store.
    pub(crate) async fn recent<A: Aggregate>(
        &self,
        key: &AggregateKey,
        fresh: bool,
    ) -> Result<std::sync::Arc<Model<A>>, CommandError> {
        if !fresh
            && let Some(model) = self.models.get::<A>(key).filter(|m| {
                self.models
                    .is_recent(m.checked_ms(), self.dependency_max_age)
            })
        {
            return Ok(model);
        }
        self.catch_up::<A>(key.clone()).await
    }

    /// Authenticates `token` in `instance_id`; see the module documentation.
    pub(crate) async fn authenticate(
        &self,
        instance_id: &str,
        token: &str,
    ) -> Result<Caller, CommandError> {
        let Some(parsed) = secret::parse_token(token) else {
            return self.authenticate_external(instance_id, token).await;
        };
        let user_key = AggregateKey::new(instance_id, User::TYPE, parsed.user_id);
        let now_ms = self.clock.now_unix_ms();
        let mut fresh = false;
        loop {
            let user = self.recent::<User>(&user_key, fresh).await?;
            let verdict = match accept_token(&user.state, parsed.token_id, token, now_ms) {
                Err(refusal) => Err(refusal),
                Ok(()) => {
                    let org_key =
                        AggregateKey::new(instance_id, Organization::TYPE, &user.state.org_id);
                    let org = self.recent::<Organization>(&org_key, fresh).await?;
                    if org.state.is_active() {
                        Ok(Caller {
                            instance_id: instance_id.to_owned(),
                            identity: Identity::User {
                                user_id: parsed.user_id.to_owned(),
                                org_id: user.state.org_id.clone(),
                            },
                        })
                    } else {
                        Err(Refusal::Org)
                    }
                }
            };
            match verdict {
                Ok(caller) => return Ok(caller),
                Err(refusal) if fresh => {
                    tracing::debug!(?refusal, "token refused");
                    return Err(CommandError::Unauthenticated);
                }
                // Cached state may be behind (a token just issued, an organization just reactivated).
                Err(_) => fresh = true,
            }
        }
    }
}

impl Inner {
    /// Authenticates a token vouched for by [`ExternalTokens`]: its user must be active and unlocked, in an
    /// active organization, as read from the store now.
    async fn authenticate_external(
        &self,
        instance_id: &str,
        token: &str,
    ) -> Result<Caller, CommandError> {
        let external = self
            .external_tokens
            .get()
            .ok_or(CommandError::Unauthenticated)?;
        let user_id = external
            .user_of(instance_id, token)
            .await
            .ok_or(CommandError::Unauthenticated)?;
        let user = self
            .recent::<User>(&AggregateKey::new(instance_id, User::TYPE, &user_id), true)
            .await?;
        if user.state.lifecycle != Lifecycle::Active || user.state.locked {
            return Err(CommandError::Unauthenticated);
        }
        let org = self
            .recent::<Organization>(
                &AggregateKey::new(instance_id, Organization::TYPE, &user.state.org_id),
                true,
            )
            .await?;
        if !org.state.is_active() {
            return Err(CommandError::Unauthenticated);
        }
        Ok(Caller {
            instance_id: instance_id.to_owned(),
            identity: Identity::User {
                user_id,
                org_id: user.state.org_id.clone(),
            },
        })
    }
}

/// Checks the token against the user's stored tokens and the user's own state.
fn accept_token(user: &User, token_id: &str, token: &str, now_ms: i64) -> Result<(), Refusal> {
    let stored = user
        .machine()
        .and_then(|m| m.tokens.get(token_id))
        .ok_or(Refusal::Token)?;
    let valid = secret::secret_matches(token, &stored.token_hash)
        && stored.expires_at_unix_ms > now_ms
        && user.lifecycle == Lifecycle::Active
        && !user.locked;
    if valid { Ok(()) } else { Err(Refusal::Token) }
}
