//! The `orgs` projection: organizations and their domains.

use warden_domain::org::OrgEvent;
use warden_eventstore::Event;
use warden_spooler::{BoxFuture, Projection, ProjectionError, ViewTx, params};

use super::{ORGS, at_ms, decode, rename, set_state, tables};

/// Keeps `orgs` and `org_domains` up to date.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrgsProjection;

impl Projection for OrgsProjection {
    fn name(&self) -> &str {
        ORGS
    }

    fn aggregate_types(&self) -> Vec<String> {
        vec!["org".to_owned()]
    }

    fn event_types(&self) -> Vec<String> {
        [
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
        .to_vec()
    }

    fn tables(&self) -> Vec<String> {
        tables(&["orgs", "org_domains"])
    }

    fn apply<'a>(
        &'a self,
        tx: &'a mut ViewTx,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(apply(tx, event))
    }
}

async fn apply(tx: &mut ViewTx, event: &Event) -> Result<(), ProjectionError> {
    let instance = event.aggregate.instance_id.as_str();
    let id = event.aggregate.aggregate_id.as_str();
    let at = at_ms(event);
    match decode::<OrgEvent>(event)? {
        OrgEvent::Added(e) => {
            tx.execute(
                "INSERT INTO orgs (instance_id, id, name, name_lower, state, primary_domain, created_at_ms, \
                 changed_at_ms, sequence) VALUES ($1, $2, $3, $4, 'active', NULL, $5, $5, $6) \
                 ON CONFLICT (instance_id, id) DO NOTHING",
                &params![instance, id, e.name.as_str(), e.name.to_lowercase(), at, event.sequence],
            )
            .await?;
            return Ok(());
        }
        OrgEvent::Renamed(e) => rename(tx, "orgs", instance, id, &e.name).await?,
        OrgEvent::Deactivated => set_state(tx, "orgs", instance, id, false).await?,
        OrgEvent::Reactivated => set_state(tx, "orgs", instance, id, true).await?,
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
    tx.execute(
        "UPDATE orgs SET changed_at_ms = $3, sequence = $4 WHERE instance_id = $1 AND id = $2",
        &params![instance, id, at, event.sequence],
    )
    .await?;
    Ok(())
}
