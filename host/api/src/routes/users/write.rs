//! `/api/v1/users`: human users, and what every user has (life cycle, metadata).

use schemars::JsonSchema;
use serde::Deserialize;
use warden_command::{NewHumanUser, SecretString};
use warden_domain::user::Profile;
use warden_domain::user::{
    AddEmailCode, AddHuman, AddPasswordCode, ChangeEmail, ChangePhone, ChangeProfile,
    DeactivateUser, LockUser, ReactivateUser, RemoveOtp, RemoveUser, RemoveUserMetadata,
    SetPassword, SetUserMetadata, UnlockUser, VerifyEmail,
};

use crate::routes::change;
use crate::{openapi::Endpoint, schema};

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        change::create("/api/v1/users/human", "addHumanUser")
            .summary("Create a human user")
            .command::<AddHuman>()
            .creates_with(|c, (): &(), body: &AddHumanUserRequest| {
                let user = body.new_user();
                Box::pin(async move { c.add_human_user(&user).await })
            }),
        change::put("/api/v1/users/{user_id}/profile", "changeProfile")
            .summary("Replace a human user's profile")
            .command::<ChangeProfile>()
            .runs_with(|c, id: &String, body: &ProfileRequest| {
                Box::pin(async move { c.change_profile(id, &body.profile()).await })
            }),
        change::put("/api/v1/users/{user_id}/email", "changeEmail")
            .summary("Change a human user's email; the new address is unverified")
            .command::<ChangeEmail>()
            .runs_with(|c, id: &String, body: &EmailRequest| {
                Box::pin(c.change_email(id, &body.email))
            }),
        change::post("/api/v1/users/{user_id}/email/verify", "verifyEmail")
            .summary("Mark a human user's email verified")
            .command::<VerifyEmail>()
            .runs(|c, id: &String| Box::pin(c.verify_email(id))),
        change::post(
            "/api/v1/users/{user_id}/email/verify-code",
            "sendEmailVerificationCode",
        )
        .summary(
            "Send a human user a new email verification code (by mail, with a link to the \
                 verification page); a previous code stops working",
        )
        .command::<AddEmailCode>()
        .runs(|c, id: &String| Box::pin(c.send_email_verification_code(id))),
        change::post(
            "/api/v1/users/{user_id}/password/reset",
            "requestPasswordReset",
        )
        .summary(
            "Mail a human user a password reset code and link (valid one hour, usable once); \
                 the code is never shown to the caller",
        )
        .command::<AddPasswordCode>()
        .runs(|c, id: &String| Box::pin(c.request_password_reset(id))),
        change::delete("/api/v1/users/{user_id}/otp", "removeUserOtp")
            .summary(
                "Remove a human user's second factor (TOTP authenticator app), e.g. after the \
                 device was lost",
            )
            .command::<RemoveOtp>()
            .runs(|c, id: &String| Box::pin(c.remove_otp(id))),
        change::put("/api/v1/users/{user_id}/phone", "changePhone")
            .summary("Set a human user's phone number")
            .command::<ChangePhone>()
            .runs_with(|c, id: &String, body: &PhoneRequest| {
                Box::pin(c.change_phone(id, Some(&body.phone)))
            }),
        change::delete("/api/v1/users/{user_id}/phone", "removePhone")
            .summary("Remove a human user's phone number")
            .command::<ChangePhone>()
            .runs(|c, id: &String| Box::pin(c.change_phone(id, None))),
        change::put("/api/v1/users/{user_id}/password", "setPassword")
            .summary(
                "Set a human user's password (checked against the password complexity policy, \
                 stored as Argon2id)",
            )
            .command::<SetPassword>()
            .runs_with(|c, id: &String, body: &PasswordRequest| {
                let password = SecretString::new(body.password.clone());
                Box::pin(async move { c.set_password(id, &password, body.change_required).await })
            }),
        change::post("/api/v1/users/{user_id}/lock", "lockUser")
            .summary("Lock a user")
            .command::<LockUser>()
            .runs(|c, id: &String| Box::pin(c.lock_user(id))),
        change::post("/api/v1/users/{user_id}/unlock", "unlockUser")
            .summary("Unlock a user")
            .command::<UnlockUser>()
            .runs(|c, id: &String| Box::pin(c.unlock_user(id))),
        change::post("/api/v1/users/{user_id}/deactivate", "deactivateUser")
            .summary("Deactivate a user")
            .command::<DeactivateUser>()
            .runs(|c, id: &String| Box::pin(c.deactivate_user(id))),
        change::post("/api/v1/users/{user_id}/reactivate", "reactivateUser")
            .summary("Reactivate a deactivated user")
            .command::<ReactivateUser>()
            .runs(|c, id: &String| Box::pin(c.reactivate_user(id))),
        change::delete("/api/v1/users/{user_id}", "removeUser")
            .summary("Remove a user; the login name is free again")
            .command::<RemoveUser>()
            .runs(|c, id: &String| Box::pin(c.remove_user(id))),
        change::put("/api/v1/users/{user_id}/metadata/{*key}", "setUserMetadata")
            .summary("Set a metadata entry of a user")
            .command::<SetUserMetadata>()
            .runs_with(|c, (id, key): &(String, String), body: &MetadataRequest| {
                Box::pin(c.set_user_metadata(id, key, &body.value))
            }),
        change::delete(
            "/api/v1/users/{user_id}/metadata/{*key}",
            "removeUserMetadata",
        )
        .summary("Remove a metadata entry of a user")
        .command::<RemoveUserMetadata>()
        .runs(|c, (id, key): &(String, String)| Box::pin(c.remove_user_metadata(id, key))),
    ]
}

/// A new human user.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddHumanUserRequest {
    /// The organization the user belongs to.
    #[schemars(length(max = schema::ID_LEN), regex(pattern = schema::IDENTIFIER))]
    org_id: String,
    /// The login name: unique in the instance (case-insensitively), ASCII letters, digits and `. _ - @ +`.
    #[schemars(length(max = schema::LOGIN_NAME_LEN), regex(pattern = schema::LOGIN_NAME))]
    login_name: String,
    /// Given (first) name.
    #[schemars(length(max = schema::NAME_LEN), regex(pattern = schema::TEXT))]
    given_name: String,
    /// Family (last) name.
    #[schemars(length(max = schema::NAME_LEN), regex(pattern = schema::TEXT))]
    family_name: String,
    /// The name shown in the UI (default: "given family").
    #[serde(default)]
    #[schemars(length(max = schema::NAME_LEN), regex(pattern = schema::OPTIONAL_TEXT))]
    display_name: Option<String>,
    /// Preferred language, a BCP 47 tag such as `en` or `de-CH`.
    #[serde(default)]
    #[schemars(length(max = schema::LANGUAGE_LEN), regex(pattern = schema::LANGUAGE))]
    preferred_language: Option<String>,
    /// The email address.
    #[schemars(length(max = schema::EMAIL_LEN), regex(pattern = schema::EMAIL))]
    email: String,
    /// Creates the user with a verified email.
    #[serde(default)]
    email_verified: bool,
    /// A phone number in international form, e.g. `+41 44 123 45 67`.
    #[serde(default)]
    #[schemars(regex(pattern = schema::PHONE))]
    phone: Option<String>,
    /// An initial password, checked against the password complexity policy in force.
    #[serde(default)]
    #[schemars(
        length(min = schema::PASSWORD_MIN_LEN, max = schema::PASSWORD_LEN),
        regex(pattern = schema::NO_NUL)
    )]
    password: Option<String>,
    /// The user must change the initial password at the next login.
    #[serde(default)]
    password_change_required: bool,
}

fn profile(
    given_name: String,
    family_name: String,
    display_name: Option<String>,
    language: Option<String>,
) -> Profile {
    Profile {
        given_name,
        family_name,
        display_name: display_name.unwrap_or_default(),
        preferred_language: language.unwrap_or_default(),
    }
}

impl AddHumanUserRequest {
    /// The user the body describes.
    fn new_user(&self) -> NewHumanUser {
        NewHumanUser {
            org_id: self.org_id.clone(),
            login_name: self.login_name.clone(),
            profile: profile(
                self.given_name.clone(),
                self.family_name.clone(),
                self.display_name.clone(),
                self.preferred_language.clone(),
            ),
            email: self.email.clone(),
            email_verified: self.email_verified,
            phone: self.phone.clone(),
            password: self.password.clone().map(SecretString::new),
            password_change_required: self.password_change_required,
        }
    }
}

/// A human user's profile.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProfileRequest {
    /// Given (first) name.
    #[schemars(length(max = schema::NAME_LEN), regex(pattern = schema::TEXT))]
    given_name: String,
    /// Family (last) name.
    #[schemars(length(max = schema::NAME_LEN), regex(pattern = schema::TEXT))]
    family_name: String,
    /// The name shown in the UI (default: "given family").
    #[serde(default)]
    #[schemars(length(max = schema::NAME_LEN), regex(pattern = schema::OPTIONAL_TEXT))]
    display_name: Option<String>,
    /// Preferred language, a BCP 47 tag.
    #[serde(default)]
    #[schemars(length(max = schema::LANGUAGE_LEN), regex(pattern = schema::LANGUAGE))]
    preferred_language: Option<String>,
}

impl ProfileRequest {
    /// The profile the body describes.
    fn profile(&self) -> Profile {
        profile(
            self.given_name.clone(),
            self.family_name.clone(),
            self.display_name.clone(),
            self.preferred_language.clone(),
        )
    }
}

/// An email address.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EmailRequest {
    /// The new email address.
    #[schemars(length(max = schema::EMAIL_LEN), regex(pattern = schema::EMAIL))]
    email: String,
}

/// A phone number.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PhoneRequest {
    /// The number in international form, e.g. `+41 44 123 45 67`.
    #[schemars(regex(pattern = schema::PHONE))]
    phone: String,
}

/// A new password.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordRequest {
    /// The password, checked against the password complexity policy in force.
    #[schemars(
        length(min = schema::PASSWORD_MIN_LEN, max = schema::PASSWORD_LEN),
        regex(pattern = schema::NO_NUL)
    )]
    password: String,
    /// The user must change it at the next login.
    #[serde(default)]
    change_required: bool,
}

/// A metadata value.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MetadataRequest {
    /// The value (at most 8 KiB of UTF-8).
    #[schemars(
        length(min = 1, max = schema::METADATA_VALUE_CHARS),
        regex(pattern = schema::NO_NUL)
    )]
    value: String,
}
