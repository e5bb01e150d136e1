//! The report: how each check ends, the lines it prints, and the headings that name the
//! downstream API a line is about.

use std::io::Write;

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Warn,
    Fail,
    Skip,
}

impl Outcome {
    pub fn symbol(self) -> &'static str {
        match self {
            Outcome::Pass => "✓",
            Outcome::Warn => "!",
            Outcome::Fail => "✗",
            Outcome::Skip => "-",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    pub name: &'static str,
    pub outcome: Outcome,
    pub detail: String,
    pub fix: Option<String>,
    /// The name of the downstream API the line is about
    /// ([`ApiSettings::name`](crate::ApiSettings::name)), `None` for the tenant, the
    /// token and the server's own settings.
    pub api: Option<String>,
}

/// Every check that ran, in order.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    pub lines: Vec<CheckLine>,
}

impl CheckReport {
    /// No check failed (warnings allowed).
    pub fn passed(&self) -> bool {
        !self.lines.iter().any(|l| l.outcome == Outcome::Fail)
    }

    /// The first line of the check called `name`, if it ran.
    pub fn line(&self, name: &str) -> Option<&CheckLine> {
        self.lines.iter().find(|l| l.name == name)
    }

    /// The first line of the check called `name` about the API called `api`, if it ran.
    pub fn line_for(&self, api: &str, name: &str) -> Option<&CheckLine> {
        self.lines
            .iter()
            .find(|l| l.name == name && l.api.as_deref() == Some(api))
    }

    /// The process exit code: 0 when every check passed, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        if self.passed() { 0 } else { 1 }
    }
}

/// Names of the checks, as printed.
pub mod names {
    pub const DISCOVERY: &str = "discovery";
    pub const ISSUER: &str = "issuer";
    pub const JWKS: &str = "jwks";
    pub const RESOURCE: &str = "resource";
    pub const PRIVATE_API: &str = "private api";
    pub const TOKEN: &str = "token";
    pub const TOKEN_SCOPES: &str = "token scopes";
    pub const EXCHANGE: &str = "exchange";
    pub const API_CALL: &str = "api call";
    pub const CONFIGURATION: &str = "configuration";
    pub const SHARED_CACHE: &str = "shared cache";
}

/// Writes lines as they are found, so a slow tenant shows progress.
pub(super) struct Reporter<'a, W: Write> {
    out: &'a mut W,
    report: CheckReport,
    /// Whether an API's lines get a heading naming it: only when there are several, so
    /// the report for the one quickstart API reads as it always has.
    headings: bool,
    /// The API the lines being added are about.
    api: Option<String>,
}

impl<'a, W: Write> Reporter<'a, W> {
    pub(super) fn new(out: &'a mut W, headings: bool) -> Self {
        Self {
            out,
            report: CheckReport::default(),
            headings,
            api: None,
        }
    }

    pub(super) fn finish(self) -> CheckReport {
        self.report
    }

    /// The lines that follow are about `api`; with several APIs, a heading says so.
    pub(super) fn begin_api(&mut self, api: &crate::apis::ApiSettings) {
        if self.headings {
            let _ = writeln!(
                self.out,
                "API {}: audience {:?} at {}",
                api.name(),
                api.audience(),
                super::http::redacted_url(api.base_url())
            );
        }
        self.api = Some(api.name().to_owned());
    }

    /// The lines that follow are about no API in particular.
    pub(super) fn end_api(&mut self) {
        self.api = None;
    }

    pub(super) fn add(
        &mut self,
        name: &'static str,
        outcome: Outcome,
        detail: String,
        fix: Option<String>,
    ) {
        // A closed stdout must not stop the checks; the report still has every line.
        let _ = writeln!(self.out, "{} {name}: {detail}", outcome.symbol());
        if let Some(fix) = &fix {
            let _ = writeln!(self.out, "    fix: {fix}");
        }
        let _ = self.out.flush();
        self.report.lines.push(CheckLine {
            name,
            outcome,
            detail,
            fix,
            api: self.api.clone(),
        });
    }

    pub(super) fn pass(&mut self, name: &'static str, detail: String) {
        self.add(name, Outcome::Pass, detail, None);
    }

    pub(super) fn warn(&mut self, name: &'static str, detail: String, fix: String) {
        self.add(name, Outcome::Warn, detail, Some(fix));
    }

    pub(super) fn fail(&mut self, name: &'static str, detail: String, fix: String) {
        self.add(name, Outcome::Fail, detail, Some(fix));
    }

    pub(super) fn skip(&mut self, name: &'static str, detail: String) {
        self.add(name, Outcome::Skip, detail, None);
    }
}

/// A lifetime as a person reads it: seconds, minutes or hours.
pub(super) fn human_duration(secs: u64) -> String {
    match secs {
        0..=119 => format!("{secs} s"),
        120..=7199 => format!("{} min", secs / 60),
        _ => format!("{} h", secs / 3600),
    }
}
