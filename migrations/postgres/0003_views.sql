-- Query views, kept up to date by the built-in projections of warden-query (one projection per group of
-- tables below). Every row carries its instance. Times are ms since the Unix epoch, taken from the events
-- (never from a clock), so a rebuild gives the same rows. `sequence` is the sequence of the last event of
-- the row's aggregate applied to the row. Removed resources are deleted from their views.

-- Projection `instances`.
CREATE TABLE instances (
    instance_id       TEXT    NOT NULL PRIMARY KEY,
    name              TEXT    NOT NULL,
    default_language  TEXT    NOT NULL,
    primary_domain    TEXT,
    state             TEXT    NOT NULL,
    created_at_ms     BIGINT  NOT NULL,
    changed_at_ms     BIGINT  NOT NULL,
    sequence          BIGINT  NOT NULL
);
CREATE TABLE instance_domains (
    instance_id    TEXT    NOT NULL,
    domain         TEXT    NOT NULL,
    is_primary     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at_ms  BIGINT  NOT NULL,
    PRIMARY KEY (instance_id, domain)
);
-- Requests are routed to an instance by host name.
CREATE INDEX instance_domains_domain ON instance_domains (domain);

-- Projection `orgs`.
CREATE TABLE orgs (
    instance_id     TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    name_lower      TEXT COLLATE "C" NOT NULL,
    state           TEXT    NOT NULL,
    primary_domain  TEXT,
    created_at_ms   BIGINT  NOT NULL,
    changed_at_ms   BIGINT  NOT NULL,
    sequence        BIGINT  NOT NULL,
    PRIMARY KEY (instance_id, id)
);
CREATE INDEX orgs_name ON orgs (instance_id, name_lower, id);
CREATE INDEX orgs_created ON orgs (instance_id, created_at_ms, id);
CREATE TABLE org_domains (
    instance_id    TEXT    NOT NULL,
    org_id         TEXT    NOT NULL,
    domain         TEXT    NOT NULL,
    verified       BOOLEAN NOT NULL DEFAULT FALSE,
    is_primary     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at_ms  BIGINT  NOT NULL,
    PRIMARY KEY (instance_id, org_id, domain)
);
CREATE INDEX org_domains_domain ON org_domains (instance_id, domain);

-- Projection `users`: humans and machines, their metadata, machine keys and personal access tokens (never
-- password, secret or token hashes: only whether one is set).
CREATE TABLE users (
    instance_id               TEXT    NOT NULL,
    id                        TEXT    NOT NULL,
    org_id                    TEXT    NOT NULL,
    kind                      TEXT    NOT NULL,
    login_name                TEXT    NOT NULL,
    login_name_lower          TEXT COLLATE "C" NOT NULL,
    state                     TEXT    NOT NULL,
    locked                    BOOLEAN NOT NULL DEFAULT FALSE,
    display_name              TEXT    NOT NULL,
    given_name                TEXT,
    family_name               TEXT,
    preferred_language        TEXT,
    email                     TEXT,
    email_verified            BOOLEAN,
    phone                     TEXT,
    password_set              BOOLEAN,
    password_change_required  BOOLEAN,
    description               TEXT,
    has_secret                BOOLEAN,
    created_at_ms             BIGINT  NOT NULL,
    changed_at_ms             BIGINT  NOT NULL,
    sequence                  BIGINT  NOT NULL,
    PRIMARY KEY (instance_id, id)
);
CREATE INDEX users_login_name ON users (instance_id, login_name_lower, id);
CREATE INDEX users_org_login_name ON users (instance_id, org_id, login_name_lower, id);
CREATE INDEX users_created ON users (instance_id, created_at_ms, id);
CREATE TABLE user_metadata (
    instance_id  TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    key          TEXT NOT NULL,
    value        TEXT NOT NULL,
    PRIMARY KEY (instance_id, user_id, key)
);
CREATE TABLE machine_keys (
    instance_id    TEXT   NOT NULL,
    user_id        TEXT   NOT NULL,
    key_id         TEXT   NOT NULL,
    format         TEXT   NOT NULL,
    public_key     TEXT   NOT NULL,
    expires_at_ms  BIGINT NOT NULL,
    created_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (instance_id, user_id, key_id)
);
CREATE TABLE personal_access_tokens (
    instance_id    TEXT   NOT NULL,
    user_id        TEXT   NOT NULL,
    token_id       TEXT   NOT NULL,
    expires_at_ms  BIGINT NOT NULL,
    created_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (instance_id, user_id, token_id)
);

-- Projection `projects`: projects, their roles and their grants to other organizations.
CREATE TABLE projects (
    instance_id    TEXT    NOT NULL,
    id             TEXT    NOT NULL,
    org_id         TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    name_lower     TEXT COLLATE "C" NOT NULL,
    state          TEXT    NOT NULL,
    created_at_ms  BIGINT  NOT NULL,
    changed_at_ms  BIGINT  NOT NULL,
    sequence       BIGINT  NOT NULL,
    PRIMARY KEY (instance_id, id)
);
CREATE INDEX projects_org_name ON projects (instance_id, org_id, name_lower, id);
CREATE INDEX projects_name ON projects (instance_id, name_lower, id);
CREATE TABLE project_roles (
    instance_id    TEXT   NOT NULL,
    project_id     TEXT   NOT NULL,
    role_key       TEXT   NOT NULL,
    display_name   TEXT   NOT NULL,
    role_group     TEXT   NOT NULL,
    created_at_ms  BIGINT NOT NULL,
    changed_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (instance_id, project_id, role_key)
);
CREATE TABLE project_grants (
    instance_id     TEXT    NOT NULL,
    project_id      TEXT    NOT NULL,
    grant_id        TEXT    NOT NULL,
    org_id          TEXT    NOT NULL,
    granted_org_id  TEXT    NOT NULL,
    role_keys       JSONB   NOT NULL,
    created_at_ms   BIGINT  NOT NULL,
    changed_at_ms   BIGINT  NOT NULL,
    PRIMARY KEY (instance_id, project_id, grant_id)
);
CREATE INDEX project_grants_granted_org ON project_grants (instance_id, granted_org_id);

-- Projection `applications`.
CREATE TABLE applications (
    instance_id    TEXT    NOT NULL,
    id             TEXT    NOT NULL,
    project_id     TEXT    NOT NULL,
    org_id         TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    name_lower     TEXT COLLATE "C" NOT NULL,
    kind           TEXT    NOT NULL,
    state          TEXT    NOT NULL,
    client_id      TEXT    NOT NULL,
    app_type       TEXT,
    auth_method    TEXT    NOT NULL,
    redirect_uris  JSONB   NOT NULL,
    config         JSONB   NOT NULL,
    has_secret     BOOLEAN NOT NULL,
    created_at_ms  BIGINT  NOT NULL,
    changed_at_ms  BIGINT  NOT NULL,
    sequence       BIGINT  NOT NULL,
    PRIMARY KEY (instance_id, id)
);
CREATE INDEX applications_project ON applications (instance_id, project_id, name_lower, id);
CREATE INDEX applications_client_id ON applications (instance_id, client_id);

-- Projection `user_grants`.
CREATE TABLE user_grants (
    instance_id       TEXT   NOT NULL,
    id                TEXT   NOT NULL,
    user_id           TEXT   NOT NULL,
    project_id        TEXT   NOT NULL,
    project_grant_id  TEXT,
    org_id            TEXT   NOT NULL,
    role_keys         JSONB  NOT NULL,
    state             TEXT   NOT NULL,
    created_at_ms     BIGINT NOT NULL,
    changed_at_ms     BIGINT NOT NULL,
    sequence          BIGINT NOT NULL,
    PRIMARY KEY (instance_id, id)
);
CREATE INDEX user_grants_user ON user_grants (instance_id, user_id, created_at_ms, id);
CREATE INDEX user_grants_project ON user_grants (instance_id, project_id, created_at_ms, id);
CREATE INDEX user_grants_org ON user_grants (instance_id, org_id, created_at_ms, id);

-- Projection `memberships`: members of the instance, of organizations and of projects, with their roles.
-- `scope` is `instance`, `org` or `project`; `scope_id` the instance, organization or project id.
CREATE TABLE memberships (
    instance_id    TEXT   NOT NULL,
    scope          TEXT   NOT NULL,
    scope_id       TEXT   NOT NULL,
    user_id        TEXT   NOT NULL,
    roles          JSONB  NOT NULL,
    created_at_ms  BIGINT NOT NULL,
    changed_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (instance_id, scope, scope_id, user_id)
);
CREATE INDEX memberships_user ON memberships (instance_id, user_id);

-- Projection `policies`: the policies in force, one row per kind for the instance defaults (org_id '') and
-- for every organization, with the organization's overrides resolved (`inherited`: follows the default).
CREATE TABLE policies (
    instance_id    TEXT    NOT NULL,
    org_id         TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    policy         JSONB   NOT NULL,
    inherited      BOOLEAN NOT NULL,
    changed_at_ms  BIGINT  NOT NULL,
    PRIMARY KEY (instance_id, org_id, kind)
);
