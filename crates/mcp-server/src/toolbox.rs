//! Your tools behind obo-mcp: the scope each tool needs, declared next to it, and the
//! rmcp handler that serves a tool router with every check in front of it.
//!
//! A tool declares its scope in its own `#[tool]` attribute, with
//! [`requires_scope`]; from that one place the scope gate (HTTP 403 step-up), the
//! handler's own check, `scopes_supported` in the metadata, the tool's description and
//! `HIDE_UNPERMITTED_TOOLS` all read it. A tool without it needs only a valid token.
//!
//! A tool that calls an API on the user's behalf says so in the same place, with
//! [`acts_for_user`]: a machine caller (a client-credentials token, which has no user)
//! then gets a tool error before the tool runs, with no exchange attempted.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use http::request::Parts;
use jwt_verify::Principal;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorCode,
    Implementation, ListToolsResult, MetaObject, PaginatedRequestParams, ResultType,
    ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::Value;

use crate::audit::AuditEvent;
use crate::caller::{CallRecord, Caller};
use crate::delegation::{Delegation, DownstreamError};
use crate::request_id;
use crate::telemetry::RequestLog;

/// The `_meta` key that carries a tool's scopes in its definition (and so in
/// `tools/list`, where clients may read it too).
pub const SCOPE_META_KEY: &str = "obo-mcp/scope";

/// The scopes a tool needs, space-separated as in OAuth (`"read:orders"`), for the
/// tool's `meta`:
///
/// ```ignore
/// #[tool(description = "List the caller's orders.", meta = requires_scope("tool:orders"))]
/// ```
pub fn requires_scope(scope: &str) -> MetaObject {
    let mut meta = MetaObject::new();
    meta.0
        .insert(SCOPE_META_KEY.to_owned(), Value::String(scope.to_owned()));
    meta
}

/// The `_meta` key that marks a tool as acting on a user's behalf (value `true`).
pub const ACTS_FOR_USER_META_KEY: &str = "obo-mcp/acts-for-user";

/// Marks a tool's `meta` (usually [`requires_scope`]'s) as acting on the signed-in
/// user's behalf: it calls an API for the user, so it needs a user's token. A machine
/// caller (a client-credentials token: [`Principal::is_machine`]) calling it gets a
/// tool error that names its application, before the tool runs and with no exchange
/// attempted.
///
/// ```ignore
/// #[tool(description = "List the caller's orders.", meta = acts_for_user(requires_scope("tool:orders")))]
/// ```
///
/// A tool that does not declare it still cannot act for a machine caller:
/// [`Caller::token`] and [`Caller::client`] answer [`DownstreamError::NoUser`]
/// without contacting the tenant. The declaration tells the caller sooner, and in
/// the tool's description.
///
/// [`DownstreamError::NoUser`]: crate::DownstreamError::NoUser
pub fn acts_for_user(mut meta: MetaObject) -> MetaObject {
    meta.0
        .insert(ACTS_FOR_USER_META_KEY.to_owned(), Value::Bool(true));
    meta
}

/// Every tool's scopes, read once from the tool definitions, and which tools act on a
/// user's behalf.
#[derive(Debug, Clone, Default)]
pub(crate) struct ToolScopes {
    tools: HashMap<Cow<'static, str>, Vec<String>>,
    for_user: HashSet<Cow<'static, str>>,
}

impl ToolScopes {
    pub(crate) fn from_router<T>(router: &ToolRouter<T>) -> Self {
        Self::from_tools(router.map.values().map(|route| &route.attr))
    }

    fn from_tools<'a>(tools: impl IntoIterator<Item = &'a Tool>) -> Self {
        let mut scopes = Self::default();
        for tool in tools {
            scopes.tools.insert(tool.name.clone(), scopes_of(tool));
            if is_for_user(tool) {
                scopes.for_user.insert(tool.name.clone());
            }
        }
        scopes
    }

    /// Whether `tool` declared [`acts_for_user`].
    pub(crate) fn acts_for_user(&self, tool: &str) -> bool {
        self.for_user.contains(tool)
    }

    /// The tool's name as a metrics label, and the scopes it needs; `None` for a tool
    /// that does not exist.
    pub(crate) fn get(&self, tool: &str) -> Option<(&Cow<'static, str>, &[String])> {
        self.tools
            .get_key_value(tool)
            .map(|(name, scopes)| (name, scopes.as_slice()))
    }

    /// Every scope any tool needs, sorted: `scopes_supported`.
    pub(crate) fn all(&self) -> Vec<String> {
        let all: BTreeSet<&String> = self.tools.values().flatten().collect();
        all.into_iter().cloned().collect()
    }
}

fn scopes_of(tool: &Tool) -> Vec<String> {
    tool.meta
        .as_ref()
        .and_then(|meta| meta.0.get(SCOPE_META_KEY))
        .and_then(Value::as_str)
        .map(|scope| scope.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The scopes of `needed` that `principal`'s token does not carry.
pub(crate) fn missing_scopes<'a>(needed: &'a [String], principal: &Principal) -> Vec<&'a str> {
    needed
        .iter()
        .map(String::as_str)
        .filter(|scope| !principal.has_scope(scope))
        .collect()
}

fn is_for_user(tool: &Tool) -> bool {
    tool.meta
        .as_ref()
        .and_then(|meta| meta.0.get(ACTS_FOR_USER_META_KEY))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// What a tool acting for a user says in its description.
const FOR_USER_SENTENCE: &str = "Acts on the signed-in user's behalf: an application's own (client-credentials) token cannot call it.";

/// Says in each tool's description what it needs, unless it already does, so that a
/// person choosing tools (and a model) knows before calling.
fn describe_scopes(tool: &mut Tool) {
    let scopes = scopes_of(tool);
    let sentence = match scopes.as_slice() {
        [] => "Needs no scope.".to_owned(),
        [one] => format!("Requires the scope {one}."),
        many => format!("Requires the scopes {}.", many.join(" ")),
    };
    append_sentence(tool, &sentence);
    if is_for_user(tool) {
        append_sentence(tool, FOR_USER_SENTENCE);
    }
}

fn append_sentence(tool: &mut Tool, sentence: &str) {
    let description = tool.description.as_deref().unwrap_or_default().trim_end();
    if !description.contains(sentence.trim_end_matches('.')) {
        tool.description = Some(if description.is_empty() {
            sentence.to_owned().into()
        } else {
            format!("{description} {sentence}").into()
        });
    }
}

/// The rmcp handler that serves the user's tools (`T`, with its `#[tool_router]`).
pub(crate) struct Toolbox<T> {
    tools: T,
    router: Arc<ToolRouter<T>>,
    scopes: Arc<ToolScopes>,
    delegation: Arc<Delegation>,
    info: Arc<ServerConfig>,
    hide_unpermitted_tools: bool,
}

// By hand: a derive would ask `T: Clone` of the router and scopes too.
impl<T: Clone> Clone for Toolbox<T> {
    fn clone(&self) -> Self {
        Self {
            tools: self.tools.clone(),
            router: Arc::clone(&self.router),
            scopes: Arc::clone(&self.scopes),
            delegation: Arc::clone(&self.delegation),
            info: Arc::clone(&self.info),
            hide_unpermitted_tools: self.hide_unpermitted_tools,
        }
    }
}

/// What [`Toolbox::new`] needs besides the tools.
pub(crate) struct ToolboxParts {
    pub(crate) delegation: Arc<Delegation>,
    pub(crate) implementation: Implementation,
    pub(crate) instructions: Option<String>,
    pub(crate) hide_unpermitted_tools: bool,
}

impl<T> Toolbox<T> {
    pub(crate) fn new(tools: T, mut router: ToolRouter<T>, parts: ToolboxParts) -> Self {
        for route in router.map.values_mut() {
            describe_scopes(&mut route.attr);
        }
        let scopes = ToolScopes::from_router(&router);
        let mut info = ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(parts.implementation);
        if let Some(instructions) = parts.instructions {
            info = info.with_instructions(instructions);
        }
        Self {
            tools,
            router: Arc::new(router),
            scopes: Arc::new(scopes),
            delegation: parts.delegation,
            info: Arc::new(info),
            hide_unpermitted_tools: parts.hide_unpermitted_tools,
        }
    }

    pub(crate) fn scopes(&self) -> &Arc<ToolScopes> {
        &self.scopes
    }
}

/// The request id of the HTTP request that carried the call.
fn request_id_of(context: &RequestContext<RoleServer>) -> Option<String> {
    context
        .extensions
        .get::<Parts>()
        .and_then(|parts| request_id::of(&parts.headers))
        .map(str::to_owned)
}

fn principal_of(context: &RequestContext<RoleServer>) -> Option<&Arc<Principal>> {
    context
        .extensions
        .get::<Parts>()
        .and_then(|parts| parts.extensions.get::<Arc<Principal>>())
}

impl<T: Clone + Send + Sync + 'static> ServerHandler for Toolbox<T> {
    fn get_info(&self) -> ServerConfig {
        self.info.as_ref().clone()
    }

    /// Checks the caller and the tool's scope again (the tool is then safe even where
    /// the HTTP scope gate is not in front of it), hands the tool a [`Caller`], and
    /// records how the call ended on the access line and in the metrics.
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        mut context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let Some((name, scopes)) = self.scopes.get(&request.name) else {
            // rmcp answers an unknown tool with the error the protocol defines.
            let call = ToolCallContext::new(&self.tools, request, context);
            return self.router.call(call).await;
        };
        let name = name.clone();
        let request_id = request_id_of(&context);
        let started = Instant::now();
        let audit = |principal: &Principal, outcome: &str, record: Option<&CallRecord>| {
            let event = AuditEvent::new(principal, request_id.as_deref(), &name, scopes).ended(
                outcome,
                record.map(CallRecord::downstream).unwrap_or_default(),
                started.elapsed(),
            );
            self.delegation.audit().emit(&event);
        };
        let log = context
            .extensions
            .get::<Parts>()
            .and_then(|parts| parts.extensions.get::<RequestLog>())
            .cloned();
        let refused = |outcome: &'static str, error: McpError| {
            if let Some(log) = &log {
                log.tool_call(&name, outcome);
            }
            self.delegation
                .metrics()
                .tool_call(name.clone(), outcome, None);
            Err(error)
        };
        let Some(principal) = principal_of(&context).cloned() else {
            return refused(
                "refused",
                McpError::invalid_request("the request was not authenticated", None),
            );
        };
        let missing = missing_scopes(scopes, &principal);
        if !missing.is_empty() {
            audit(&principal, "refused", None);
            return refused(
                "refused",
                McpError::invalid_request(
                    format!("the tool `{name}` requires the scope {}", missing.join(" ")),
                    None,
                ),
            );
        }
        // Before the tool runs, so no exchange is ever attempted for a token that has
        // no user to act for.
        if principal.is_machine() && self.scopes.acts_for_user(&name) {
            let error = DownstreamError::NoUser {
                client_id: principal.client_id.clone(),
            };
            if let Some(log) = &log {
                log.tool_call(&name, error.kind());
            }
            audit(&principal, error.class(), None);
            self.delegation
                .metrics()
                .tool_call(name.clone(), error.class(), None);
            return Ok(CallToolResponse::Complete(CallToolResult::error(vec![
                ContentBlock::text(error.advice()),
            ])));
        }

        let record = Arc::new(CallRecord::new(log.clone()));
        context.extensions.insert(Caller::new(
            Arc::clone(&principal),
            Arc::clone(&self.delegation),
            Arc::clone(&record),
        ));
        let call = ToolCallContext::new(&self.tools, request, context);
        let result = self.router.call(call).await;
        let (outcome, detail) = match &result {
            Ok(CallToolResponse::Complete(done)) if done.is_error == Some(true) => {
                record.failure().unwrap_or(("tool_error", "tool_error"))
            }
            Ok(_) => ("ok", "ok"),
            Err(error) if error.code == ErrorCode::INVALID_PARAMS => {
                ("invalid_params", "invalid_params")
            }
            Err(_) => ("error", "error"),
        };
        if let Some(log) = &log {
            log.tool_call(&name, detail);
        }
        audit(&principal, outcome, Some(&record));
        let elapsed = (outcome != "invalid_params").then(|| started.elapsed());
        self.delegation.metrics().tool_call(name, outcome, elapsed);
        result
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let mut tools = self.router.list_all();
        if self.hide_unpermitted_tools {
            let principal = principal_of(&context);
            // The scopes were read from the definitions once, at start-up.
            tools.retain(|tool| {
                self.scopes.get(&tool.name).is_some_and(|(_, scopes)| {
                    scopes
                        .iter()
                        .all(|scope| principal.is_some_and(|p| p.has_scope(scope)))
                })
            });
        }
        let mut result = ListToolsResult::with_all_items(tools);
        result.result_type = Some(ResultType::COMPLETE);
        Ok(result)
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.router.get(name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(description: &str, scope: Option<&str>) -> Tool {
        let mut tool = Tool::new_with_raw("t", Some(description.to_owned().into()), Arc::default());
        if let Some(scope) = scope {
            tool = tool.with_meta(requires_scope(scope));
        }
        tool
    }

    #[test]
    fn the_description_says_what_the_tool_needs_once() {
        for (description, scope, want) in [
            (
                "List orders.",
                Some("read:orders"),
                "List orders. Requires the scope read:orders.",
            ),
            ("Time.", None, "Time. Needs no scope."),
            ("Both.", Some("a b"), "Both. Requires the scopes a b."),
            (
                "Says it. Requires the scope x.",
                Some("x"),
                "Says it. Requires the scope x.",
            ),
            ("", Some("x"), "Requires the scope x."),
        ] {
            let mut t = tool(description, scope);
            describe_scopes(&mut t);
            assert_eq!(t.description.as_deref(), Some(want));
        }
    }

    #[test]
    fn a_tool_acting_for_a_user_is_known_and_says_so() {
        let mut greet = tool("Greet.", None).with_meta(acts_for_user(requires_scope("tool:greet")));
        greet.name = "greet".into();
        let time = tool("Time.", None);
        assert!(!is_for_user(&time));
        assert!(is_for_user(&greet));
        let scopes = ToolScopes::from_tools([&greet, &time]);
        assert!(scopes.acts_for_user("greet"));
        assert!(!scopes.acts_for_user("t"));
        assert!(!scopes.acts_for_user("nope"));
        assert_eq!(
            scopes.get("greet").map(|(_, s)| s.to_vec()),
            Some(vec!["tool:greet".to_owned()])
        );

        describe_scopes(&mut greet);
        describe_scopes(&mut greet);
        assert_eq!(
            greet.description.as_deref(),
            Some(&*format!(
                "Greet. Requires the scope tool:greet. {FOR_USER_SENTENCE}"
            ))
        );
    }

    #[test]
    fn scopes_supported_is_every_tool_scope_once_sorted() {
        let mut a = tool("", Some("tool:b tool:a"));
        a.name = "a".into();
        let mut b = tool("", Some("tool:a"));
        b.name = "b".into();
        let c = tool("", None);
        let scopes = ToolScopes::from_tools([&a, &b, &c]);
        assert_eq!(scopes.all(), ["tool:a", "tool:b"]);
        assert_eq!(scopes.get("a").map(|(_, s)| s.len()), Some(2));
        assert_eq!(scopes.get("t").map(|(_, s)| s.len()), Some(0));
        assert!(scopes.get("nope").is_none());
    }
}
