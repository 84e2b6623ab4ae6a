//! Port lists as users write them for `scan --ports`: `1-1024,8080,9000-9100`.

use crate::error::Error;
use berth_inventory::target::{parse_port_in, refusal};

/// What `--ports` takes, the end of each of its refusals.
const LIST_FORMS: &str = "give ports 1-65535 and ranges LOW-HIGH, separated by commas, as 1-1024,8080";

/// The ports `text` names, sorted, each once. Every number goes through the
/// common port parser (1-65535); a range must run upwards. A refusal
/// quotes the item that is wrong, and the whole list when it is longer
/// (`invalid port '70000' in '1-70000'`).
pub fn parse_ports(text: &str) -> Result<Vec<u16>, Error> {
    let refused = |what: &str, part: &str, why: &str| {
        let expected = if why.is_empty() { LIST_FORMS.to_string() } else { format!("{why}; {LIST_FORMS}") };
        Error::from(refusal(what, part, text, &expected))
    };
    let mut seen = vec![false; 65_536];
    let mut any = false;
    for part in text.split(',') {
        let part = part.trim();
        if part.is_empty() {
            return Err(refused("port list", text, "an item between commas is empty"));
        }
        let (low, high) = match part.split_once('-') {
            Some((low, high)) if low.trim().is_empty() || high.trim().is_empty() || high.contains('-') => {
                return Err(refused("range", part, "a range is LOW-HIGH"));
            }
            Some((low, high)) => (parse_port_in(low, text, LIST_FORMS)?, parse_port_in(high, text, LIST_FORMS)?),
            None => {
                let port = parse_port_in(part, text, LIST_FORMS)?;
                (port, port)
            }
        };
        if low > high {
            return Err(refused("range", part, &format!("a range runs upwards, as {high}-{low}")));
        }
        for port in low..=high {
            seen[usize::from(port)] = true;
        }
        any = true;
    }
    if !any {
        return Err(refused("port list", text, ""));
    }
    Ok((1..=65_535u16).filter(|&p| seen[usize::from(p)]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_ranges() {
        assert_eq!(parse_ports("80").unwrap(), vec![80]);
        assert_eq!(parse_ports("8080,1-3, 2").unwrap(), vec![1, 2, 3, 8080]);
        assert_eq!(parse_ports("1-65535").unwrap().len(), 65_535);
        assert_eq!(parse_ports("65535-65535").unwrap(), vec![65_535]);
    }

    #[test]
    fn malformed_lists() {
        for bad in ["", "0", "70000", "9-1", "garbage", "1-", "-5", "1,,2", "1-2-3", "0-10", "80,x"] {
            let error = parse_ports(bad).expect_err(bad);
            assert!(error.to_string().starts_with("invalid "), "{bad}: {error}");
            assert!(error.to_string().ends_with(LIST_FORMS), "{bad}: {error}");
        }
        let says = |bad: &str| parse_ports(bad).unwrap_err().to_string();
        assert!(says("9-1").starts_with("invalid range '9-1': a range runs upwards, as 1-9"), "{}", says("9-1"));
        assert!(says("80,x").starts_with("invalid port 'x' in '80,x': "), "{}", says("80,x"));
        assert!(says("1-70000").starts_with("invalid port '70000' in '1-70000': "), "{}", says("1-70000"));
        assert!(says("1-2-3").starts_with("invalid range '1-2-3': a range is LOW-HIGH"), "{}", says("1-2-3"));
    }
}
