//! The distribution's trust store: an anchor file in its directory, then
//! its refresh command, which rebuilds the bundle (and, on Debian, the
//! hash links in /etc/ssl/certs and Java's cacerts through its hook).
//! Removal is the same in reverse, followed by a look for links left
//! pointing at the removed file (what mkcert's uninstall left behind).

use std::fs;
use std::path::{Path, PathBuf};

use super::{
    bundle_holds, failure, find_program, run_as_root, shown, skipped_or_failed, Context, Manifest, Outcome, Report,
    StoreKind,
};

/// One distribution family's layout.
struct Layout {
    /// The tool that rebuilds the store, as users know it.
    tool: &'static str,
    anchors: &'static str,
    refresh: &'static [&'static str],
    bundle: &'static str,
    /// Where the refresh leaves links to the anchors.
    links: Option<&'static str>,
}

const LAYOUTS: [Layout; 3] = [
    // Debian, Ubuntu; openSUSE's anchors differ but it is rare on desks.
    Layout {
        tool: "update-ca-certificates",
        anchors: "/usr/local/share/ca-certificates",
        refresh: &[],
        bundle: "/etc/ssl/certs/ca-certificates.crt",
        links: Some("/etc/ssl/certs"),
    },
    // Fedora, RHEL.
    Layout {
        tool: "update-ca-trust",
        anchors: "/etc/pki/ca-trust/source/anchors",
        refresh: &["extract"],
        bundle: "/etc/pki/tls/certs/ca-bundle.crt",
        links: None,
    },
    // Arch.
    Layout {
        tool: "update-ca-trust",
        anchors: "/etc/ca-certificates/trust-source/anchors",
        refresh: &[],
        bundle: "/etc/ssl/certs/ca-certificates.crt",
        links: None,
    },
];

/// The layout of this machine, with its refresh tool.
fn detect() -> Option<(&'static Layout, PathBuf)> {
    LAYOUTS.iter().find_map(|layout| {
        let tool = find_program(layout.tool)?;
        Path::new(layout.anchors).parent().is_some_and(Path::is_dir).then_some((layout, tool))
    })
}

fn anchor_path(layout: &Layout, context: &Context<'_>) -> PathBuf {
    Path::new(layout.anchors).join(format!("{}.crt", context.alias()))
}

fn no_store() -> Report {
    Report::new(
        StoreKind::System,
        "system store",
        Outcome::Skipped,
        "no update-ca-certificates or update-ca-trust found (apt install ca-certificates)",
    )
}

pub fn install(context: &Context<'_>, manifest: &mut Manifest) -> Vec<Report> {
    let Some((layout, tool)) = detect() else { return vec![no_store()] };
    let place = format!("system store ({})", layout.tool);
    let der = context.authority.root_der.as_ref();
    let anchor = anchor_path(layout, context);
    if bundle_holds(Path::new(layout.bundle), der) && anchor.exists() {
        manifest.system_anchor = Some(anchor);
        return vec![Report::new(StoreKind::System, place, Outcome::AlreadyTrusted, shown(Path::new(layout.bundle)))];
    }
    let steps = || -> Result<(), String> {
        let install_tool = find_program("install").ok_or("the install program is missing (coreutils)")?;
        if !Path::new(layout.anchors).is_dir() {
            let output = run_as_root(&install_tool, &["-d", "-m", "0755", layout.anchors], context.interactive)?;
            if !output.status.success() {
                return Err(failure("install -d", &output));
            }
        }
        let root = context.authority.paths.root();
        let anchor_text = anchor.display().to_string();
        let root_text = root.display().to_string();
        let output =
            run_as_root(&install_tool, &["-m", "0644", root_text.as_str(), anchor_text.as_str()], context.interactive)?;
        if !output.status.success() {
            return Err(failure("copying the root into the store", &output));
        }
        let output = run_as_root(&tool, layout.refresh, context.interactive)?;
        if !output.status.success() {
            return Err(failure(layout.tool, &output));
        }
        Ok(())
    };
    match steps() {
        Ok(()) if bundle_holds(Path::new(layout.bundle), der) => {
            manifest.system_anchor = Some(anchor.clone());
            vec![Report::new(
                StoreKind::System,
                place,
                Outcome::Installed,
                format!("{} (in {})", shown(&anchor), shown(Path::new(layout.bundle))),
            )]
        }
        Ok(()) => {
            manifest.system_anchor = Some(anchor);
            vec![Report::new(
                StoreKind::System,
                place,
                Outcome::Failed,
                format!("{} ran, but {} does not hold the root", layout.tool, shown(Path::new(layout.bundle))),
            )]
        }
        Err(why) => {
            let outcome = skipped_or_failed(&why);
            vec![Report::new(
                StoreKind::System,
                place,
                outcome,
                format!("{why}: run `berth ca install --store system` as root (sudo)"),
            )]
        }
    }
}

pub fn uninstall(context: &Context<'_>, manifest: &mut Manifest) -> Vec<Report> {
    let Some((layout, tool)) = detect() else { return vec![no_store()] };
    let place = format!("system store ({})", layout.tool);
    let der = context.authority.root_der.as_ref();
    let mut anchors: Vec<PathBuf> = manifest.system_anchor.iter().cloned().collect();
    let standard = anchor_path(layout, context);
    if !anchors.contains(&standard) {
        anchors.push(standard);
    }
    let present: Vec<PathBuf> = anchors.iter().filter(|a| a.exists()).cloned().collect();
    let dangling = dangling_links(layout, &anchors);
    if present.is_empty() && dangling.is_empty() && !bundle_holds(Path::new(layout.bundle), der) {
        manifest.system_anchor = None;
        return vec![Report::new(StoreKind::System, place, Outcome::NotThere, "")];
    }
    let steps = || -> Result<(), String> {
        let rm = find_program("rm").ok_or("the rm program is missing (coreutils)")?;
        for anchor in &present {
            let text = anchor.display().to_string();
            let output = run_as_root(&rm, &["-f", "--", text.as_str()], context.interactive)?;
            if !output.status.success() {
                return Err(failure("removing the anchor", &output));
            }
        }
        let output = run_as_root(&tool, layout.refresh, context.interactive)?;
        if !output.status.success() {
            return Err(failure(layout.tool, &output));
        }
        // Links the refresh did not clear, to the anchor that is gone.
        let left: Vec<String> = dangling_links(layout, &anchors).iter().map(|l| l.display().to_string()).collect();
        if !left.is_empty() {
            let mut args = vec!["-f".to_string(), "--".to_string()];
            args.extend(left);
            let output = run_as_root(&rm, &args, context.interactive)?;
            if !output.status.success() {
                return Err(failure("removing links left to the anchor", &output));
            }
        }
        Ok(())
    };
    match steps() {
        Ok(()) if !bundle_holds(Path::new(layout.bundle), der) => {
            manifest.system_anchor = None;
            let what: Vec<String> = present.iter().map(|p| shown(p)).collect();
            vec![Report::new(StoreKind::System, place, Outcome::Removed, what.join(", "))]
        }
        Ok(()) => vec![Report::new(
            StoreKind::System,
            place,
            Outcome::Failed,
            format!(
                "{} still holds the root: it came from somewhere other than {}",
                shown(Path::new(layout.bundle)),
                layout.anchors
            ),
        )],
        Err(why) => vec![Report::new(
            StoreKind::System,
            place,
            Outcome::Skipped,
            format!("{why}: run `berth ca uninstall --store system` as root (sudo)"),
        )],
    }
}

pub fn status(context: &Context<'_>) -> Vec<Report> {
    let Some((layout, _)) = detect() else { return vec![no_store()] };
    let place = format!("system store ({})", layout.tool);
    let bundle = Path::new(layout.bundle);
    if bundle_holds(bundle, context.authority.root_der.as_ref()) {
        vec![Report::new(StoreKind::System, place, Outcome::Trusted, shown(bundle))]
    } else {
        vec![Report::new(StoreKind::System, place, Outcome::NotTrusted, "")]
    }
}

/// Symbolic links in the store's link directory that point at one of
/// `anchors` (by name: the refresh links to a copy in /etc/ssl/certs whose
/// name is the anchor's with .pem) and no longer resolve.
fn dangling_links(layout: &Layout, anchors: &[PathBuf]) -> Vec<PathBuf> {
    let Some(dir) = layout.links else { return Vec::new() };
    let stems: Vec<String> =
        anchors.iter().filter_map(|a| a.file_stem().map(|s| s.to_string_lossy().into_owned())).collect();
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(target) = fs::read_link(&path) else { continue };
        let target_text = target.to_string_lossy();
        let ours = stems.iter().any(|stem| target_text.contains(stem.as_str()))
            || path.file_name().is_some_and(|n| stems.iter().any(|stem| n.to_string_lossy().contains(stem.as_str())));
        if ours && fs::metadata(&path).is_err() {
            found.push(path);
        }
    }
    found
}
