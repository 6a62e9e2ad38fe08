//! Members of an instance, organization or project: users holding [`Role`]s there.
//!
//! Members live in the aggregate they are members of (instance, organization, project), so removing that
//! aggregate ends its memberships and one aggregate's members stay consistent with each other. The rules shared
//! by the three are here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::authz::{Membership, Role, Scope, ScopeKind};
use crate::error::DomainError;
use crate::user::User;
use crate::{Aggregate, CommandContext, Decision};

/// Payload of a `*.member.added` or `*.member.changed` event: the member's complete role set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRoles {
    /// The member's user id.
    pub user_id: String,
    /// The roles, sorted.
    pub roles: Vec<Role>,
}

/// Payload of a `*.member.removed` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRemoved {
    /// The former member's user id.
    pub user_id: String,
}

/// An aggregate users are members of (the instance, an organization, a project): its member commands
/// decide alike, on its [`Members`].
pub trait WithMembers: Aggregate {
    /// The scope of the roles its members hold.
    const MEMBER_SCOPE: ScopeKind;

    /// Its members.
    fn members(&self) -> &Members;

    /// Refuses with its own "not found" when it does not exist.
    fn ensure_scope_exists(&self) -> Result<(), DomainError>;

    /// Its event for `change`.
    fn member_event(change: MemberChange) -> Self::Event;

    /// Refuses to let `user_id` keep only `roles` (`None`: no membership at all); nothing to refuse unless
    /// the aggregate says so (the instance keeps its last `IAM_OWNER`).
    fn ensure_may_leave(&self, _user_id: &str, _roles: Option<&[Role]>) -> Result<(), DomainError> {
        Ok(())
    }

    /// Makes `user` (whose id is `user_id`) a member with roles of [`Self::MEMBER_SCOPE`].
    fn add_member(
        &self,
        user_id: &str,
        user: &User,
        roles: &[Role],
        _ctx: &CommandContext,
    ) -> Result<Decision<Self::Event>, DomainError> {
        self.ensure_scope_exists()?;
        let added = self
            .members()
            .decide_add(Self::MEMBER_SCOPE, user_id, user, roles)?;
        Ok(Decision::event(Self::member_event(MemberChange::Added(
            added,
        ))))
    }

    /// Replaces a member's roles.
    fn change_member(
        &self,
        user_id: &str,
        roles: &[Role],
        _ctx: &CommandContext,
    ) -> Result<Decision<Self::Event>, DomainError> {
        self.ensure_scope_exists()?;
        let Some(changed) = self
            .members()
            .decide_change(Self::MEMBER_SCOPE, user_id, roles)?
        else {
            return Ok(Decision::unchanged());
        };
        self.ensure_may_leave(user_id, Some(&changed.roles))?;
        Ok(Decision::event(Self::member_event(MemberChange::Changed(
            changed,
        ))))
    }

    /// Ends a membership.
    fn remove_member(
        &self,
        user_id: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<Self::Event>, DomainError> {
        self.ensure_scope_exists()?;
        let removed = self.members().decide_remove(user_id)?;
        self.ensure_may_leave(user_id, None)?;
        Ok(Decision::event(Self::member_event(MemberChange::Removed(
            removed,
        ))))
    }
}

/// A decided change of one membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChange {
    /// A user became a member.
    Added(MemberRoles),
    /// A member's roles changed.
    Changed(MemberRoles),
    /// A user is no longer a member.
    Removed(MemberRemoved),
}

/// Implements [`WithMembers`] for an aggregate with a `members` field, an `ensure_exists` method and the
/// events `MemberAdded`, `MemberChanged` and `MemberRemoved`.
macro_rules! with_members {
    ($aggregate:ty, $event:ident, $scope:ident $(, $($leave:tt)+)?) => {
        impl $crate::member::WithMembers for $aggregate {
            const MEMBER_SCOPE: $crate::authz::ScopeKind = $crate::authz::ScopeKind::$scope;

            fn members(&self) -> &$crate::member::Members {
                &self.members
            }

            fn ensure_scope_exists(&self) -> Result<(), $crate::error::DomainError> {
                self.ensure_exists()
            }

            fn member_event(change: $crate::member::MemberChange) -> $event {
                match change {
                    $crate::member::MemberChange::Added(added) => $event::MemberAdded(added),
                    $crate::member::MemberChange::Changed(changed) => $event::MemberChanged(changed),
                    $crate::member::MemberChange::Removed(removed) => $event::MemberRemoved(removed),
                }
            }

            $($($leave)+)?
        }
    };
}
pub(crate) use with_members;

/// The members of one aggregate, by user id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Members {
    by_user: BTreeMap<String, Vec<Role>>,
}

impl Members {
    /// The roles of `user_id`, if a member.
    pub fn roles_of(&self, user_id: &str) -> Option<&[Role]> {
        self.by_user.get(user_id).map(Vec::as_slice)
    }

    /// Every member with its roles, by user id.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[Role])> {
        self.by_user.iter().map(|(u, r)| (u.as_str(), r.as_slice()))
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.by_user.len()
    }

    /// True without members.
    pub fn is_empty(&self) -> bool {
        self.by_user.is_empty()
    }

    /// The membership of `user_id` on `scope`, for [`authz::is_allowed`](crate::authz::is_allowed).
    pub fn membership_of(&self, user_id: &str, scope: Scope) -> Option<Membership> {
        self.roles_of(user_id).map(|roles| Membership {
            scope,
            roles: roles.to_vec(),
        })
    }

    /// The number of members holding `role`.
    pub fn count_with(&self, role: Role) -> usize {
        self.by_user.values().filter(|r| r.contains(&role)).count()
    }

    pub(crate) fn apply_set(&mut self, event: &MemberRoles) {
        self.by_user
            .insert(event.user_id.clone(), event.roles.clone());
    }

    pub(crate) fn apply_removed(&mut self, event: &MemberRemoved) {
        self.by_user.remove(&event.user_id);
    }

    /// Decides adding `user` (whose id is `user_id`) with `roles` of scope `kind`.
    pub(crate) fn decide_add(
        &self,
        kind: ScopeKind,
        user_id: &str,
        user: &User,
        roles: &[Role],
    ) -> Result<MemberRoles, DomainError> {
        if !user.exists() {
            return Err(DomainError::not_found(
                "user.not_found",
                format!("user {user_id} does not exist"),
            )
            .with_field("user_id"));
        }
        if self.by_user.contains_key(user_id) {
            return Err(DomainError::already_exists(
                "member.already_exists",
                format!("user {user_id} is already a member; change its roles instead"),
            )
            .with_field("user_id"));
        }
        Ok(MemberRoles {
            user_id: user_id.to_owned(),
            roles: check_roles(kind, roles)?,
        })
    }

    /// Decides replacing the roles of member `user_id`; `None` when they are unchanged.
    pub(crate) fn decide_change(
        &self,
        kind: ScopeKind,
        user_id: &str,
        roles: &[Role],
    ) -> Result<Option<MemberRoles>, DomainError> {
        let current = self.member(user_id)?;
        let roles = check_roles(kind, roles)?;
        if current == roles.as_slice() {
            return Ok(None);
        }
        Ok(Some(MemberRoles {
            user_id: user_id.to_owned(),
            roles,
        }))
    }

    /// Decides removing member `user_id`.
    pub(crate) fn decide_remove(&self, user_id: &str) -> Result<MemberRemoved, DomainError> {
        self.member(user_id)?;
        Ok(MemberRemoved {
            user_id: user_id.to_owned(),
        })
    }

    fn member(&self, user_id: &str) -> Result<&[Role], DomainError> {
        self.roles_of(user_id).ok_or_else(|| {
            DomainError::not_found(
                "member.not_found",
                format!("user {user_id} is not a member"),
            )
            .with_field("user_id")
        })
    }
}

/// Checks a role set for a membership of `kind`: not empty, no repeats, every role of that kind. Returns it sorted.
fn check_roles(kind: ScopeKind, roles: &[Role]) -> Result<Vec<Role>, DomainError> {
    if roles.is_empty() {
        return Err(DomainError::invalid(
            "roles",
            "member.roles.required",
            "roles must name at least one role; remove the member instead",
        ));
    }
    let mut checked: Vec<Role> = Vec::with_capacity(roles.len());
    for (i, role) in roles.iter().enumerate() {
        if role.scope_kind() != kind {
            return Err(DomainError::invalid(
                format!("roles[{i}]"),
                "member.role.wrong_scope",
                format!(
                    "role {role} is a {} role and cannot be given on a {} membership",
                    role.scope_kind().as_str(),
                    kind.as_str()
                ),
            ));
        }
        if checked.contains(role) {
            return Err(DomainError::invalid(
                format!("roles[{i}]"),
                "member.role.duplicate",
                format!("role {role} is listed more than once"),
            ));
        }
        checked.push(*role);
    }
    checked.sort();
    Ok(checked)
}
