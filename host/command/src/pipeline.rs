//! One run of a command: loading write models, authorization, validators, the push and its retries.
//!
//! Every command goes through [`decide!`], the one loop of the pipeline. The command supplies one attempt
//! (a block that loads what it needs, authorizes and decides, giving a [`Decided`]); the loop validates and
//! pushes the decision ([`Run::commit_decided`]), and repeats the attempt on fresh state while it must be
//! repeated:
//!
//! ```text
//! let (details, ()) = decide!(run, {
//!     let user = run.target::<User>(id).await?;
//!     run.authorize(Permission::UserWrite, &target).await?;
//!     let decision = user.state.lock(run.ctx())?;
//!     Ok(Decided::new(user, decision, org_id))
//! });
//! ```
//!
//! An attempt that fails with a refusal reached with unverified cached state is repeated on fresh state;
//! any other error is the answer. [`Run::commit`] asks for a new attempt on a concurrency conflict, or when
//! an answer must not come from unverified cache. Checks made before the decision (e.g. before hashing a
//! password) retry the same way through [`check!`].
//!
//! The loop is a macro rather than a function taking the attempt as a closure: an attempt borrows the run
//! and the command's input, and a closure returning such a borrowing future cannot be proven `Send` for
//! every borrow it may be called with, which every command future must be (the API serves them on a
//! multi-threaded runtime).

use std::{
    collections::{BTreeMap, HashSet},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::{SystemTime, UNIX_EPOCH},
};

use serde_json::Value;
use warden_domain::{
    Aggregate, CommandContext, Decision, DomainError, DomainEvent, ErrorKind, Lifecycle,
    UniqueChange, UniqueScope,
    audit::redact_secrets,
    authz::{self, HeldMembership, Membership, Permission, Scope, ScopeKind, SelfService, Target},
    command::Command,
    instance::Instance,
    org::{AddOrgMember, ChangeOrgMember, DeactivateOrg, Organization, RemoveOrg},
    project::Project,
    unique,
    user::User,
};
use warden_eventstore::{AggregateKey, Eventstore, Expected, Push, UniqueValue};

use crate::{
    Caller, CommandError, Details, Identity, Inner, Model,
    cache::WriteModels,
    new_event,
    validator::{ProposedEvent, ValidationActor, ValidationRequest},
};

/// The one loop of every command: evaluates the attempt `$attempt` (a block that loads, authorizes and
/// decides, answering `Result<Decided<_, _>, CommandError>`; `?` in it ends the attempt), validates and
/// pushes its decision ([`Run::commit_decided`]), and repeats the attempt on fresh state after a conflict
/// or a refusal that may stem from cached state. Evaluates to the stored details and the attempt's output;
/// returns any other error from the enclosing function.
macro_rules! decide {
    ($run:ident, $attempt:block) => {
        loop {
            let attempt: Result<$crate::pipeline::Decided<_, _>, $crate::CommandError> =
                async $attempt.await;
            match attempt {
                Ok(decided) => {
                    if let Some(stored) = $run.commit_decided(decided).await? {
                        break stored;
                    }
                }
                Err(error) => $run.retry_or(error)?,
            }
        }
    };
}
pub(crate) use decide;

/// Evaluates the check `$check` (a block answering `Result<_, CommandError>`, made before the decision, e.g.
/// before expensive work), again on fresh state after a refusal that may stem from cached state. Evaluates
/// to the check's value; returns any other error from the enclosing function.
macro_rules! check {
    ($run:ident, $check:block) => {
        loop {
            let checked: Result<_, $crate::CommandError> = async $check.await;
            match checked {
                Ok(value) => break value,
                Err(error) => $run.retry_or(error)?,
            }
        }
    };
}
pub(crate) use check;

/// Current time in milliseconds since the Unix epoch.
pub(crate) fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// A write model loaded for one attempt, with its key.
#[derive(Debug)]
pub(crate) struct Loaded<A> {
    pub(crate) key: AggregateKey,
    pub(crate) model: Arc<Model<A>>,
}

impl<A> std::ops::Deref for Loaded<A> {
    type Target = Model<A>;

    fn deref(&self) -> &Model<A> {
        &self.model
    }
}

/// What one attempt of a command decided: the decision on its target, the organization the target belongs
/// to (for validator bindings), and what the command answers beside the [`Details`] once stored.
pub(crate) struct Decided<A: Aggregate, T = ()> {
    target: Loaded<A>,
    decision: Decision<A::Event>,
    org_id: Option<String>,
    output: T,
}

impl<A: Aggregate> Decided<A> {
    /// The decision `decision` on `target`, which belongs to `org_id`.
    pub(crate) fn new(
        target: Loaded<A>,
        decision: Decision<A::Event>,
        org_id: Option<String>,
    ) -> Self {
        Self {
            target,
            decision,
            org_id,
            output: (),
        }
    }

    /// Answers `output` beside the details once the decision is stored.
    pub(crate) fn with<T>(self, output: T) -> Decided<A, T> {
        Decided {
            target: self.target,
            decision: self.decision,
            org_id: self.org_id,
            output,
        }
    }
}

/// The state of one command's execution across its attempts.
pub(crate) struct Run<'a> {
    inner: &'a Inner,
    caller: &'a Caller,
    ctx: CommandContext,
    command_type: &'static str,
    /// The command's input for validators; computed only when there are validators.
    payload: Option<Value>,
    if_sequence: Option<i64>,
    attempts: u32,
    /// This attempt reads every model from the store.
    fresh: bool,
    /// This attempt used a cached model without checking it against the store.
    used_cache: AtomicBool,
    /// The aggregates this attempt's decision read (beside its target), at the sequence read: the push
    /// expects them unchanged, so a revocation or removal committed meanwhile makes it conflict.
    depends_on: Mutex<BTreeMap<AggregateKey, i64>>,
    /// Events this attempt appends beside the target's, per aggregate, with the sequence it was read at.
    also: Mutex<Vec<Also>>,
}

/// Events appended beside the target's on another aggregate, and how its cached model follows them.
struct Also {
    key: AggregateKey,
    sequence: i64,
    events: Vec<warden_eventstore::NewEvent>,
    /// Applies the events to the cached model read at `sequence` once they are stored (the last stored
    /// event of the aggregate given), so the next read of the aggregate starts from there.
    cache: FollowPush,
}

/// Brings a cached write model up to an event just stored (see [`Also::cache`]).
type FollowPush = Box<dyn FnOnce(&WriteModels, &warden_eventstore::Event) + Send>;

/// The commands that act on a user's credentials or life cycle, which need at least the target's
/// privileges ([`authz::may_act_on`]): whether a user may issue them on itself, and whether they can leave
/// the instance without an active `IAM_OWNER`. The email address and phone number count as credentials:
/// whoever controls them can have the password reset or receive second factors.
fn user_guard(command_type: &str) -> Option<(SelfService, bool)> {
    use warden_domain::user::{
        AddEmailCode, AddMachineKey, AddOtp, AddPasswordCode, AddPersonalAccessToken, ChangeEmail,
        ChangePhone, CheckOtp, DeactivateUser, LockUser, ReactivateUser, RemoveMachineKey,
        RemoveMachineSecret, RemoveOtp, RemovePersonalAccessToken, RemoveUser, ResetPassword,
        SetMachineSecret, SetPassword, UnlockUser, VerifyEmail, VerifyEmailWithCode, VerifyOtp,
    };
    Some(match command_type {
        SetPassword::TYPE | AddPersonalAccessToken::TYPE | RemovePersonalAccessToken::TYPE => {
            (SelfService::Allowed, false)
        }
        // A second factor and the emailed codes are credentials too; the user may manage its own.
        AddOtp::TYPE
        | VerifyOtp::TYPE
        | RemoveOtp::TYPE
        | CheckOtp::TYPE
        | AddPasswordCode::TYPE
        | ResetPassword::TYPE
        | AddEmailCode::TYPE
        | VerifyEmailWithCode::TYPE => (SelfService::Allowed, false),
        ChangeEmail::TYPE
        | VerifyEmail::TYPE
        | ChangePhone::TYPE
        | AddMachineKey::TYPE
        | RemoveMachineKey::TYPE
        | SetMachineSecret::TYPE
        | RemoveMachineSecret::TYPE
        | UnlockUser::TYPE
        | ReactivateUser::TYPE => (SelfService::NotAllowed, false),
        LockUser::TYPE | DeactivateUser::TYPE | RemoveUser::TYPE => (SelfService::NotAllowed, true),
        _ => return None,
    })
}

impl<'a> Run<'a> {
    pub(crate) fn new(
        inner: &'a Inner,
        caller: &'a Caller,
        actor: Option<&'static str>,
        command_type: &'static str,
        if_sequence: Option<i64>,
        payload: impl FnOnce() -> Value,
    ) -> Self {
        Self {
            inner,
            caller,
            ctx: CommandContext::new(
                caller.instance_id.clone(),
                actor.map_or_else(|| caller.actor().to_owned(), str::to_owned),
                inner.clock.now_unix_ms(),
            ),
            command_type,
            payload: (!inner.validators.is_empty()).then(payload),
            if_sequence,
            attempts: 1,
            fresh: false,
            used_cache: AtomicBool::new(false),
            depends_on: Mutex::default(),
            also: Mutex::default(),
        }
    }

    /// Appends the events of `decision` on the aggregate `id` (read at `sequence`) in the same push as the
    /// target's: both are stored or neither.
    pub(crate) fn append_also<A: Aggregate>(
        &self,
        id: &str,
        sequence: i64,
        decision: &Decision<A::Event>,
    ) {
        if decision.events.is_empty() {
            return;
        }
        let key = self.key::<A>(id);
        let applied = decision.events.clone();
        let cached_key = key.clone();
        let cache = Box::new(
            move |models: &WriteModels, last: &warden_eventstore::Event| {
                let Some(model) = models
                    .get::<A>(&cached_key)
                    .filter(|m| m.sequence == sequence)
                else {
                    return;
                };
                let mut state = model.state.clone();
                for event in &applied {
                    state.apply(event);
                }
                models.put(
                    &cached_key,
                    Arc::new(Model::new(
                        state,
                        last.sequence,
                        last.position,
                        last.created_at,
                        models.now_ms(),
                    )),
                );
            },
        );
        self.also
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Also {
                key,
                sequence,
                events: decision.events.iter().map(new_event).collect(),
                cache,
            });
    }

    /// Reads every model from the store (for a decision no push will check).
    pub(crate) fn fresh_reads(mut self) -> Self {
        self.fresh = true;
        self
    }

    /// Records that the decision read `key` at `sequence`.
    fn depend(&self, key: AggregateKey, sequence: i64) {
        self.depends_on
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, sequence);
    }

    /// Forgets the dependencies of an attempt that ended.
    fn forget_dependencies(&self) {
        self.depends_on
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.also
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Who, where and when.
    pub(crate) fn ctx(&self) -> &CommandContext {
        &self.ctx
    }

    /// The hasher of the pipeline.
    pub(crate) fn inner(&self) -> &'a Inner {
        self.inner
    }

    fn key<A: Aggregate>(&self, id: &str) -> AggregateKey {
        AggregateKey::new(self.ctx.instance_id.clone(), A::TYPE, id)
    }

    fn cached<A: Aggregate>(
        &self,
        key: &AggregateKey,
        max_age: Option<std::time::Duration>,
    ) -> Option<Arc<Model<A>>> {
        if self.fresh {
            return None;
        }
        let model = self.inner.models.get::<A>(key)?;
        if let Some(max_age) = max_age
            && !self.inner.models.is_recent(model.checked_ms(), max_age)
        {
            return None;
        }
        self.used_cache.store(true, Ordering::Relaxed);
        Some(model)
    }

    /// The aggregate the command changes. A cached state of any age will do: the push checks its sequence.
    pub(crate) async fn target<A: Aggregate>(&self, id: &str) -> Result<Loaded<A>, CommandError> {
        let key = self.key::<A>(id);
        let model = match self.cached::<A>(&key, None) {
            Some(model) => model,
            None => self.inner.catch_up::<A>(key.clone()).await?,
        };
        Ok(Loaded { key, model })
    }

    /// A new aggregate with an id generated just now: on the first attempt it is known to have no events.
    pub(crate) async fn new_target<A: Aggregate>(
        &self,
        id: &str,
    ) -> Result<Loaded<A>, CommandError> {
        let key = self.key::<A>(id);
        let model = if self.fresh {
            self.inner.catch_up::<A>(key.clone()).await?
        } else {
            Arc::new(Model::empty())
        };
        Ok(Loaded { key, model })
    }

    /// An aggregate the command only reads. The push expects it at the sequence read, so a cached state may
    /// be used: if the aggregate changed meanwhile the push conflicts and the command is decided again.
    pub(crate) async fn read<A: Aggregate>(&self, id: &str) -> Result<Arc<Model<A>>, CommandError> {
        let key = self.key::<A>(id);
        let model = match self.cached::<A>(&key, Some(self.inner.dependency_max_age)) {
            Some(model) => model,
            None => self.inner.catch_up::<A>(key.clone()).await?,
        };
        self.depend(key, model.sequence);
        Ok(model)
    }

    /// The calling user, or `None` for Warden itself.
    fn caller_user(&self) -> Option<&'a str> {
        match &self.caller.identity {
            Identity::System => None,
            Identity::User { user_id, .. } => Some(user_id),
        }
    }

    /// The memberships of `user_id` that apply to `target` and count: the instance membership, the
    /// membership on the target's organization if it is active and not the system organization, the
    /// membership on the target's project if it and its organization are active. `instance_only` stops
    /// after the instance membership.
    async fn memberships(
        &self,
        user_id: &str,
        target: &Target,
        instance_only: bool,
    ) -> Result<Vec<Membership>, CommandError> {
        let instance = self.read::<Instance>(&self.ctx.instance_id).await?;
        let mut memberships = Vec::with_capacity(3);
        memberships.extend(
            instance
                .state
                .members
                .membership_of(user_id, Scope::Instance),
        );
        if instance_only {
            return Ok(memberships);
        }
        let (org_id, project_id) = match target {
            Target::Instance => return Ok(memberships),
            Target::Org { org_id } => (org_id, None),
            Target::Project { org_id, project_id } => (org_id, Some(project_id)),
        };
        let org = self.read::<Organization>(org_id).await?;
        if !org.state.is_active() {
            return Ok(memberships);
        }
        if !instance.state.is_system_org(org_id) {
            memberships.extend(
                org.state
                    .members
                    .membership_of(user_id, Scope::Org(org_id.clone())),
            );
        }
        if let Some(project_id) = project_id {
            let project = self.read::<Project>(project_id).await?;
            if project.state.lifecycle == Lifecycle::Active && project.state.org_id == *org_id {
                memberships.extend(
                    project
                        .state
                        .members
                        .membership_of(user_id, Scope::Project(project_id.clone())),
                );
            }
        }
        Ok(memberships)
    }

    /// Checks that the caller holds `permission` on `target`, from the memberships in the instance,
    /// organization and project write models ([`authz`]). The aggregates whose memberships or state the
    /// decision used are expected unchanged by the push.
    pub(crate) async fn authorize(
        &self,
        permission: Permission,
        target: &Target,
    ) -> Result<(), CommandError> {
        let Some(user_id) = self.caller_user() else {
            return Ok(());
        };
        let memberships = self.memberships(user_id, target, true).await?;
        if authz::is_allowed(&memberships, permission, target) {
            return Ok(());
        }
        let memberships = self.memberships(user_id, target, false).await?;
        authz::authorize(&memberships, permission, target).map_err(CommandError::Refused)
    }

    /// Whether the caller, refused `permission` on `target`, may still see the target (else it is answered
    /// as missing).
    pub(crate) async fn may_see(
        &self,
        permission: Permission,
        target: &Target,
    ) -> Result<bool, CommandError> {
        let Some(user_id) = self.caller_user() else {
            return Ok(true);
        };
        let memberships = self.memberships(user_id, target, false).await?;
        Ok(authz::may_see(&memberships, permission, target))
    }

    /// Checks that the caller may give `roles` on `target`: it holds every permission they grant there
    /// ([`authz::may_grant`]).
    pub(crate) async fn ensure_may_grant(
        &self,
        roles: &[warden_domain::authz::Role],
        target: &Target,
    ) -> Result<(), CommandError> {
        let Some(caller_id) = self.caller_user() else {
            return Ok(());
        };
        let memberships = self.memberships(caller_id, target, false).await?;
        authz::may_grant(&memberships, roles, target).map_err(CommandError::Refused)
    }

    /// Authorizes a command on the user `user_id` (whose state is `user`): `permission` on its organization,
    /// and for commands on credentials and life cycle the rules of [`authz::may_act_on`] and of the last
    /// active `IAM_OWNER`.
    pub(crate) async fn authorize_on_user(
        &self,
        permission: Permission,
        user_id: &str,
        user: &User,
    ) -> Result<(), CommandError> {
        let guard = user_guard(self.command_type);
        let Some(caller_id) = self.caller_user() else {
            if let Some((_, true)) = guard {
                self.ensure_keeps_an_owner(user_id).await?;
            }
            return Ok(());
        };
        if caller_id == user_id && matches!(guard, Some((SelfService::Allowed, _))) {
            // Only while the user's organization is active: a removed or deactivated organization's users
            // keep nothing, not even the right to mint themselves tokens.
            let org = self.read::<Organization>(&user.org_id).await?;
            if org.state.is_active() {
                return Ok(());
            }
        }
        self.authorize(
            permission,
            &Target::Org {
                org_id: user.org_id.clone(),
            },
        )
        .await?;
        let Some((_, keeps_owner)) = guard else {
            return Ok(());
        };
        let held = self.held_memberships(user_id, user).await?;
        let mut caller = Vec::new();
        for membership in &held {
            caller.extend(self.memberships(caller_id, &membership.on, false).await?);
        }
        authz::may_act_on(&caller, &held).map_err(CommandError::Refused)?;
        if keeps_owner {
            self.ensure_keeps_an_owner(user_id).await?;
        }
        Ok(())
    }

    /// Like [`authorize`](Self::authorize), answering a caller that may not even see `target` as if the
    /// resource did not exist: `missing` gives the command's own answer for a missing resource.
    pub(crate) async fn authorize_or_hide(
        &self,
        permission: Permission,
        target: &Target,
        missing: impl FnOnce() -> Option<DomainError>,
    ) -> Result<(), CommandError> {
        match self.authorize(permission, target).await {
            Ok(()) => Ok(()),
            Err(error) => Err(self.hide_unseen(error, permission, target, missing).await),
        }
    }

    /// Turns a refusal of `permission` on `target` into the answer for a missing resource when the caller
    /// may not even see the target ([`authz::may_see`]), so ids of other tenants cannot be probed: `missing`
    /// gives the command's own answer for a resource that does not exist.
    pub(crate) async fn hide_unseen(
        &self,
        error: CommandError,
        permission: Permission,
        target: &Target,
        missing: impl FnOnce() -> Option<DomainError>,
    ) -> CommandError {
        let CommandError::Refused(refusal) = &error else {
            return error;
        };
        if refusal.code != "authz.permission_denied" {
            return error;
        }
        match self.may_see(permission, target).await {
            Ok(true) => error,
            Ok(false) => CommandError::Refused(
                missing()
                    .filter(|e| e.kind == ErrorKind::NotFound)
                    .unwrap_or_else(|| missing_target(target)),
            ),
            Err(e) => e,
        }
    }

    /// Refuses to deactivate or remove the system organization, or to give organization roles in it
    /// (409 `org.system`): only instance roles manage it.
    pub(crate) async fn ensure_not_system_org(&self, org_id: &str) -> Result<(), CommandError> {
        if !matches!(
            self.command_type,
            DeactivateOrg::TYPE | RemoveOrg::TYPE | AddOrgMember::TYPE | ChangeOrgMember::TYPE
        ) {
            return Ok(());
        }
        let instance = self.read::<Instance>(&self.ctx.instance_id).await?;
        if instance.state.is_system_org(org_id) {
            return Err(CommandError::Refused(DomainError::precondition(
                "org.system",
                "this is the system organization, which holds the instance's administrators: it cannot be \
                 deactivated or removed, and only instance roles manage it",
            )));
        }
        Ok(())
    }

    /// Every membership `user_id` holds on an instance, organization or project that still exists.
    /// The user's own list of its organizations and projects is complete for memberships added since it
    /// exists; the index of member events adds those recorded before.
    async fn held_memberships(
        &self,
        user_id: &str,
        user: &User,
    ) -> Result<Vec<HeldMembership>, CommandError> {
        let instance = self.read::<Instance>(&self.ctx.instance_id).await?;
        let mut held = Vec::new();
        if let Some(roles) = instance.state.members.roles_of(user_id) {
            held.push(HeldMembership {
                on: Target::Instance,
                roles: roles.to_vec(),
            });
        }
        let mut scopes: std::collections::BTreeSet<(String, String)> = self
            .inner
            .member_index
            .scopes_of(&self.inner.store, &self.ctx.instance_id, user_id)
            .await?
            .into_iter()
            .collect();
        scopes.extend(user.member_of.iter().map(|(id, kind)| {
            let scope_type = match kind {
                ScopeKind::Project => Project::TYPE,
                _ => Organization::TYPE,
            };
            (scope_type.to_owned(), id.clone())
        }));
        for (scope_type, scope_id) in scopes {
            if scope_type == Organization::TYPE {
                let org = self.read::<Organization>(&scope_id).await?;
                if org.state.exists()
                    && !instance.state.is_system_org(&scope_id)
                    && let Some(roles) = org.state.members.roles_of(user_id)
                {
                    held.push(HeldMembership {
                        on: Target::Org { org_id: scope_id },
                        roles: roles.to_vec(),
                    });
                }
            } else {
                let project = self.read::<Project>(&scope_id).await?;
                if project.state.exists()
                    && let Some(roles) = project.state.members.roles_of(user_id)
                {
                    held.push(HeldMembership {
                        on: Target::Project {
                            org_id: project.state.org_id.clone(),
                            project_id: scope_id,
                        },
                        roles: roles.to_vec(),
                    });
                }
            }
        }
        Ok(held)
    }

    /// The ids of the instance's `IAM_OWNER`s that are active, unlocked users of active organizations.
    pub(crate) async fn active_owners(
        &self,
        instance: &Instance,
    ) -> Result<HashSet<String>, CommandError> {
        Ok(self
            .active_owners_with_orgs(instance)
            .await?
            .into_iter()
            .map(|(user, _)| user)
            .collect())
    }

    /// Like [`active_owners`](Self::active_owners), with each owner's organization.
    async fn active_owners_with_orgs(
        &self,
        instance: &Instance,
    ) -> Result<Vec<(String, String)>, CommandError> {
        let mut active = Vec::new();
        for owner in instance.owners() {
            let user = self.read::<User>(owner).await?;
            if user.state.lifecycle != Lifecycle::Active || user.state.locked {
                continue;
            }
            let org = self.read::<Organization>(&user.state.org_id).await?;
            if org.state.is_active() {
                active.push((owner.to_owned(), user.state.org_id.clone()));
            }
        }
        Ok(active)
    }

    /// Refuses to deactivate or remove the organization holding the last active `IAM_OWNER`s
    /// (`instance.last_owner`).
    pub(crate) async fn ensure_org_keeps_an_owner(&self, org_id: &str) -> Result<(), CommandError> {
        if !matches!(self.command_type, DeactivateOrg::TYPE | RemoveOrg::TYPE) {
            return Ok(());
        }
        let instance = self.read::<Instance>(&self.ctx.instance_id).await?;
        let active = self.active_owners_with_orgs(&instance.state).await?;
        instance
            .state
            .ensure_owner_remains(|id| active.iter().any(|(user, org)| user == id && org != org_id))
            .map_err(CommandError::Refused)
    }

    /// Refuses to lock, deactivate or remove the last active `IAM_OWNER` (`instance.last_owner`).
    async fn ensure_keeps_an_owner(&self, user_id: &str) -> Result<(), CommandError> {
        let instance = self.read::<Instance>(&self.ctx.instance_id).await?;
        if !instance.state.is_owner(user_id) {
            return Ok(());
        }
        let active = self.active_owners(&instance.state).await?;
        instance
            .state
            .ensure_other_active_owner(user_id, |id| active.contains(id))
            .map_err(CommandError::Refused)
    }

    /// Like [`authorize`](Self::authorize), re-checking on fresh state before a refusal.
    pub(crate) async fn ensure_permitted(
        &mut self,
        permission: Permission,
        target: &Target,
    ) -> Result<(), CommandError> {
        let run = self;
        check!(run, { run.authorize(permission, target).await });
        Ok(())
    }

    /// Checks, validates and stores what an attempt decided ([`commit`](Self::commit)): `Some` holds the
    /// stored details and the attempt's output, `None` means the command must be decided again.
    pub(crate) async fn commit_decided<A: Aggregate, T>(
        &mut self,
        decided: Decided<A, T>,
    ) -> Result<Option<(Details, T)>, CommandError> {
        let org_id = decided.org_id.as_deref();
        Ok(self
            .commit(&decided.target, decided.decision, org_id)
            .await?
            .map(|details| (details, decided.output)))
    }

    /// Decides what to do with an error that ended an attempt: `Ok` to try again on fresh state (the error may
    /// stem from cached state), `Err` to give up with it.
    pub(crate) fn retry_or(&mut self, error: CommandError) -> Result<(), CommandError> {
        if matches!(error, CommandError::Refused(_)) && self.refresh() {
            Ok(())
        } else {
            Err(error)
        }
    }

    /// Starts a fresh attempt if the current one used unverified cached state.
    fn refresh(&mut self) -> bool {
        if self.fresh || !self.used_cache.load(Ordering::Relaxed) {
            return false;
        }
        self.forget_dependencies();
        self.fresh = true;
        self.attempts += 1;
        true
    }

    /// Checks, validates and stores a decision on `target`. `Some` holds the result; `None` means the command
    /// must be decided again on fresh state (the loop of [`decide!`] continues).
    #[tracing::instrument(level = "debug", skip_all, fields(command = self.command_type, aggregate = %target.key.aggregate_id, attempt = self.attempts))]
    pub(crate) async fn commit<A: Aggregate>(
        &mut self,
        target: &Loaded<A>,
        decision: Decision<A::Event>,
        org_id: Option<&str>,
    ) -> Result<Option<Details>, CommandError> {
        if let Some(expected) = self.if_sequence
            && expected != target.sequence
        {
            if self.refresh() {
                return Ok(None);
            }
            return Err(CommandError::Stale {
                aggregate_type: A::TYPE.to_owned(),
                expected,
                actual: target.sequence,
            });
        }
        if decision.events.is_empty() {
            if self.refresh() {
                return Ok(None);
            }
            return Ok(Some(details(target)));
        }
        self.validate(target, &decision, org_id).await?;

        let events: Vec<_> = decision.events.iter().map(new_event).collect();
        if events.iter().any(|e| contains_nul(&e.payload)) {
            return Err(CommandError::Refused(DomainError::new(
                ErrorKind::InvalidArgument,
                "text.nul",
                "text must not contain NUL characters (U+0000)",
            )));
        }
        let mut push = Push::new(self.ctx.actor.clone()).in_org(org_id).append(
            target.key.clone(),
            Expected::Exact(target.sequence),
            events,
        );
        let depends_on = std::mem::take(
            &mut *self
                .depends_on
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let also = std::mem::take(&mut *self.also.lock().unwrap_or_else(PoisonError::into_inner));
        for (key, sequence) in depends_on {
            if key != target.key && !also.iter().any(|a| a.key == key) {
                push = push.expect_unchanged(key, sequence);
            }
        }
        let mut follow_also = Vec::with_capacity(also.len());
        for Also {
            key,
            sequence,
            events,
            cache,
        } in also
        {
            push = push.append(key.clone(), Expected::Exact(sequence), events);
            follow_also.push((key, cache));
        }
        for change in &decision.unique {
            push = push.unique(self.unique_change(change));
        }
        let stored = match self.inner.store.push(push).await {
            Ok(stored) => stored,
            Err(error) if error.is_conflict() => {
                if self.attempts >= self.inner.max_attempts {
                    return Err(CommandError::Contended {
                        aggregate_type: A::TYPE.to_owned(),
                        aggregate_id: target.key.aggregate_id.clone(),
                    });
                }
                self.attempts += 1;
                self.fresh = true;
                return Ok(None);
            }
            Err(warden_eventstore::Error::UniqueTaken { unique_type, value }) => {
                let claim = decision.unique.iter().find(|c| {
                    matches!(c, UniqueChange::Add { .. })
                        && c.unique_type() == unique_type
                        && c.value() == value
                });
                return Err(CommandError::Refused(match claim {
                    Some(claim) => claim.conflict_error(),
                    None => unique::conflict_error(&unique_type, None),
                }));
            }
            Err(error) => return Err(error.into()),
        };
        let Some(last) = stored.iter().rev().find(|e| e.aggregate == target.key) else {
            return Err(CommandError::Store(warden_eventstore::Error::InvalidPush(
                "the push stored no events".into(),
            )));
        };
        let mut state = target.state.clone();
        for event in &decision.events {
            state.apply(event);
        }
        let model = Arc::new(Model::new(
            state,
            last.sequence,
            last.position,
            last.created_at,
            self.inner.models.now_ms(),
        ));
        self.inner.models.put(&target.key, model);
        for (key, cache) in follow_also {
            if let Some(last) = stored.iter().rev().find(|e| e.aggregate == key) {
                cache(&self.inner.models, last);
            }
        }
        Ok(Some(Details {
            id: target.key.aggregate_id.clone(),
            sequence: last.sequence,
            position: last.position,
            change_date: last.created_at,
        }))
    }

    fn unique_change(&self, change: &UniqueChange) -> warden_eventstore::UniqueChange {
        let instance_id = match change.scope() {
            UniqueScope::Global => "",
            UniqueScope::Instance => self.ctx.instance_id.as_str(),
        };
        let value = UniqueValue::new(instance_id, change.unique_type(), change.value());
        match change {
            UniqueChange::Add { .. } => warden_eventstore::UniqueChange::Add(value),
            UniqueChange::Remove { .. } => warden_eventstore::UniqueChange::Remove(value),
        }
    }

    async fn validate<A: Aggregate>(
        &self,
        target: &Loaded<A>,
        decision: &Decision<A::Event>,
        org_id: Option<&str>,
    ) -> Result<(), CommandError> {
        let validators: Vec<_> = self
            .inner
            .validators
            .iter()
            .filter(|v| v.applies(&self.ctx.instance_id, org_id, self.command_type))
            .collect();
        if validators.is_empty() {
            return Ok(());
        }
        // Aggregate states are plain structs with string keys, which always serialize.
        let state = (target.sequence != 0)
            .then(|| serde_json::to_value(&target.state).ok())
            .flatten()
            .map(|state| redact_secrets(&state));
        let request = ValidationRequest {
            command_type: self.command_type.to_owned(),
            instance_id: self.ctx.instance_id.clone(),
            org_id: org_id.map(str::to_owned),
            aggregate_type: A::TYPE.to_owned(),
            aggregate_id: target.key.aggregate_id.clone(),
            actor: ValidationActor {
                user_id: self.caller.actor().to_owned(),
                org_id: match &self.caller.identity {
                    Identity::System => None,
                    Identity::User { org_id, .. } => Some(org_id.clone()),
                },
            },
            payload: self.payload.clone().unwrap_or(Value::Null),
            state,
            events: decision
                .events
                .iter()
                .map(|e| ProposedEvent {
                    event_type: e.event_type().to_owned(),
                    revision: e.revision(),
                    payload: redact_secrets(&e.to_payload()),
                })
                .collect(),
        };
        let mut violations = Vec::new();
        for validator in validators {
            violations.extend(validator.validate(&request).await?);
        }
        if violations.is_empty() {
            Ok(())
        } else {
            Err(CommandError::Rejected(violations))
        }
    }
}

/// The answer for a target that does not exist.
fn missing_target(target: &Target) -> DomainError {
    match target {
        Target::Instance => {
            DomainError::not_found("instance.not_found", "the instance does not exist")
        }
        Target::Org { .. } => {
            DomainError::not_found("org.not_found", "the organization does not exist")
        }
        Target::Project { .. } => {
            DomainError::not_found("project.not_found", "the project does not exist")
        }
    }
}

/// Whether any string (or key) in `value` contains U+0000, which PostgreSQL cannot store.
fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(fields) => fields
            .iter()
            .any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

/// The details of an aggregate as it is (for a command that changed nothing).
fn details<A>(target: &Loaded<A>) -> Details {
    Details {
        id: target.key.aggregate_id.clone(),
        sequence: target.sequence,
        position: target.position,
        change_date: target.change_date,
    }
}
