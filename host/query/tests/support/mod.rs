//! Test support: a minimal command pipeline over the domain (load, decide, push, retry on conflict), a
//! populated world, and an oracle that rebuilds the expected views from the events through the domain.

#![allow(dead_code, unreachable_pub)]

use std::{
    collections::BTreeMap,
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use warden_domain::{
    Aggregate, CommandContext, Decision, DomainError, DomainEvent, Lifecycle, UniqueScope,
    application::{
        AccessTokenType, AddApiApp, AddOidcApp, ApiAuthMethod, ApiConfig, AppConfig, Application,
        OidcAppType, OidcAuthMethod, OidcConfig, OidcGrantType, OidcResponseType,
    },
    authz::{Role, ScopeKind},
    instance::{Instance, SetupInstance},
    member::WithMembers,
    org::Organization,
    policy::{LockoutPolicy, Policy, PolicySet, resolve},
    project::{AddProject, Project, ProjectGrantAdded, ProjectRole},
    user::{
        AddHuman, AddMachine, KeyFormat, MachineKeyAdded, PersonalAccessTokenAdded, Profile, User,
        UserKind,
    },
    user_grant::{AddUserGrant, UserGrant},
};
use warden_eventstore::{
    AggregateKey, Cursor, Event, Eventstore, Expected, NewEvent, Push, Store, StreamQuery,
    UniqueChange, UniqueValue,
};
use warden_query::{Consistency, MembershipView, Queries, State};

pub const INSTANCE: &str = "inst-1";
pub const NOW: i64 = 1_700_000_000_000;
pub const DAY: i64 = 86_400_000;
pub const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
pub const PEM: &str =
    "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----";

/// Runs commands against the eventstore like the command pipeline does.
#[derive(Debug, Clone)]
pub struct Writer {
    pub store: Store,
    pub instance: String,
    /// The cursor of the newest event this writer stored.
    last: Arc<Mutex<Cursor>>,
}

fn new_event<E: DomainEvent>(event: &E) -> NewEvent {
    NewEvent::new(event.event_type(), event.revision(), event.to_payload())
}

impl Writer {
    pub fn new(store: &Store) -> Self {
        Self {
            store: store.clone(),
            instance: INSTANCE.to_owned(),
            last: Arc::default(),
        }
    }

    /// The cursor of the newest event this writer (and its clones) stored.
    pub fn last_cursor(&self) -> Cursor {
        self.last.lock().map(|c| *c).unwrap_or_default()
    }

    pub fn ctx(&self) -> CommandContext {
        CommandContext::new(self.instance.clone(), "admin", NOW)
    }

    fn key<A: Aggregate>(&self, id: &str) -> AggregateKey {
        AggregateKey::new(self.instance.clone(), A::TYPE, id)
    }

    /// The aggregate's state and latest sequence.
    pub async fn load<A: Aggregate>(&self, id: &str) -> (A, i64) {
        let stored = self
            .store
            .read_aggregate(&self.key::<A>(id), 0)
            .await
            .expect("read aggregate");
        let events: Vec<A::Event> = stored
            .iter()
            .map(|e| {
                A::Event::from_stored(&e.event_type, e.revision, &e.payload)
                    .expect("decodable event")
            })
            .collect();
        (A::replay(&events), stored.last().map_or(0, |e| e.sequence))
    }

    pub async fn state<A: Aggregate>(&self, id: &str) -> A {
        self.load::<A>(id).await.0
    }

    /// Runs `decide` on the aggregate's current state and pushes the decision; retries on conflicts.
    pub async fn exec<A, F>(&self, id: &str, decide: F) -> Vec<Event>
    where
        A: Aggregate,
        F: Fn(&A, &CommandContext) -> Result<Decision<A::Event>, DomainError>,
    {
        loop {
            let (state, sequence) = self.load::<A>(id).await;
            let decision = decide(&state, &self.ctx())
                .unwrap_or_else(|e| panic!("command on {id} refused: {e:?}"));
            if decision.events.is_empty() {
                return Vec::new();
            }
            let mut push = Push::new("admin").append(
                self.key::<A>(id),
                Expected::Exact(sequence),
                decision.events.iter().map(new_event).collect(),
            );
            for change in &decision.unique {
                let instance = match change.scope() {
                    UniqueScope::Global => String::new(),
                    UniqueScope::Instance => self.instance.clone(),
                };
                let value = UniqueValue::new(instance, change.unique_type(), change.value());
                push = push.unique(match change {
                    warden_domain::UniqueChange::Add { .. } => UniqueChange::Add(value),
                    warden_domain::UniqueChange::Remove { .. } => UniqueChange::Remove(value),
                });
            }
            match self.store.push(push).await {
                Ok(events) => {
                    if let (Ok(mut last), Some(event)) = (self.last.lock(), events.last()) {
                        *last = (*last).max(event.cursor());
                    }
                    return events;
                }
                Err(e) if e.is_conflict() => continue,
                Err(e) => panic!("push failed: {e}"),
            }
        }
    }

    pub async fn add_human(&self, id: &str, org_id: &str, login: &str, given: &str) -> Vec<Event> {
        let org: Organization = self.state(org_id).await;
        let cmd = AddHuman {
            org_id: org_id.to_owned(),
            login_name: login.to_owned(),
            profile: Profile {
                given_name: given.to_owned(),
                family_name: "Tester".to_owned(),
                display_name: String::new(),
                preferred_language: "en".to_owned(),
            },
            email: format!("{}@example.com", login.to_lowercase()),
            email_verified: false,
            phone: None,
            password_hash: Some(HASH.to_owned()),
            password_change_required: true,
        };
        self.exec::<User, _>(id, |u, ctx| u.add_human(&cmd, &org, ctx))
            .await
    }

    pub async fn change_given_name(&self, id: &str, given: &str) -> Vec<Event> {
        self.exec::<User, _>(id, |u, ctx| {
            let mut profile = u.human().map(|h| h.profile.clone()).unwrap_or_default();
            profile.given_name = given.to_owned();
            u.change_profile(&profile, ctx)
        })
        .await
    }
}

/// Sets up instance `INSTANCE` with organizations, users of both kinds, a project with roles, a grant to another
/// organization, applications, user grants, memberships and policy overrides.
pub async fn populate(w: &Writer) {
    let setup = SetupInstance {
        name: "Test instance".to_owned(),
        domains: vec!["id.example.com".to_owned(), "login.example.com".to_owned()],
        default_language: "en".to_owned(),
        policies: PolicySet::default(),
    };
    w.exec::<Instance, _>(INSTANCE, |i, ctx| i.setup(&setup, ctx))
        .await;
    w.exec::<Organization, _>("org-1", |o, ctx| o.add("Acme", ctx))
        .await;
    w.exec::<Organization, _>("org-2", |o, ctx| o.add("Globex", ctx))
        .await;
    w.exec::<Organization, _>("org-3", |o, ctx| o.add("Initech", ctx))
        .await;
    w.exec::<Organization, _>("org-2", |o, ctx| o.add_domain("globex.example", ctx))
        .await;
    w.exec::<Organization, _>("org-2", |o, ctx| o.verify_domain("globex.example", ctx))
        .await;
    w.exec::<Organization, _>("org-2", |o, ctx| {
        o.set_primary_domain("globex.example", ctx)
    })
    .await;
    w.exec::<Organization, _>("org-2", |o, ctx| o.add_domain("globex.test", ctx))
        .await;
    let lockout = Policy::Lockout(LockoutPolicy {
        max_password_attempts: 3,
        show_lockout_failures: false,
    });
    w.exec::<Organization, _>("org-1", |o, ctx| o.set_policy(&lockout, ctx))
        .await;
    w.exec::<Organization, _>("org-3", |o, ctx| o.deactivate(ctx))
        .await;

    for i in 0..12 {
        let org = if i % 3 == 0 { "org-2" } else { "org-1" };
        w.add_human(
            &format!("u{i}"),
            org,
            &format!("User{i:02}"),
            &format!("Given{i}"),
        )
        .await;
    }
    w.exec::<User, _>("u4", |u, ctx| u.lock(ctx)).await;
    w.exec::<User, _>("u5", |u, ctx| u.deactivate(ctx)).await;
    w.exec::<User, _>("u6", |u, ctx| u.change_email("new6@example.com", ctx))
        .await;
    w.exec::<User, _>("u7", |u, ctx| u.verify_email(ctx)).await;
    w.exec::<User, _>("u8", |u, ctx| u.set_metadata("team", "blue", ctx))
        .await;

    let org1: Organization = w.state("org-1").await;
    let machine = AddMachine {
        org_id: "org-1".to_owned(),
        login_name: "ci-bot".to_owned(),
        name: "CI bot".to_owned(),
        description: "Deploys".to_owned(),
        access_token_type: Default::default(),
    };
    w.exec::<User, _>("m1", |u, ctx| u.add_machine(&machine, &org1, ctx))
        .await;
    let key = MachineKeyAdded {
        key_id: "key-1".to_owned(),
        format: KeyFormat::Pem,
        public_key: PEM.to_owned(),
        expires_at_unix_ms: NOW + 30 * DAY,
    };
    w.exec::<User, _>("m1", |u, ctx| u.add_key(&key, ctx)).await;
    let pat = PersonalAccessTokenAdded {
        token_id: "pat-1".to_owned(),
        token_hash: "sha256-abcdef".to_owned(),
        expires_at_unix_ms: NOW + 30 * DAY,
    };
    w.exec::<User, _>("m1", |u, ctx| u.add_personal_access_token(&pat, ctx))
        .await;
    w.exec::<User, _>("m1", |u, ctx| u.set_secret("sha256-secret", ctx))
        .await;
    w.exec::<User, _>("m1", |u, ctx| u.set_metadata("purpose", "ci", ctx))
        .await;

    let project = AddProject {
        org_id: "org-1".to_owned(),
        name: "Shop".to_owned(),
    };
    w.exec::<Project, _>("p1", |p, ctx| p.add(&project, &org1, ctx))
        .await;
    for key in ["reader", "writer", "admin"] {
        let role = ProjectRole {
            key: key.to_owned(),
            display_name: key.to_uppercase(),
            group: "shop".to_owned(),
        };
        w.exec::<Project, _>("p1", |p, ctx| p.add_role(&role, ctx))
            .await;
    }
    let org2: Organization = w.state("org-2").await;
    let grant = ProjectGrantAdded {
        grant_id: "g1".to_owned(),
        granted_org_id: "org-2".to_owned(),
        role_keys: vec!["reader".to_owned(), "writer".to_owned()],
    };
    w.exec::<Project, _>("p1", |p, ctx| p.add_grant(&grant, &org2, ctx))
        .await;
    let project2 = AddProject {
        org_id: "org-2".to_owned(),
        name: "Warehouse".to_owned(),
    };
    w.exec::<Project, _>("p2", |p, ctx| p.add(&project2, &org2, ctx))
        .await;

    let p1: Project = w.state("p1").await;
    let oidc = AddOidcApp {
        project_id: "p1".to_owned(),
        name: "Shop web".to_owned(),
        client_id: "shop-web".to_owned(),
        config: OidcConfig {
            app_type: OidcAppType::Web,
            redirect_uris: vec!["https://shop.example.com/callback".to_owned()],
            post_logout_redirect_uris: vec![],
            response_types: vec![OidcResponseType::Code],
            grant_types: vec![OidcGrantType::AuthorizationCode],
            auth_method: OidcAuthMethod::Basic,
            require_pkce: false,
            access_token_type: AccessTokenType::Jwt,
            dev_mode: false,
            id_token_signed_response_alg: None,
            access_token_signed_response_alg: None,
        },
        client_secret_hash: Some("sha256-client".to_owned()),
    };
    w.exec::<Application, _>("a1", |a, ctx| a.add_oidc(&oidc, &p1, ctx))
        .await;
    let api = AddApiApp {
        project_id: "p1".to_owned(),
        name: "Shop API".to_owned(),
        client_id: "shop-api".to_owned(),
        config: ApiConfig {
            auth_method: ApiAuthMethod::PrivateKeyJwt,
            access_token_type: AccessTokenType::Jwt,
        },
        client_secret_hash: None,
    };
    w.exec::<Application, _>("a2", |a, ctx| a.add_api(&api, &p1, ctx))
        .await;
    w.exec::<Application, _>("a2", |a, ctx| a.rename("Shop backend", ctx))
        .await;

    let u1: User = w.state("u1").await;
    let grant1 = AddUserGrant {
        user_id: "u1".to_owned(),
        project_id: "p1".to_owned(),
        project_grant_id: None,
        role_keys: vec!["reader".to_owned(), "writer".to_owned()],
    };
    w.exec::<UserGrant, _>("ug1", |g, ctx| g.add(&grant1, &u1, &p1, ctx))
        .await;
    let u3: User = w.state("u3").await;
    let grant2 = AddUserGrant {
        user_id: "u3".to_owned(),
        project_id: "p1".to_owned(),
        project_grant_id: Some("g1".to_owned()),
        role_keys: vec!["reader".to_owned()],
    };
    w.exec::<UserGrant, _>("ug2", |g, ctx| g.add(&grant2, &u3, &p1, ctx))
        .await;
    let u2: User = w.state("u2").await;
    let grant3 = AddUserGrant {
        user_id: "u2".to_owned(),
        project_id: "p1".to_owned(),
        project_grant_id: None,
        role_keys: vec!["admin".to_owned()],
    };
    w.exec::<UserGrant, _>("ug3", |g, ctx| g.add(&grant3, &u2, &p1, ctx))
        .await;
    w.exec::<UserGrant, _>("ug3", |g, ctx| g.deactivate(ctx))
        .await;

    w.exec::<Instance, _>(INSTANCE, |i, ctx| {
        i.add_member("u1", &u1, &[Role::IamOwner], ctx)
    })
    .await;
    w.exec::<Organization, _>("org-1", |o, ctx| {
        o.add_member("u2", &u2, &[Role::OrgOwner], ctx)
    })
    .await;
    w.exec::<Organization, _>("org-2", |o, ctx| {
        o.add_member(
            "u3",
            &u3,
            &[Role::OrgOwnerViewer, Role::OrgUserManager],
            ctx,
        )
    })
    .await;
    w.exec::<Project, _>("p1", |p, ctx| {
        p.add_member("u3", &u3, &[Role::ProjectOwner], ctx)
    })
    .await;
    let u9: User = w.state("u9").await;
    w.exec::<Organization, _>("org-2", |o, ctx| {
        o.add_member("u9", &u9, &[Role::OrgOwner], ctx)
    })
    .await;
    // Removing a user ends its memberships in the view.
    w.exec::<User, _>("u9", |u, ctx| u.remove(ctx)).await;
}

/// Waits until `check` holds, failing after `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The ids of every aggregate of `aggregate_type` in the stream.
pub async fn aggregate_ids(store: &Store, aggregate_type: &str) -> Vec<String> {
    let events = store
        .read_stream(&StreamQuery {
            aggregate_types: vec![aggregate_type.to_owned()],
            ..StreamQuery::after(Cursor::START, 1_000_000)
        })
        .await
        .expect("read stream");
    let mut ids: Vec<String> = events
        .into_iter()
        .map(|e| e.aggregate.aggregate_id)
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

fn state_of(lifecycle: Lifecycle) -> Option<State> {
    match lifecycle {
        Lifecycle::Active => Some(State::Active),
        Lifecycle::Inactive => Some(State::Inactive),
        Lifecycle::Unspecified | Lifecycle::Removed => None,
    }
}

/// The content of every view, as the domain says it must be (from replaying each aggregate), next to what the
/// query services return. Times and sequences are left out: they come from the events in both.
pub async fn expected_and_actual(w: &Writer, queries: &Queries) -> (Value, Value) {
    let c = Consistency::Latest;
    let mut expected = BTreeMap::new();
    let mut actual = BTreeMap::new();

    let instance: Instance = w.state(INSTANCE).await;
    expected.insert(
        "instance".to_owned(),
        json!({ "name": instance.name, "domains": instance.domains, "primary": instance.primary_domain }),
    );
    let view = queries
        .instance(INSTANCE, c)
        .await
        .expect("instance")
        .expect("instance exists");
    actual.insert(
        "instance".to_owned(),
        json!({ "name": view.name, "domains": view.domains, "primary": view.primary_domain }),
    );

    let mut removed_users = Vec::new();
    for id in aggregate_ids(&w.store, "user").await {
        let user: User = w.state(&id).await;
        if !user.exists() {
            removed_users.push(id.clone());
        }
        let exp = state_of(user.lifecycle).map(|state| {
            let mut v = json!({
                "org": user.org_id, "login": user.login_name, "state": state, "locked": user.locked,
                "metadata": user.metadata,
            });
            match &user.kind {
                Some(UserKind::Human(h)) => {
                    v["display"] = json!(h.profile.display_name);
                    v["human"] = json!({
                        "given": h.profile.given_name, "family": h.profile.family_name, "email": h.email,
                        "verified": h.email_verified, "phone": h.phone, "password_set": h.password_hash.is_some(),
                        "change_required": h.password_change_required,
                    });
                }
                Some(UserKind::Machine(m)) => {
                    v["display"] = json!(m.name);
                    v["machine"] = json!({
                        "description": m.description, "has_secret": m.secret_hash.is_some(),
                        "keys": m.keys.iter().map(|(k, key)| (k.clone(), key.expires_at_unix_ms)).collect::<Vec<_>>(),
                        "pats": m.tokens.iter().map(|(k, t)| (k.clone(), t.expires_at_unix_ms)).collect::<Vec<_>>(),
                    });
                }
                None => {}
            }
            v
        });
        expected.insert(format!("user/{id}"), json!(exp));
        let view = queries.user(INSTANCE, &id, c).await.expect("user");
        let act = match view {
            None => None,
            Some(v) => {
                let metadata: BTreeMap<String, String> = queries
                    .user_metadata(INSTANCE, &id, c)
                    .await
                    .expect("metadata")
                    .into_iter()
                    .map(|m| (m.key, m.value))
                    .collect();
                let mut out = json!({
                    "org": v.org_id, "login": v.login_name, "state": v.state, "locked": v.locked,
                    "metadata": metadata, "display": v.display_name,
                });
                if let Some(h) = &v.human {
                    out["human"] = json!({
                        "given": h.given_name, "family": h.family_name, "email": h.email,
                        "verified": h.email_verified, "phone": h.phone, "password_set": h.password_set,
                        "change_required": h.password_change_required,
                    });
                }
                if let Some(m) = &v.machine {
                    let keys = queries.machine_keys(INSTANCE, &id, c).await.expect("keys");
                    let pats = queries
                        .personal_access_tokens(INSTANCE, &id, c)
                        .await
                        .expect("pats");
                    out["machine"] = json!({
                        "description": m.description, "has_secret": m.has_secret,
                        "keys": keys.iter().map(|k| (k.key_id.clone(), k.expires_at_ms)).collect::<Vec<_>>(),
                        "pats": pats.iter().map(|t| (t.token_id.clone(), t.expires_at_ms)).collect::<Vec<_>>(),
                    });
                }
                Some(out)
            }
        };
        actual.insert(format!("user/{id}"), json!(act));
    }

    let defaults = instance.policies.clone();
    expected.insert("policies/".to_owned(), json!(defaults));
    let view = queries
        .policies(INSTANCE, None, c)
        .await
        .expect("policies")
        .expect("defaults");
    actual.insert("policies/".to_owned(), json!(view.to_policy_set()));

    let mut memberships_expected = Vec::new();
    for (user, roles) in instance.members.iter() {
        if !removed_users.iter().any(|r| r == user) {
            memberships_expected.push(json!([ScopeKind::Instance, INSTANCE, user, roles]));
        }
    }

    for id in aggregate_ids(&w.store, "org").await {
        let org: Organization = w.state(&id).await;
        let exp = state_of(org.lifecycle).map(|state| {
            json!({
                "name": org.name, "state": state, "primary": org.primary_domain,
                "domains": org.domains.iter().map(|d| (d.domain.clone(), d.verified)).collect::<Vec<_>>(),
            })
        });
        expected.insert(format!("org/{id}"), json!(exp));
        let act = match queries.org(INSTANCE, &id, c).await.expect("org") {
            None => None,
            Some(v) => {
                let domains = queries
                    .org_domains(INSTANCE, &id, c)
                    .await
                    .expect("domains");
                Some(json!({
                    "name": v.name, "state": v.state, "primary": v.primary_domain,
                    "domains": domains.iter().map(|d| (d.domain.clone(), d.verified)).collect::<Vec<_>>(),
                }))
            }
        };
        actual.insert(format!("org/{id}"), json!(act));
        if org.exists() {
            expected.insert(
                format!("policies/{id}"),
                json!(resolve(&defaults, &org.policy_overrides)),
            );
            let view = queries
                .policies(INSTANCE, Some(&id), c)
                .await
                .expect("policies")
                .expect("org policies");
            actual.insert(format!("policies/{id}"), json!(view.to_policy_set()));
            for (user, roles) in org.members.iter() {
                if !removed_users.iter().any(|r| r == user) {
                    memberships_expected.push(json!([ScopeKind::Org, id, user, roles]));
                }
            }
        }
    }

    for id in aggregate_ids(&w.store, "project").await {
        let project: Project = w.state(&id).await;
        let exp = state_of(project.lifecycle).map(|state| {
            json!({
                "org": project.org_id, "name": project.name, "state": state,
                "roles": project.roles.values().map(|r| (r.key.clone(), r.display_name.clone(), r.group.clone())).collect::<Vec<_>>(),
                "grants": project.grants.iter().map(|(id, g)| (id.clone(), g.granted_org_id.clone(), g.role_keys.clone())).collect::<Vec<_>>(),
            })
        });
        expected.insert(format!("project/{id}"), json!(exp));
        let act = match queries.project(INSTANCE, &id, c).await.expect("project") {
            None => None,
            Some(v) => {
                let roles = queries
                    .project_roles(INSTANCE, &id, c, warden_query::Page::first(500))
                    .await
                    .expect("roles");
                let grants = queries
                    .project_grants(
                        INSTANCE,
                        &warden_query::ProjectGrantQuery {
                            project_id: Some(id.clone()),
                            ..Default::default()
                        },
                        warden_query::Page::first(500),
                    )
                    .await
                    .expect("grants");
                let mut grants: Vec<_> = grants
                    .items
                    .iter()
                    .map(|g| {
                        (
                            g.grant_id.clone(),
                            g.granted_org_id.clone(),
                            g.role_keys.clone(),
                        )
                    })
                    .collect();
                grants.sort();
                Some(json!({
                    "org": v.org_id, "name": v.name, "state": v.state,
                    "roles": roles.items.iter().map(|r| (r.key.clone(), r.display_name.clone(), r.group.clone())).collect::<Vec<_>>(),
                    "grants": grants,
                }))
            }
        };
        actual.insert(format!("project/{id}"), json!(act));
        if project.exists() {
            for (user, roles) in project.members.iter() {
                if !removed_users.iter().any(|r| r == user) {
                    memberships_expected.push(json!([ScopeKind::Project, id, user, roles]));
                }
            }
        }
    }

    for id in aggregate_ids(&w.store, "application").await {
        let app: Application = w.state(&id).await;
        let exp = state_of(app.lifecycle).map(|state| {
            let (oidc, api) = match &app.config {
                Some(AppConfig::Oidc(c)) => (Some(c.clone()), None),
                Some(AppConfig::Api(c)) => (None, Some(c.clone())),
                None => (None, None),
            };
            json!({
                "project": app.project_id, "org": app.org_id, "name": app.name, "state": state,
                "client_id": app.client_id, "has_secret": app.client_secret_hash.is_some(),
                "oidc": oidc, "api": api,
            })
        });
        expected.insert(format!("app/{id}"), json!(exp));
        let act = queries.application(INSTANCE, &id, c).await.expect("app").map(|v| {
            json!({
                "project": v.project_id, "org": v.org_id, "name": v.name, "state": v.state,
                "client_id": v.client_id, "has_secret": v.has_secret, "oidc": v.oidc, "api": v.api,
            })
        });
        actual.insert(format!("app/{id}"), json!(act));
    }

    for id in aggregate_ids(&w.store, "user_grant").await {
        let grant: UserGrant = w.state(&id).await;
        let exp = state_of(grant.lifecycle).map(|state| {
            json!({
                "user": grant.user_id, "project": grant.project_id, "project_grant": grant.project_grant_id,
                "org": grant.org_id, "roles": grant.role_keys, "state": state,
            })
        });
        expected.insert(format!("user_grant/{id}"), json!(exp));
        let act = queries
            .user_grant(INSTANCE, &id, c)
            .await
            .expect("grant")
            .map(|v| {
                json!({
                    "user": v.user_id, "project": v.project_id, "project_grant": v.project_grant_id,
                    "org": v.org_id, "roles": v.role_keys, "state": v.state,
                })
            });
        actual.insert(format!("user_grant/{id}"), json!(act));
    }

    memberships_expected.sort_by_key(|v| v.to_string());
    expected.insert("memberships".to_owned(), json!(memberships_expected));
    let memberships = queries
        .memberships(
            INSTANCE,
            &Default::default(),
            warden_query::Page::first(500),
        )
        .await
        .expect("memberships");
    let mut memberships_actual: Vec<Value> = memberships
        .items
        .iter()
        .map(|m: &MembershipView| json!([m.scope, m.scope_id, m.user_id, m.roles]))
        .collect();
    memberships_actual.sort_by_key(|v| v.to_string());
    actual.insert("memberships".to_owned(), json!(memberships_actual));

    (json!(expected), json!(actual))
}

/// Every row of every view table, for comparing a view with its rebuild.
pub async fn dump_views(store: &Store) -> Value {
    let db = warden_spooler::Db::of(store);
    let mut out = BTreeMap::new();
    let tables: [(&str, &str); 16] = [
        ("instances", "instance_id"),
        ("instance_domains", "instance_id, domain"),
        ("orgs", "instance_id, id"),
        ("org_domains", "instance_id, org_id, domain"),
        ("users", "instance_id, id"),
        ("user_metadata", "instance_id, user_id, key"),
        ("machine_keys", "instance_id, user_id, key_id"),
        ("personal_access_tokens", "instance_id, user_id, token_id"),
        ("projects", "instance_id, id"),
        ("project_roles", "instance_id, project_id, role_key"),
        ("project_grants", "instance_id, project_id, grant_id"),
        ("applications", "instance_id, id"),
        ("application_keys", "instance_id, app_id, key_id"),
        ("user_grants", "instance_id, id"),
        ("memberships", "instance_id, scope, scope_id, user_id"),
        ("policies", "instance_id, org_id, kind"),
    ];
    for (table, order) in tables {
        let sql = match store.backend() {
            "postgres" => {
                format!("SELECT to_jsonb(t)::text AS row FROM {table} t ORDER BY {order}")
            }
            _ => format!("SELECT * FROM {table} ORDER BY {order}"),
        };
        let rows = db.fetch_all(&sql, &[]).await.expect("dump table");
        let rows: Vec<String> = rows
            .iter()
            .map(|row| match row {
                warden_spooler::DbRow::Postgres(_) => row.get::<String>("row").expect("row"),
                warden_spooler::DbRow::Sqlite(r) => sqlite_row_text(r),
            })
            .collect();
        out.insert(table.to_owned(), rows);
    }
    json!(out)
}

fn sqlite_row_text(row: &sqlx::sqlite::SqliteRow) -> String {
    use sqlx::{Column, Row, ValueRef};
    let mut parts = Vec::new();
    for column in row.columns() {
        let raw = row.try_get_raw(column.ordinal()).expect("column");
        let text = if raw.is_null() {
            "null".to_owned()
        } else if let Ok(v) = row.try_get::<i64, _>(column.ordinal()) {
            v.to_string()
        } else {
            row.try_get::<String, _>(column.ordinal())
                .unwrap_or_default()
        };
        parts.push(format!("{}={text}", column.name()));
    }
    parts.join(";")
}
