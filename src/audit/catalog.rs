//! Well-known services: what a listener probably is, from its owner's name
//! and its port, and how sensitive it is. The owner's name wins over the
//! port (a Redis on 7000 is still Redis; a web app on 6379 is not).

use super::Listener;
use berth_inventory::Protocol;

/// What kind of service, as far as its exposure matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Database,
    Cache,
    ContainerApi,
    Notebook,
    ModelServer,
    Debugger,
    Metrics,
    RemoteShell,
    Web,
}

impl Kind {
    /// Services whose exposure beyond loopback is serious by itself.
    pub fn sensitive(self) -> bool {
        matches!(
            self,
            Kind::Database | Kind::Cache | Kind::ContainerApi | Kind::Notebook | Kind::ModelServer | Kind::Debugger
        )
    }

    pub fn word(self) -> &'static str {
        match self {
            Kind::Database => "database",
            Kind::Cache => "cache",
            Kind::ContainerApi => "container API",
            Kind::Notebook => "notebook server",
            Kind::ModelServer => "model server",
            Kind::Debugger => "debugger",
            Kind::Metrics => "metrics endpoint",
            Kind::RemoteShell => "remote shell",
            Kind::Web => "web server",
        }
    }
}

/// The wire protocol a service speaks, when it is not plain HTTP: the
/// prober must not send an HTTP request to these (Redis, for one, logs it
/// as a cross-protocol attack and drops the connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    Http,
    Redis,
    Memcached,
    Postgres,
    Mysql,
    Mongo,
    /// Speaks first (SSH, SMTP, FTP): a banner tells what it is.
    Banner,
    /// Some other binary protocol: nothing is sent.
    Opaque,
}

/// One well-known service.
#[derive(Clone, Copy, Debug)]
pub struct Known {
    pub name: &'static str,
    pub kind: Kind,
    pub wire: Wire,
    /// Its usual TCP ports.
    pub ports: &'static [u16],
    /// Process names (comm, or the basename of `argv[0]`) that run it.
    pub processes: &'static [&'static str],
    /// Words in the command line that name it (for interpreters such as
    /// java, python or node, whose comm says nothing).
    pub command_words: &'static [&'static str],
}

pub const KNOWN: &[Known] = &[
    Known {
        name: "Redis",
        kind: Kind::Cache,
        wire: Wire::Redis,
        ports: &[6379],
        processes: &["redis-server", "valkey-server", "keydb-server"],
        command_words: &[],
    },
    Known {
        name: "memcached",
        kind: Kind::Cache,
        wire: Wire::Memcached,
        ports: &[11211],
        processes: &["memcached"],
        command_words: &[],
    },
    Known {
        name: "PostgreSQL",
        kind: Kind::Database,
        wire: Wire::Postgres,
        ports: &[5432],
        processes: &["postgres", "postmaster"],
        command_words: &[],
    },
    Known {
        name: "MySQL",
        kind: Kind::Database,
        wire: Wire::Mysql,
        ports: &[3306, 33060],
        processes: &["mysqld", "mariadbd"],
        command_words: &[],
    },
    Known {
        name: "MongoDB",
        kind: Kind::Database,
        wire: Wire::Mongo,
        ports: &[27017],
        processes: &["mongod", "mongos"],
        command_words: &[],
    },
    Known {
        name: "Elasticsearch",
        kind: Kind::Database,
        wire: Wire::Http,
        ports: &[9200],
        processes: &["elasticsearch", "opensearch"],
        command_words: &["org.elasticsearch", "org.opensearch"],
    },
    Known {
        name: "CouchDB",
        kind: Kind::Database,
        wire: Wire::Http,
        ports: &[5984],
        processes: &["beam.smp"],
        command_words: &["couchdb"],
    },
    Known {
        name: "Docker Engine API",
        kind: Kind::ContainerApi,
        wire: Wire::Http,
        ports: &[2375, 2376],
        processes: &["dockerd"],
        command_words: &[],
    },
    Known {
        name: "Kubernetes kubelet",
        kind: Kind::ContainerApi,
        wire: Wire::Http,
        ports: &[10250, 10255],
        processes: &["kubelet"],
        command_words: &[],
    },
    Known {
        name: "Jupyter",
        kind: Kind::Notebook,
        wire: Wire::Http,
        ports: &[8888],
        processes: &["jupyter", "jupyter-lab", "jupyter-notebook"],
        command_words: &["jupyter", "jupyterlab", "notebook"],
    },
    Known {
        name: "Ollama",
        kind: Kind::ModelServer,
        wire: Wire::Http,
        ports: &[11434],
        processes: &["ollama"],
        command_words: &[],
    },
    Known {
        name: "Node.js inspector",
        kind: Kind::Debugger,
        wire: Wire::Http,
        ports: &[9229],
        processes: &[],
        command_words: &["--inspect", "--inspect-brk"],
    },
    Known {
        name: "debugpy",
        kind: Kind::Debugger,
        wire: Wire::Opaque,
        ports: &[5678],
        processes: &[],
        command_words: &["debugpy"],
    },
    Known {
        name: "Chrome DevTools",
        kind: Kind::Debugger,
        wire: Wire::Http,
        ports: &[9222],
        processes: &[],
        command_words: &["--remote-debugging-port"],
    },
    Known {
        name: "Java debug wire (JDWP)",
        kind: Kind::Debugger,
        wire: Wire::Opaque,
        ports: &[5005],
        processes: &[],
        command_words: &["jdwp"],
    },
    Known {
        name: "Prometheus exporter",
        kind: Kind::Metrics,
        wire: Wire::Http,
        ports: &[9100, 9090],
        processes: &["prometheus-node-exporter", "node_exporter", "prometheus"],
        command_words: &[],
    },
    Known {
        name: "SSH",
        kind: Kind::RemoteShell,
        wire: Wire::Banner,
        ports: &[22],
        processes: &["sshd"],
        command_words: &[],
    },
    Known { name: "nginx", kind: Kind::Web, wire: Wire::Http, ports: &[], processes: &["nginx"], command_words: &[] },
];

/// What the listener probably is: by owner name, then command-line words,
/// then (TCP only) port.
pub fn identify(listener: &Listener) -> Option<&'static Known> {
    for owner in &listener.owners {
        let argv0 = owner.command.split_whitespace().next().unwrap_or("");
        let base = argv0.rsplit('/').next().unwrap_or(argv0);
        if let Some(known) =
            KNOWN.iter().find(|k| k.processes.iter().any(|p| *p == owner.name || *p == base || base.starts_with(p)))
        {
            return Some(known);
        }
        if let Some(known) = KNOWN.iter().find(|k| k.command_words.iter().any(|w| owner.command.contains(w))) {
            return Some(known);
        }
    }
    if listener.protocol != Protocol::Tcp {
        return if listener.port == 11211 { KNOWN.iter().find(|k| k.name == "memcached") } else { None };
    }
    KNOWN.iter().find(|k| k.ports.contains(&listener.port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::ProcessRef;
    use berth_inventory::scope::BindScope;

    fn listener(port: u16, name: &str, command: &str) -> Listener {
        Listener {
            protocol: Protocol::Tcp,
            port,
            addresses: vec!["127.0.0.1".parse().unwrap()],
            scope: BindScope::Loopback,
            takes_ipv4: true,
            takes_ipv6: false,
            owners: vec![ProcessRef {
                pid: 10,
                name: name.into(),
                user: None,
                uid: 0,
                command: command.into(),
                container: None,
                systemd_unit: None,
            }],
            socket_uid: 0,
            owner_status: crate::analysis::unseen::OwnerStatus::Unknown,
        }
    }

    #[test]
    fn owner_name_first_then_command_words_then_port() {
        assert_eq!(identify(&listener(7000, "redis-server", "redis-server *:7000")).map(|k| k.name), Some("Redis"));
        assert_eq!(identify(&listener(6379, "nginx", "nginx: worker process")).map(|k| k.name), Some("nginx"));
        // An owner the catalog does not know: the port decides.
        assert_eq!(identify(&listener(6379, "python3", "python3 app.py")).map(|k| k.name), Some("Redis"));
        assert_eq!(
            identify(&listener(4000, "java", "java -cp x org.elasticsearch.bootstrap.Elasticsearch")).map(|k| k.name),
            Some("Elasticsearch")
        );
        assert_eq!(
            identify(&listener(9229, "node", "node --inspect=0.0.0.0 app.js")).map(|k| k.name),
            Some("Node.js inspector")
        );
        assert!(identify(&listener(4000, "python3", "python3 -m http.server")).is_none());
    }
}
