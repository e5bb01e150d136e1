//! Auth0 Organizations in the On-Behalf-Of exchange, over real HTTP: the subject
//! token's `org_id` and the `organization` parameter, membership, and the exchanged
//! token's `org_id`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mock_tenant::{
    ACCESS_TOKEN_TYPE, MockTenant, Organization, TOKEN_EXCHANGE_GRANT, TenantConfig,
};
use serde_json::Value;

const ALICE: &str = "auth0|alice";
const BOB: &str = "auth0|bob";
const ACME: &str = "org_acme0123456789";
const GLOBEX: &str = "org_globex01234567";

struct Reply {
    status: u16,
    body: Value,
}

impl Reply {
    #[track_caller]
    fn refusal(&self, status: u16, error: &str) -> String {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.body["error"], error, "body: {}", self.body);
        self.body["error_description"].as_str().unwrap().to_string()
    }

    /// The exchanged token's claims (the tenant's own tests verify its signature).
    #[track_caller]
    fn claims(&self) -> Value {
        assert_eq!(self.status, 200, "body: {}", self.body);
        let token = self.body["access_token"].as_str().unwrap();
        let payload = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    }
}

async fn tenant() -> MockTenant {
    MockTenant::start(TenantConfig {
        organizations: vec![
            Organization::new(ACME, "acme", &[ALICE]),
            Organization::new(GLOBEX, "globex", &[ALICE, BOB]),
        ],
        ..TenantConfig::default()
    })
    .await
}

/// A user token for `sub`, in `org_id` when given.
fn subject(tenant: &MockTenant, sub: &str, org_id: Option<&str>) -> String {
    let builder = tenant.user_token(sub);
    let builder = match org_id {
        Some(org_id) => builder.claim("org_id", org_id),
        None => builder,
    };
    tenant.sign_user_token(&builder)
}

async fn exchange(tenant: &MockTenant, subject: &str, organization: Option<&str>) -> Reply {
    let mut params = vec![
        ("grant_type", TOKEN_EXCHANGE_GRANT),
        ("subject_token", subject),
        ("subject_token_type", ACCESS_TOKEN_TYPE),
        ("audience", tenant.api_audience()),
        ("client_id", tenant.client_id()),
        ("client_secret", tenant.client_secret()),
    ];
    if let Some(organization) = organization {
        params.push(("organization", organization));
    }
    let response = reqwest::Client::new()
        .post(tenant.token_endpoint())
        .form(&params)
        .send()
        .await
        .expect("tenant reachable");
    Reply {
        status: response.status().as_u16(),
        body: response.json().await.unwrap(),
    }
}

#[tokio::test]
async fn a_member_gets_a_token_carrying_the_org_id() {
    let tenant = tenant().await;
    let token = subject(&tenant, ALICE, Some(ACME));
    let claims = exchange(&tenant, &token, None).await.claims();
    assert_eq!(claims["org_id"], ACME);
    assert_eq!(claims["sub"], ALICE);
    // The parameter may repeat the token's organization, by id or by name.
    for same in [ACME, "acme"] {
        let claims = exchange(&tenant, &token, Some(same)).await.claims();
        assert_eq!(claims["org_id"], ACME);
    }
    assert_eq!(tenant.exchanges_in_org(ALICE, Some(ACME)), 3);
}

#[tokio::test]
async fn a_non_member_is_403_access_denied_naming_the_organization() {
    let tenant = tenant().await;
    let token = subject(&tenant, BOB, Some(ACME));
    let description = exchange(&tenant, &token, None)
        .await
        .refusal(403, "access_denied");
    assert!(description.contains(ACME), "{description}");
    assert!(description.contains("not a member"), "{description}");
    assert!(!description.contains(&token));
    assert_eq!(tenant.exchanges(), 0);
}

#[tokio::test]
async fn an_unknown_organization_is_403_access_denied() {
    let tenant = tenant().await;
    let token = subject(&tenant, ALICE, Some("org_gone0000000000"));
    let description = exchange(&tenant, &token, None)
        .await
        .refusal(403, "access_denied");
    assert!(description.contains("org_gone0000000000"), "{description}");
    assert!(description.contains("does not exist"), "{description}");
    // Adding it at run time, with Alice as a member, lets the exchange through.
    tenant.add_organization(Organization::new("org_gone0000000000", "gone", &[ALICE]));
    let claims = exchange(&tenant, &token, None).await.claims();
    assert_eq!(claims["org_id"], "org_gone0000000000");
}

#[tokio::test]
async fn an_organization_parameter_other_than_the_tokens_is_400_invalid_request() {
    let tenant = tenant().await;
    let token = subject(&tenant, ALICE, Some(ACME));
    for other in [GLOBEX, "globex", "org_unknown000000"] {
        let description = exchange(&tenant, &token, Some(other))
            .await
            .refusal(400, "invalid_request");
        assert!(
            description.contains("does not match the subject token's org_id"),
            "{description}"
        );
    }
    assert_eq!(tenant.exchanges(), 0);
}

#[tokio::test]
async fn the_organization_parameter_alone_picks_the_organization() {
    let tenant = tenant().await;
    let personal = subject(&tenant, BOB, None);
    let claims = exchange(&tenant, &personal, Some("globex")).await.claims();
    assert_eq!(claims["org_id"], GLOBEX);
    let not_member = exchange(&tenant, &personal, Some(ACME))
        .await
        .refusal(403, "access_denied");
    assert!(not_member.contains(ACME), "{not_member}");
    let unknown = exchange(&tenant, &personal, Some("initech"))
        .await
        .refusal(403, "access_denied");
    assert!(unknown.contains("initech"), "{unknown}");
    assert_ne!(not_member, unknown);
}

#[tokio::test]
async fn a_personal_token_gets_no_org_id() {
    let tenant = tenant().await;
    let claims = exchange(&tenant, &subject(&tenant, ALICE, None), None)
        .await
        .claims();
    assert!(claims.get("org_id").is_none(), "{claims}");
    assert_eq!(tenant.exchanges_in_org(ALICE, None), 1);
}

#[tokio::test]
async fn an_organization_token_and_a_personal_token_are_two_exchanges() {
    let tenant = tenant().await;
    let in_org = exchange(&tenant, &subject(&tenant, ALICE, Some(GLOBEX)), None)
        .await
        .claims();
    let personal = exchange(&tenant, &subject(&tenant, ALICE, None), None)
        .await
        .claims();
    assert_eq!(in_org["org_id"], GLOBEX);
    assert!(personal.get("org_id").is_none());
    assert_eq!(in_org["sub"], personal["sub"]);
    assert_eq!(tenant.exchanges_for(ALICE), 2);
    assert_eq!(tenant.exchanges_in_org(ALICE, Some(GLOBEX)), 1);
    assert_eq!(tenant.exchanges_in_org(ALICE, None), 1);
    assert_eq!(tenant.exchanges_in_org(ALICE, Some(ACME)), 0);
    tenant.reset_counters();
    assert_eq!(tenant.exchanges_in_org(ALICE, Some(GLOBEX)), 0);
}

#[tokio::test]
async fn a_malformed_org_id_is_400_invalid_request() {
    let tenant = tenant().await;
    let token = tenant.sign_user_token(&tenant.user_token(ALICE).claim("org_id", 42));
    let description = exchange(&tenant, &token, None)
        .await
        .refusal(400, "invalid_request");
    assert!(description.contains("org_id"), "{description}");
}

#[tokio::test]
#[should_panic(expected = "both named")]
async fn two_organizations_with_one_name_is_a_setup_mistake() {
    let tenant = tenant().await;
    tenant.add_organization(Organization::new("org_other000000000", "acme", &[]));
}
