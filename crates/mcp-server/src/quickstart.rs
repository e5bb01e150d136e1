//! The quickstart's three tools, built on the crate's public API alone: what a server
//! of your own looks like.
//!
//! - `whoami` (scope `tool:whoami`) shows the caller as the server sees them: a user,
//!   or an application calling with its own client-credentials token;
//! - `greet` (scope `tool:greet`) calls the private API on the caller's behalf, so it
//!   [acts for a user](crate::acts_for_user): an application's own token gets a tool
//!   error;
//! - `get_datetime` needs no scope, and no user.

use private_api_client::{PRIVATE_SCOPE_PATH, PrivateScope};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::{ErrorData as McpError, schemars, tool, tool_router};
use serde::Deserialize;
use serde_json::json;

use crate::toolbox::ToolScopes;
use crate::{
    Caller, DEFAULT_API, DownstreamError, Server, Settings, acts_for_user, requires_scope,
};

/// The scope of `whoami`.
pub const WHOAMI_SCOPE: &str = "tool:whoami";
/// The scope of `greet`.
pub const GREET_SCOPE: &str = "tool:greet";

/// The longest `name` `greet` accepts, in characters.
pub const MAX_NAME_CHARS: usize = 256;

/// `greet`'s arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct GreetArgs {
    /// The name to greet; defaults to "there".
    #[serde(default)]
    pub name: Option<String>,
}

/// The quickstart's tools. `greet` calls the API named `default` (`API_AUTH0_AUDIENCE`,
/// `API_BASE_URL`, `MCP_AUTH0_EXCHANGE_SCOPE`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Quickstart;

impl Quickstart {
    /// Every scope its tools need, sorted.
    pub fn scopes() -> Vec<String> {
        ToolScopes::from_router(&Self::tool_router()).all()
    }

    /// The server `cargo run -p mcp-server` runs.
    pub fn server(settings: Settings) -> Server<Self> {
        Server::new(settings, Self, Self::tool_router()).instructions(
            "Tools: whoami (who you are to this server), greet (calls a private API on your behalf), get_datetime (the time in UTC).",
        )
    }
}

#[tool_router]
impl Quickstart {
    #[tool(
        title = "Who am I",
        description = "Show the caller as this server sees them: a user or an application (a client-credentials token), sub, client id, name, email, organization, scopes (which grant tools), RBAC permissions (which do not) and delegation chain.",
        annotations(title = "Who am I", read_only_hint = true, open_world_hint = false),
        meta = requires_scope(WHOAMI_SCOPE)
    )]
    async fn whoami(&self, caller: Caller) -> String {
        let principal = caller.principal();
        pretty(&json!({
            // An application calling with its own client-credentials token, or a user.
            "caller": if principal.is_machine() { "application" } else { "user" },
            "sub": principal.sub,
            "client_id": principal.client_id,
            "azp": principal.azp,
            "name": principal.name,
            "email": principal.email,
            "org_id": principal.org_id,
            "scopes": principal.scopes,
            // Shown apart from `scopes`, which alone grant tools: with RBAC, Auth0 lists
            // here every permission the user holds, consented or not.
            "permissions": principal.permissions,
            "delegation_chain": principal.delegation_chain,
        }))
    }

    #[tool(
        title = "Greet",
        description = "Greet the user, then call the private API on their behalf (On-Behalf-Of token exchange) and show its answer.",
        annotations(title = "Greet", read_only_hint = true, open_world_hint = true),
        meta = acts_for_user(requires_scope(GREET_SCOPE))
    )]
    async fn greet(
        &self,
        Parameters(args): Parameters<GreetArgs>,
        caller: Caller,
    ) -> Result<Result<String, DownstreamError>, McpError> {
        let name = greeting_name(args.name.as_deref())?;
        let upstream = private_scope(&caller).await;
        Ok(upstream.map(|upstream| {
            // Serialised from the struct, so the fields keep the API's order.
            let upstream =
                serde_json::to_string_pretty(&upstream).unwrap_or_else(|_| "{}".to_owned());
            format!(
                "Hello, {name} ({})! Upstream API Response: {upstream}",
                caller.principal().sub
            )
        }))
    }

    #[tool(
        title = "Current date and time",
        description = "The current date and time in UTC (RFC 3339, milliseconds).",
        annotations(
            title = "Current date and time",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_datetime(&self) -> String {
        utc_now_rfc3339_millis()
    }
}

/// `GET /api/private-scope` of the private API, on the caller's behalf.
async fn private_scope(caller: &Caller) -> Result<PrivateScope, DownstreamError> {
    caller
        .client(DEFAULT_API)
        .await?
        .get_json(PRIVATE_SCOPE_PATH)
        .await
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
    fn each_tool_declares_its_scope_next_to_it() {
        let tools = Quickstart::tool_router().list_all();
        let scope = |name: &str| {
            let tool = tools
                .iter()
                .find(|t| t.name == name)
                .expect("the tool exists");
            let annotations = tool.annotations.as_ref().expect("annotated");
            assert_eq!(annotations.read_only_hint, Some(true));
            assert!(annotations.title.is_some());
            tool.meta
                .as_ref()
                .and_then(|m| m.0.get(crate::toolbox::SCOPE_META_KEY))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        assert_eq!(tools.len(), 3);
        assert_eq!(scope("whoami").as_deref(), Some(WHOAMI_SCOPE));
        assert_eq!(scope("greet").as_deref(), Some(GREET_SCOPE));
        assert_eq!(scope("get_datetime"), None);
        let for_user = |name: &str| {
            tools.iter().find(|t| t.name == name).and_then(|t| {
                t.meta
                    .as_ref()
                    .and_then(|m| m.0.get(crate::ACTS_FOR_USER_META_KEY))
                    .cloned()
            })
        };
        assert_eq!(for_user("greet"), Some(serde_json::Value::Bool(true)));
        assert_eq!(for_user("whoami"), None);
        assert_eq!(for_user("get_datetime"), None);
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
