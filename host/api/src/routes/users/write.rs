//! `/api/v1/users`: human users, and what every user has (life cycle, metadata).

use axum::{
    extract::State,
    http::{Method, StatusCode},
};
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
use crate::{
    ApiState,
    bodies::{Reply, WriteDetails, changed, created},
    extract::{Authenticated, IfMatch, Json, Path},
    openapi::Endpoint,
    schema,
};

pub(super) fn endpoints() -> Vec<Endpoint> {
    let ok = StatusCode::OK;
    vec![
        Endpoint::post("/api/v1/users/human", "addHumanUser", "Create a human user", add_human)
            .command::<AddHuman>()
            .body::<AddHumanUserRequest>()
            .returns::<WriteDetails>(StatusCode::CREATED),
        change::with_body(
            Method::PUT,
            "/api/v1/users/{user_id}/profile",
            "changeProfile",
            "Replace a human user's profile",
            changed,
            |c, id: &String, body: &ProfileRequest| Box::pin(async move { c.change_profile(id, &body.profile()).await }),
        )
        .command::<ChangeProfile>()
        .returns::<WriteDetails>(ok),
        change::with_body(
            Method::PUT,
            "/api/v1/users/{user_id}/email",
            "changeEmail",
            "Change a human user's email; the new address is unverified",
            changed,
            |c, id: &String, body: &EmailRequest| Box::pin(c.change_email(id, &body.email)),
        )
        .command::<ChangeEmail>()
        .returns::<WriteDetails>(ok),
        change::without_body(
            Method::POST,
            "/api/v1/users/{user_id}/email/verify",
            "verifyEmail",
            "Mark a human user's email verified",
            |c, id: &String| Box::pin(c.verify_email(id)),
        )
        .command::<VerifyEmail>()
        .returns::<WriteDetails>(ok),
        change::without_body(
            Method::POST,
            "/api/v1/users/{user_id}/email/verify-code",
            "sendEmailVerificationCode",
            "Send a human user a new email verification code (by mail, with a link to the verification page); \
             a previous code stops working",
            |c, id: &String| Box::pin(c.send_email_verification_code(id)),
        )
        .command::<AddEmailCode>()
        .returns::<WriteDetails>(ok),
        change::without_body(
            Method::POST,
            "/api/v1/users/{user_id}/password/reset",
            "requestPasswordReset",
            "Mail a human user a password reset code and link (valid one hour, usable once); the code is never \
             shown to the caller",
            |c, id: &String| Box::pin(c.request_password_reset(id)),
        )
        .command::<AddPasswordCode>()
        .returns::<WriteDetails>(ok),
        change::without_body(
            Method::DELETE,
            "/api/v1/users/{user_id}/otp",
            "removeUserOtp",
            "Remove a human user's second factor (TOTP authenticator app), e.g. after the device was lost",
            |c, id: &String| Box::pin(c.remove_otp(id)),
        )
        .command::<RemoveOtp>()
        .returns::<WriteDetails>(ok),
        change::with_body(
            Method::PUT,
            "/api/v1/users/{user_id}/phone",
            "changePhone",
            "Set a human user's phone number",
            changed,
            |c, id: &String, body: &PhoneRequest| Box::pin(c.change_phone(id, Some(&body.phone))),
        )
        .command::<ChangePhone>()
        .returns::<WriteDetails>(ok),
        change::without_body(
            Method::DELETE,
            "/api/v1/users/{user_id}/phone",
            "removePhone",
            "Remove a human user's phone number",
            |c, id: &String| Box::pin(c.change_phone(id, None)),
        )
        .command::<ChangePhone>()
        .returns::<WriteDetails>(ok),
        Endpoint::put(
            "/api/v1/users/{user_id}/password",
            "setPassword",
            "Set a human user's password (checked against the password complexity policy, stored as Argon2id)",
            set_password,
        )
        .command::<SetPassword>()
        .body::<PasswordRequest>()
        .returns::<WriteDetails>(ok),
        change::without_body(
            Method::POST,
            "/api/v1/users/{user_id}/lock", "lockUser", "Lock a user",
            |c, id: &String| Box::pin(c.lock_user(id)),
        )
            .command::<LockUser>()
            .returns::<WriteDetails>(ok),
        change::without_body(
            Method::POST,
            "/api/v1/users/{user_id}/unlock", "unlockUser", "Unlock a user",
            |c, id: &String| Box::pin(c.unlock_user(id)),
        )
            .command::<UnlockUser>()
            .returns::<WriteDetails>(ok),
        change::without_body(
            Method::POST,
            "/api/v1/users/{user_id}/deactivate",
            "deactivateUser",
            "Deactivate a user",
            |c, id: &String| Box::pin(c.deactivate_user(id)),
        )
        .command::<DeactivateUser>()
        .returns::<WriteDetails>(ok),
        change::without_body(
            Method::POST,
            "/api/v1/users/{user_id}/reactivate",
            "reactivateUser",
            "Reactivate a deactivated user",
            |c, id: &String| Box::pin(c.reactivate_user(id)),
        )
        .command::<ReactivateUser>()
        .returns::<WriteDetails>(ok),
        change::without_body(
            Method::DELETE,
            "/api/v1/users/{user_id}",
            "removeUser",
            "Remove a user; the login name is free again",
            |c, id: &String| Box::pin(c.remove_user(id)),
        )
        .command::<RemoveUser>()
        .returns::<WriteDetails>(ok),
        change::with_body(
            Method::PUT,
            "/api/v1/users/{user_id}/metadata/{*key}",
            "setUserMetadata",
            "Set a metadata entry of a user",
            changed,
            |c, (user_id, key): &(String, String), body: &MetadataRequest| Box::pin(c.set_user_metadata(user_id, key, &body.value)),
        )
        .command::<SetUserMetadata>()
        .returns::<WriteDetails>(ok),
        change::without_body(
            Method::DELETE,
            "/api/v1/users/{user_id}/metadata/{*key}",
            "removeUserMetadata",
            "Remove a metadata entry of a user",
            |c, (user_id, key): &(String, String)| Box::pin(c.remove_user_metadata(user_id, key)),
        )
        .command::<RemoveUserMetadata>()
        .returns::<WriteDetails>(ok),
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

async fn add_human(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Json(body): Json<AddHumanUserRequest>,
) -> Reply {
    let user = NewHumanUser {
        org_id: body.org_id,
        login_name: body.login_name,
        profile: profile(
            body.given_name,
            body.family_name,
            body.display_name,
            body.preferred_language,
        ),
        email: body.email,
        email_verified: body.email_verified,
        phone: body.phone,
        password: body.password.map(SecretString::new),
        password_change_required: body.password_change_required,
    };
    created(
        api.commands
            .for_caller(&caller)
            .add_human_user(&user)
            .await?,
    )
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

async fn set_password(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    IfMatch(seq): IfMatch,
    Path(user_id): Path<String>,
    Json(body): Json<PasswordRequest>,
) -> Reply {
    let password = SecretString::new(body.password);
    changed(
        api.commands
            .for_caller(&caller)
            .if_sequence(seq)
            .set_password(&user_id, &password, body.change_required)
            .await?,
    )
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
