//! The delegation audit trail: one JSON event per tool call, saying who called which
//! tool, through which actors, and what the call did downstream on their behalf.
//! The schema is `docs/audit.md` and `docs/audit.schema.json`.
//!
//! Events go to the `AUDIT_LOG` file when it is set (appended, one JSON object per
//! line, written and flushed per event), otherwise to the logs, on the tracing target
//! [`AUDIT_TARGET`] at `info`, the JSON object as the message. An event never holds a
//! token: it is built from the verified claims and the names of APIs and outcomes.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use jwt_verify::Principal;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::metrics::Metrics;

/// The tracing target of audit events when they go to the logs.
pub const AUDIT_TARGET: &str = "audit";

/// Failed writes are warned about at most this often (each is counted).
const WARNING_EVERY: Duration = Duration::from_secs(60);

/// `AUDIT_LOG` names a file that cannot be opened for appending.
#[derive(Debug, thiserror::Error)]
#[error("AUDIT_LOG: cannot open {} for appending: {source}", path.display())]
pub struct AuditOpenError {
    path: PathBuf,
    source: std::io::Error,
}

/// One downstream call of a tool call: getting a token for an API and, when the tool
/// went on to call it, the API's answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct DownstreamCall {
    pub(crate) api: String,
    /// `None` only for an API the configuration does not name.
    pub(crate) audience: Option<String>,
    /// The token's source ([`auth0_obo::TokenSource::as_str`]), or the error kind.
    pub(crate) exchange: &'static str,
    /// The API's HTTP status; `None` when it was not reached.
    pub(crate) status: Option<u16>,
    /// Token and API call(s) together.
    pub(crate) duration_ms: f64,
}

/// Milliseconds, to the microsecond.
pub(crate) fn millis(elapsed: Duration) -> f64 {
    (elapsed.as_micros() as f64) / 1000.0
}

/// One tool call, as written to the audit trail.
#[derive(Debug, Serialize)]
pub(crate) struct AuditEvent<'a> {
    time: String,
    request_id: Option<&'a str>,
    sub: &'a str,
    client_id: &'a str,
    act: Vec<&'a str>,
    org_id: Option<&'a str>,
    tool: &'a str,
    scopes_required: &'a [String],
    downstream: Vec<DownstreamCall>,
    outcome: &'a str,
    duration_ms: f64,
}

impl<'a> AuditEvent<'a> {
    pub(crate) fn new(
        principal: &'a Principal,
        request_id: Option<&'a str>,
        tool: &'a str,
        scopes_required: &'a [String],
    ) -> Self {
        let time = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        Self {
            time,
            request_id,
            sub: &principal.sub,
            client_id: &principal.client_id,
            act: principal
                .delegation_chain
                .iter()
                .map(|actor| actor.sub.as_str())
                .collect(),
            org_id: principal.org_id.as_deref(),
            tool,
            scopes_required,
            downstream: Vec::new(),
            outcome: "ok",
            duration_ms: 0.0,
        }
    }

    pub(crate) fn ended(
        mut self,
        outcome: &'a str,
        downstream: Vec<DownstreamCall>,
        elapsed: Duration,
    ) -> Self {
        self.outcome = outcome;
        self.downstream = downstream;
        self.duration_ms = millis(elapsed);
        self
    }
}

/// Where events go.
#[derive(Debug)]
enum Sink {
    Log,
    File {
        path: PathBuf,
        file: Mutex<File>,
        last_warning: Mutex<Option<Instant>>,
    },
}

/// The audit trail's writer.
#[derive(Debug)]
pub(crate) struct Audit {
    sink: Sink,
    metrics: Metrics,
}

impl Audit {
    /// Events to the logs.
    pub(crate) fn to_log(metrics: Metrics) -> Self {
        Self {
            sink: Sink::Log,
            metrics,
        }
    }

    /// Events to `path` (created if missing, appended to), or to the logs when `None`.
    ///
    /// # Errors
    ///
    /// [`AuditOpenError`] when the file cannot be opened for appending: the server
    /// refuses to start rather than run without the trail it was asked to keep.
    pub(crate) fn open(path: Option<&Path>, metrics: Metrics) -> Result<Self, AuditOpenError> {
        let Some(path) = path else {
            return Ok(Self::to_log(metrics));
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| AuditOpenError {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self {
            sink: Sink::File {
                path: path.to_owned(),
                file: Mutex::new(file),
                last_warning: Mutex::new(None),
            },
            metrics,
        })
    }

    /// Writes one event. A failed write is counted (`audit_write_errors_total`) and
    /// warned about at most once a minute; it never fails the call.
    pub(crate) fn emit(&self, event: &AuditEvent<'_>) {
        let Ok(mut line) = serde_json::to_string(event) else {
            self.metrics.audit_write_error();
            return;
        };
        match &self.sink {
            Sink::Log => tracing::info!(target: AUDIT_TARGET, "{line}"),
            Sink::File {
                path,
                file,
                last_warning,
            } => {
                line.push('\n');
                // One `write(2)` of the whole line on an O_APPEND file: lines of
                // concurrent calls never interleave. `File` has no buffer, so the line
                // is with the OS when this returns.
                let written = {
                    let mut file = file.lock().unwrap_or_else(PoisonError::into_inner);
                    file.write_all(line.as_bytes()).and_then(|()| file.flush())
                };
                if let Err(error) = written {
                    self.metrics.audit_write_error();
                    let mut last = last_warning.lock().unwrap_or_else(PoisonError::into_inner);
                    if last.is_none_or(|at| at.elapsed() >= WARNING_EVERY) {
                        *last = Some(Instant::now());
                        tracing::warn!(
                            path = %path.display(),
                            %error,
                            "cannot write to AUDIT_LOG; audit events are lost and counted in audit_write_errors_total"
                        );
                    }
                }
            }
        }
    }
}
