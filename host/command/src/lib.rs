//! Warden's command side: the pipeline that turns a request into stored events.
//!
//! [`Commands`] is the application service behind every write of the management API (and later gRPC and the
//! login flow). One command goes through these steps:
//!
//! 1. load the target aggregate's write model, and any aggregate the command reads (the owning
//!    organization, the project of a grant, ...) — from the in-memory cache when possible;
//! 2. authorize the caller: its memberships come from the instance, organization and project write models
//!    that hold them ([`warden_domain::authz`]);
//! 3. let the domain decide (pure);
//! 4. run the configured [`CommandValidator`]s, which may refuse the command;
//! 5. push the events with the sequence the target was loaded at, the sequences of the aggregates the
//!    decision read, and the unique values the decision claims or releases, in one transaction;
//! 6. on a concurrency conflict, decide again on fresh state (a bounded number of times).
//!
//! Nothing is stored unless every step succeeds.
//!
//! # Caching and several nodes
//!
//! Write models are cached per aggregate. The target of a command may be decided on a cached state of any
//! age: the push's expected sequence refuses it if the aggregate changed meanwhile, and the command is
//! decided again. Aggregates that are only read (dependencies and the memberships used for authorization)
//! are used from the cache for at most [`CommandsConfig::dependency_max_age`], then re-read incrementally;
//! whatever their age, the push expects them at the sequence read, so a change committed to one of them
//! first (a revoked membership on another node, a deactivated organization) makes the push conflict and the
//! command is decided again on fresh state. A refusal, or a decision that changes nothing, is never answered
//! from unverified cached state: the command is decided again on state read from the store first.
//! [`CallerCommands::authorize`], which stores nothing, always reads from the store. On one node the cache
//! always reflects the node's own writes. Across nodes, [`Commands::observe`] drops cached models that are
//! behind events stored elsewhere: a server feeds it every event its spoolers' scanner reads, which
//! PostgreSQL `NOTIFY` wakes within milliseconds of the other node's push, so a change (a revoked token, a
//! deactivated organization) reaches this node's token checks about that fast; `dependency_max_age` remains
//! the bound should a notification be lost.
//!
//! # Use
//!
//! ```no_run
//! # async fn example(store: warden_eventstore::Store) -> Result<(), Box<dyn std::error::Error>> {
//! use warden_command::{Caller, Commands, CommandsConfig, FirstInstance, bootstrap};
//!
//! let commands = Commands::new(store, CommandsConfig::default());
//! let report = bootstrap(&commands, std::path::Path::new("/var/lib/warden"), &FirstInstance::default()).await?;
//! let caller = Caller::system(&report.instance_id);
//! let org = commands.for_caller(&caller).add_org("Acme").await?;
//! # let _ = org; Ok(()) }
//! ```

#![warn(missing_docs)]

mod authn;
mod bootstrap;
mod cache;
mod clock;
mod commands;
mod error;
mod member_index;
mod pipeline;
pub mod seal;
pub mod secret;
mod shared_reads;
pub mod validator;

use std::{sync::Arc, time::Duration};

use warden_domain::{
    Aggregate, DomainEvent,
    authz::{Permission, Target},
};
use warden_eventstore::{AggregateKey, Eventstore, Store};

pub use authn::{ExternalTokens, ExternalTokensFuture};
pub use bootstrap::{
    ADMIN_PASSWORD_FILE, ADMIN_TOKEN_FILE, AdminTokenFile, BootstrapReport, CONSOLE_APP_NAME,
    FirstInstance, NEVER_EXPIRES_UNIX_MS, RECOVER_ACTOR, RECOVERY_ADMIN_LOGIN_NAME, RecoverReport,
    WARDEN_PROJECT_NAME, bootstrap, bootstrap_with, console_oidc_config, default_instance_id,
    recover, recover_with,
};
pub use cache::Model;
pub use clock::Clock;
pub use commands::user_auth::{self, OtpCheck, OtpEnrollment};
pub use commands::{
    AppCreated, KeyAdded, LOGIN_ACTOR, LoginCommands, NewApiApp, NewHumanUser, NewMachineKey,
    NewMachineUser, NewOidcApp, NewPublicKey, NewUserGrant, PasswordAttempt, PasswordOutcome,
    PasswordVerification, SecretIssued, TokenIssued,
};
pub use error::{BootstrapError, CommandError};
pub use secret::{PasswordHasher, SecretString};
pub use validator::{CommandValidator, ValidationRequest, ValidatorError, Violation};

use crate::{cache::WriteModels, pipeline::Run};

/// Who issues a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The instance (tenant) the caller acts in.
    pub instance_id: String,
    /// Who is acting.
    pub identity: Identity,
}

/// The acting party of a [`Caller`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// Warden itself (first-start bootstrap, internal jobs); not subject to authorization.
    System,
    /// An authenticated, active user of the instance.
    User {
        /// The user's id.
        user_id: String,
        /// The user's organization.
        org_id: String,
    },
}

impl Caller {
    /// Warden itself, acting in `instance_id`.
    pub fn system(instance_id: impl Into<String>) -> Self {
        Self {
            instance_id: instance_id.into(),
            identity: Identity::System,
        }
    }

    /// The id recorded as the creator of the events the caller causes.
    pub fn actor(&self) -> &str {
        match &self.identity {
            Identity::System => "system",
            Identity::User { user_id, .. } => user_id,
        }
    }
}

/// What a stored command produced: the target aggregate and where its latest event is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Details {
    /// The target aggregate's id.
    pub id: String,
    /// The aggregate's sequence after the command.
    pub sequence: i64,
    /// The global position of the aggregate's latest event.
    pub position: i64,
    /// When the aggregate's latest event was stored, in microseconds since the Unix epoch.
    pub change_date: i64,
}

/// Tuning of [`Commands`].
#[derive(Debug, Clone)]
pub struct CommandsConfig {
    /// About how many write models the cache keeps.
    pub cache_capacity: usize,
    /// How long an aggregate that a command only reads may be used from the cache without re-reading it
    /// (an optimisation only: the push checks such aggregates are unchanged).
    pub dependency_max_age: Duration,
    /// How many times a command is decided before a concurrency conflict is reported.
    pub max_attempts: u32,
    /// How many passwords may be hashed at once (default: the number of CPU cores).
    pub hashing_concurrency: usize,
    /// The validators consulted before every push (default: none).
    pub validators: Vec<Arc<dyn CommandValidator>>,
    /// The wall clock: the time of each command and of token expiry checks (default: the system's).
    pub clock: Clock,
    /// Seals the secrets the server must read back (TOTP secrets, emailed codes) under the master key;
    /// without it those commands fail with [`CommandError::Sealing`] (default: none).
    pub secret_box: Option<seal::SecretBox>,
}

impl Default for CommandsConfig {
    fn default() -> Self {
        Self {
            cache_capacity: 50_000,
            dependency_max_age: Duration::from_secs(1),
            max_attempts: 5,
            hashing_concurrency: std::thread::available_parallelism().map_or(1, usize::from),
            validators: Vec::new(),
            clock: Clock::system(),
            secret_box: None,
        }
    }
}

/// The command pipeline over an eventstore. Cheap to clone: clones share the store, cache and hasher.
#[derive(Debug, Clone)]
pub struct Commands {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    models: WriteModels,
    hasher: PasswordHasher,
    validators: Vec<Arc<dyn CommandValidator>>,
    secret_box: Option<seal::SecretBox>,
    max_attempts: u32,
    dependency_max_age: Duration,
    member_index: member_index::MemberIndex,
    /// Concurrent reads of one aggregate from PostgreSQL, sharing a statement.
    shared_reads: shared_reads::SharedReads,
    clock: Clock,
    /// Who else issues bearer tokens the API accepts (the OpenID Connect provider), set once at wiring.
    external_tokens: std::sync::OnceLock<Arc<dyn ExternalTokens>>,
}

impl Commands {
    /// The pipeline over `store`.
    pub fn new(store: Store, config: CommandsConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                models: WriteModels::new(config.cache_capacity),
                hasher: PasswordHasher::new(config.hashing_concurrency),
                validators: config.validators,
                secret_box: config.secret_box,
                max_attempts: config.max_attempts.max(1),
                dependency_max_age: config.dependency_max_age,
                member_index: member_index::MemberIndex::default(),
                shared_reads: shared_reads::SharedReads::default(),
                clock: config.clock,
                external_tokens: std::sync::OnceLock::new(),
            }),
        }
    }

    /// The eventstore the pipeline writes to.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The password hasher (shared with the login flow).
    pub fn hasher(&self) -> &PasswordHasher {
        &self.inner.hasher
    }

    /// The box that seals secrets under the master key, if one was configured.
    pub fn secret_box(&self) -> Option<&seal::SecretBox> {
        self.inner.secret_box.as_ref()
    }

    /// The commands `caller` may issue.
    pub fn for_caller<'a>(&'a self, caller: &'a Caller) -> CallerCommands<'a> {
        CallerCommands {
            commands: self,
            caller,
            if_sequence: None,
            actor: None,
        }
    }

    /// The current write model of an aggregate, read from the store (incrementally after a cached state).
    /// No permission is checked: this is for Warden's own components and tests, not for callers' requests.
    pub async fn load<A: Aggregate>(
        &self,
        instance_id: &str,
        id: &str,
    ) -> Result<Arc<Model<A>>, CommandError> {
        self.inner
            .catch_up::<A>(AggregateKey::new(instance_id, A::TYPE, id))
            .await
    }

    /// The write model of an aggregate as token checks read it: from the cache when it was checked against the
    /// store within [`CommandsConfig::dependency_max_age`], else read from the store, as personal access
    /// tokens are checked. This node's own changes update the cache at once; other nodes' changes drop it
    /// through [`Commands::observe`] (milliseconds after their push with PostgreSQL `NOTIFY`, and within
    /// `dependency_max_age` should a notification be lost). A caller that refuses on this state should
    /// confirm the refusal with [`Commands::load`]: the model may be behind a change that made it usable.
    pub async fn load_recent<A: Aggregate>(
        &self,
        instance_id: &str,
        id: &str,
    ) -> Result<Arc<Model<A>>, CommandError> {
        self.inner
            .recent::<A>(&AggregateKey::new(instance_id, A::TYPE, id), false)
            .await
    }

    /// Follows events stored by anyone (this node or another): drops cached write models that are behind
    /// them, so the next command or authentication reads the aggregate afresh. A server hands it every new
    /// event its spoolers' scanner reads (woken across nodes by PostgreSQL `NOTIFY`); without it, a change made
    /// on another node reaches this node's decisions within [`CommandsConfig::dependency_max_age`].
    pub fn observe(&self, events: &[warden_eventstore::Event]) {
        for event in events {
            self.inner
                .models
                .invalidate(&event.aggregate, event.sequence);
        }
    }

    /// Accepts, from now on, the bearer tokens `tokens` vouches for (beside personal access tokens), with the
    /// same checks of the user and organization; a second call is ignored.
    pub fn accept_external_tokens(&self, tokens: Arc<dyn ExternalTokens>) {
        let _ = self.inner.external_tokens.set(tokens);
    }

    /// Authenticates a personal access token (`wdn_pat_<user>_<token>_<secret>`) of `instance_id`: the token
    /// must belong to an active, unlocked machine user of an active organization, match the stored hash and not
    /// be expired (see the `authn` module).
    pub async fn authenticate(
        &self,
        instance_id: &str,
        token: &str,
    ) -> Result<Caller, CommandError> {
        self.inner.authenticate(instance_id, token).await
    }
}

impl Inner {
    /// Brings the model of `key` up to date with the store, starting after the cached state if there is one.
    /// On PostgreSQL, callers reading the same aggregate at once share a statement that starts after they
    /// came (see [`shared_reads`]); a SQLite read runs on the caller's thread and costs less than the
    /// hand-over that sharing would take.
    async fn catch_up<A: Aggregate>(
        &self,
        key: AggregateKey,
    ) -> Result<Arc<Model<A>>, CommandError> {
        if !is_storable_id(&key.aggregate_id) || !is_storable_id(&key.instance_id) {
            // No aggregate can have this id: ids are generated or validated before anything is stored.
            return Ok(Arc::new(Model::empty()));
        }
        match self.store {
            Store::Postgres(_) => {
                self.shared_reads
                    .read(&key, || self.read_up::<A>(&key))
                    .await
            }
            Store::Sqlite(_) => self.read_up::<A>(&key).await,
        }
    }

    /// Reads the events of `key` after the cached state and caches the model they give.
    async fn read_up<A: Aggregate>(
        &self,
        key: &AggregateKey,
    ) -> Result<Arc<Model<A>>, CommandError> {
        let checked = self.models.now_ms();
        let cached = self.models.get::<A>(key);
        let after = cached.as_ref().map_or(0, |m| m.sequence);
        let events = self.store.read_aggregate(key, after).await?;
        let Some(last) = events.last() else {
            return Ok(match cached {
                Some(model) => {
                    model.mark_checked(checked);
                    model
                }
                None => Arc::new(Model::empty()),
            });
        };
        let mut state = cached.map_or_else(A::default, |m| m.state.clone());
        for event in &events {
            state.apply(&A::Event::from_stored(
                &event.event_type,
                event.revision,
                &event.payload,
            )?);
        }
        let model = Arc::new(Model::new(
            state,
            last.sequence,
            last.position,
            last.created_at,
            checked,
        ));
        self.models.put(key, model.clone());
        Ok(model)
    }
}

/// The longest id that is looked up in the store.
const MAX_ID_BYTES: usize = 1024;

/// Whether an id can be stored (and so looked up): not too long, no NUL (which PostgreSQL refuses in text).
fn is_storable_id(id: &str) -> bool {
    id.len() <= MAX_ID_BYTES && !id.contains('\0')
}

/// The name of the runs that only check a permission: they store nothing, so no validator sees them.
const AUTHORIZE: &str = "authorize";

/// The commands one caller may issue; see the methods for each resource.
#[derive(Debug, Clone)]
pub struct CallerCommands<'a> {
    commands: &'a Commands,
    caller: &'a Caller,
    if_sequence: Option<i64>,
    /// Recorded as the creator instead of the caller's id (Warden's own jobs name themselves).
    actor: Option<&'static str>,
}

impl<'a> CallerCommands<'a> {
    /// Records the next commands of Warden itself under `actor` (e.g. `system:recover`) instead of `system`;
    /// a user caller is always recorded under its own id.
    #[must_use]
    pub fn as_actor(mut self, actor: &'static str) -> Self {
        if self.caller.identity == Identity::System {
            self.actor = Some(actor);
        }
        self
    }
    /// Refuses the next commands as stale ([`CommandError::Stale`]) unless their target is at `sequence`
    /// (an HTTP `If-Match`); `None` accepts any.
    #[must_use]
    pub fn if_sequence(mut self, sequence: Option<i64>) -> Self {
        self.if_sequence = sequence;
        self
    }

    /// The caller.
    pub fn caller(&self) -> &Caller {
        self.caller
    }

    /// Checks that the caller holds `permission` on `target`, on state read from the store now (a read
    /// has no push that would catch a revocation made meanwhile).
    pub async fn authorize(
        &self,
        permission: Permission,
        target: &Target,
    ) -> Result<(), CommandError> {
        self.run(AUTHORIZE, || serde_json::Value::Null)
            .fresh_reads()
            .ensure_permitted(permission, target)
            .await
    }

    /// Whether a caller refused `permission` on `target` may still see the target; if not, the resource
    /// is to be answered as missing (404), like one that does not exist.
    pub async fn may_see(
        &self,
        permission: Permission,
        target: &Target,
    ) -> Result<bool, CommandError> {
        self.run(AUTHORIZE, || serde_json::Value::Null)
            .fresh_reads()
            .may_see(permission, target)
            .await
    }

    fn run(
        &self,
        command_type: &'static str,
        payload: impl FnOnce() -> serde_json::Value,
    ) -> Run<'_> {
        // Bindings naming a command type not in the domain's list are refused, so every command must be in it.
        debug_assert!(
            command_type == AUTHORIZE || warden_domain::command::is_known(command_type),
            "command type `{command_type}` is missing from warden_domain::command"
        );
        Run::new(
            &self.commands.inner,
            self.caller,
            self.actor,
            command_type,
            self.if_sequence,
            payload,
        )
    }
}

/// Builds the stored form of a domain event.
fn new_event<E: DomainEvent>(event: &E) -> warden_eventstore::NewEvent {
    warden_eventstore::NewEvent::new(event.event_type(), event.revision(), event.to_payload())
}

/// A new resource id: a UUID v7 (time-ordered).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
