//! The login flow's commands: login sessions, and the password check that feeds the user's lockout.
//!
//! Warden runs them itself for a browser (there is no authenticated caller yet). The events are recorded
//! under the user who logs in once known, else under `system:login`. Each is a typed command of the session
//! aggregate ([`warden_domain::session::StartSession`], [`CheckPassword`], ...): validators see its serialized
//! form, and the single-aggregate ones run through one generic path, [`LoginCommands`]'s `execute`.
//!
//! A password check is two steps so that an action can run between them: [`LoginCommands::verify_password`]
//! compares the password with the user's hash (or, for a login name that names no usable user, with a dummy
//! hash of the same cost, so the answer takes as long), then [`LoginCommands::record_password`] stores the
//! outcome on the session and the user in one push: the failure count and the lockout of the user, and the
//! session's steps. The record step decides on fresh state: a user locked or deactivated meanwhile, or whose
//! password changed since it was verified, fails.

use std::sync::Arc;

use warden_domain::{
    Aggregate, Decision, Lifecycle,
    command::{Change, Command},
    instance::Instance,
    org::Organization,
    policy,
    session::{
        CheckPassword, CheckSecondFactor, DenySession, FailureReason, Session, SessionEvent,
        StartSession, TerminateSession, TerminationReason,
    },
    user::User,
};

use super::payload;
use crate::{
    Caller, CommandError, Commands, Details, Identity, Model, SecretString,
    pipeline::{Decided, Run, decide},
};

/// The creator of login events before the user is known.
pub const LOGIN_ACTOR: &str = "system:login";

/// The login flow's commands in one instance; see [`Commands::login`].
#[derive(Debug, Clone, Copy)]
pub struct LoginCommands<'a> {
    commands: &'a Commands,
    instance_id: &'a str,
}

/// What [`LoginCommands::verify_password`] found.
#[derive(Debug, Clone)]
pub struct PasswordVerification {
    /// The human user the login name names, with its state as verified.
    pub user: Option<(String, Arc<Model<User>>)>,
    /// The hash the password matched; `None` when it matched nothing.
    pub matched_hash: Option<String>,
}

impl PasswordVerification {
    /// The password matched the user's hash.
    pub fn matched(&self) -> bool {
        self.matched_hash.is_some()
    }
}

/// Input of [`LoginCommands::record_password`].
#[derive(Debug, Clone)]
pub struct PasswordAttempt<'a> {
    /// The session to record on; started first when it has no events.
    pub session_id: &'a str,
    /// `session_id` was generated for this attempt, so it has no events yet (nothing to read first).
    pub new_session: bool,
    /// The browser's user agent summary (for a new session).
    pub user_agent: &'a str,
    /// The hash of the token the browser gets: at the start of a new session, and after a right password.
    pub token_hash: &'a str,
    /// The login name as entered.
    pub login_name: &'a str,
    /// What the verification found.
    pub verification: &'a PasswordVerification,
    /// Something beside the user's own second factors (an action, the policy) asks for a second factor.
    pub second_factor_required: bool,
}

/// The outcome of a recorded password check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordOutcome {
    /// The password was right; the session waits for a second factor when `second_factor_required`.
    Checked {
        /// A second factor is still needed.
        second_factor_required: bool,
    },
    /// The check failed (recorded on the session, and on the user when it counts towards the lockout).
    Failed(FailureReason),
}

impl Commands {
    /// The login flow's commands in `instance_id`.
    pub fn login<'a>(&'a self, instance_id: &'a str) -> LoginCommands<'a> {
        LoginCommands {
            commands: self,
            instance_id,
        }
    }
}

/// Whether `user` is a human whose login name is `login_name` (case-insensitively).
fn named_human(user: &User, login_name: &str) -> bool {
    user.exists()
        && user.human().is_some()
        && user.login_name.to_lowercase() == login_name.to_lowercase()
}

impl<'a> LoginCommands<'a> {
    fn caller(&self, user: Option<(&str, &str)>) -> Caller {
        Caller {
            instance_id: self.instance_id.to_owned(),
            identity: match user {
                Some((user_id, org_id)) => Identity::User {
                    user_id: user_id.to_owned(),
                    org_id: org_id.to_owned(),
                },
                None => Identity::System,
            },
        }
    }

    /// Compares `password` with the password hash of the human user `user_id` if its login name is
    /// `login_name`, else with `dummy_hash` (which must have the same Argon2 parameters), so that unknown
    /// login names, wrong passwords and locked users cost the same time. Nothing is stored.
    pub async fn verify_password(
        &self,
        user_id: Option<&str>,
        login_name: &str,
        password: SecretString,
        dummy_hash: &str,
    ) -> Result<PasswordVerification, CommandError> {
        let user = match user_id {
            Some(id) => {
                let model = self.commands.load::<User>(self.instance_id, id).await?;
                named_human(&model.state, login_name).then(|| (id.to_owned(), model))
            }
            None => None,
        };
        let hash = user
            .as_ref()
            .and_then(|(_, model)| model.state.human())
            .and_then(|h| h.password_hash.clone());
        let matched = self
            .commands
            .hasher()
            .verify(hash.as_deref().unwrap_or(dummy_hash), password)
            .await?;
        Ok(PasswordVerification {
            user,
            matched_hash: if matched { hash } else { None },
        })
    }

    /// Records a verified password attempt on the session (started if new) and on the user, in one push.
    pub async fn record_password(
        &self,
        attempt: &PasswordAttempt<'_>,
    ) -> Result<PasswordOutcome, CommandError> {
        let known = attempt
            .verification
            .user
            .as_ref()
            .map(|(id, model)| (id.as_str(), model.state.org_id.as_str()));
        let caller = self.caller(known);
        let commands = self.commands.for_caller(&caller).as_actor(LOGIN_ACTOR);
        let command = CheckPassword {
            login_name: attempt.login_name.to_owned(),
        };
        let mut run = commands.run(CheckPassword::TYPE, || payload(&command));
        let (_, outcome) = decide!(run, {
            let session = if attempt.new_session {
                run.new_target::<Session>(attempt.session_id).await?
            } else {
                run.target::<Session>(attempt.session_id).await?
            };
            let mut state = session.state.clone();
            let mut events = Vec::new();
            if state.status == warden_domain::session::SessionStatus::Unspecified {
                let started = state.start(attempt.user_agent, attempt.token_hash, run.ctx())?;
                push_all(&mut state, &mut events, started);
            }
            let (outcome, user_decision) = match &attempt.verification.user {
                Some((user_id, _)) => {
                    let user = run.target::<User>(user_id).await?;
                    if named_human(&user.state, attempt.login_name) {
                        let identified = state.identify_user(
                            user_id,
                            &user.state.org_id,
                            attempt.login_name,
                            run.ctx(),
                        )?;
                        push_all(&mut state, &mut events, identified);
                        let (outcome, decision) =
                            self.decide_password(&run, &user.state, attempt).await?;
                        (outcome, Some((user_id.as_str(), user.sequence, decision)))
                    } else {
                        (PasswordOutcome::Failed(FailureReason::UnknownUser), None)
                    }
                }
                None => (PasswordOutcome::Failed(FailureReason::UnknownUser), None),
            };
            let step = match &outcome {
                PasswordOutcome::Checked {
                    second_factor_required,
                } => state.check_password(attempt.token_hash, *second_factor_required, run.ctx()),
                PasswordOutcome::Failed(reason) => {
                    state.fail_password(attempt.login_name, *reason, run.ctx())
                }
            }?;
            push_all(&mut state, &mut events, step);
            if let Some((user_id, sequence, decision)) = &user_decision {
                run.append_also::<User>(user_id, *sequence, decision);
            }
            let org = user_decision
                .as_ref()
                .and_then(|_| known.map(|(_, org)| org.to_owned()));
            Ok(Decided::new(session, Decision::events(events), org).with(outcome))
        });
        Ok(outcome)
    }

    /// The outcome of a password check for an identified human, and what it does to the user (the failure
    /// count and the lockout).
    async fn decide_password(
        &self,
        run: &Run<'_>,
        user: &User,
        attempt: &PasswordAttempt<'_>,
    ) -> Result<(PasswordOutcome, Decision<warden_domain::user::UserEvent>), CommandError> {
        let org = run.read::<Organization>(&user.org_id).await?;
        let instance = run.read::<Instance>(&run.ctx().instance_id).await?;
        let human = user.human();
        let current_hash = human.and_then(|h| h.password_hash.as_deref());
        let reason = if user.lifecycle != Lifecycle::Active || !org.state.is_active() {
            Some(FailureReason::Inactive)
        } else if user.locked {
            Some(FailureReason::Locked)
        } else if current_hash.is_none() {
            Some(FailureReason::NoPassword)
        } else if attempt.verification.matched_hash.as_deref() != current_hash {
            Some(FailureReason::WrongPassword)
        } else {
            None
        };
        let counts = matches!(reason, None | Some(FailureReason::WrongPassword));
        let decision = if counts {
            let policies = policy::resolve(&instance.state.policies, &org.state.policy_overrides);
            user.record_password_check(reason.is_none(), &policies.lockout, run.ctx())?
        } else {
            Decision::unchanged()
        };
        Ok(match reason {
            Some(reason) => (PasswordOutcome::Failed(reason), decision),
            None => (
                PasswordOutcome::Checked {
                    second_factor_required: attempt.second_factor_required,
                },
                decision,
            ),
        })
    }

    /// Starts a session (a login refused before any password was checked still leaves a trail).
    pub async fn start_session(
        &self,
        session_id: &str,
        user_agent: &str,
        token_hash: &str,
    ) -> Result<Details, CommandError> {
        let command = StartSession {
            user_agent: user_agent.to_owned(),
            token_hash: token_hash.to_owned(),
        };
        self.execute(session_id, None, &command).await
    }

    /// Records a checked (`token_hash` is the browser's new token) or failed second factor.
    pub async fn record_second_factor(
        &self,
        session_id: &str,
        method: &str,
        token_hash: Option<&str>,
    ) -> Result<Details, CommandError> {
        let session = self
            .commands
            .load::<Session>(self.instance_id, session_id)
            .await?;
        let user = session
            .state
            .user_id
            .clone()
            .zip(session.state.org_id.clone());
        let command = CheckSecondFactor {
            method: method.to_owned(),
            succeeded: token_hash.is_some(),
            token_hash: token_hash.map(str::to_owned),
        };
        self.execute(
            session_id,
            user.as_ref().map(|(u, o)| (u.as_str(), o.as_str())),
            &command,
        )
        .await
    }

    /// Records that an action refused the login at `hook`.
    pub async fn deny(
        &self,
        session_id: &str,
        hook: &str,
        reason: &str,
    ) -> Result<Details, CommandError> {
        let command = DenySession {
            hook: hook.to_owned(),
            reason: reason.to_owned(),
        };
        self.execute(session_id, None, &command).await
    }

    /// Ends a session.
    pub async fn terminate(
        &self,
        session_id: &str,
        reason: TerminationReason,
    ) -> Result<Details, CommandError> {
        self.execute(session_id, None, &TerminateSession { reason })
            .await
    }

    /// Runs the typed session command `command` on `session_id`: decide on the session, validate (validators
    /// see the command's serialized form), push, and again on fresh state after a conflict. No permission is
    /// checked: only the login pages run these commands, as Warden itself, for a browser that has no
    /// authenticated caller; `user` (the user and organization) is who the events are recorded under once
    /// known, else [`LOGIN_ACTOR`].
    async fn execute<C: Change<Aggregate = Session>>(
        &self,
        session_id: &str,
        user: Option<(&str, &str)>,
        command: &C,
    ) -> Result<Details, CommandError> {
        let caller = self.caller(user);
        let commands = self.commands.for_caller(&caller).as_actor(LOGIN_ACTOR);
        let mut run = commands.run(C::TYPE, || payload(command));
        let (details, ()) = decide!(run, {
            let session = run.target::<Session>(session_id).await?;
            let decision = command.decide(&session.state, run.ctx())?;
            let org = session.state.org_id.clone();
            Ok(Decided::new(session, decision, org))
        });
        Ok(details)
    }
}

/// Applies a decision's events to `state` and collects them.
fn push_all(state: &mut Session, events: &mut Vec<SessionEvent>, decision: Decision<SessionEvent>) {
    for event in decision.events {
        state.apply(&event);
        events.push(event);
    }
}
