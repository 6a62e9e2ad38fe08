//! Where each user is (or was) a member: the organizations and projects whose member lists name it.
//!
//! Acting on a user's credentials or life cycle needs every membership the user holds
//! ([`warden_domain::authz::may_act_on`]), and memberships live in the organizations and projects they are
//! on. Since every new membership also stores `user.membership.added` on the user (in the same push), the
//! user's own write model lists them; this index finds the memberships added before that event existed. It
//! follows the `*.member.added` events of the global stream incrementally (one read of the events added since
//! the last look) and lists candidates only: the caller reads each scope's write model for the roles held.

use std::collections::{BTreeSet, HashMap};

use tokio::sync::Mutex;
use warden_eventstore::{Cursor, Eventstore, Store, StreamQuery};

use crate::CommandError;

/// Events read per round trip while catching up.
const BATCH: u32 = 1000;

/// The index, shared by the clones of a pipeline.
#[derive(Debug, Default)]
pub(crate) struct MemberIndex {
    state: Mutex<IndexState>,
}

#[derive(Debug, Default)]
struct IndexState {
    after: Cursor,
    /// (instance id, user id) → (aggregate type, aggregate id) of the scopes naming the user.
    scopes: HashMap<(String, String), BTreeSet<(String, String)>>,
}

impl MemberIndex {
    /// The organizations and projects (as aggregate type and id) where `user_id` was ever made a member,
    /// up to the newest event the store shows.
    pub(crate) async fn scopes_of(
        &self,
        store: &Store,
        instance_id: &str,
        user_id: &str,
    ) -> Result<Vec<(String, String)>, CommandError> {
        let mut state = self.state.lock().await;
        // Every event up to the head read first is final: a read that comes back short holds every member
        // event up to it, so the cursor moves there instead of staying at the last member event (from where
        // every later read would scan all other events again).
        let head = store.head().await?;
        loop {
            let query = StreamQuery {
                after: state.after,
                instance_id: None,
                org_id: None,
                aggregate_types: vec!["org".to_owned(), "project".to_owned()],
                event_types: vec![
                    "org.member.added".to_owned(),
                    "project.member.added".to_owned(),
                ],
                limit: BATCH,
            };
            let events = store.read_stream(&query).await?;
            let Some(last) = events.last() else {
                state.after = state.after.max(head);
                break;
            };
            state.after = last.cursor();
            let full = events.len() >= BATCH as usize;
            if !full {
                state.after = state.after.max(head);
            }
            for event in events {
                let Some(member) = event.payload.get("user_id").and_then(|v| v.as_str()) else {
                    continue;
                };
                state
                    .scopes
                    .entry((event.aggregate.instance_id.clone(), member.to_owned()))
                    .or_default()
                    .insert((
                        event.aggregate.aggregate_type.clone(),
                        event.aggregate.aggregate_id.clone(),
                    ));
            }
            if !full {
                break;
            }
        }
        Ok(state
            .scopes
            .get(&(instance_id.to_owned(), user_id.to_owned()))
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default())
    }
}
