use super::*;
use crate::aggregate::Aggregate;
use crate::error::{DomainError, ErrorKind};
use crate::fixtures::{ctx, shop, shop_events, strings};
use crate::project::ProjectEvent;
use crate::testing::given;

const SECRET_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$c2VjcmV0";

fn web_config() -> OidcConfig {
    OidcConfig {
        app_type: OidcAppType::Web,
        redirect_uris: strings(&["https://shop.example.com/callback"]),
        post_logout_redirect_uris: strings(&["https://shop.example.com/"]),
        response_types: vec![OidcResponseType::Code],
        grant_types: vec![
            OidcGrantType::AuthorizationCode,
            OidcGrantType::RefreshToken,
        ],
        auth_method: OidcAuthMethod::Basic,
        require_pkce: false,
        access_token_type: AccessTokenType::Jwt,
        dev_mode: false,
        id_token_signed_response_alg: None,
        access_token_signed_response_alg: None,
    }
}

fn native_config() -> OidcConfig {
    OidcConfig {
        app_type: OidcAppType::Native,
        redirect_uris: strings(&[
            "com.example.shop:/oauth2redirect",
            "http://127.0.0.1:7777/cb",
        ]),
        post_logout_redirect_uris: vec![],
        response_types: vec![OidcResponseType::Code],
        grant_types: vec![OidcGrantType::AuthorizationCode],
        auth_method: OidcAuthMethod::None,
        require_pkce: true,
        access_token_type: AccessTokenType::Opaque,
        dev_mode: false,
        id_token_signed_response_alg: None,
        access_token_signed_response_alg: None,
    }
}

fn spa_config() -> OidcConfig {
    OidcConfig {
        app_type: OidcAppType::UserAgent,
        redirect_uris: strings(&["https://spa.example.com/cb"]),
        ..native_config()
    }
}

fn oidc_app(config: OidcConfig, secret: Option<&str>) -> AddOidcApp {
    AddOidcApp {
        project_id: "project-1".to_owned(),
        name: "Shop web".to_owned(),
        client_id: "client-1".to_owned(),
        config,
        client_secret_hash: secret.map(str::to_owned),
    }
}

fn api_app(auth_method: ApiAuthMethod, secret: Option<&str>) -> AddApiApp {
    AddApiApp {
        project_id: "project-1".to_owned(),
        name: "Shop API".to_owned(),
        client_id: "client-2".to_owned(),
        config: ApiConfig {
            auth_method,
            access_token_type: AccessTokenType::Jwt,
        },
        client_secret_hash: secret.map(str::to_owned),
    }
}

fn oidc_added(app: AddOidcApp) -> ApplicationEvent {
    ApplicationEvent::OidcAdded(OidcAppAdded {
        project_id: app.project_id,
        org_id: "org-1".to_owned(),
        name: app.name,
        client_id: app.client_id,
        config: app.config,
        client_secret_hash: app.client_secret_hash,
    })
}

fn api_added(app: AddApiApp) -> ApplicationEvent {
    ApplicationEvent::ApiAdded(ApiAppAdded {
        project_id: app.project_id,
        org_id: "org-1".to_owned(),
        name: app.name,
        client_id: app.client_id,
        config: app.config,
        client_secret_hash: app.client_secret_hash,
    })
}

fn web_app() -> Vec<ApplicationEvent> {
    vec![oidc_added(oidc_app(web_config(), Some(SECRET_HASH)))]
}

fn native_app() -> Vec<ApplicationEvent> {
    vec![oidc_added(oidc_app(native_config(), None))]
}

#[track_caller]
fn invalid(config: OidcConfig, code: &str, field: &str) {
    let error: DomainError = config
        .validate()
        .expect_err("expected the config to be refused");
    assert_eq!(error.kind, ErrorKind::InvalidArgument, "{error:?}");
    assert_eq!(error.code, code, "{error:?}");
    assert_eq!(error.field.as_deref(), Some(field), "{error:?}");
}

// ---- add ----

#[test]
fn add_web_app_claims_the_client_id() {
    given::<Application>(&[])
        .when(|a| a.add_oidc(&oidc_app(web_config(), Some(SECRET_HASH)), &shop(), &ctx()))
        .then_events(web_app())
        .then_unique([UniqueChange::add(
            unique::CLIENT_ID,
            "client-1",
            "client_id",
        )])
        .then_state(|a| {
            assert!(a.uses_secret());
            assert_eq!(a.project_id, "project-1");
            assert_eq!(a.org_id, "org-1");
        });
}

#[test]
fn add_native_and_spa_apps() {
    given::<Application>(&[])
        .when(|a| a.add_oidc(&oidc_app(native_config(), None), &shop(), &ctx()))
        .then_events(native_app());
    given::<Application>(&[])
        .when(|a| a.add_oidc(&oidc_app(spa_config(), None), &shop(), &ctx()))
        .then_events([oidc_added(oidc_app(spa_config(), None))]);
}

#[test]
fn add_app_refusals() {
    given::<Application>(&[])
        .when(|a| a.add_oidc(&oidc_app(web_config(), None), &shop(), &ctx()))
        .then_error(
            ErrorKind::InvalidArgument,
            "application.client_secret.required",
        )
        .then_field("client_secret_hash");
    given::<Application>(&[])
        .when(|a| {
            a.add_oidc(
                &oidc_app(native_config(), Some(SECRET_HASH)),
                &shop(),
                &ctx(),
            )
        })
        .then_error(
            ErrorKind::InvalidArgument,
            "application.client_secret.not_allowed",
        )
        .then_field("client_secret_hash");
    let removed_project = Project::replay(&[shop_events(), vec![ProjectEvent::Removed]].concat());
    given::<Application>(&[])
        .when(|a| a.add_oidc(&oidc_app(native_config(), None), &removed_project, &ctx()))
        .then_error(ErrorKind::NotFound, "project.not_found")
        .then_field("project_id");
    given::<Application>(&web_app())
        .when(|a| a.add_oidc(&oidc_app(native_config(), None), &shop(), &ctx()))
        .then_error(ErrorKind::AlreadyExists, "application.already_exists");
    let unnamed = AddOidcApp {
        name: " ".to_owned(),
        ..oidc_app(native_config(), None)
    };
    given::<Application>(&[])
        .when(|a| a.add_oidc(&unnamed, &shop(), &ctx()))
        .then_error(ErrorKind::InvalidArgument, "application.name.required")
        .then_field("name");
    let bad_client = AddOidcApp {
        client_id: "client 1".to_owned(),
        ..oidc_app(native_config(), None)
    };
    given::<Application>(&[])
        .when(|a| a.add_oidc(&bad_client, &shop(), &ctx()))
        .then_error(ErrorKind::InvalidArgument, "application.client_id.invalid")
        .then_field("client_id");
    let mut relative = native_config();
    relative.redirect_uris = strings(&["com.example.shop:/cb", "/callback"]);
    given::<Application>(&[])
        .when(|a| a.add_oidc(&oidc_app(relative, None), &shop(), &ctx()))
        .then_error(
            ErrorKind::InvalidArgument,
            "application.redirect_uri.not_absolute",
        )
        .then_field("redirect_uris[1]");
}

#[test]
fn add_api_app() {
    given::<Application>(&[])
        .when(|a| {
            a.add_api(
                &api_app(ApiAuthMethod::Basic, Some(SECRET_HASH)),
                &shop(),
                &ctx(),
            )
        })
        .then_events([api_added(api_app(ApiAuthMethod::Basic, Some(SECRET_HASH)))])
        .then_unique([UniqueChange::add(
            unique::CLIENT_ID,
            "client-2",
            "client_id",
        )]);
    given::<Application>(&[])
        .when(|a| {
            a.add_api(
                &api_app(ApiAuthMethod::PrivateKeyJwt, None),
                &shop(),
                &ctx(),
            )
        })
        .then_events([api_added(api_app(ApiAuthMethod::PrivateKeyJwt, None))]);
}

#[test]
fn add_api_app_refusals() {
    given::<Application>(&[])
        .when(|a| a.add_api(&api_app(ApiAuthMethod::Basic, None), &shop(), &ctx()))
        .then_error(
            ErrorKind::InvalidArgument,
            "application.client_secret.required",
        );
    given::<Application>(&[])
        .when(|a| {
            a.add_api(
                &api_app(ApiAuthMethod::PrivateKeyJwt, Some(SECRET_HASH)),
                &shop(),
                &ctx(),
            )
        })
        .then_error(
            ErrorKind::InvalidArgument,
            "application.client_secret.not_allowed",
        );
    given::<Application>(&[])
        .when(|a| {
            a.add_api(
                &api_app(ApiAuthMethod::Basic, Some(SECRET_HASH)),
                &Project::default(),
                &ctx(),
            )
        })
        .then_error(ErrorKind::NotFound, "project.not_found");
}

// ---- OIDC configuration rules ----

#[test]
fn valid_configs() {
    assert_eq!(web_config().validate(), Ok(()));
    assert_eq!(native_config().validate(), Ok(()));
    assert_eq!(spa_config().validate(), Ok(()));
    let device = OidcConfig {
        redirect_uris: vec![],
        response_types: vec![],
        grant_types: vec![OidcGrantType::DeviceCode, OidcGrantType::RefreshToken],
        ..native_config()
    };
    assert_eq!(device.validate(), Ok(()));
    let implicit_spa = OidcConfig {
        response_types: vec![OidcResponseType::IdTokenToken],
        grant_types: vec![OidcGrantType::Implicit],
        ..spa_config()
    };
    assert_eq!(implicit_spa.validate(), Ok(()));
    let loopback_v6 = OidcConfig {
        redirect_uris: strings(&["http://[::1]:8080/cb", "http://localhost/cb"]),
        ..native_config()
    };
    assert_eq!(loopback_v6.validate(), Ok(()));
}

#[test]
fn redirect_uri_rules() {
    let with_uris = |base: OidcConfig, uris: &[&str]| OidcConfig {
        redirect_uris: strings(uris),
        ..base
    };
    invalid(
        with_uris(web_config(), &["https://shop.example.com/cb#top"]),
        "application.redirect_uri.fragment",
        "redirect_uris[0]",
    );
    invalid(
        with_uris(
            web_config(),
            &["https://shop.example.com/cb", "http://shop.example.com/cb"],
        ),
        "application.redirect_uri.https_required",
        "redirect_uris[1]",
    );
    invalid(
        with_uris(web_config(), &["http://localhost:3000/cb"]),
        "application.redirect_uri.https_required",
        "redirect_uris[0]",
    );
    invalid(
        with_uris(native_config(), &["http://192.168.1.5/cb"]),
        "application.redirect_uri.https_required",
        "redirect_uris[0]",
    );
    invalid(
        with_uris(native_config(), &["myapp:/cb"]),
        "application.redirect_uri.scheme_not_allowed",
        "redirect_uris[0]",
    );
    invalid(
        with_uris(spa_config(), &["com.example.shop:/cb"]),
        "application.redirect_uri.scheme_not_allowed",
        "redirect_uris[0]",
    );
    invalid(
        with_uris(web_config(), &["https://user:pw@shop.example.com/cb"]),
        "application.redirect_uri.userinfo",
        "redirect_uris[0]",
    );
    invalid(
        with_uris(
            web_config(),
            &["https://shop.example.com/cb", "https://shop.example.com/cb"],
        ),
        "application.redirect_uri.duplicate",
        "redirect_uris[1]",
    );
    invalid(
        with_uris(web_config(), &["shop.example.com/cb"]),
        "application.redirect_uri.not_absolute",
        "redirect_uris[0]",
    );
    let too_many: Vec<String> = (0..=MAX_REDIRECT_URIS)
        .map(|i| format!("https://shop.example.com/{i}"))
        .collect();
    invalid(
        OidcConfig {
            redirect_uris: too_many,
            ..web_config()
        },
        "application.redirect_uri.too_many",
        "redirect_uris",
    );
    invalid(
        OidcConfig {
            post_logout_redirect_uris: strings(&["http://shop.example.com/bye"]),
            ..web_config()
        },
        "application.post_logout_redirect_uri.https_required",
        "post_logout_redirect_uris[0]",
    );
}

#[test]
fn dev_mode_allows_http() {
    let dev = OidcConfig {
        redirect_uris: strings(&["http://shop.local:8080/cb"]),
        dev_mode: true,
        ..web_config()
    };
    assert_eq!(dev.validate(), Ok(()));
}

#[test]
fn grant_and_response_types_must_agree() {
    invalid(
        OidcConfig {
            grant_types: vec![],
            ..web_config()
        },
        "application.grant_types.required",
        "grant_types",
    );
    invalid(
        OidcConfig {
            response_types: vec![OidcResponseType::IdToken],
            ..web_config()
        },
        "application.grant_type.inconsistent",
        "grant_types[0]",
    );
    invalid(
        OidcConfig {
            response_types: vec![OidcResponseType::Code, OidcResponseType::IdToken],
            ..web_config()
        },
        "application.response_type.inconsistent",
        "response_types[1]",
    );
    invalid(
        OidcConfig {
            grant_types: vec![OidcGrantType::RefreshToken],
            response_types: vec![],
            ..web_config()
        },
        "application.grant_type.inconsistent",
        "grant_types[0]",
    );
    invalid(
        OidcConfig {
            grant_types: vec![OidcGrantType::Implicit],
            response_types: vec![OidcResponseType::IdToken],
            ..native_config()
        },
        "application.grant_type.inconsistent",
        "grant_types[0]",
    );
    invalid(
        OidcConfig {
            grant_types: vec![OidcGrantType::AuthorizationCode, OidcGrantType::DeviceCode],
            ..web_config()
        },
        "application.grant_type.inconsistent",
        "grant_types[1]",
    );
    invalid(
        OidcConfig {
            grant_types: vec![
                OidcGrantType::AuthorizationCode,
                OidcGrantType::AuthorizationCode,
            ],
            ..web_config()
        },
        "application.grant_type.duplicate",
        "grant_types[1]",
    );
    invalid(
        OidcConfig {
            response_types: vec![OidcResponseType::Code, OidcResponseType::Code],
            ..web_config()
        },
        "application.response_type.duplicate",
        "response_types[1]",
    );
    invalid(
        OidcConfig {
            redirect_uris: vec![],
            ..web_config()
        },
        "application.redirect_uris.required",
        "redirect_uris",
    );
}

#[test]
fn auth_method_must_fit_the_app_type() {
    invalid(
        OidcConfig {
            auth_method: OidcAuthMethod::None,
            require_pkce: true,
            ..web_config()
        },
        "application.auth_method.not_allowed",
        "auth_method",
    );
    invalid(
        OidcConfig {
            auth_method: OidcAuthMethod::Basic,
            ..spa_config()
        },
        "application.auth_method.not_allowed",
        "auth_method",
    );
    invalid(
        OidcConfig {
            require_pkce: false,
            ..native_config()
        },
        "application.pkce.required",
        "require_pkce",
    );
    let jwt = OidcConfig {
        auth_method: OidcAuthMethod::PrivateKeyJwt,
        ..web_config()
    };
    assert_eq!(jwt.validate(), Ok(()));
}

// ---- change config, secret ----

#[test]
fn change_oidc_config() {
    let mut config = web_config();
    config
        .redirect_uris
        .push("https://shop.example.com/other".to_owned());
    given::<Application>(&web_app())
        .when(|a| a.change_oidc_config(&config, None, &ctx()))
        .then_events([ApplicationEvent::OidcConfigChanged(config.clone())]);
    given::<Application>(&web_app())
        .when(|a| a.change_oidc_config(&web_config(), None, &ctx()))
        .then_unchanged();
}

#[test]
fn switching_to_a_public_client_removes_the_secret() {
    let public = OidcConfig {
        auth_method: OidcAuthMethod::None,
        require_pkce: true,
        ..spa_config()
    };
    given::<Application>(&web_app())
        .when(|a| a.change_oidc_config(&public, None, &ctx()))
        .then_events([
            ApplicationEvent::OidcConfigChanged(public.clone()),
            ApplicationEvent::SecretRemoved,
        ])
        .then_state(|a| assert_eq!(a.client_secret_hash, None));
}

#[test]
fn switching_to_a_secret_method_needs_a_secret() {
    let confidential = OidcConfig {
        app_type: OidcAppType::Web,
        redirect_uris: strings(&["https://shop.example.com/cb"]),
        auth_method: OidcAuthMethod::Post,
        ..native_config()
    };
    given::<Application>(&native_app())
        .when(|a| a.change_oidc_config(&confidential, None, &ctx()))
        .then_error(
            ErrorKind::InvalidArgument,
            "application.client_secret.required",
        )
        .then_field("client_secret_hash");
    given::<Application>(&native_app())
        .when(|a| a.change_oidc_config(&confidential, Some(SECRET_HASH), &ctx()))
        .then_events([
            ApplicationEvent::OidcConfigChanged(confidential.clone()),
            ApplicationEvent::SecretSet(AppSecretSet {
                client_secret_hash: SECRET_HASH.to_owned(),
            }),
        ]);
}

#[test]
fn change_config_refusals() {
    given::<Application>(&web_app())
        .when(|a| {
            a.change_oidc_config(
                &OidcConfig {
                    grant_types: vec![],
                    ..web_config()
                },
                None,
                &ctx(),
            )
        })
        .then_error(
            ErrorKind::InvalidArgument,
            "application.grant_types.required",
        );
    given::<Application>(&native_app())
        .when(|a| a.change_oidc_config(&native_config(), Some(SECRET_HASH), &ctx()))
        .then_error(
            ErrorKind::InvalidArgument,
            "application.client_secret.not_allowed",
        );
    let api = [api_added(api_app(ApiAuthMethod::PrivateKeyJwt, None))];
    given::<Application>(&api)
        .when(|a| a.change_oidc_config(&web_config(), Some(SECRET_HASH), &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "application.not_oidc");
    given::<Application>(&web_app())
        .when(|a| {
            a.change_api_config(
                &ApiConfig {
                    auth_method: ApiAuthMethod::Basic,
                    access_token_type: AccessTokenType::Jwt,
                },
                None,
                &ctx(),
            )
        })
        .then_error(ErrorKind::PreconditionFailed, "application.not_api");
    given::<Application>(&[])
        .when(|a| a.change_oidc_config(&web_config(), None, &ctx()))
        .then_error(ErrorKind::NotFound, "application.not_found");
}

#[test]
fn change_api_config() {
    let api = [api_added(api_app(ApiAuthMethod::Basic, Some(SECRET_HASH)))];
    let jwt = ApiConfig {
        auth_method: ApiAuthMethod::PrivateKeyJwt,
        access_token_type: AccessTokenType::Jwt,
    };
    given::<Application>(&api)
        .when(|a| a.change_api_config(&jwt, None, &ctx()))
        .then_events([
            ApplicationEvent::ApiConfigChanged(jwt.clone()),
            ApplicationEvent::SecretRemoved,
        ]);
    given::<Application>(&api)
        .when(|a| {
            a.change_api_config(
                &ApiConfig {
                    auth_method: ApiAuthMethod::Basic,
                    access_token_type: AccessTokenType::Jwt,
                },
                None,
                &ctx(),
            )
        })
        .then_unchanged();
    // Opaque own tokens: a change of the configuration like any other.
    let opaque = ApiConfig {
        auth_method: ApiAuthMethod::Basic,
        access_token_type: AccessTokenType::Opaque,
    };
    given::<Application>(&api)
        .when(|a| a.change_api_config(&opaque, None, &ctx()))
        .then_events([ApplicationEvent::ApiConfigChanged(opaque.clone())]);
    // Configurations stored before API apps had a choice read as JWT.
    let old: ApiConfig =
        serde_json::from_value(serde_json::json!({ "auth_method": "basic" })).unwrap();
    assert_eq!(old.access_token_type, AccessTokenType::Jwt);
}

#[test]
fn regenerate_secret() {
    given::<Application>(&web_app())
        .when(|a| a.regenerate_secret("$argon2id$v=19$new", &ctx()))
        .then_events([ApplicationEvent::SecretSet(AppSecretSet {
            client_secret_hash: "$argon2id$v=19$new".to_owned(),
        })]);
    given::<Application>(&native_app())
        .when(|a| a.regenerate_secret("$argon2id$v=19$new", &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "application.secret.not_used");
    given::<Application>(&web_app())
        .when(|a| a.regenerate_secret("", &ctx()))
        .then_error(
            ErrorKind::InvalidArgument,
            "application.client_secret.required",
        )
        .then_field("client_secret_hash");
}

// ---- rename and life cycle ----

#[test]
fn rename() {
    given::<Application>(&web_app())
        .when(|a| a.rename("Shop", &ctx()))
        .then_events([ApplicationEvent::Renamed(AppRenamed {
            name: "Shop".to_owned(),
        })]);
    given::<Application>(&web_app())
        .when(|a| a.rename("Shop web", &ctx()))
        .then_unchanged();
    given::<Application>(&web_app())
        .when(|a| a.rename("", &ctx()))
        .then_error(ErrorKind::InvalidArgument, "application.name.required");
}

#[test]
fn deactivate_reactivate() {
    given::<Application>(&web_app())
        .when(|a| a.deactivate(&ctx()))
        .then_events([ApplicationEvent::Deactivated]);
    let inactive = [web_app(), vec![ApplicationEvent::Deactivated]].concat();
    given::<Application>(&inactive)
        .when(|a| a.deactivate(&ctx()))
        .then_error(
            ErrorKind::PreconditionFailed,
            "application.already_inactive",
        );
    given::<Application>(&inactive)
        .when(|a| a.reactivate(&ctx()))
        .then_events([ApplicationEvent::Reactivated]);
    given::<Application>(&web_app())
        .when(|a| a.reactivate(&ctx()))
        .then_error(ErrorKind::PreconditionFailed, "application.not_inactive");
}

#[test]
fn remove_frees_the_client_id() {
    given::<Application>(&web_app())
        .when(|a| a.remove(&ctx()))
        .then_events([ApplicationEvent::Removed])
        .then_unique([UniqueChange::remove(unique::CLIENT_ID, "client-1")]);
    let removed = [web_app(), vec![ApplicationEvent::Removed]].concat();
    given::<Application>(&removed)
        .when(|a| a.remove(&ctx()))
        .then_error(ErrorKind::NotFound, "application.not_found");
    given::<Application>(&removed)
        .when(|a| a.rename("x", &ctx()))
        .then_error(ErrorKind::NotFound, "application.not_found");
}

#[test]
fn signing_algorithms_are_part_of_the_config_and_default_when_absent() {
    // Configurations stored before the algorithms could be chosen read as "the provider's default".
    let mut stored = serde_json::to_value(web_config()).expect("json");
    let fields = stored.as_object_mut().expect("object");
    assert!(!fields.contains_key("id_token_signed_response_alg"));
    fields.remove("access_token_signed_response_alg");
    let read: OidcConfig = serde_json::from_value(stored).expect("old config");
    assert_eq!(read.id_token_signed_response_alg, None);
    assert_eq!(read.access_token_signed_response_alg, None);

    let chosen = OidcConfig {
        id_token_signed_response_alg: Some(SigningAlgorithm::ES256),
        access_token_signed_response_alg: Some(SigningAlgorithm::EdDSA),
        ..web_config()
    };
    let json = serde_json::to_value(&chosen).expect("json");
    assert_eq!(json["id_token_signed_response_alg"], "ES256");
    assert_eq!(json["access_token_signed_response_alg"], "EdDSA");
    given::<Application>(&web_app())
        .when(|a| a.change_oidc_config(&chosen, None, &ctx()))
        .then_events([ApplicationEvent::OidcConfigChanged(chosen.clone())]);
}
