//! `oobgate audit export` formats: one line per event as JSON (the stored row), OCSF or CEF.

use std::str::FromStr;

use super::EventRow;

/// How exported events are written, one per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExportFormat {
    /// The stored row as JSON (JSON Lines), chain hashes included.
    #[default]
    Json,
    /// OCSF 1.5.0 events ([`super::ocsf`]).
    Ocsf,
    /// ArcSight CEF ([`super::cef`]).
    Cef,
}

impl ExportFormat {
    /// The event as one line, without the line break.
    pub fn render(self, row: &EventRow) -> String {
        match self {
            ExportFormat::Json => serde_json::to_string(row).unwrap_or_default(),
            ExportFormat::Ocsf => super::ocsf::to_ocsf(row).to_string(),
            ExportFormat::Cef => super::cef::to_cef(row),
        }
    }
}

impl FromStr for ExportFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "json" => Ok(ExportFormat::Json),
            "ocsf" => Ok(ExportFormat::Ocsf),
            "cef" => Ok(ExportFormat::Cef),
            other => Err(format!(
                "unknown export format {other:?}: use json, ocsf or cef"
            )),
        }
    }
}
