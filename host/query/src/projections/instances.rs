//! The `instances` projection: instances and their domains.

use warden_domain::instance::InstanceEvent;
use warden_eventstore::Event;
use warden_spooler::{ProjectionError, ViewTx, params};

use super::{INSTANCES, at_ms, decode};

builtin_projection! {
    /// Keeps `instances` and `instance_domains` up to date.
    InstancesProjection {
        name: INSTANCES,
        aggregate_types: ["instance"],
        event_types: [
            "instance.added",
            "instance.domain.added",
            "instance.domain.removed",
            "instance.domain.primary.set",
        ]
        .map(str::to_owned)
        .to_vec(),
        tables: ["instances", "instance_domains"],
        apply: apply,
    }
}

async fn apply(tx: &mut ViewTx, event: &Event) -> Result<(), ProjectionError> {
    let instance = event.aggregate.instance_id.as_str();
    let at = at_ms(event);
    match decode::<InstanceEvent>(event)? {
        InstanceEvent::Added(e) => {
            tx.execute(
                "INSERT INTO instances (instance_id, name, default_language, primary_domain, state, created_at_ms, \
                 changed_at_ms, sequence) VALUES ($1, $2, $3, NULL, 'active', $4, $4, $5) \
                 ON CONFLICT (instance_id) DO NOTHING",
                &params![instance, e.name, e.default_language, at, event.sequence],
            )
            .await?;
            return Ok(());
        }
        InstanceEvent::DomainAdded(e) => {
            tx.execute(
                "INSERT INTO instance_domains (instance_id, domain, is_primary, created_at_ms) \
                 VALUES ($1, $2, FALSE, $3) ON CONFLICT (instance_id, domain) DO NOTHING",
                &params![instance, e.domain, at],
            )
            .await?;
        }
        InstanceEvent::DomainRemoved(e) => {
            tx.execute(
                "DELETE FROM instance_domains WHERE instance_id = $1 AND domain = $2",
                &params![instance, e.domain.as_str()],
            )
            .await?;
            tx.execute(
                "UPDATE instances SET primary_domain = NULL WHERE instance_id = $1 AND primary_domain = $2",
                &params![instance, e.domain],
            )
            .await?;
        }
        InstanceEvent::PrimaryDomainSet(e) => {
            tx.execute(
                "UPDATE instance_domains SET is_primary = (domain = $2) WHERE instance_id = $1",
                &params![instance, e.domain.as_str()],
            )
            .await?;
            tx.execute(
                "UPDATE instances SET primary_domain = $2 WHERE instance_id = $1",
                &params![instance, e.domain],
            )
            .await?;
        }
        // Policies and members have their own projections.
        _ => return Ok(()),
    }
    tx.execute(
        "UPDATE instances SET changed_at_ms = $2, sequence = $3 WHERE instance_id = $1",
        &params![instance, at, event.sequence],
    )
    .await?;
    Ok(())
}
