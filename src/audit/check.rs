//! The audit's checks behind one trait, and the one list of them.
//!
//! A check is a pure judgement: it reads facts and says what is wrong,
//! never opening a socket or a file. The command read the machine's
//! [`Facts`](super::Facts), [`Machine::gather`] the owners' executables,
//! and [`probe`](super::probe) asked each service its questions before any
//! check sees it. A static check judges the machine
//! ([`Check::judge_machine`]); a probing check judges one probed service at
//! a time, on the worker thread that probed it ([`Check::judge_service`]);
//! a check that cannot judge all it should on this machine (without root,
//! without the firewall rules) says so once ([`Check::skipped`]).
//!
//! The policy file is not a check: it silences the checks' findings and
//! adds its own after they ran ([`super::policy::apply`]).

use super::probe::Service;
use super::{browser, exposure, noauth, owners, policy, reachability, tls};
use super::{CheckInfo, Finding, Machine, Skipped};

/// One check: the ids it reports and how it judges.
pub trait Check: Sync {
    /// The ids of the findings it gives, with their summaries and usual
    /// severities (SARIF's rules come from here).
    fn ids(&self) -> &'static [CheckInfo];

    /// Its findings from the machine's facts (a static check).
    fn judge_machine(&self, _machine: &Machine) -> Vec<Finding> {
        Vec::new()
    }

    /// Its findings about one probed service (a probing check).
    fn judge_service(&self, _service: &Service, _machine: &Machine) -> Vec<Finding> {
        Vec::new()
    }

    /// What it cannot judge on this machine, and why: asked once per
    /// audit, before any service is probed.
    fn skipped(&self, _machine: &Machine) -> Option<Skipped> {
        None
    }
}

/// Every check, in the order of their ids in [`catalogue`] (the order
/// SARIF numbers its rules by, and of the "not checked" notes).
pub static ALL: &[&dyn Check] = &[
    &exposure::Exposure,
    &reachability::Dnat,
    &reachability::DockerProxy,
    &reachability::RouteLocalnet,
    &reachability::SshForward,
    &browser::DnsRebinding,
    &browser::Cors,
    &browser::PrivateNetwork,
    &browser::WebSocketOrigin,
    &noauth::Redis,
    &noauth::Memcached,
    &noauth::WebApis,
    &noauth::PostgresTrust,
    &tls::Plaintext,
    &tls::Expired,
    &tls::Untrusted,
    &owners::DeletedExecutable,
    &owners::SplitLoopback,
    &owners::RootHttp,
];

/// Every check id the audit can report, in a stable order: the checks'
/// (in [`ALL`]'s order), then the policy file's.
pub fn catalogue() -> impl Iterator<Item = &'static CheckInfo> {
    ALL.iter().flat_map(|check| check.ids()).chain(policy::IDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SARIF numbers its rules in this order (`ruleIndex`): a change here
    /// changes berth's SARIF output, so it is made on purpose or not at all.
    #[test]
    fn the_catalogue_keeps_its_order() {
        let ids: Vec<&str> = catalogue().map(|c| c.id).collect();
        assert_eq!(
            ids,
            [
                "exposure.listener",
                "exposure.sensitive",
                "reach.dnat",
                "reach.docker-proxy",
                "reach.route-localnet",
                "reach.ssh-forward",
                "http.dns-rebinding",
                "http.cors-any-origin",
                "http.cors-reflected",
                "http.private-network",
                "http.websocket-origin",
                "noauth.redis",
                "noauth.memcached",
                "noauth.elasticsearch",
                "noauth.docker-api",
                "noauth.jupyter",
                "noauth.ollama",
                "noauth.metrics",
                "noauth.postgres-trust",
                "tls.plaintext",
                "tls.expired",
                "tls.untrusted",
                "owner.deleted-executable",
                "owner.split-loopback",
                "owner.root-http",
                "policy.unexpected",
                "policy.missing",
            ]
        );
    }
}
