//! Policies in force: the instance defaults or an organization's, with its overrides resolved.

use serde::{Deserialize, Serialize};
use tracing::instrument;
use warden_domain::policy::{LockoutPolicy, LoginPolicy, PasswordComplexityPolicy, PolicySet};

use crate::{
    QueryError,
    list::{Field, ListSpec, Paging},
    projections::POLICIES,
    row::corrupt,
    service::{Consistency, Queries},
};

/// A policy in force, and whether it follows the instance default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyView<T> {
    /// The policy.
    pub policy: T,
    /// True when an organization follows the instance default (always false for the defaults themselves).
    pub inherited: bool,
}

/// The policies in force for the instance (its defaults) or for an organization (overrides resolved).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoliciesView {
    /// The instance.
    pub instance_id: String,
    /// The organization, or `None` for the instance defaults.
    pub org_id: Option<String>,
    /// Password complexity.
    pub password_complexity: PolicyView<PasswordComplexityPolicy>,
    /// Lockout.
    pub lockout: PolicyView<LockoutPolicy>,
    /// Login.
    pub login: PolicyView<LoginPolicy>,
}

impl PoliciesView {
    /// The policies as one set.
    pub fn to_policy_set(&self) -> PolicySet {
        PolicySet {
            password_complexity: self.password_complexity.policy.clone(),
            lockout: self.lockout.policy.clone(),
            login: self.login.policy.clone(),
        }
    }
}

/// The policies of the instance defaults (the query is the empty string) or of one organization (its id).
static POLICY_LIST: ListSpec<str, PolicyRow> = ListSpec::new(
    "policies",
    "kind, policy, inherited",
    &[Field::eq("org_id", |org_id| Some(org_id.into()))],
    None,
    &["kind"],
    Paging::Unpaged,
);

/// A row of `policies`: one policy, of the type `kind` names.
#[derive(sqlx::FromRow)]
struct PolicyRow {
    kind: String,
    #[sqlx(json)]
    policy: serde_json::Value,
    inherited: bool,
}

impl PolicyRow {
    fn view<T: serde::de::DeserializeOwned>(self) -> Result<PolicyView<T>, sqlx::Error> {
        Ok(PolicyView {
            policy: serde_json::from_value(self.policy).map_err(|e| corrupt("policy", e))?,
            inherited: self.inherited,
        })
    }
}

impl Queries {
    /// The policies in force: the instance defaults (`org_id` `None`) or an organization's, with its overrides
    /// resolved. `None` when the instance or organization has none.
    #[instrument(skip(self), err)]
    pub async fn policies(
        &self,
        instance_id: &str,
        org_id: Option<&str>,
        consistency: Consistency,
    ) -> Result<Option<PoliciesView>, QueryError> {
        let mut aggregates = vec![("instance", instance_id)];
        if let Some(org_id) = org_id {
            aggregates.push(("org", org_id));
        }
        self.settle(POLICIES, consistency, instance_id, &aggregates)
            .await?;
        let rows: Vec<PolicyRow> = self
            .list_all(&POLICY_LIST, instance_id, org_id.unwrap_or(""))
            .await?;
        let mut password_complexity = None;
        let mut lockout = None;
        let mut login = None;
        for row in rows {
            match row.kind.as_str() {
                "password_complexity" => password_complexity = Some(row.view()?),
                "lockout" => lockout = Some(row.view()?),
                "login" => login = Some(row.view()?),
                _ => {}
            }
        }
        Ok(match (password_complexity, lockout, login) {
            (Some(password_complexity), Some(lockout), Some(login)) => Some(PoliciesView {
                instance_id: instance_id.to_owned(),
                org_id: org_id.map(str::to_owned),
                password_complexity,
                lockout,
                login,
            }),
            _ => None,
        })
    }
}
