//! Action: organization and roles claims, and logins only from configured networks.
//!
//! Configuration of the binding:
//! * `allowed_networks`: comma-separated CIDR ranges, e.g. `10.0.0.0/8, 2001:db8::/32`. When set, a login
//!   or registration from another address (or without a known address) is denied.
//! * `org_claim` (default `org`): the claim that gets `{"id", "name", "primary_domain"}` of the user's
//!   organization.
//! * `roles_claim` (default `roles`): the claim that gets the user's roles on the client's project.
//!
//! Hooks: pre-authentication and post-authentication (network check), pre-registration (network
//! check), pre-token and pre-userinfo (claims), post-creation (records the address a user was created
//! from in the metadata `created_from_ip`).

use std::net::IpAddr;

use warden_plugin_sdk::types::{
    AuthContext, Claim, Metadata, PostAuthDecision, PreAuthDecision, Profile, RegistrationDecision,
    User, json_string,
};
use warden_plugin_sdk::{Action, Error, config, export_action, log};

struct OrgClaims;

impl Action for OrgClaims {
    fn pre_authentication(ctx: AuthContext) -> Result<PreAuthDecision, Error> {
        Ok(match network_refusal(&ctx)? {
            Some(reason) => PreAuthDecision::Deny(reason),
            None => PreAuthDecision::Allow,
        })
    }

    fn post_authentication(ctx: AuthContext) -> Result<PostAuthDecision, Error> {
        Ok(match network_refusal(&ctx)? {
            Some(reason) => PostAuthDecision::Deny(reason),
            None => PostAuthDecision::Allow,
        })
    }

    fn pre_registration(
        ctx: AuthContext,
        _profile: Profile,
    ) -> Result<RegistrationDecision, Error> {
        Ok(match network_refusal(&ctx)? {
            Some(reason) => RegistrationDecision::Deny(reason),
            None => RegistrationDecision::Allow,
        })
    }

    fn pre_token(ctx: AuthContext, _claims: Vec<Claim>) -> Result<Vec<Claim>, Error> {
        Ok(claims(&ctx))
    }

    fn pre_userinfo(ctx: AuthContext, _claims: Vec<Claim>) -> Result<Vec<Claim>, Error> {
        Ok(claims(&ctx))
    }

    fn post_creation(ctx: AuthContext, _user: User) -> Result<Vec<Metadata>, Error> {
        Ok(ctx
            .ip
            .map(|ip| vec![Metadata::new("created_from_ip", ip)])
            .unwrap_or_default())
    }
}

fn claims(ctx: &AuthContext) -> Vec<Claim> {
    let mut claims = Vec::new();
    if let Some(org) = &ctx.org {
        let domain = org
            .primary_domain
            .as_deref()
            .map_or_else(|| "null".to_owned(), json_string);
        claims.push(Claim::new(
            config::get("org_claim").unwrap_or_else(|| "org".into()),
            format!(
                r#"{{"id":{},"name":{},"primary_domain":{domain}}}"#,
                json_string(&org.id),
                json_string(&org.name),
            ),
        ));
    }
    claims.push(Claim::strings(
        config::get("roles_claim").unwrap_or_else(|| "roles".into()),
        ctx.roles.iter().map(String::as_str),
    ));
    claims
}

/// Why the request's address is refused, or `None` when it is allowed.
fn network_refusal(ctx: &AuthContext) -> Result<Option<String>, Error> {
    let networks = config::list("allowed_networks");
    if networks.is_empty() {
        return Ok(None);
    }
    let networks = networks
        .iter()
        .map(|n| {
            Cidr::parse(n).ok_or_else(|| format!("`{n}` in allowed_networks is not a CIDR range"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ip = ctx.ip.as_deref().and_then(|ip| ip.parse::<IpAddr>().ok());
    if ip.is_some_and(|ip| networks.iter().any(|n| n.contains(ip))) {
        return Ok(None);
    }
    log::warn(
        "login from a network outside allowed_networks",
        &[("ip", ctx.ip.as_deref().unwrap_or("unknown"))],
    );
    Ok(Some("sign-in is not allowed from your network".into()))
}

/// An IP network such as `192.168.0.0/16` or `2001:db8::/32`.
#[derive(Debug, Clone, Copy)]
struct Cidr {
    network: u128,
    prefix: u32,
    v4: bool,
}

impl Cidr {
    fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix.parse::<u32>().ok()?)),
            None => (text, None),
        };
        let (bits, v4) = match addr.parse::<IpAddr>().ok()? {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), true),
            IpAddr::V6(v6) => (u128::from(v6), false),
        };
        let width = if v4 { 32 } else { 128 };
        let prefix = prefix.unwrap_or(width);
        if prefix > width {
            return None;
        }
        Some(Self {
            network: bits & mask(prefix, width),
            prefix,
            v4,
        })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let (bits, v4) = match ip {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), true),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => (u128::from(u32::from(v4)), true),
                None => (u128::from(v6), false),
            },
        };
        let width = if v4 { 32 } else { 128 };
        v4 == self.v4 && bits & mask(self.prefix, width) == self.network
    }
}

/// The netmask of `prefix` leading ones in an address of `width` bits.
fn mask(prefix: u32, width: u32) -> u128 {
    if prefix == 0 {
        0
    } else {
        (u128::MAX << (128 - prefix)) >> (128 - width)
    }
}

export_action!(OrgClaims);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_contains() {
        let net = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        assert!(Cidr::parse("1.2.3.4/33").is_none());
    }
}
