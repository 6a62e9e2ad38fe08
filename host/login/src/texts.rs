//! Every text the login pages show, in one table per language, so that a translation is one more table.
//!
//! Texts are plain text: the page renderer escapes them. `{}` marks where a value goes (at most one per text).

/// The texts of the login pages in one language.
#[derive(Debug, Clone, Copy)]
pub struct Texts {
    /// The `lang` attribute of the pages.
    pub lang: &'static str,
    /// Title of the login name page.
    pub login_title: &'static str,
    /// Heading naming the application: "Sign in to {}".
    pub sign_in_to: &'static str,
    /// Label of the login name field.
    pub login_name: &'static str,
    /// Label of the password field.
    pub password: &'static str,
    /// Button that goes to the next step.
    pub next: &'static str,
    /// Button that signs in.
    pub sign_in: &'static str,
    /// Link to log in as someone else.
    pub other_user: &'static str,
    /// The one message for an unknown login name, a wrong password, and a locked or deactivated user.
    pub invalid_credentials: &'static str,
    /// Title of the second factor page.
    pub otp_title: &'static str,
    /// Explanation of the second factor page.
    pub otp_intro: &'static str,
    /// Label of the one-time code field.
    pub otp_code: &'static str,
    /// Button that checks the code.
    pub verify: &'static str,
    /// A wrong one-time code.
    pub invalid_code: &'static str,
    /// Title of the TOTP enrolment page.
    pub totp_setup_title: &'static str,
    /// Explanation of the TOTP enrolment page.
    pub totp_setup_intro: &'static str,
    /// Label of the secret for manual entry.
    pub totp_secret: &'static str,
    /// Title of the account selection page.
    pub select_title: &'static str,
    /// Explanation of the account selection page.
    pub select_intro: &'static str,
    /// Title of the signed-in page.
    pub signed_in_title: &'static str,
    /// "You are signed in as {}."
    pub signed_in_as: &'static str,
    /// Title of the logout page.
    pub logout_title: &'static str,
    /// Question of the logout page.
    pub logout_question: &'static str,
    /// Button that logs out.
    pub logout: &'static str,
    /// Title after logout.
    pub logged_out_title: &'static str,
    /// Text after logout.
    pub logged_out: &'static str,
    /// Title of the registration page.
    pub register_title: &'static str,
    /// Link to the registration page.
    pub register_link: &'static str,
    /// Label of the given name field.
    pub given_name: &'static str,
    /// Label of the family name field.
    pub family_name: &'static str,
    /// Label of the email field.
    pub email: &'static str,
    /// Label of the password confirmation field.
    pub password_confirm: &'static str,
    /// Button that registers.
    pub register: &'static str,
    /// The passwords entered differ.
    pub passwords_differ: &'static str,
    /// Registration is not allowed here.
    pub register_not_allowed: &'static str,
    /// Title of the email verification page.
    pub verify_email_title: &'static str,
    /// Explanation of the email verification page.
    pub verify_email_intro: &'static str,
    /// Title of the password reset page.
    pub reset_title: &'static str,
    /// Explanation of the password reset request.
    pub reset_intro: &'static str,
    /// Link to the password reset.
    pub reset_link: &'static str,
    /// Button that sends the reset code.
    pub reset_send: &'static str,
    /// After a reset was requested (whether or not the login name exists).
    pub reset_sent: &'static str,
    /// Label of the new password field.
    pub new_password: &'static str,
    /// Button that sets the new password.
    pub reset_set: &'static str,
    /// After the password was reset.
    pub reset_done: &'static str,
    /// Title of the page that makes the user change a password that must be changed.
    pub change_password_title: &'static str,
    /// Explanation of the password change page.
    pub change_password_intro: &'static str,
    /// Button that changes the password.
    pub change_password: &'static str,
    /// Title of the consent page: "Allow {} to use your account?"
    pub consent_title: &'static str,
    /// Explanation of the consent page, above the list of what the application asks for.
    pub consent_intro: &'static str,
    /// Button that gives consent.
    pub consent_allow: &'static str,
    /// Button that refuses consent.
    pub consent_deny: &'static str,
    /// What the `openid` scope lets the application have.
    pub scope_openid: &'static str,
    /// What the `profile` scope lets the application have.
    pub scope_profile: &'static str,
    /// What the `email` scope lets the application have.
    pub scope_email: &'static str,
    /// What the `phone` scope lets the application have.
    pub scope_phone: &'static str,
    /// What the `address` scope lets the application have.
    pub scope_address: &'static str,
    /// What the `offline_access` scope lets the application do.
    pub scope_offline_access: &'static str,
    /// What the management API scope lets the application do.
    pub scope_management_api: &'static str,
    /// A scope without a description: "Access named {}".
    pub scope_other: &'static str,
    /// Title of error pages.
    pub error_title: &'static str,
    /// A form without a valid CSRF token.
    pub csrf_invalid: &'static str,
    /// The authorization request is unknown or expired.
    pub auth_request_unknown: &'static str,
    /// The login session is missing or expired (start again).
    pub session_expired: &'static str,
    /// An action refused the login: "Sign-in was refused: {}".
    pub denied: &'static str,
    /// A fail-closed action could not be asked.
    pub action_failed: &'static str,
    /// Something in Warden failed.
    pub internal_error: &'static str,
    /// A form field is missing or too long: "The field {} is missing or too long."
    pub bad_field: &'static str,
    /// Link back to the start of the login.
    pub start_again: &'static str,
    /// The page does not exist.
    pub not_found: &'static str,
}

/// English, the default.
pub const EN: Texts = Texts {
    lang: "en",
    login_title: "Sign in",
    sign_in_to: "Sign in to {}",
    login_name: "Login name",
    password: "Password",
    next: "Next",
    sign_in: "Sign in",
    other_user: "Use another account",
    invalid_credentials: "The login name or the password is wrong, or the account cannot sign in.",
    otp_title: "Second factor",
    otp_intro: "Enter the 6-digit code from your authenticator app.",
    otp_code: "One-time code",
    verify: "Verify",
    invalid_code: "The code is wrong or expired.",
    totp_setup_title: "Set up your authenticator app",
    totp_setup_intro: "A second factor is required. Scan the QR code with an authenticator app (or enter the secret by hand), then enter the code it shows.",
    totp_secret: "Secret",
    select_title: "Choose an account",
    select_intro: "Continue with one of the accounts signed in on this browser.",
    signed_in_title: "Signed in",
    signed_in_as: "You are signed in as {}.",
    logout_title: "Sign out",
    logout_question: "Sign out of every account on this browser?",
    logout: "Sign out",
    logged_out_title: "Signed out",
    logged_out: "You are signed out.",
    register_title: "Create an account",
    register_link: "Create an account",
    given_name: "Given name",
    family_name: "Family name",
    email: "Email",
    password_confirm: "Repeat the password",
    register: "Create account",
    passwords_differ: "The passwords differ.",
    register_not_allowed: "Creating an account is not allowed here.",
    verify_email_title: "Verify your email",
    verify_email_intro: "We sent a code to your email address. Enter it here.",
    reset_title: "Reset your password",
    reset_intro: "Enter your login name. If it exists, we send a code to its email address.",
    reset_link: "Forgot your password?",
    reset_send: "Send code",
    reset_sent: "If the login name exists, a code is on its way to its email address.",
    new_password: "New password",
    reset_set: "Set password",
    reset_done: "Your password was changed. Sign in with it now.",
    change_password_title: "Change your password",
    change_password_intro: "Your password must be changed before you continue. Choose a new one.",
    change_password: "Change password",
    consent_title: "Allow {} to use your account?",
    consent_intro: "The application asks for:",
    consent_allow: "Allow",
    consent_deny: "Deny",
    scope_openid: "To know who you are (the id of your account)",
    scope_profile: "Your name, login name and language",
    scope_email: "Your email address",
    scope_phone: "Your phone number",
    scope_address: "Your postal address",
    scope_offline_access: "To keep access while you are signed out",
    scope_management_api: "To manage Warden on your behalf, with your permissions",
    scope_other: "Access named \u{201c}{}\u{201d}",
    error_title: "Sign-in problem",
    csrf_invalid: "The form expired or did not come from this site. Go back, reload the page and try again.",
    auth_request_unknown: "This sign-in link is unknown or expired. Go back to the application and start again.",
    session_expired: "Your sign-in took too long or was ended. Start again.",
    denied: "Sign-in was refused: {}",
    action_failed: "Sign-in is not possible right now: a rule of this service could not be checked. Try again later or contact your administrator.",
    internal_error: "Something went wrong on our side. Try again in a moment.",
    bad_field: "The field {} is missing or too long.",
    start_again: "Start again",
    not_found: "This page does not exist.",
};

/// Fills the one `{}` of `text` with `value`.
pub fn fill(text: &str, value: &str) -> String {
    text.replacen("{}", value, 1)
}
