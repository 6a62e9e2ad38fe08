//! The `policies` projection: the policies in force for the instance and for each organization.
//!
//! The instance defaults are rows with `org_id` `''`. Every organization has one row per policy kind: its own
//! override, or a copy of the instance default marked `inherited`, which follows later changes of the default.

use warden_domain::{
    instance::InstanceEvent,
    org::OrgEvent,
    policy::{Policy, PolicyKind, PolicySet},
};
use warden_eventstore::Event;
use warden_spooler::{ProjectionError, SqlValue, ViewTx, params};

use super::{POLICIES, at_ms, decode};

const KINDS: [PolicyKind; 3] = [
    PolicyKind::PasswordComplexity,
    PolicyKind::Lockout,
    PolicyKind::Login,
];

builtin_projection! {
    /// Keeps `policies` up to date.
    PoliciesProjection {
        name: POLICIES,
        aggregate_types: ["instance", "org"],
        event_types: {
            let mut types = vec!["org.added".to_owned(), "org.removed".to_owned()];
            for kind in KINDS {
                types.push(format!("instance.policy.{}.set", kind.as_str()));
                types.push(format!("org.policy.{}.set", kind.as_str()));
                types.push(format!("org.policy.{}.reset", kind.as_str()));
            }
            types
        },
        tables: ["policies"],
        apply: apply,
    }
}

/// A policy's JSON as stored: the policy itself, without the kind tag.
fn policy_json(policy: &Policy) -> SqlValue {
    match policy {
        Policy::PasswordComplexity(p) => SqlValue::json(p),
        Policy::Lockout(p) => SqlValue::json(p),
        Policy::Login(p) => SqlValue::json(p),
    }
}

/// The built-in default of `kind`, used where an instance has no default yet.
fn builtin_default(kind: PolicyKind) -> SqlValue {
    policy_json(&PolicySet::default().get(kind))
}

/// Sets an organization's policy of `kind` to the instance default (or the built-in one), marked inherited.
async fn inherit(
    tx: &mut ViewTx,
    instance: &str,
    org: &str,
    kind: PolicyKind,
    at: i64,
) -> Result<(), ProjectionError> {
    tx.execute(
        "INSERT INTO policies (instance_id, org_id, kind, policy, inherited, changed_at_ms) \
         VALUES ($1, $2, $3, COALESCE((SELECT d.policy FROM policies d \
             WHERE d.instance_id = $1 AND d.org_id = '' AND d.kind = $3), $4), TRUE, $5) \
         ON CONFLICT (instance_id, org_id, kind) DO UPDATE SET \
             policy = excluded.policy, inherited = TRUE, changed_at_ms = excluded.changed_at_ms",
        &params![instance, org, kind.as_str(), builtin_default(kind), at],
    )
    .await?;
    Ok(())
}

/// Sets a policy of the instance (`org` `''`) or an organization, not inherited.
async fn set(
    tx: &mut ViewTx,
    instance: &str,
    org: &str,
    policy: &Policy,
    at: i64,
) -> Result<(), ProjectionError> {
    tx.execute(
        "INSERT INTO policies (instance_id, org_id, kind, policy, inherited, changed_at_ms) \
         VALUES ($1, $2, $3, $4, FALSE, $5) ON CONFLICT (instance_id, org_id, kind) DO UPDATE SET \
         policy = excluded.policy, inherited = FALSE, changed_at_ms = excluded.changed_at_ms",
        &params![
            instance,
            org,
            policy.kind().as_str(),
            policy_json(policy),
            at
        ],
    )
    .await?;
    Ok(())
}

async fn apply(tx: &mut ViewTx, event: &Event) -> Result<(), ProjectionError> {
    let instance = event.aggregate.instance_id.as_str();
    let id = event.aggregate.aggregate_id.as_str();
    let at = at_ms(event);
    if event.aggregate.aggregate_type == "instance" {
        let policy = match decode::<InstanceEvent>(event)? {
            InstanceEvent::PasswordComplexityPolicySet(p) => Policy::PasswordComplexity(p),
            InstanceEvent::LockoutPolicySet(p) => Policy::Lockout(p),
            InstanceEvent::LoginPolicySet(p) => Policy::Login(p),
            _ => return Ok(()),
        };
        set(tx, instance, "", &policy, at).await?;
        // Organizations following the default follow the change.
        tx.execute(
            "UPDATE policies SET policy = $3, changed_at_ms = $4 \
             WHERE instance_id = $1 AND kind = $2 AND inherited AND org_id <> ''",
            &params![instance, policy.kind().as_str(), policy_json(&policy), at],
        )
        .await?;
        return Ok(());
    }
    match decode::<OrgEvent>(event)? {
        OrgEvent::Added(_) => {
            for kind in KINDS {
                inherit(tx, instance, id, kind, at).await?;
            }
        }
        OrgEvent::Removed => {
            tx.execute(
                "DELETE FROM policies WHERE instance_id = $1 AND org_id = $2",
                &params![instance, id],
            )
            .await?;
        }
        OrgEvent::PasswordComplexityPolicySet(p) => {
            set(tx, instance, id, &Policy::PasswordComplexity(p), at).await?
        }
        OrgEvent::LockoutPolicySet(p) => set(tx, instance, id, &Policy::Lockout(p), at).await?,
        OrgEvent::LoginPolicySet(p) => set(tx, instance, id, &Policy::Login(p), at).await?,
        OrgEvent::PasswordComplexityPolicyReset => {
            inherit(tx, instance, id, PolicyKind::PasswordComplexity, at).await?;
        }
        OrgEvent::LockoutPolicyReset => inherit(tx, instance, id, PolicyKind::Lockout, at).await?,
        OrgEvent::LoginPolicyReset => inherit(tx, instance, id, PolicyKind::Login, at).await?,
        _ => {}
    }
    Ok(())
}
