//! The server's own settings against each other: the `resource` its metadata
//! advertises (AUTH0_AUDIENCE) against the URL MCP clients connect to (MCP_SERVER_URL).

use std::io::Write;

use url::Url;

use super::report::{Outcome, Reporter, names};
use crate::config::Settings;

/// The metadata's `resource` (AUTH0_AUDIENCE) against the URL clients connect to.
///
/// MCP clients fetch the Protected Resource Metadata from the server they connect to
/// and check that its `resource` names that server (RFC 9728 §3.3; the MCP SDKs accept
/// the same origin with a path that is a prefix of the endpoint's). With the Resource
/// Parameter Compatibility Profile they then send it as `resource`, which Auth0 matches
/// exactly against the API identifier.
pub fn resource_findings(settings: &Settings) -> Vec<(Outcome, String, Option<String>)> {
    let audience = settings.audience.as_str();
    let mcp_url = settings.mcp_url();
    let public_base = settings.public_base();
    let mut findings = Vec::new();
    if settings
        .public_url
        .path()
        .trim_end_matches('/')
        .ends_with("/mcp")
    {
        findings.push((
            Outcome::Warn,
            format!(
                "MCP_SERVER_URL ({}) already ends in /mcp, so clients must connect to {mcp_url}",
                settings.public_url
            ),
            Some(format!(
                "MCP_SERVER_URL is the server's base URL: set it to {:?}",
                public_base.trim_end_matches("/mcp")
            )),
        ));
    }
    let Ok(resource) = Url::parse(audience) else {
        findings.push((
            Outcome::Fail,
            format!(
                "AUTH0_AUDIENCE {audience:?} is not a URL, but MCP clients require the metadata's `resource` to be the URL of the server they connect to ({mcp_url})"
            ),
            Some(format!(
                "use the server's URL as the identifier of its API in Auth0 and as AUTH0_AUDIENCE, e.g. \"{public_base}/\" (an API identifier cannot be changed: create a new API)"
            )),
        ));
        return findings;
    };
    let endpoint = match Url::parse(&mcp_url) {
        Ok(endpoint) => endpoint,
        Err(_) => return findings,
    };
    if resource.origin() != endpoint.origin() {
        findings.push((
            Outcome::Fail,
            format!(
                "the metadata's resource {audience:?} (AUTH0_AUDIENCE) is not on the origin clients connect to ({mcp_url}, from MCP_SERVER_URL); clients will refuse it"
            ),
            Some(format!(
                "make them agree: AUTH0_AUDIENCE (and the API identifier in Auth0) \"{public_base}/\", or MCP_SERVER_URL {:?}; note that localhost and 127.0.0.1 are different origins",
                resource.origin().ascii_serialization()
            )),
        ));
        return findings;
    }
    let resource_path = resource.path();
    let endpoint_path = endpoint.path();
    let prefix = if resource_path.ends_with('/') {
        resource_path.to_owned()
    } else {
        format!("{resource_path}/")
    };
    if !format!("{endpoint_path}/").starts_with(&prefix) {
        findings.push((
            Outcome::Fail,
            format!(
                "the metadata's resource {audience:?} (AUTH0_AUDIENCE) has a path that does not lead to the endpoint clients connect to ({mcp_url}); clients will refuse it"
            ),
            Some(format!(
                "use \"{public_base}/\" or \"{mcp_url}\" as AUTH0_AUDIENCE and as the API identifier in Auth0"
            )),
        ));
        return findings;
    }
    if resource_path == "/" && !audience.ends_with('/') {
        findings.push((
            Outcome::Warn,
            format!(
                "AUTH0_AUDIENCE {audience:?} has no trailing slash; clients that normalise the URL send {:?}, and Auth0 compares identifiers exactly",
                resource.as_str()
            ),
            Some(format!(
                "use one spelling everywhere: set AUTH0_AUDIENCE={:?} and make it the API identifier in Auth0 (the identifier tokens carry in `aud` must equal AUTH0_AUDIENCE)",
                resource.as_str()
            )),
        ));
    } else if resource_path.len() > 1 && resource_path.ends_with('/') {
        findings.push((
            Outcome::Warn,
            format!(
                "AUTH0_AUDIENCE {audience:?} ends in a slash but clients connect to {mcp_url}; clients that compare the resource with that URL exactly will refuse it"
            ),
            Some(format!(
                "set AUTH0_AUDIENCE={:?} and make it the API identifier in Auth0",
                audience.trim_end_matches('/')
            )),
        ));
    }
    if findings.is_empty() {
        findings.push((
            Outcome::Pass,
            format!(
                "the metadata's resource {audience:?} matches the endpoint clients connect to ({mcp_url})"
            ),
            None,
        ));
    }
    findings
}

pub(super) fn check_resource<W: Write>(r: &mut Reporter<'_, W>, settings: &Settings) {
    for (outcome, detail, fix) in resource_findings(settings) {
        r.add(names::RESOURCE, outcome, detail, fix);
    }
}
