//! Commands on human users and on what every user has (life cycle, metadata).

use warden_domain::{
    command::{Change, Command},
    instance::Instance,
    org::Organization,
    policy,
    user::{
        AddHuman, ChangeEmail, ChangePhone, ChangeProfile, DeactivateUser, LockUser, Profile,
        ReactivateUser, RemoveUser, RemoveUserMetadata, SetPassword, SetUserMetadata, UnlockUser,
        User, VerifyEmail,
    },
};

use super::{Resource, execute_in, org_target, payload};
use crate::{
    CallerCommands, CommandError, Details, SecretString, new_id,
    pipeline::{Decided, Run, check, decide},
};

/// Input of [`CallerCommands::add_human_user`].
#[derive(Debug, Clone)]
pub struct NewHumanUser {
    /// The organization the user belongs to.
    pub org_id: String,
    /// The login name, unique in the instance (case-insensitively).
    pub login_name: String,
    /// Name and language.
    pub profile: Profile,
    /// The email address.
    pub email: String,
    /// Creates the user with a verified email.
    pub email_verified: bool,
    /// An optional phone number.
    pub phone: Option<String>,
    /// An optional initial password, checked against the organization's password complexity policy.
    pub password: Option<SecretString>,
    /// The user must change the initial password at the next login.
    pub password_change_required: bool,
}

/// Checks a plaintext password against the complexity policy in force for `org_id`. Passes when the
/// organization does not exist: the command itself refuses that.
pub(super) async fn check_password(
    run: &mut Run<'_>,
    org_id: &str,
    password: &SecretString,
) -> Result<(), CommandError> {
    check!(run, {
        let org = run.read::<Organization>(org_id).await?;
        if !org.state.exists() {
            return Ok(());
        }
        let instance = run.read::<Instance>(&run.ctx().instance_id).await?;
        let policies = policy::resolve(&instance.state.policies, &org.state.policy_overrides);
        policies.password_complexity.check(password.expose())?;
        Ok(())
    });
    Ok(())
}

/// Authorizes setting the password of `user_id` (a user may set its own), answering as missing to a
/// caller that may not see the user.
async fn authorize_password(
    run: &Run<'_>,
    user_id: &str,
    user: &User,
    org_id: &str,
) -> Result<(), CommandError> {
    match run
        .authorize_on_user(SetPassword::PERMISSION, user_id, user)
        .await
    {
        Ok(()) => Ok(()),
        Err(error) => Err(run
            .hide_unseen(error, SetPassword::PERMISSION, &org_target(org_id), || {
                SetPassword::default()
                    .decide(&User::default(), run.ctx())
                    .err()
            })
            .await),
    }
}

impl CallerCommands<'_> {
    /// Creates a human user with a new id; an initial password is checked against the policy and hashed
    /// (Argon2id) before the user is stored.
    pub async fn add_human_user(&self, user: &NewHumanUser) -> Result<Details, CommandError> {
        self.add_human_user_with_id(&new_id(), user).await
    }

    /// [`add_human_user`](Self::add_human_user) with the given id (e.g. one derived at first start).
    pub async fn add_human_user_with_id(
        &self,
        id: &str,
        user: &NewHumanUser,
    ) -> Result<Details, CommandError> {
        let target = org_target(&user.org_id);
        let mut command = AddHuman {
            org_id: user.org_id.clone(),
            login_name: user.login_name.clone(),
            profile: user.profile.clone(),
            email: user.email.clone(),
            email_verified: user.email_verified,
            phone: user.phone.clone(),
            password_hash: None,
            password_change_required: user.password_change_required,
        };
        // Validators see whether a password is set, not its hash: the payload may be taken before hashing.
        let mut run = self.run(AddHuman::TYPE, || {
            payload(&AddHuman {
                password_hash: user.password.as_ref().map(|_| String::new()),
                ..command.clone()
            })
        });
        if let Some(password) = &user.password {
            // Hashing is expensive: only for a permitted caller and a password the policy accepts.
            check!(run, {
                run.authorize_or_hide(AddHuman::PERMISSION, &target, || {
                    User::default()
                        .add_human(&command, &Organization::default(), run.ctx())
                        .err()
                })
                .await
            });
            check_password(&mut run, &user.org_id, password).await?;
            command.password_hash = Some(run.inner().hasher.hash(password.clone()).await?);
        }
        let (details, ()) = decide!(run, {
            run.authorize_or_hide(AddHuman::PERMISSION, &target, || {
                User::default()
                    .add_human(&command, &Organization::default(), run.ctx())
                    .err()
            })
            .await?;
            let org = run.read::<Organization>(&user.org_id).await?;
            let new = run.new_target::<User>(id).await?;
            let decision = new.state.add_human(&command, &org.state, run.ctx())?;
            Ok(Decided::new(new, decision, Some(user.org_id.clone())))
        });
        Ok(details)
    }

    /// Replaces a human's profile.
    pub async fn change_profile(
        &self,
        user_id: &str,
        profile: &Profile,
    ) -> Result<Details, CommandError> {
        let command = ChangeProfile {
            profile: profile.clone(),
        };
        self.execute(user_id, &command).await
    }

    /// Changes a human's email; the new address is unverified.
    pub async fn change_email(&self, user_id: &str, email: &str) -> Result<Details, CommandError> {
        let command = ChangeEmail {
            email: email.to_owned(),
        };
        self.execute(user_id, &command).await
    }

    /// Marks a human's email verified.
    pub async fn verify_email(&self, user_id: &str) -> Result<Details, CommandError> {
        self.execute(user_id, &VerifyEmail {}).await
    }

    /// Sets (`Some`) or removes (`None`) a human's phone number.
    pub async fn change_phone(
        &self,
        user_id: &str,
        phone: Option<&str>,
    ) -> Result<Details, CommandError> {
        let command = ChangePhone {
            phone: phone.map(str::to_owned),
        };
        self.execute(user_id, &command).await
    }

    /// Sets a human's password: checked against the policy in force for the user's organization, then hashed.
    pub async fn set_password(
        &self,
        user_id: &str,
        password: &SecretString,
        change_required: bool,
    ) -> Result<Details, CommandError> {
        let mut command = SetPassword {
            password_hash: String::new(),
            change_required,
        };
        let mut run = self.run(SetPassword::TYPE, || payload(&command));
        // Hashing is expensive: only for a permitted caller, a human, and a password the policy accepts.
        let org_id = check!(run, {
            let user = run.target::<User>(user_id).await?;
            match user.state.owner_org(user_id) {
                Some(org_id) if user.state.human().is_some() => {
                    authorize_password(&run, user_id, &user.state, &org_id).await?;
                    Ok(Some(org_id))
                }
                _ => Ok(None),
            }
        });
        // Not a human user, or none at all: the domain refuses without a hash being computed.
        if let Some(org_id) = &org_id {
            check_password(&mut run, org_id, password).await?;
            command.password_hash = run.inner().hasher.hash(password.clone()).await?;
        }
        execute_in(&mut run, user_id, &command).await
    }

    /// Locks a user.
    pub async fn lock_user(&self, user_id: &str) -> Result<Details, CommandError> {
        self.execute(user_id, &LockUser {}).await
    }

    /// Unlocks a user.
    pub async fn unlock_user(&self, user_id: &str) -> Result<Details, CommandError> {
        self.execute(user_id, &UnlockUser {}).await
    }

    /// Deactivates a user.
    pub async fn deactivate_user(&self, user_id: &str) -> Result<Details, CommandError> {
        self.execute(user_id, &DeactivateUser {}).await
    }

    /// Reactivates a user.
    pub async fn reactivate_user(&self, user_id: &str) -> Result<Details, CommandError> {
        self.execute(user_id, &ReactivateUser {}).await
    }

    /// Removes a user; the login name is free again.
    pub async fn remove_user(&self, user_id: &str) -> Result<Details, CommandError> {
        self.execute(user_id, &RemoveUser {}).await
    }

    /// Sets a metadata entry of a user.
    pub async fn set_user_metadata(
        &self,
        user_id: &str,
        key: &str,
        value: &str,
    ) -> Result<Details, CommandError> {
        let command = SetUserMetadata {
            key: key.to_owned(),
            value: value.to_owned(),
        };
        self.execute(user_id, &command).await
    }

    /// Removes a metadata entry of a user.
    pub async fn remove_user_metadata(
        &self,
        user_id: &str,
        key: &str,
    ) -> Result<Details, CommandError> {
        let command = RemoveUserMetadata {
            key: key.to_owned(),
        };
        self.execute(user_id, &command).await
    }
}
