//! `mcp-server check`: read the same configuration as the server, check it against the
//! tenant, the downstream APIs and (optionally) a real user token, and say what to fix.
//!
//! Each check prints one line, `✓` passed, `!` a warning, `✗` failed, `-` skipped,
//! followed by an indented `fix:` line when there is something to change. The checks
//! follow the mistakes people make setting up a tenant for On-Behalf-Of (see
//! `docs/quickstart.md`): an issuer that differs from `AUTH0_DOMAIN` (often by its
//! trailing slash), an API not signing with RS256, a `resource` that MCP clients will
//! not accept for the URL they connect to, and an exchange refused because the client
//! is not a Custom API client or has no user-delegated grant to the API.
//! With `TOKEN_CACHE_REDIS_URL` set, it also makes one round trip to Redis under the
//! key prefix, as the server's shared token cache will.
//!
//! The user token is never printed, only its claims; a URL is printed without its
//! query, fragment or credentials.
//!
//! One file per kind of check, run in this order by [`run`]:
//! - `tenant`: discovery, issuer and signing keys;
//! - `configuration`: the metadata's `resource` against the server's URL;
//! - `api`: each downstream API answers;
//! - `redis`: the shared token cache;
//! - `token`: the user's token as the server verifies it;
//! - `exchange`: for each API, the exchange its client grant allows, then `api` again
//!   for the call with the exchanged token.
//!
//! `report` holds the lines and how they are printed, `http` the client the checks
//! share and how its failures are described, `input` the command's arguments.

mod api;
mod configuration;
mod exchange;
mod http;
mod input;
mod redis;
mod report;
mod tenant;
mod token;

use std::io::Write;

pub use self::configuration::resource_findings;
pub use self::input::{CheckArgs, SecretArg, TokenInputError, read_token};
use self::report::Reporter;
pub use self::report::{CheckLine, CheckReport, Outcome, names};
use self::token::Verdict;
use crate::config::Settings;

/// Runs every check, those about a downstream API once for each configured API,
/// writing each line to `out` as it completes. With more than one API, each API's
/// lines come under a heading naming it.
pub async fn run<W: Write>(settings: &Settings, token: Option<&str>, out: &mut W) -> CheckReport {
    let apis = settings.apis();
    let mut r = Reporter::new(out, apis.len() > 1);
    let Some(http) = http::client(&mut r, settings) else {
        return r.finish();
    };

    let discovery = tenant::check_discovery(&mut r, &http, settings).await;
    if let Some(discovery) = &discovery {
        tenant::check_issuer(&mut r, settings, discovery);
    } else {
        r.skip(
            names::ISSUER,
            "skipped: no discovery document to compare with".to_owned(),
        );
    }
    let verifier = tenant::check_jwks(&mut r, &http, settings).await;
    configuration::check_resource(&mut r, settings);
    for api in apis {
        r.begin_api(api);
        api::check_reachable(&mut r, &http, api, token.is_some()).await;
    }
    r.end_api();
    if let Some(shared) = &settings.shared_cache {
        redis::check_shared_cache(&mut r, settings, shared).await;
    }

    let Some(token) = token else {
        r.skip(
            names::TOKEN,
            "no user token given: run with --token - (reading it from stdin), --token-file or CHECK_TOKEN to also verify it, exchange it and call the private API".to_owned(),
        );
        return r.finish();
    };
    match token::check_token(&mut r, settings, verifier, token).await {
        Verdict::Unchecked => {}
        Verdict::Refused => {
            for api in apis {
                r.begin_api(api);
                r.skip(
                    names::EXCHANGE,
                    "skipped: the token did not verify".to_owned(),
                );
            }
        }
        Verdict::Verified { organization } => {
            if let Some(exchange) = exchange::client(&mut r, settings) {
                for api in apis {
                    r.begin_api(api);
                    if let Some(exchanged) = exchange::check_exchange(
                        &mut r,
                        &exchange,
                        token,
                        organization.as_deref(),
                        api,
                    )
                    .await
                    {
                        api::check_api_call(&mut r, settings, api, &exchanged).await;
                    }
                }
            }
        }
    }
    r.finish()
}

/// `mcp-server check`: the whole command. Returns the process exit code: 0 when every
/// check passed, 1 when one failed, 2 when the configuration or the token could not be
/// read at all.
pub async fn command(args: &CheckArgs, out: &mut impl Write) -> u8 {
    let server_args = args.server.clone().with_named_apis(std::env::vars());
    let settings = match Settings::from_args(&server_args) {
        Ok(settings) => settings,
        Err(e) => {
            for problem in &e.problems {
                let _ = writeln!(out, "✗ {}: {problem}", names::CONFIGURATION);
            }
            let _ = writeln!(
                out,
                "    fix: set these in the environment or in a .env file (see `mcp-server check --help`)"
            );
            return 2;
        }
    };
    let token = match read_token(
        args.token.as_ref(),
        args.token_file.as_deref(),
        std::io::stdin(),
    ) {
        Ok(token) => token,
        Err(e) => {
            let _ = writeln!(out, "✗ {}: {e}", names::TOKEN);
            return 2;
        }
    };
    let _ = writeln!(
        out,
        "Checking obo-mcp for {} (tenant {})",
        settings.mcp_url(),
        settings.issuer.as_str()
    );
    let report = run(&settings, token.as_deref(), out).await;
    let failed = report
        .lines
        .iter()
        .filter(|l| l.outcome == Outcome::Fail)
        .count();
    let _ = if failed == 0 {
        writeln!(out, "All checks passed.")
    } else {
        writeln!(
            out,
            "{failed} check{} failed.",
            if failed == 1 { "" } else { "s" }
        )
    };
    report.exit_code()
}
