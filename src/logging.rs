//! What the binary writes: log lines on stderr (text, or JSON lines for a
//! log collector), and results on stdout. At default verbosity a scheduler
//! still sees one line per loaded file and per finished model (the
//! `advocacy::progress` target); with `--log-format json` every line of
//! either stream is JSON, the summary included, and a run ends with one
//! `run_finished` event. The binary's only.

use std::io::{IsTerminal, Write};

use serde_json::json;

use crate::cli::{Global, LogFormat};
use advocacy::run::{RunError, RunRecord};

/// Starts logging for a command that reads the config.
pub fn init(global: &Global) {
    let level = match (global.quiet, global.verbose) {
        (true, _) => "advocacy=error",
        (false, 0) => "advocacy=warn,advocacy::progress=info",
        (false, 1) => "advocacy=info",
        (false, _) => "advocacy=debug",
    };
    start(level.to_string(), global.log_format);
}

/// A server says what it does at info: where it listens, what joins it.
/// Ballista logs through the `log` crate, which tracing-subscriber
/// forwards, so its lines come out in the same format.
#[cfg(feature = "ballista")]
pub fn init_server(log: &crate::cli::ServerLog) {
    let level = match (log.quiet, log.verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, _) => "debug",
    };
    let filter = [
        "advocacy",
        "ballista",
        "ballista_core",
        "ballista_scheduler",
        "ballista_executor",
    ]
    .map(|target| format!("{target}={level}"))
    .join(",");
    start(filter, log.log_format);
}

fn start(default_filter: String, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ADVOCACY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| RedactingStderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.with_ansi(colour()).init(),
    }
}

/// Colour only on a terminal, and never under `NO_COLOR` (no-color.org:
/// set and not empty).
fn colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// stderr for log lines, with every value taken from the environment
/// masked (`config::redact`): a log field may carry an endpoint or a
/// path built from one. tracing formats each event into one buffer and
/// writes it with one call, so a value is never split across writes.
struct RedactingStderr;

impl Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = advocacy::config::redact(&String::from_utf8_lossy(buf));
        std::io::stderr().write_all(text.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Results on stdout, as text or as JSON lines.
#[derive(Clone, Copy)]
pub struct Output {
    pub json: bool,
}

/// stdout was closed by the reader (`advocacy query ... | head`): not an
/// error, the reader has what it wanted.
pub struct ClosedPipe;

impl Output {
    pub fn new(format: LogFormat) -> Output {
        Output {
            json: format == LogFormat::Json,
        }
    }

    /// Writes `text` to stdout as it is.
    pub fn text(self, text: &str) -> Result<(), ClosedPipe> {
        let mut stdout = std::io::stdout().lock();
        match stdout
            .write_all(advocacy::config::redact(text).as_bytes())
            .and_then(|()| stdout.flush())
        {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(ClosedPipe),
            // Nothing else can be said where stdout is gone.
            _ => Ok(()),
        }
    }

    /// Writes one JSON line to stdout.
    pub fn event(self, event: serde_json::Value) -> Result<(), ClosedPipe> {
        self.text(&format!("{event}\n"))
    }

    /// A message for a person: on stderr as text, or as a JSON line
    /// (`{"level": "WARN", "message": ...}`) on stdout.
    pub fn note(self, level: &str, message: &str) {
        if self.json {
            let _ = self.event(json!({ "level": level, "message": message }));
        } else {
            eprintln!(
                "{}: {}",
                level.to_lowercase(),
                advocacy::config::redact(message)
            );
        }
    }

    /// A run's summary: the text table, or the run record as one JSON line
    /// followed by the `run_finished` event.
    pub fn run_summary(self, record: &RunRecord) -> Result<(), ClosedPipe> {
        if !self.json {
            return self.text(&record.summary());
        }
        let record_json = serde_json::to_value(record).expect("a run record serialises");
        self.event(json!({ "event": "summary", "record": record_json }))?;
        self.event(finished_event(record))
    }

    /// A command that failed before it had a record: the error, and for a
    /// run the `run_finished` event saying so.
    pub fn failure(self, error: &RunError, run: bool) -> i32 {
        let code = error.exit_code();
        let message = error.redacted();
        if !self.json {
            eprintln!("error: {message}");
            return code;
        }
        let event = match run {
            true => json!({
                "event": "run_finished", "status": "failed", "exit_code": code, "error": message,
            }),
            false => json!({ "level": "ERROR", "message": message, "exit_code": code }),
        };
        let _ = self.event(event);
        code
    }
}

/// `run_finished`: how the run ended, in one line a scheduler or a log
/// collector can alert on.
pub fn finished_event(record: &RunRecord) -> serde_json::Value {
    let sources = &record.ingest.sources;
    let total = |f: fn(&advocacy::ingest::SourceReport) -> u64| sources.iter().map(f).sum::<u64>();
    let failed_models = record.models.iter().filter(|m| m.error.is_some()).count();
    let failed_tests = record.tests.iter().filter(|t| !t.passed).count();
    json!({
        "event": "run_finished",
        "run_id": record.run_id,
        "run_date": record.run_date,
        "command": record.command,
        "status": record.status,
        "exit_code": record.exit_code,
        "rows_read": total(|s| s.rows_read),
        "rows_loaded": total(|s| s.rows_loaded),
        "rows_quarantined": total(|s| s.rows_quarantined),
        "rows_skipped": total(|s| s.rows_skipped),
        "models": record.models.len(),
        "models_failed": failed_models,
        "tests_failed": failed_tests,
        "warnings": record.warnings.len(),
        "seconds": record.seconds,
    })
}
