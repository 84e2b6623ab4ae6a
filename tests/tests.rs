//! The integration tests: one binary (see `common::harness` for why it is
//! not the built-in harness). Each module is one command's or one
//! concern's tests and ends with `tests![...]`, the list of its tests;
//! dead code is denied so that a test function missing from its list fails
//! the build.

#![deny(dead_code)]

/// `tests![a, b]` in a module: the module's test functions, as cases.
macro_rules! tests {
    ($($test:ident),* $(,)?) => {
        pub fn cases() -> Vec<crate::common::harness::Case> {
            vec![$(crate::common::harness::case(module_path!(), stringify!($test), $test)),*]
        }
    };
}

mod common;

mod audit;
mod audit_browser;
mod audit_noauth;
mod audit_reach;
mod audit_tls_owners;
mod ca;
mod cli;
mod diagnoses;
mod doctor;
mod echo_bridge;
mod echo_nc;
mod errors;
mod examples;
mod free;
mod history;
mod kill;
mod load_generator;
mod ls;
mod messages;
mod metrics;
mod metrics_fleet;
mod mock_api;
mod policy_expose;
mod probe;
mod probe_deadline;
mod root_only;
mod run;
mod scan;
mod serve;
mod serve_browser;
mod serve_fs;
mod serve_http;
mod sources_agree;
mod watch;
mod who;

fn main() -> std::process::ExitCode {
    let mut cases = Vec::new();
    cases.extend(audit::cases());
    cases.extend(audit_browser::cases());
    cases.extend(audit_noauth::cases());
    cases.extend(audit_reach::cases());
    cases.extend(audit_tls_owners::cases());
    cases.extend(cli::cases());
    cases.extend(diagnoses::cases());
    cases.extend(doctor::cases());
    cases.extend(echo_bridge::cases());
    cases.extend(echo_nc::cases());
    cases.extend(errors::cases());
    cases.extend(examples::cases());
    cases.extend(free::cases());
    cases.extend(history::cases());
    cases.extend(kill::cases());
    cases.extend(load_generator::cases());
    cases.extend(ls::cases());
    cases.extend(messages::cases());
    cases.extend(metrics::cases());
    cases.extend(metrics_fleet::cases());
    cases.extend(ca::cases());
    cases.extend(mock_api::cases());
    cases.extend(policy_expose::cases());
    cases.extend(probe::cases());
    cases.extend(probe_deadline::cases());
    cases.extend(root_only::cases());
    cases.extend(run::cases());
    cases.extend(scan::cases());
    cases.extend(serve::cases());
    cases.extend(serve_browser::cases());
    cases.extend(serve_fs::cases());
    cases.extend(serve_http::cases());
    cases.extend(sources_agree::cases());
    cases.extend(watch::cases());
    cases.extend(who::cases());
    common::harness::main(cases)
}
