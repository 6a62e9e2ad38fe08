//! [`Cascades`]: the follow-ups of removals.
//!
//! | event | follow-up commands, each issued as the system |
//! |---|---|
//! | `org.removed` | remove the organization's user grants, applications, projects and users; drop the project grants given to it |
//! | `project.removed` | remove the project's user grants and applications; drop its project grants |
//! | `project.role.removed` | take the role out of every user grant of the project that holds it (a grant left without roles stays) |
//! | `user.removed` | remove the user's grants (also those in other organizations' projects) |
//!
//! What depends on the removed resource is read from the query views, first brought up to the removal event
//! (read-your-writes), so nothing created before the removal is missed. Removing a project in turn leads to
//! that project's own cascade. Only the removal of an organization cascades to its users; deactivating an
//! organization needs none, as its users cannot authenticate while it is inactive.

use std::{future::Future, sync::Arc};

use warden_command::{Caller, CallerCommands, CommandError, Commands, Details};
use warden_domain::{
    DomainEvent, ErrorKind,
    project::{Project, ProjectEvent},
};
use warden_eventstore::{Cursor, Event};
use warden_query::{
    ApplicationQuery, MAX_PAGE_SIZE, Page, PageOf, ProjectGrantQuery, ProjectQuery, Queries,
    QueryError, ReadSide, UserGrantQuery, UserQuery, projections,
};
use warden_spooler::{BoxFuture, Projection, ProjectionError, ViewTx};

/// The name of the cascades process manager (its checkpoint, lease and failed events).
pub const CASCADES: &str = "cascades";

const ORG_REMOVED: &str = "org.removed";
const PROJECT_REMOVED: &str = "project.removed";
const ROLE_REMOVED: &str = "project.role.removed";
const USER_REMOVED: &str = "user.removed";

/// The process manager that removes what removed organizations, projects and roles leave behind.
#[derive(Debug, Clone)]
pub struct Cascades {
    commands: Commands,
    queries: Queries,
}

impl Cascades {
    /// The cascades over `commands` (which issue the follow-ups) and `queries` (which find the dependents).
    pub fn new(commands: Commands, queries: Queries) -> Self {
        Self { commands, queries }
    }

    /// Runs the cascades under the spoolers of `read_side` (every node does; the lease makes one act).
    pub async fn start(
        commands: Commands,
        read_side: &ReadSide,
    ) -> Result<(), warden_spooler::Error> {
        let cascades = Self::new(commands, read_side.queries().clone());
        read_side.spoolers().add(Arc::new(cascades)).await
    }

    async fn handle(&self, event: &Event) -> Result<(), ProjectionError> {
        let instance_id = event.aggregate.instance_id.as_str();
        let id = event.aggregate.aggregate_id.as_str();
        let caller = Caller::system(instance_id);
        let commands = self.commands.for_caller(&caller);
        let mut refused = Vec::new();
        match event.event_type.as_str() {
            ORG_REMOVED => {
                self.org_removed(&commands, instance_id, id, event.cursor(), &mut refused)
                    .await?
            }
            PROJECT_REMOVED => {
                self.project_removed(&commands, instance_id, id, event.cursor(), &mut refused)
                    .await?
            }
            ROLE_REMOVED => {
                let ProjectEvent::RoleRemoved(removed) =
                    ProjectEvent::from_stored(&event.event_type, event.revision, &event.payload)
                        .map_err(|e| ProjectionError::event(e.to_string()))?
                else {
                    return Ok(());
                };
                self.role_removed(
                    &commands,
                    instance_id,
                    id,
                    &removed.key,
                    event.cursor(),
                    &mut refused,
                )
                .await?
            }
            USER_REMOVED => {
                self.user_removed(&commands, instance_id, id, event.cursor(), &mut refused)
                    .await?
            }
            _ => {}
        }
        if refused.is_empty() {
            Ok(())
        } else {
            Err(ProjectionError::event(format!(
                "follow-ups of {} {id} refused: {}",
                event.event_type,
                refused.join("; ")
            )))
        }
    }

    /// Brings the views the cascade reads up to the removal event.
    async fn catch_up(&self, views: &[&str], removal: Cursor) -> Result<(), ProjectionError> {
        for view in views {
            self.queries
                .spoolers()
                .ensure_caught_up(view, removal)
                .await
                .map_err(|e| query_error(QueryError::Spooler(e)))?;
        }
        Ok(())
    }

    async fn org_removed(
        &self,
        commands: &CallerCommands<'_>,
        instance_id: &str,
        org_id: &str,
        removal: Cursor,
        refused: &mut Vec<String>,
    ) -> Result<(), ProjectionError> {
        self.catch_up(
            &[
                projections::USER_GRANTS,
                projections::APPLICATIONS,
                projections::PROJECTS,
                projections::USERS,
            ],
            removal,
        )
        .await?;
        let org = Some(org_id.to_owned());
        let q = &self.queries;
        let grants = all(|page| {
            let query = UserGrantQuery {
                org_id: org.clone(),
                ..UserGrantQuery::default()
            };
            async move { q.user_grants(instance_id, &query, page).await }
        })
        .await?;
        let apps = all(|page| {
            let query = ApplicationQuery {
                org_id: org.clone(),
                ..ApplicationQuery::default()
            };
            async move { q.applications(instance_id, &query, page).await }
        })
        .await?;
        let granted_to = all(|page| {
            let query = ProjectGrantQuery {
                granted_org_id: org.clone(),
                ..ProjectGrantQuery::default()
            };
            async move { q.project_grants(instance_id, &query, page).await }
        })
        .await?;
        let projects = all(|page| {
            let query = ProjectQuery {
                org_id: org.clone(),
                ..ProjectQuery::default()
            };
            async move { q.projects(instance_id, &query, page).await }
        })
        .await?;
        let users = all(|page| {
            let query = UserQuery {
                org_id: org.clone(),
                ..UserQuery::default()
            };
            async move { q.users(instance_id, &query, page).await }
        })
        .await?;
        tracing::info!(
            org_id,
            user_grants = grants.len(),
            apps = apps.len(),
            project_grants = granted_to.len(),
            projects = projects.len(),
            users = users.len(),
            "removing what the removed organization held"
        );
        for grant in grants {
            follow_up(
                refused,
                "user grant",
                &grant.id,
                commands.remove_user_grant(&grant.id).await,
            )?;
        }
        for app in apps {
            follow_up(
                refused,
                "application",
                &app.id,
                commands.remove_app(&app.id).await,
            )?;
        }
        for grant in granted_to {
            let done = commands
                .drop_project_grant(&grant.project_id, &grant.grant_id)
                .await;
            follow_up(refused, "project grant", &grant.grant_id, done)?;
        }
        for project in projects {
            follow_up(
                refused,
                "project",
                &project.id,
                commands.remove_project(&project.id).await,
            )?;
        }
        for user in users {
            follow_up(
                refused,
                "user",
                &user.id,
                commands.remove_user(&user.id).await,
            )?;
        }
        Ok(())
    }

    async fn project_removed(
        &self,
        commands: &CallerCommands<'_>,
        instance_id: &str,
        project_id: &str,
        removal: Cursor,
        refused: &mut Vec<String>,
    ) -> Result<(), ProjectionError> {
        self.catch_up(
            &[projections::USER_GRANTS, projections::APPLICATIONS],
            removal,
        )
        .await?;
        let project = Some(project_id.to_owned());
        let q = &self.queries;
        let grants = all(|page| {
            let query = UserGrantQuery {
                project_id: project.clone(),
                ..UserGrantQuery::default()
            };
            async move { q.user_grants(instance_id, &query, page).await }
        })
        .await?;
        let apps = all(|page| {
            let query = ApplicationQuery {
                project_id: project.clone(),
                ..ApplicationQuery::default()
            };
            async move { q.applications(instance_id, &query, page).await }
        })
        .await?;
        // The view drops a removed project's grants; the write model keeps them until each is dropped.
        let model = self
            .commands
            .load::<Project>(instance_id, project_id)
            .await
            .map_err(command_error)?;
        let project_grants: Vec<String> = model.state.grants.keys().cloned().collect();
        tracing::info!(
            project_id,
            user_grants = grants.len(),
            apps = apps.len(),
            project_grants = project_grants.len(),
            "removing what the removed project held"
        );
        for grant in grants {
            follow_up(
                refused,
                "user grant",
                &grant.id,
                commands.remove_user_grant(&grant.id).await,
            )?;
        }
        for app in apps {
            follow_up(
                refused,
                "application",
                &app.id,
                commands.remove_app(&app.id).await,
            )?;
        }
        for grant_id in project_grants {
            let done = commands.drop_project_grant(project_id, &grant_id).await;
            follow_up(refused, "project grant", &grant_id, done)?;
        }
        Ok(())
    }

    async fn user_removed(
        &self,
        commands: &CallerCommands<'_>,
        instance_id: &str,
        user_id: &str,
        removal: Cursor,
        refused: &mut Vec<String>,
    ) -> Result<(), ProjectionError> {
        self.catch_up(&[projections::USER_GRANTS], removal).await?;
        let user = Some(user_id.to_owned());
        let q = &self.queries;
        let grants = all(|page| {
            let query = UserGrantQuery {
                user_id: user.clone(),
                ..UserGrantQuery::default()
            };
            async move { q.user_grants(instance_id, &query, page).await }
        })
        .await?;
        for grant in grants {
            follow_up(
                refused,
                "user grant",
                &grant.id,
                commands.remove_user_grant(&grant.id).await,
            )?;
        }
        Ok(())
    }

    async fn role_removed(
        &self,
        commands: &CallerCommands<'_>,
        instance_id: &str,
        project_id: &str,
        key: &str,
        removal: Cursor,
        refused: &mut Vec<String>,
    ) -> Result<(), ProjectionError> {
        self.catch_up(&[projections::USER_GRANTS], removal).await?;
        let project = Some(project_id.to_owned());
        let q = &self.queries;
        let grants = all(|page| {
            let query = UserGrantQuery {
                project_id: project.clone(),
                ..UserGrantQuery::default()
            };
            async move { q.user_grants(instance_id, &query, page).await }
        })
        .await?;
        for grant in grants
            .iter()
            .filter(|g| g.role_keys.iter().any(|k| k == key))
        {
            let done = commands.drop_user_grant_role(&grant.id, key).await;
            follow_up(refused, "user grant", &grant.id, done)?;
        }
        Ok(())
    }
}

impl Projection for Cascades {
    fn name(&self) -> &str {
        CASCADES
    }

    fn aggregate_types(&self) -> Vec<String> {
        vec!["org".to_owned(), "project".to_owned(), "user".to_owned()]
    }

    fn event_types(&self) -> Vec<String> {
        [ORG_REMOVED, PROJECT_REMOVED, ROLE_REMOVED, USER_REMOVED]
            .map(str::to_owned)
            .to_vec()
    }

    fn tables(&self) -> Vec<String> {
        Vec::new()
    }

    fn apply<'a>(
        &'a self,
        _tx: &'a mut ViewTx,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(async move {
            Err(ProjectionError::event(format!(
                "{CASCADES} reacts to {} outside a view transaction",
                event.event_type
            )))
        })
    }

    fn reacts(&self) -> bool {
        true
    }

    fn react<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(self.handle(event))
    }
}

/// Every item of a paged list.
async fn all<T, F, Fut>(mut page_of: F) -> Result<Vec<T>, ProjectionError>
where
    F: FnMut(Page) -> Fut,
    Fut: Future<Output = Result<PageOf<T>, QueryError>>,
{
    let mut items = Vec::new();
    let mut offset = 0u64;
    loop {
        let page = page_of(Page {
            offset,
            limit: MAX_PAGE_SIZE,
        })
        .await
        .map_err(query_error)?;
        let count = page.items.len();
        items.extend(page.items);
        if !page.has_more || count == 0 {
            return Ok(items);
        }
        offset += count as u64;
    }
}

/// Accepts a follow-up that succeeded or whose target is already gone; notes other refusals (the cascade
/// goes on with the other dependents and fails the event at the end); fails on anything else at once.
fn follow_up(
    refused: &mut Vec<String>,
    what: &str,
    id: &str,
    result: Result<Details, CommandError>,
) -> Result<(), ProjectionError> {
    match result {
        Ok(_) => Ok(()),
        Err(error) => match error.as_refusal() {
            Some(refusal) if refusal.kind == ErrorKind::NotFound => Ok(()),
            Some(refusal) => {
                refused.push(format!("{what} {id}: {refusal}"));
                Ok(())
            }
            None => Err(command_error(error)),
        },
    }
}

fn command_error(error: CommandError) -> ProjectionError {
    match error {
        CommandError::Store(warden_eventstore::Error::Database(e)) => ProjectionError::Database(e),
        other => ProjectionError::event(other.to_string()),
    }
}

fn query_error(error: QueryError) -> ProjectionError {
    match error {
        QueryError::Database(e) => ProjectionError::Database(e),
        other => ProjectionError::event(other.to_string()),
    }
}
