//! The process's log: tracing events to stderr, as plain text or one JSON object per line
//! (`log_format` in the config), filtered by `OOBGATE_LOG` (an `EnvFilter` expression).
//!
//! Colours only when stderr is a terminal. Field values often come from outside (login
//! names, certificate key ids, device output), so in text mode every control character in
//! them is written escaped (`\n`, `\u{1b}`): one event is one line, and nothing in a log
//! can drive the terminal of whoever reads it. The JSON encoder escapes them by itself.

use std::io::IsTerminal;
use std::path::Path;

use oobgate::config::LogFormat;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; `default_level` applies when `OOBGATE_LOG` is unset.
pub fn init(default_level: &str, format: LogFormat) {
    let filter =
        EnvFilter::try_from_env("OOBGATE_LOG").unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Json => tracing::subscriber::set_global_default(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .finish(),
        ),
        LogFormat::Text => tracing::subscriber::set_global_default(
            builder
                .with_ansi(std::io::stderr().is_terminal())
                .fmt_fields(tracing_subscriber::fmt::format::debug_fn(write_field).delimited(" "))
                .finish(),
        ),
    };
    let _ = result;
}

/// One field of a text line: `name=value`, or the bare message, control characters escaped.
fn write_field(
    w: &mut tracing_subscriber::fmt::format::Writer<'_>,
    field: &tracing::field::Field,
    value: &dyn std::fmt::Debug,
) -> std::fmt::Result {
    let name = field.name();
    if name.starts_with("log.") {
        return Ok(()); // the `log` bridge's metadata, already shown as the target
    }
    let text = oobgate::audit::printable(&format!("{value:?}"));
    match name {
        "message" => w.write_str(&text),
        name => write!(w, "{}={text}", name.trim_start_matches("r#")),
    }
}

/// The `log_format` of the config file at `path`, read before anything else so the log is
/// set up first; a file that cannot be read gives `text` (loading it reports the error).
pub fn format_of(path: &Path) -> LogFormat {
    #[derive(serde::Deserialize)]
    struct Peek {
        #[serde(default)]
        log_format: LogFormat,
    }
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| toml::from_str::<Peek>(&t).ok())
        .map(|p| p.log_format)
        .unwrap_or_default()
}
