//! What `berth ca` prints: the CA in a few lines, then one line a store
//! place (what happened, where, why), aligned; or all of it as JSON.

use serde::Serialize;

use crate::ca::stores::Report;

/// The CA as reports show it.
#[derive(Clone, Debug, Serialize)]
pub struct CaSummary {
    pub dir: String,
    pub root: String,
    pub name: String,
    pub fingerprint_sha256: String,
    pub permitted: Vec<String>,
    /// Made by this command.
    pub created: bool,
}

#[derive(Serialize)]
struct Document<'a> {
    ca: Option<&'a CaSummary>,
    stores: &'a [Report],
    /// uninstall: whether the CA's directory (and keys) were deleted; null
    /// for the other commands (absent facts are null, never missing keys).
    deleted: Option<bool>,
}

pub fn json(ca: Option<&CaSummary>, stores: &[Report], deleted: Option<bool>) -> String {
    let mut text = serde_json::to_string_pretty(&Document { ca, stores, deleted }).expect("a report serialises");
    text.push('\n');
    text
}

pub fn summary(ca: &CaSummary) -> String {
    format!(
        "CA        {}{}\nroot      {}\nSHA-256   {}\nsigns for {}\n",
        ca.name,
        if ca.created { " (made now)" } else { "" },
        ca.root,
        ca.fingerprint_sha256,
        ca.permitted.join(", ")
    )
}

/// One aligned line per report.
pub fn table(reports: &[Report]) -> String {
    let word_width = reports.iter().map(|r| r.outcome.word().len()).max().unwrap_or(0);
    let place_width = reports.iter().map(|r| r.place.chars().count()).max().unwrap_or(0);
    let mut text = String::new();
    for report in reports {
        let line = format!("  {:word_width$}  {:place_width$}  {}", report.outcome.word(), report.place, report.detail);
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::stores::{Outcome, StoreKind};

    #[test]
    fn aligned_lines() {
        let reports = vec![
            Report::new(StoreKind::System, "system store (update-ca-certificates)", Outcome::Installed, "/x.crt"),
            Report::new(StoreKind::Nss, "NSS /h/.pki/nssdb", Outcome::Skipped, "certutil is missing"),
        ];
        insta::assert_snapshot!(table(&reports), @r"
          installed  system store (update-ca-certificates)  /x.crt
          skipped    NSS /h/.pki/nssdb                      certutil is missing
        ");
    }
}
