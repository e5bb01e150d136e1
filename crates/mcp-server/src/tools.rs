//! The MCP tools and the scopes that guard them.
//!
//! The scope of each tool is declared once, in [`TOOLS`]; the scope gate, the
//! protected resource metadata, the tool descriptions and `--hide-unpermitted-tools`
//! all read it from there.

use std::sync::Arc;
use std::time::Instant;

use http::request::Parts;
use jwt_verify::Principal;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::{Extension, ToolCallContext};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ResultType, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, schemars, tool, tool_router};
use serde::Deserialize;
use serde_json::json;

use crate::advice;
use crate::delegation::Delegation;
use crate::telemetry::RequestLog;

pub const WHOAMI_SCOPE: &str = "tool:whoami";
pub const GREET_SCOPE: &str = "tool:greet";

/// Every tool and the scope it needs (`None`: any authenticated caller).
pub const TOOLS: [(&str, Option<&str>); 3] = [
    ("whoami", Some(WHOAMI_SCOPE)),
    ("greet", Some(GREET_SCOPE)),
    ("get_datetime", None),
];

/// The scope `tool` needs: `None` for an unknown tool, `Some(None)` for a tool any
/// authenticated caller may use.
pub fn required_scope(tool: &str) -> Option<Option<&'static str>> {
    TOOLS
        .iter()
        .find(|(name, _)| *name == tool)
        .map(|(_, scope)| *scope)
}

/// The scopes the tools use, for `scopes_supported`.
pub fn tool_scopes() -> Vec<&'static str> {
    TOOLS.iter().filter_map(|(_, scope)| *scope).collect()
}

/// The longest `name` `greet` accepts, in characters.
pub const MAX_NAME_CHARS: usize = 256;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct GreetArgs {
    /// The name to greet; defaults to "there".
    #[serde(default)]
    pub name: Option<String>,
}

/// The MCP server's tools.
#[derive(Debug, Clone)]
pub struct OboTools {
    delegation: Arc<Delegation>,
    hide_unpermitted_tools: bool,
    /// Shared: rmcp's stateless mode clones the handler for every request, and a
    /// router clone would copy every tool's definition.
    tool_router: Arc<ToolRouter<Self>>,
}

#[tool_router]
impl OboTools {
    pub fn new(delegation: Arc<Delegation>, hide_unpermitted_tools: bool) -> Self {
        Self {
            delegation,
            hide_unpermitted_tools,
            tool_router: Arc::new(Self::tool_router()),
        }
    }

    #[tool(
        title = "Who am I",
        description = "Show the signed-in user as this server sees them: sub, client id, name, email, scopes (which grant tools), RBAC permissions (which do not) and delegation chain. Requires the scope tool:whoami.",
        annotations(title = "Who am I", read_only_hint = true, open_world_hint = false)
    )]
    async fn whoami(&self, Extension(parts): Extension<Parts>) -> Result<CallToolResult, McpError> {
        let started = Instant::now();
        let principal = authorized(&parts, "whoami")
            .inspect_err(|_| self.refused(&parts, "whoami", "refused"))?;
        let body = json!({
            "sub": principal.sub,
            "client_id": principal.client_id,
            "azp": principal.azp,
            "name": principal.name,
            "email": principal.email,
            "scopes": principal.scopes,
            // Shown apart from `scopes`, which alone grant tools: with RBAC, Auth0 lists
            // here every permission the user holds, consented or not.
            "permissions": principal.permissions,
            "delegation_chain": principal.delegation_chain,
        });
        self.finished(&parts, "whoami", "ok", "ok", started, None);
        Ok(CallToolResult::success(vec![ContentBlock::text(pretty(
            &body,
        ))]))
    }

    #[tool(
        title = "Greet",
        description = "Greet the user, then call the private API on their behalf (On-Behalf-Of token exchange) and show its answer. Requires the scope tool:greet.",
        annotations(title = "Greet", read_only_hint = true, open_world_hint = true)
    )]
    async fn greet(
        &self,
        Parameters(args): Parameters<GreetArgs>,
        Extension(parts): Extension<Parts>,
    ) -> Result<CallToolResult, McpError> {
        let started = Instant::now();
        let principal = authorized(&parts, "greet")
            .inspect_err(|_| self.refused(&parts, "greet", "refused"))?;
        let name = greeting_name(args.name.as_deref())
            .inspect_err(|_| self.refused(&parts, "greet", "invalid_params"))?;
        match self.delegation.private_scope(principal).await {
            Ok(delegated) => {
                let from_cache = Some(delegated.token_from_cache);
                self.finished(&parts, "greet", "ok", "ok", started, from_cache);
                // Serialised from the struct, so the fields keep the API's order.
                let upstream = serde_json::to_string_pretty(&delegated.response)
                    .unwrap_or_else(|_| "{}".to_owned());
                Ok(CallToolResult::success(vec![ContentBlock::text(format!(
                    "Hello, {name} ({})! Upstream API Response: {upstream}",
                    principal.sub
                ))]))
            }
            Err(error) => {
                let outcome = match error {
                    crate::delegation::DelegationError::Exchange(_) => "exchange_error",
                    crate::delegation::DelegationError::Api(_) => "api_error",
                };
                self.finished(&parts, "greet", outcome, error.kind(), started, None);
                Ok(CallToolResult::error(vec![ContentBlock::text(
                    advice::explain(&error),
                )]))
            }
        }
    }

    #[tool(
        title = "Current date and time",
        description = "The current date and time in UTC (RFC 3339, milliseconds). Needs no scope.",
        annotations(
            title = "Current date and time",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_datetime(
        &self,
        Extension(parts): Extension<Parts>,
    ) -> Result<CallToolResult, McpError> {
        let started = Instant::now();
        authorized(&parts, "get_datetime")
            .inspect_err(|_| self.refused(&parts, "get_datetime", "refused"))?;
        let now = utc_now_rfc3339_millis();
        self.finished(&parts, "get_datetime", "ok", "ok", started, None);
        Ok(CallToolResult::success(vec![ContentBlock::text(now)]))
    }
}

/// Tool metrics. Outcomes are a fixed set: `ok`, `refused` (not authenticated or the
/// scope is missing), `invalid_params`, `exchange_error`, `api_error`; the scope gate
/// adds `insufficient_scope` for calls it stops before they reach a tool.
impl OboTools {
    /// The tool and the failure's own kind on the request's access line (which
    /// already carries the caller's `sub`), and one metric sample (with the outcome
    /// class) for every tool call that ran. There is no line of its own: one line per
    /// request, written off the request path (docs/decisions.md, "Logging off the hot
    /// path").
    fn finished(
        &self,
        parts: &Parts,
        tool: &'static str,
        outcome: &'static str,
        detail: &str,
        started: Instant,
        token_from_cache: Option<bool>,
    ) {
        let elapsed = started.elapsed();
        if let Some(log) = parts.extensions.get::<RequestLog>() {
            log.tool_call(tool, detail);
            if let Some(from_cache) = token_from_cache {
                log.0.record("token_from_cache", from_cache);
            }
        }
        self.delegation
            .metrics()
            .tool_call(tool, outcome, Some(elapsed));
    }

    /// A call that did not run: `refused` or `invalid_params`.
    fn refused(&self, parts: &Parts, tool: &'static str, outcome: &'static str) {
        if let Some(log) = parts.extensions.get::<RequestLog>() {
            log.tool_call(tool, outcome);
        }
        self.delegation.metrics().tool_call(tool, outcome, None);
    }
}

impl ServerHandler for OboTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("obo-mcp", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Tools: whoami (scope tool:whoami), greet (scope tool:greet; calls a private API on your behalf), get_datetime (no scope).",
            )
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let call = ToolCallContext::new(self, request, context);
        self.tool_router.call(call).await
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let mut tools = self.tool_router.list_all();
        if self.hide_unpermitted_tools {
            let principal = context
                .extensions
                .get::<Parts>()
                .and_then(|parts| parts.extensions.get::<Arc<Principal>>());
            tools.retain(|tool| match required_scope(&tool.name) {
                Some(Some(scope)) => principal.is_some_and(|p| p.has_scope(scope)),
                Some(None) => true,
                None => false,
            });
        }
        let mut result = ListToolsResult::with_all_items(tools);
        result.result_type = Some(ResultType::COMPLETE);
        Ok(result)
    }

    fn get_tool(&self, name: &str) -> Option<rmcp::model::Tool> {
        self.tool_router.get(name).cloned()
    }
}

/// The caller, checked again here so a tool is safe even if mounted without the gate.
fn authorized<'a>(parts: &'a Parts, tool: &str) -> Result<&'a Principal, McpError> {
    let principal = parts
        .extensions
        .get::<Arc<Principal>>()
        .ok_or_else(|| McpError::invalid_request("the request was not authenticated", None))?;
    if let Some(Some(scope)) = required_scope(tool)
        && !principal.has_scope(scope)
    {
        return Err(McpError::invalid_request(
            format!("the tool `{tool}` requires the scope {scope}"),
            None,
        ));
    }
    Ok(principal)
}

/// Names are echoed into the greeting, so refuse what could garble a client's display.
fn greeting_name(name: Option<&str>) -> Result<&str, McpError> {
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("there");
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(McpError::invalid_params(
            format!("`name` is longer than {MAX_NAME_CHARS} characters"),
            None,
        ));
    }
    if name.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Err(McpError::invalid_params(
            "`name` must not contain control characters",
            None,
        ));
    }
    Ok(name)
}

/// Unicode's bidirectional controls (UAX #9) are not `Cc`, yet they reorder the text
/// around them in a client's display ("Trojan Source", CVE-2021-42574).
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// `2026-11-28T10:18:10.123Z`: RFC 3339 in UTC, always with milliseconds.
pub fn utc_now_rfc3339_millis() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    now.format(&format)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scoped_tool_says_its_scope_in_its_description() {
        let tools = OboTools::tool_router().list_all();
        assert_eq!(tools.len(), TOOLS.len());
        for tool in tools {
            let scope = required_scope(&tool.name).expect("tool listed in TOOLS");
            let description = tool.description.as_deref().unwrap_or_default();
            match scope {
                Some(scope) => assert!(description.contains(scope), "{}", tool.name),
                None => assert!(description.contains("no scope"), "{}", tool.name),
            }
            let annotations = tool.annotations.expect("annotated");
            assert_eq!(annotations.read_only_hint, Some(true));
            assert!(annotations.title.is_some());
        }
    }

    #[test]
    fn datetime_is_rfc3339_utc_with_milliseconds() {
        let now = utc_now_rfc3339_millis();
        let parsed =
            time::OffsetDateTime::parse(&now, &time::format_description::well_known::Rfc3339)
                .unwrap();
        assert_eq!(parsed.offset(), time::UtcOffset::UTC);
        assert_eq!(now.len(), "2026-11-28T10:18:10.123Z".len(), "{now}");
        assert!(now.ends_with('Z'));
    }

    /// A request as rmcp hands it to a tool, carrying `principal` when given.
    fn parts_with(principal: Option<Arc<Principal>>) -> Parts {
        let mut request = http::Request::new(());
        if let Some(principal) = principal {
            request.extensions_mut().insert(principal);
        }
        request.into_parts().0
    }

    /// A `Principal` as the verifier makes it, from a token granting `scope`.
    fn principal(scope: &str) -> Arc<Principal> {
        use obo_tests::keys::{TestKey, jwks_json};
        use obo_tests::token::TokenBuilder;
        const ISSUER: &str = "https://tenant.example.com/";
        const AUDIENCE: &str = "https://mcp.example.com/";
        let key = TestKey::rsa("key-1");
        let verifier = jwt_verify::JwksVerifier::with_source(
            jwt_verify::Issuer::parse(ISSUER).unwrap(),
            AUDIENCE,
            jwt_verify::VerifierOptions::default(),
            Arc::new(jwt_verify::StaticJwks::from_json(&jwks_json(&[&key]))),
        )
        .unwrap();
        let token = TokenBuilder::new(ISSUER, AUDIENCE)
            .sub("auth0|alice")
            .client_id("client-1")
            .scope(scope)
            .sign(&key);
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(verifier.verify(&token))
            .unwrap()
    }

    /// The scope gate stands in front of the tools, but the tools must not rely on it:
    /// each checks the scope itself (docs/decisions.md).
    #[test]
    fn a_tool_refuses_a_caller_without_its_scope_even_past_the_gate() {
        let parts = parts_with(Some(principal("tool:whoami")));
        let refused = authorized(&parts, "greet").unwrap_err();
        assert!(refused.message.contains(GREET_SCOPE), "{refused:?}");
        assert_eq!(authorized(&parts, "whoami").unwrap().sub, "auth0|alice");
    }

    #[test]
    fn a_tool_admits_a_caller_with_its_scope() {
        let parts = parts_with(Some(principal("tool:greet")));
        assert_eq!(authorized(&parts, "greet").unwrap().sub, "auth0|alice");
        assert!(authorized(&parts, "whoami").is_err());
    }

    #[test]
    fn a_tool_without_a_scope_admits_any_authenticated_caller_and_no_anonymous_one() {
        let parts = parts_with(Some(principal("openid")));
        assert!(authorized(&parts, "get_datetime").is_ok());
        assert!(authorized(&parts_with(None), "get_datetime").is_err());
        assert!(authorized(&parts_with(None), "greet").is_err());
    }

    #[test]
    fn greeting_names_are_bounded_and_printable() {
        assert_eq!(greeting_name(None).unwrap(), "there");
        assert_eq!(greeting_name(Some("  ")).unwrap(), "there");
        assert_eq!(greeting_name(Some("Ada")).unwrap(), "Ada");
        assert!(greeting_name(Some("a\u{7}b")).is_err());
        assert!(greeting_name(Some("evil\u{202E}txt.exe")).is_err());
        assert!(greeting_name(Some("a\u{2066}b")).is_err());
        assert_eq!(greeting_name(Some("Zoë 李")).unwrap(), "Zoë 李");
        let longest = "é".repeat(MAX_NAME_CHARS);
        assert_eq!(
            greeting_name(Some(&longest)).unwrap(),
            longest,
            "characters, not bytes"
        );
        assert!(greeting_name(Some(&"x".repeat(MAX_NAME_CHARS + 1))).is_err());
    }
}
