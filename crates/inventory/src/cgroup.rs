//! What a process's cgroup path says about where it runs: a container
//! (docker, podman, containerd, cri-o, lxc, kubernetes) or a systemd unit.

use std::fs;

use super::processes::Container;

/// The container of a process, from /proc/PID/cgroup.
pub(crate) fn container_of_pid(pid: u32) -> Option<Container> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    parse(&text).0
}

/// Parses the contents of /proc/PID/cgroup (v2 `0::/path` or v1
/// `N:controllers:/path` lines) into (container, systemd unit).
///
/// Every line counts: a cgroup-v1 (or hybrid) host still prints a `0::/`
/// line, and the container shows only on the v1 hierarchies
/// (`12:pids:/docker/<id>`), so a container seen on any hierarchy is the
/// process's container. The unit comes from the hierarchy systemd manages:
/// the unified one, else `name=systemd`, else the first that names one.
pub(crate) fn parse(text: &str) -> (Option<Container>, Option<String>) {
    let mut hierarchies: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_id, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            Some((controllers, path))
        })
        .collect();
    // systemd's view first: unified (""), then name=systemd, then the rest.
    let rank = |controllers: &str| match controllers {
        "" => 0,
        "name=systemd" => 1,
        _ => 2,
    };
    hierarchies.sort_by_key(|(controllers, _)| rank(controllers));
    let container = hierarchies.iter().find_map(|(_, path)| container_in(path));
    let unit = hierarchies.iter().find_map(|(_, path)| unit_in(path));
    (container, unit)
}

fn container_in(path: &str) -> Option<Container> {
    for component in path.split('/').rev() {
        let scope = component.strip_suffix(".scope").unwrap_or(component);
        let prefixed =
            [("docker-", "docker"), ("libpod-", "podman"), ("cri-containerd-", "containerd"), ("crio-", "cri-o")];
        for (prefix, runtime) in prefixed {
            if let Some(id) = scope.strip_prefix(prefix) {
                if is_container_id(id) {
                    return Some(Container { runtime: runtime.into(), id: id.into() });
                }
            }
        }
    }
    // cgroup v1 and cgroupfs drivers: /docker/<id>, /lxc/<name>, /kubepods/.../<id>
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        let next = parts.get(i + 1);
        match (*part, next) {
            ("docker", Some(id)) if is_container_id(id) => {
                return Some(Container { runtime: "docker".into(), id: (*id).into() })
            }
            ("lxc" | "lxc.payload", Some(name)) => {
                return Some(Container { runtime: "lxc".into(), id: (*name).into() })
            }
            _ => {}
        }
        if let Some(name) = part.strip_prefix("lxc.payload.") {
            return Some(Container { runtime: "lxc".into(), id: name.into() });
        }
    }
    if parts.first().is_some_and(|p| p.starts_with("kubepods")) {
        if let Some(last) = parts.last().filter(|id| is_container_id(id)) {
            return Some(Container { runtime: "kubernetes".into(), id: (*last).into() });
        }
    }
    None
}

/// Container ids are long hex strings (docker, containerd: 64 digits).
fn is_container_id(id: &str) -> bool {
    id.len() >= 12 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The innermost systemd service, or failing that the innermost scope
/// (session-3.scope) that is not a container's.
fn unit_in(path: &str) -> Option<String> {
    let components: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let service = components.iter().rev().find(|c| c.ends_with(".service"));
    let scope = components.iter().rev().find(|c| c.ends_with(".scope") && container_in(c).is_none());
    service.or(scope).map(|s| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER_ID: &str = "3f2a6c1d9b8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a";

    #[test]
    fn docker_systemd_driver() {
        let text = format!("0::/system.slice/docker-{DOCKER_ID}.scope\n");
        let (container, unit) = parse(&text);
        assert_eq!(container, Some(Container { runtime: "docker".into(), id: DOCKER_ID.into() }));
        assert_eq!(unit, None);
    }

    #[test]
    fn podman_and_containerd_and_v1() {
        let (c, _) = parse(&format!("0::/machine.slice/libpod-{DOCKER_ID}.scope/container\n"));
        assert_eq!(c.unwrap().runtime, "podman");
        let (c, _) = parse(&format!("0::/kubepods.slice/kubepods-besteffort.slice/cri-containerd-{DOCKER_ID}.scope\n"));
        assert_eq!(c.unwrap().runtime, "containerd");
        let (c, _) = parse(&format!("12:pids:/docker/{DOCKER_ID}\n1:name=systemd:/docker/{DOCKER_ID}\n"));
        assert_eq!(c.unwrap().id, DOCKER_ID);
    }

    #[test]
    fn v1_hosts_print_an_empty_unified_line_too() {
        // A cgroup-v1 (hybrid) host inside a docker container: the
        // unified line is `0::/`, the container is on the v1 lines only.
        let text = format!(
            "12:pids:/docker/{DOCKER_ID}\n11:memory:/docker/{DOCKER_ID}\n1:name=systemd:/docker/{DOCKER_ID}\n0::/\n"
        );
        let (c, _) = parse(&text);
        assert_eq!(c, Some(Container { runtime: "docker".into(), id: DOCKER_ID.into() }));
        // Seen on one controller only still counts.
        let (c, _) = parse(&format!("12:pids:/docker/{DOCKER_ID}\n1:name=systemd:/\n0::/\n"));
        assert_eq!(c.map(|c| c.id), Some(DOCKER_ID.to_string()));
        // The unit comes from systemd's hierarchy, wherever its line is.
        let (_, unit) = parse("4:cpu:/\n1:name=systemd:/system.slice/nginx.service\n0::/\n");
        assert_eq!(unit.as_deref(), Some("nginx.service"));
    }

    #[test]
    fn systemd_units() {
        let (c, unit) = parse("0::/system.slice/nginx.service\n");
        assert_eq!(c, None);
        assert_eq!(unit.as_deref(), Some("nginx.service"));
        let (_, unit) = parse("0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-foo.scope\n");
        assert_eq!(unit.as_deref(), Some("user@1000.service"));
        let (_, unit) = parse("0::/user.slice/user-1000.slice/session-3.scope\n");
        assert_eq!(unit.as_deref(), Some("session-3.scope"));
        assert_eq!(parse("0::/\n"), (None, None));
        assert_eq!(parse(""), (None, None));
    }
}
