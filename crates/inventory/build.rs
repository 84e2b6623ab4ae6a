//! Embeds IANA's service-name registry (data/iana-services.tsv) in the binary
//! as a sorted static table, so `berth` names ports without /etc/services and
//! without parsing anything at run time.

use std::{env, fs, path::Path};

fn main() {
    let source = "data/iana-services.tsv";
    println!("cargo:rerun-if-changed={source}");
    let text = fs::read_to_string(source).expect("data/iana-services.tsv is part of the source tree");
    let mut rows: Vec<(u16, u8, String)> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split('\t');
        let (Some(port), Some(proto), Some(name)) = (fields.next(), fields.next(), fields.next()) else {
            panic!("{source}:{}: expected port<TAB>protocol<TAB>name", number + 1);
        };
        let port: u16 = port.parse().unwrap_or_else(|_| panic!("{source}:{}: bad port", number + 1));
        let proto = match proto {
            "tcp" => 0u8,
            "udp" => 1u8,
            other => panic!("{source}:{}: unknown protocol {other}", number + 1),
        };
        rows.push((port, proto, name.to_string()));
    }
    rows.sort();
    rows.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    let mut out = String::from("/// (port, protocol: 0 = tcp, 1 = udp, IANA service name), sorted.\nstatic IANA_SERVICES: &[(u16, u8, &str)] = &[\n");
    for (port, proto, name) in rows {
        out.push_str(&format!("    ({port}, {proto}, {name:?}),\n"));
    }
    out.push_str("];\n");
    let dest = Path::new(&env::var("OUT_DIR").unwrap()).join("iana_services.rs");
    fs::write(dest, out).unwrap();
}
