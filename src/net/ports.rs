//! Port lists as users write them for `scan --ports`: `1-1024,8080,9000-9100`.

use crate::error::Error;
use berth_inventory::target::parse_port;

/// The ports `text` names, sorted, each once. Every number goes through the
/// common port parser (1-65535); a range must run upwards.
pub fn parse_ports(text: &str) -> Result<Vec<u16>, Error> {
    let usage = |why: String| Error::Usage(format!("--ports '{text}': {why}; write ports and ranges as 1-1024,8080"));
    let mut seen = vec![false; 65_536];
    let mut any = false;
    for part in text.split(',') {
        let part = part.trim();
        if part.is_empty() {
            return Err(usage("an empty item".into()));
        }
        let (low, high) = match part.split_once('-') {
            Some((low, high)) => (parse_port(low).map_err(|e| usage(e.0))?, parse_port(high).map_err(|e| usage(e.0))?),
            None => {
                let port = parse_port(part).map_err(|e| usage(e.0))?;
                (port, port)
            }
        };
        if low > high {
            return Err(usage(format!("the range {low}-{high} runs backwards (did you mean {high}-{low}?)")));
        }
        for port in low..=high {
            seen[usize::from(port)] = true;
        }
        any = true;
    }
    if !any {
        return Err(usage("no ports".into()));
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
            assert!(error.to_string().contains("--ports"), "{bad}: {error}");
        }
        assert!(parse_ports("9-1").unwrap_err().to_string().contains("backwards"));
    }
}
