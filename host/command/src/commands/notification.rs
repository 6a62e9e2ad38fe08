//! Commands on notifications (the mail outbox): recording delivery. Requests are made by the commands
//! that need a message (see [`super::user_auth`]); the notifier (crate `warden-notify`) records the outcome
//! as the system.

use warden_domain::{
    authz::Target,
    notification::{MarkNotificationFailed, MarkNotificationSent, Notification},
};

use super::Resource;
use crate::{CallerCommands, CommandError, Details};

impl Resource for Notification {
    fn authz_target(&self, _id: &str) -> Option<Target> {
        self.request.is_some().then_some(Target::Instance)
    }

    fn owner_org(&self, _id: &str) -> Option<String> {
        self.request.as_ref().map(|r| r.org_id.clone())
    }
}

impl CallerCommands<'_> {
    /// Records that the notification `id` was sent (nothing when already recorded).
    pub async fn mark_notification_sent(&self, id: &str) -> Result<Details, CommandError> {
        self.execute(id, &MarkNotificationSent {}).await
    }

    /// Records a failed attempt to send the notification `id`.
    pub async fn mark_notification_failed(
        &self,
        id: &str,
        error: &str,
    ) -> Result<Details, CommandError> {
        let command = MarkNotificationFailed {
            error: error.to_owned(),
        };
        self.execute(id, &command).await
    }
}
