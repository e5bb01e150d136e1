//! An MCP server of your own on obo-mcp: one tool, `list_orders`, that calls an orders
//! API on the signed-in user's behalf. Run it with the settings in `README.md` beside
//! this file: `cargo run -p mcp-server --example orders`.

use mcp_server::{
    Caller, DownstreamError, LogFormat, Server, Settings, acts_for_user, requires_scope,
};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::{schemars, tool, tool_router};
use serde::Deserialize;

/// The arguments of `list_orders`, as the client sees them in its input schema.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct ListOrders {
    /// Only orders with this status: `open` or `shipped`.
    status: Option<Status>,
}

#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Status {
    Open,
    Shipped,
}

/// The tools. Any state they need (clients, settings) would live here.
#[derive(Debug, Clone)]
struct OrdersTools;

#[tool_router]
impl OrdersTools {
    /// The caller's token must carry `tool:orders`, and have a user behind it (an
    /// application's own token is answered with a tool error before the tool runs); the
    /// server gets the orders API's token (scope `read:orders`, from API_ORDERS_SCOPE)
    /// by On-Behalf-Of exchange.
    #[tool(
        description = "List the signed-in user's orders.",
        meta = acts_for_user(requires_scope("tool:orders"))
    )]
    async fn list_orders(
        &self,
        Parameters(args): Parameters<ListOrders>,
        caller: Caller,
    ) -> Result<String, DownstreamError> {
        let path = match args.status {
            Some(Status::Open) => "orders?status=open",
            Some(Status::Shipped) => "orders?status=shipped",
            None => "orders",
        };
        let orders: serde_json::Value = caller.client("orders").await?.get_json(path).await?;
        Ok(format!("Orders of {}: {orders}", caller.principal().sub))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _logs = mcp_server::init_logging(LogFormat::Text)?;
    let settings = Settings::from_env()?;
    Server::new(settings, OrdersTools, OrdersTools::tool_router())
        .name("orders-mcp", env!("CARGO_PKG_VERSION"))
        .instructions("list_orders lists your orders, optionally only the open or shipped ones.")
        .run()
        .await?;
    Ok(())
}
