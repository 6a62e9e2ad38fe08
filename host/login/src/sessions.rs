//! The browser's sessions: read from the cookie, checked against the session aggregates.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue};
use warden_command::CommandError;
use warden_domain::{
    Lifecycle,
    session::{Session, TerminationReason},
    user::User,
};
use warden_oidc::{
    OidcError,
    flow::{LoginSession, Sessions},
};

use crate::{
    Inner,
    cookies::{self, SessionEntry},
    now_unix_ms,
};

/// A session of the browser whose token matched.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    /// The cookie entry.
    pub(crate) entry: SessionEntry,
    /// The session's state.
    pub(crate) state: Session,
}

impl Held {
    pub(crate) fn id(&self) -> &str {
        &self.entry.session_id
    }
}

impl Inner {
    /// The sessions of the browser that are active (started, not refused or ended) and whose token matches,
    /// in cookie order (oldest first). `Err` when a session cannot be read: the caller shows the error page
    /// rather than treating the browser as logged out.
    pub(crate) async fn held(&self, entries: &[SessionEntry]) -> Result<Vec<Held>, CommandError> {
        let mut held = Vec::with_capacity(entries.len());
        for entry in entries {
            let model = self
                .commands
                .load::<Session>(&self.instance_id, &entry.session_id)
                .await?;
            if model.state.is_active()
                && cookies::token_matches(&entry.token, &model.state.token_hash)
            {
                held.push(Held {
                    entry: entry.clone(),
                    state: model.state.clone(),
                });
            }
        }
        Ok(held)
    }

    /// Whether the session is authenticated and its password check recent enough.
    pub(crate) fn is_fresh(&self, session: &Session) -> bool {
        let max_age = i64::try_from(self.session_max_age.as_millis()).unwrap_or(i64::MAX);
        session.is_authenticated()
            && session
                .auth_time_unix_ms
                .is_some_and(|t| now_unix_ms().saturating_sub(t) <= max_age)
    }

    /// The user if it may still log in (exists, active, not locked); `Err` when it cannot be read.
    pub(crate) async fn user_usable(&self, user_id: &str) -> Result<Option<User>, CommandError> {
        let user = self
            .commands
            .load::<User>(&self.instance_id, user_id)
            .await?;
        Ok(
            (user.state.lifecycle == Lifecycle::Active && !user.state.locked)
                .then(|| user.state.clone()),
        )
    }

    /// The authenticated, fresh sessions of usable users, newest first; `Err` when a session or its user
    /// cannot be read.
    pub(crate) async fn logged_in(
        &self,
        entries: &[SessionEntry],
    ) -> Result<Vec<(Held, User)>, CommandError> {
        let mut out = Vec::new();
        for held in self.held(entries).await? {
            if !self.is_fresh(&held.state) {
                continue;
            }
            let Some(user_id) = held.state.user_id.clone() else {
                continue;
            };
            if let Some(user) = self.user_usable(&user_id).await? {
                out.push((held, user));
            }
        }
        out.sort_by_key(|(h, _)| std::cmp::Reverse(h.state.auth_time_unix_ms));
        Ok(out)
    }

    /// The provider's view of a session.
    pub(crate) fn login_session(held: &Held) -> LoginSession {
        LoginSession {
            session_id: held.id().to_owned(),
            user_id: held.state.user_id.clone().unwrap_or_default(),
            org_id: held.state.org_id.clone().unwrap_or_default(),
            auth_time: held.state.auth_time_unix_ms.unwrap_or_default() / 1000,
            amr: held.state.amr(),
            acr: None,
        }
    }

    /// Ends the browser's sessions (those named, or all); returns the `Set-Cookie` header for what remains.
    /// A session that cannot be read is forgotten by the browser all the same (logging out never fails on
    /// the browser's side; the session ends by its own expiry).
    pub(crate) async fn end_sessions(
        &self,
        entries: &[SessionEntry],
        only: Option<&str>,
    ) -> HeaderValue {
        let mut remaining = Vec::new();
        for entry in entries {
            let held = match self.held(std::slice::from_ref(entry)).await {
                Ok(mut held) => match held.pop() {
                    Some(held) => held,
                    None => continue,
                },
                Err(error) => {
                    tracing::warn!(%error, session = %entry.session_id, "cannot read a login session to end it");
                    if only.is_some_and(|id| id != entry.session_id) {
                        remaining.push(entry.clone());
                    }
                    continue;
                }
            };
            if only.is_some_and(|id| id != held.id()) {
                remaining.push(held.entry);
                continue;
            }
            if let Err(error) = self
                .commands
                .login(&self.instance_id)
                .terminate(held.id(), TerminationReason::Logout)
                .await
            {
                tracing::warn!(%error, session = %held.id(), "cannot record a logout");
            }
        }
        self.cookies.sessions_cookie(&remaining)
    }
}

/// [`Sessions`] for the provider.
#[derive(Debug)]
pub(crate) struct LoginSessions {
    pub(crate) inner: Arc<Inner>,
}

#[async_trait::async_trait]
impl Sessions for LoginSessions {
    async fn sessions(
        &self,
        instance_id: &str,
        headers: &HeaderMap,
    ) -> Result<Vec<LoginSession>, OidcError> {
        if instance_id != self.inner.instance_id {
            return Ok(Vec::new());
        }
        // A session whose user must still change its password is not usable yet: the provider sends the
        // browser to the login pages, which ask for the change.
        Ok(self
            .inner
            .logged_in(&cookies::sessions(headers))
            .await
            .map_err(|error| OidcError::Storage(error.to_string()))?
            .iter()
            .filter(|(_, user)| !crate::flow::must_change_password(user))
            .map(|(held, _)| Inner::login_session(held))
            .collect())
    }

    async fn terminate(
        &self,
        instance_id: &str,
        headers: &HeaderMap,
        session_id: Option<&str>,
    ) -> Vec<HeaderValue> {
        if instance_id != self.inner.instance_id {
            return Vec::new();
        }
        vec![
            self.inner
                .end_sessions(&cookies::sessions(headers), session_id)
                .await,
        ]
    }
}
