use std::marker::PhantomData;

use crate::Error;
use crate::types::{
    AuthContext, Claim, Metadata, PostAuthDecision, PreAuthDecision, Profile, RegistrationDecision,
    User,
};
use crate::wit::action::exports::warden::plugin::login_hooks::Guest;

/// An action: hooks of the login flow.
///
/// Implement the hooks the plugin is bound to; the others keep their defaults, which change nothing.
/// Each hook receives the whole [`AuthContext`]: the user and organization when known, the client, the
/// requested scopes, the authentication methods used so far, the IP address and the user agent.
/// Export the type with [`export_action!`](crate::export_action).
///
/// ```no_run
/// use warden_plugin_sdk::{export_action, types::*, Action, Error};
///
/// struct TenantClaim;
///
/// impl Action for TenantClaim {
///     fn pre_token(ctx: AuthContext, _claims: Vec<Claim>) -> Result<Vec<Claim>, Error> {
///         Ok(vec![Claim::string("tenant", &ctx.instance_id)])
///     }
/// }
///
/// export_action!(TenantClaim);
/// ```
pub trait Action {
    /// Before the user's credentials are checked. Default: allow.
    fn pre_authentication(ctx: AuthContext) -> Result<PreAuthDecision, Error> {
        let _ = ctx;
        Ok(PreAuthDecision::Allow)
    }

    /// After the user's credentials were checked. Default: allow.
    fn post_authentication(ctx: AuthContext) -> Result<PostAuthDecision, Error> {
        let _ = ctx;
        Ok(PostAuthDecision::Allow)
    }

    /// Before a self-registered user is created. Default: allow the profile as given.
    fn pre_registration(ctx: AuthContext, profile: Profile) -> Result<RegistrationDecision, Error> {
        let _ = (ctx, profile);
        Ok(RegistrationDecision::Allow)
    }

    /// Before a token is issued: the claims to add or change. Default: none.
    ///
    /// Reserved claims (`sub`, `iss`, `aud`, `exp`, `iat`, `nbf`, `nonce`, `azp`, `auth_time`, `acr`,
    /// `amr`, `jti`, `at_hash`, `c_hash`, `sid`) cannot be set: the host fails the call.
    fn pre_token(ctx: AuthContext, claims: Vec<Claim>) -> Result<Vec<Claim>, Error> {
        let _ = (ctx, claims);
        Ok(Vec::new())
    }

    /// Before the userinfo response is sent: the claims to add or change. Default: none.
    fn pre_userinfo(ctx: AuthContext, claims: Vec<Claim>) -> Result<Vec<Claim>, Error> {
        let _ = (ctx, claims);
        Ok(Vec::new())
    }

    /// After a user was created: metadata to set on the user. Default: none.
    fn post_creation(ctx: AuthContext, user: User) -> Result<Vec<Metadata>, Error> {
        let _ = (ctx, user);
        Ok(Vec::new())
    }
}

#[doc(hidden)]
#[derive(Debug)]
pub struct ActionAdapter<T>(PhantomData<T>);

impl<T: Action> Guest for ActionAdapter<T> {
    fn pre_authentication(ctx: AuthContext) -> Result<PreAuthDecision, String> {
        T::pre_authentication(ctx)
    }

    fn post_authentication(ctx: AuthContext) -> Result<PostAuthDecision, String> {
        T::post_authentication(ctx)
    }

    fn pre_registration(
        ctx: AuthContext,
        profile: Profile,
    ) -> Result<RegistrationDecision, String> {
        T::pre_registration(ctx, profile)
    }

    fn pre_token(ctx: AuthContext, claims: Vec<Claim>) -> Result<Vec<Claim>, String> {
        T::pre_token(ctx, claims)
    }

    fn pre_userinfo(ctx: AuthContext, claims: Vec<Claim>) -> Result<Vec<Claim>, String> {
        T::pre_userinfo(ctx, claims)
    }

    fn post_creation(ctx: AuthContext, user: User) -> Result<Vec<Metadata>, String> {
        T::post_creation(ctx, user)
    }
}

/// Exports a type that implements [`Action`] as the plugin's login-flow hooks.
#[macro_export]
macro_rules! export_action {
    ($plugin:ty) => {
        const _: () = {
            type WardenAction = $crate::__private::ActionAdapter<$plugin>;
    $crate::__export_action_impl!(WardenAction with_types_in $crate::wit::action);
        };
    };
}
