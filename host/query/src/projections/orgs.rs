//! The `orgs` projection: organizations and their domains.

use warden_domain::org::OrgEvent;
use warden_eventstore::Event;
use warden_spooler::{ProjectionError, ViewTx, params};

use super::{ORGS, Table, at_ms, decode};

builtin_projection! {
    /// Keeps `orgs` and `org_domains` up to date.
    OrgsProjection {
        name: ORGS,
        aggregate_types: ["org"],
        event_types: [
            "org.added",
            "org.renamed",
            "org.deactivated",
            "org.reactivated",
            "org.removed",
            "org.domain.added",
            "org.domain.verified",
            "org.domain.primary.set",
            "org.domain.removed",
        ]
        .map(str::to_owned)
        .to_vec(),
        tables: ["orgs", "org_domains"],
        apply: apply,
    }
}

/// The rows of the view.
const TABLE: Table = Table("orgs");

async fn apply(tx: &mut ViewTx, event: &Event) -> Result<(), ProjectionError> {
    let instance = event.aggregate.instance_id.as_str();
    let id = event.aggregate.aggregate_id.as_str();
    let at = at_ms(event);
    match decode::<OrgEvent>(event)? {
        OrgEvent::Added(e) => {
            let columns = [
                ("name", e.name.as_str().into()),
                ("name_lower", e.name.to_lowercase().into()),
            ];
            return TABLE.insert(tx, event, columns).await;
        }
        OrgEvent::Renamed(e) => return TABLE.rename(tx, event, &e.name).await,
        OrgEvent::Deactivated => return TABLE.set_state(tx, event, false).await,
        OrgEvent::Reactivated => return TABLE.set_state(tx, event, true).await,
        OrgEvent::Removed => {
            tx.execute(
                "DELETE FROM org_domains WHERE instance_id = $1 AND org_id = $2",
                &params![instance, id],
            )
            .await?;
            tx.execute(
                "DELETE FROM orgs WHERE instance_id = $1 AND id = $2",
                &params![instance, id],
            )
            .await?;
            return Ok(());
        }
        OrgEvent::DomainAdded(e) => {
            tx.execute(
                "INSERT INTO org_domains (instance_id, org_id, domain, verified, is_primary, created_at_ms) \
                 VALUES ($1, $2, $3, FALSE, FALSE, $4) ON CONFLICT (instance_id, org_id, domain) DO NOTHING",
                &params![instance, id, e.domain, at],
            )
            .await?;
        }
        OrgEvent::DomainVerified(e) => {
            tx.execute(
                "UPDATE org_domains SET verified = TRUE WHERE instance_id = $1 AND org_id = $2 AND domain = $3",
                &params![instance, id, e.domain],
            )
            .await?;
        }
        OrgEvent::PrimaryDomainSet(e) => {
            tx.execute(
                "UPDATE org_domains SET is_primary = (domain = $3) WHERE instance_id = $1 AND org_id = $2",
                &params![instance, id, e.domain.as_str()],
            )
            .await?;
            tx.execute(
                "UPDATE orgs SET primary_domain = $3 WHERE instance_id = $1 AND id = $2",
                &params![instance, id, e.domain],
            )
            .await?;
        }
        OrgEvent::DomainRemoved(e) => {
            tx.execute(
                "DELETE FROM org_domains WHERE instance_id = $1 AND org_id = $2 AND domain = $3",
                &params![instance, id, e.domain.as_str()],
            )
            .await?;
            tx.execute(
                "UPDATE orgs SET primary_domain = NULL WHERE instance_id = $1 AND id = $2 AND primary_domain = $3",
                &params![instance, id, e.domain],
            )
            .await?;
        }
        // Policies and members have their own projections.
        _ => return Ok(()),
    }
    TABLE.update(tx, event, "", &[]).await
}
