//! MTA-STS (RFC 8461): the TXT record at `_mta-sts.<domain>` and the
//! policy file at `https://mta-sts.<domain>/.well-known/mta-sts.txt`.

/// A record that reads as MTA-STS: it starts with `v=STSv1` (§3.1).
pub fn is_sts(text: &str) -> bool {
    text.trim_start()
        .strip_prefix("v=STSv1")
        .is_some_and(|rest| rest.is_empty() || rest.trim_start().starts_with(';'))
}

/// The `id=` of a record that [`is_sts`], or what is wrong with it.
pub fn record_id(text: &str) -> Result<String, String> {
    let mut id = None;
    for field in text
        .split(';')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .skip(1)
    {
        let Some((name, value)) = field.split_once('=') else {
            return Err(format!("{field:?} is not name=value"));
        };
        if name.trim() == "id" {
            let v = value.trim();
            if v.is_empty() || v.len() > 32 || !v.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!("id={v:?} is not 1 to 32 letters and digits"));
            }
            if id.replace(v.to_string()).is_some() {
                return Err("id= is given twice".into());
            }
        }
    }
    id.ok_or_else(|| "it has no id=".into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Enforce,
    Testing,
    None,
}

/// A parsed policy (§3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    pub max_age: u64,
    pub mx: Vec<String>,
}

/// The longest max_age allowed (§3.2: 31557600 seconds, about a year).
pub const MAX_AGE: u64 = 31_557_600;

pub fn parse_policy(text: &str) -> Result<Policy, String> {
    let (mut version, mut mode, mut max_age) = (None, None, None);
    let mut mx = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some((key, value)) = line.split_once(':') else {
            return Err(format!("line {line:?} is not key: value"));
        };
        let value = value.trim();
        match key.trim() {
            "version" => version = Some(value.to_string()),
            "mode" => {
                mode = Some(match value {
                    "enforce" => Mode::Enforce,
                    "testing" => Mode::Testing,
                    "none" => Mode::None,
                    other => return Err(format!("mode {other:?} is not enforce, testing or none")),
                })
            }
            "max_age" => {
                let n: u64 = value
                    .parse()
                    .ok()
                    .filter(|n| *n <= MAX_AGE)
                    .ok_or_else(|| {
                        format!("max_age {value:?} is not a number of seconds up to {MAX_AGE}")
                    })?;
                max_age = Some(n);
            }
            "mx" => {
                let p = value.to_ascii_lowercase();
                let bare = p.strip_prefix("*.").unwrap_or(&p);
                if bare.is_empty() || bare.contains('*') || !bare.contains('.') {
                    return Err(format!(
                        "mx {value:?} is not a host name or *.domain pattern"
                    ));
                }
                mx.push(p);
            }
            // Other keys are extensions.
            _ => {}
        }
    }
    if version.as_deref() != Some("STSv1") {
        return Err("it has no version: STSv1".into());
    }
    let mode = mode.ok_or("it has no mode:")?;
    let max_age = max_age.ok_or("it has no max_age:")?;
    if mx.is_empty() && mode != Mode::None {
        return Err("it has no mx: line".into());
    }
    Ok(Policy { mode, max_age, mx })
}

/// Whether an MX host matches a policy's `mx:` pattern (§4.1: a wildcard
/// covers exactly one leftmost label).
pub fn mx_matches(pattern: &str, host: &str) -> bool {
    crate::dns::name::wildcard_match(pattern, host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_policies_of_rfc_8461() {
        assert!(is_sts("v=STSv1; id=20160831085700Z;"));
        assert_eq!(
            record_id("v=STSv1; id=20160831085700Z;").unwrap(),
            "20160831085700Z"
        );
        assert!(record_id("v=STSv1;").is_err());
        assert!(record_id("v=STSv1; id=has-dash").is_err());
        let p = parse_policy("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n").unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.max_age, 604_800);
        assert_eq!(p.mx.len(), 3);
        assert!(mx_matches("*.example.net", "mx1.example.net"));
        assert!(!mx_matches("*.example.net", "a.b.example.net"));
        assert!(!mx_matches("*.example.net", "example.net"));
        for bad in [
            "mode: enforce\nmx: a.example\nmax_age: 1",
            "version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1",
            "version: STSv1\nmode: enforce\nmax_age: 1",
            "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 99999999999",
            "version: STSv1\nmode: enforce\nmx: a.example",
            "<html>not found</html>",
        ] {
            assert!(parse_policy(bad).is_err(), "{bad}");
        }
    }
}
