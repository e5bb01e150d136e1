//! rmcp's own Streamable HTTP client, as the tests drive the MCP server with it: a
//! bearer token on every request, and bounded waits so a hung server fails the test
//! instead of hanging it.

use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult, ClientConfig};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::Value;

/// A connected rmcp client.
pub type Client = RunningService<RoleClient, ClientConfig>;

/// An rmcp client that initialises a session with `token` as its bearer.
pub async fn connect(mcp_url: &str, token: &str) -> Client {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(mcp_url.to_owned()).auth_header(token),
    );
    tokio::time::timeout(
        Duration::from_secs(10),
        ClientConfig::default().serve(transport),
    )
    .await
    .expect("the MCP client connects in time")
    .expect("the MCP client connects")
}

/// Calls `tool` with `arguments` (a JSON object, or anything else for none).
pub async fn call(client: &Client, tool: &str, arguments: Value) -> CallToolResult {
    let mut params = CallToolRequestParams::new(tool.to_owned());
    if let Value::Object(map) = arguments {
        params = params.with_arguments(map);
    }
    tokio::time::timeout(Duration::from_secs(20), client.call_tool(params))
        .await
        .expect("the tool call completes in time")
        .expect("the tool call completes")
}

/// The text of a tool result's first content block.
pub fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

/// The upstream JSON that `greet` appends after its greeting.
pub fn upstream_json(text: &str) -> Value {
    let start = text.find('{').expect("an upstream JSON object");
    serde_json::from_str(&text[start..]).expect("valid upstream JSON")
}
