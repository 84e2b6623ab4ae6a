//! The `Prefer` request header (RFC 7240) as Prism reads it, so that
//! clients and test suites written for Prism work unchanged:
//! `Prefer: code=404`, `Prefer: example=cat`, `Prefer: dynamic=true`,
//! several in one header (comma-separated) or in several headers.

/// What a request asks for through Prefer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Preferences {
    /// `code=NNN`: answer with this documented status.
    pub code: Option<u16>,
    /// `example=NAME`: this named example.
    pub example: Option<String>,
    /// `dynamic=true|false`: generate from the schema (or not), whatever
    /// `--dynamic` says.
    pub dynamic: Option<bool>,
}

impl Preferences {
    /// Reads every Prefer value of a request; unknown preferences are
    /// ignored (RFC 7240 §2). A value berth cannot read is an error the
    /// client is told about (a typo must not silently change nothing).
    pub fn parse<'a>(values: impl Iterator<Item = &'a [u8]>) -> Result<Preferences, String> {
        let mut preferences = Preferences::default();
        for value in values {
            let text = std::str::from_utf8(value).map_err(|_| "the Prefer header is not UTF-8".to_string())?;
            for item in text.split([',', ';']) {
                let Some((key, value)) = item.split_once('=') else { continue };
                let (key, value) = (key.trim(), value.trim().trim_matches('"'));
                match key.to_ascii_lowercase().as_str() {
                    "code" => {
                        let code = value.parse::<u16>().ok().filter(|c| (100..=599).contains(c));
                        preferences.code = Some(code.ok_or_else(|| format!("Prefer: code={value} is not a status"))?);
                    }
                    "example" => preferences.example = Some(value.to_string()),
                    "dynamic" => {
                        preferences.dynamic = Some(match value {
                            "true" => true,
                            "false" => false,
                            _ => return Err(format!("Prefer: dynamic={value}: write true or false")),
                        })
                    }
                    _ => {}
                }
            }
        }
        Ok(preferences)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(values: &[&str]) -> Result<Preferences, String> {
        Preferences::parse(values.iter().map(|v| v.as_bytes()))
    }

    #[test]
    fn prism_style_preferences_are_read() {
        assert_eq!(parse(&[]).unwrap(), Preferences::default());
        let all = parse(&["code=404, example=\"not found\"", "dynamic=true", "respond-async, wait=10"]).unwrap();
        assert_eq!(all.code, Some(404));
        assert_eq!(all.example.as_deref(), Some("not found"));
        assert_eq!(all.dynamic, Some(true));
        assert_eq!(parse(&["Code=201;dynamic=false"]).unwrap().dynamic, Some(false));
        assert!(parse(&["code=abc"]).unwrap_err().contains("not a status"));
        assert!(parse(&["code=99"]).is_err());
        assert!(parse(&["dynamic=yes"]).unwrap_err().contains("true or false"));
    }
}
