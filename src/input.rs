//! Turning command-line text into validated values. Every error names the
//! input and the problem, in one line.

use std::net::{IpAddr, SocketAddr};

use thiserror::Error;

use crate::dns::name;

/// A bad input: the run stops with exit code 2.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct InputError(pub String);

fn bad(what: &str, value: &str, problem: impl std::fmt::Display) -> InputError {
    InputError(format!("{what} {value:?}: {problem}"))
}

pub fn domain(what: &str, value: &str) -> Result<String, InputError> {
    let d = name::normalize_domain(value).map_err(|e| bad(what, value, e))?;
    if !d.contains('.') {
        return Err(bad(what, value, "is not a fully qualified domain name"));
    }
    Ok(d)
}

/// An address or a prefix: "192.0.2.1", "192.0.2.0/24", "2001:db8::/120".
pub fn ip_or_cidr(what: &str, value: &str) -> Result<ipnet::IpNet, InputError> {
    let (addr, len) = match value.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (value, None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| {
        bad(
            what,
            value,
            format!("{addr:?} is not an IPv4 or IPv6 address"),
        )
    })?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => match l.parse::<u8>() {
            Ok(n) if n <= max && !l.starts_with('+') => n,
            _ => {
                return Err(bad(
                    what,
                    value,
                    format!("prefix length {l:?} is not a number from 0 to {max}"),
                ));
            }
        },
    };
    Ok(ipnet::IpNet::new(ip, len)
        .expect("prefix length checked")
        .trunc())
}

/// Number of addresses in a prefix, saturating.
pub fn prefix_size(net: &ipnet::IpNet) -> u128 {
    let host_bits = (net.max_prefix_len() - net.prefix_len()) as u32;
    if host_bits >= 128 {
        u128::MAX
    } else {
        1u128 << host_bits
    }
}

/// Refuses prefixes that hold more than `cap` addresses in all.
/// The most addresses one input may name, and how its error says the
/// limit is raised (a flag on the command line; nothing a web user can do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressCap {
    pub max: u64,
    raise: &'static str,
}

impl AddressCap {
    /// `--max-addresses N` of the command line.
    pub fn flag(max: u64) -> AddressCap {
        AddressCap {
            max,
            raise: "; raise it with --max-addresses N",
        }
    }

    /// The limit a service sets for its requests.
    pub fn server(max: u64) -> AddressCap {
        AddressCap {
            max,
            raise: " of this server",
        }
    }
}

pub fn check_cap(
    what: &str,
    nets: &[(String, ipnet::IpNet)],
    cap: AddressCap,
) -> Result<(), InputError> {
    let total: u128 = nets
        .iter()
        .map(|(_, n)| prefix_size(n))
        .fold(0u128, |a, b| a.saturating_add(b));
    if total > cap.max as u128 {
        let biggest = nets
            .iter()
            .max_by_key(|(_, n)| prefix_size(n))
            .expect("non-empty");
        return Err(bad(
            what,
            &biggest.0,
            format!(
                "{} addresses in all, more than the limit of {}{}",
                if total == u128::MAX {
                    "2^128".to_string()
                } else {
                    total.to_string()
                },
                cap.max,
                cap.raise
            ),
        ));
    }
    Ok(())
}

/// Every address of the prefixes, in order, refusing more than `cap`.
pub fn expand(
    what: &str,
    nets: &[(String, ipnet::IpNet)],
    cap: AddressCap,
) -> Result<Vec<IpAddr>, InputError> {
    check_cap(what, nets, cap)?;
    let total: u128 = nets.iter().map(|(_, n)| prefix_size(n)).sum();
    let mut out = Vec::with_capacity(total as usize);
    for (_, net) in nets {
        match net {
            ipnet::IpNet::V4(n) => {
                let start = u32::from(n.network());
                for i in 0..prefix_size(net) as u32 {
                    out.push(IpAddr::V4(std::net::Ipv4Addr::from(start + i)));
                }
            }
            ipnet::IpNet::V6(n) => {
                let start = u128::from(n.network());
                for i in 0..prefix_size(net) {
                    out.push(IpAddr::V6(std::net::Ipv6Addr::from(start + i)));
                }
            }
        }
    }
    out.dedup();
    Ok(out)
}

/// "IP" or "IP:PORT" ("[v6]:PORT" for IPv6 with a port).
pub fn nameserver(value: &str) -> Result<SocketAddr, InputError> {
    if let Ok(ip) = value.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    value.parse::<SocketAddr>().map_err(|_| {
        bad(
            "--nameserver",
            value,
            "is not IP or IP:PORT (write IPv6 with a port as [2001:db8::1]:5353)",
        )
    })
}

/// Refuses text with control characters: nothing an MTA sends holds one.
fn no_controls(what: &str, value: &str) -> Result<(), InputError> {
    match value.chars().find(|c| c.is_control()) {
        Some(c) => Err(bad(
            what,
            value,
            format!("contains the control character {c:?}, which no SMTP client sends"),
        )),
        None => Ok(()),
    }
}

/// `--helo`: any name a client may announce, as it announces it (a
/// single label, an address literal such as `[192.0.2.1]`, a name that
/// does not resolve: what is odd about it is a finding, not a usage error).
pub fn helo(value: &str) -> Result<String, InputError> {
    no_controls("--helo", value)?;
    let v = value.trim();
    if v.is_empty() {
        return Err(bad("--helo", value, "is empty"));
    }
    Ok(v.to_string())
}

/// `--mail-from`: any RFC 5321 reverse-path, brackets optional: `<>` (the
/// null sender of bounces; SPF then checks the HELO identity),
/// `@example.net` (an empty local part, read as postmaster), an address
/// literal domain. Returned without brackets; "" for `<>`.
pub fn reverse_path(value: &str) -> Result<String, InputError> {
    no_controls("--mail-from", value)?;
    let v = value.trim();
    let inner = v
        .strip_prefix('<')
        .and_then(|x| x.strip_suffix('>'))
        .unwrap_or(v);
    match inner.rsplit_once('@') {
        // A domain we can read is normalised; any other is kept as given
        // (it is a finding for SPF, "none").
        Some((local, dom)) => Ok(match name::normalize_domain(dom) {
            Ok(d) => format!("{local}@{d}"),
            Err(_) => inner.to_string(),
        }),
        None if inner.is_empty() => Ok(String::new()),
        None => Err(bad(
            "--mail-from",
            value,
            "is not a reverse-path (local@domain, @domain, or <> for the null sender)",
        )),
    }
}

/// A DKIM selector given with `--selector`.
pub fn selector(value: &str) -> Result<String, InputError> {
    let s = value.trim().to_ascii_lowercase();
    if name::is_selector(&s) {
        Ok(s)
    } else {
        Err(bad(
            "--selector",
            value,
            "is not a valid selector (DNS labels of letters, digits, '-' and '_')",
        ))
    }
}

/// local@domain, as given to --mail-from.
pub fn mailbox(what: &str, value: &str) -> Result<String, InputError> {
    let (local, dom) = value
        .rsplit_once('@')
        .ok_or_else(|| bad(what, value, "is not an address of the form local@domain"))?;
    if local.is_empty() || local.contains(char::is_whitespace) {
        return Err(bad(what, value, "has an empty or invalid local part"));
    }
    let dom = domain(what, dom)?;
    Ok(format!("{local}@{dom}"))
}

/// A period: a number and a unit (`m`, `h`, `d`), from a minute to ten
/// years (`--retention`, `--every`, a watch's `every`).
pub fn period(s: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("{s:?} is not a period like 90d, 12h or 30m");
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let minutes = match unit {
        "m" => n,
        "h" => n.saturating_mul(60),
        "d" => n.saturating_mul(1440),
        _ => return Err(bad()),
    };
    if minutes == 0 || minutes > 3650 * 1440 {
        return Err(bad());
    }
    Ok(std::time::Duration::from_secs(minutes * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        assert!(
            ip_or_cidr("--ip", "10.0.0.0/33")
                .unwrap_err()
                .0
                .contains("prefix length \"33\"")
        );
        assert!(
            ip_or_cidr("--ip", "300.1.1.1")
                .unwrap_err()
                .0
                .contains("not an IPv4 or IPv6")
        );
        assert_eq!(
            ip_or_cidr("--ip", "192.0.2.7/24").unwrap().to_string(),
            "192.0.2.0/24"
        );
        assert_eq!(ip_or_cidr("--ip", "2001:db8::1").unwrap().prefix_len(), 128);
    }

    #[test]
    fn expansion_and_cap() {
        let nets = vec![(
            "192.0.2.0/30".to_string(),
            ip_or_cidr("--ip", "192.0.2.0/30").unwrap(),
        )];
        assert_eq!(
            expand("--ip", &nets, AddressCap::flag(10)).unwrap().len(),
            4
        );
        let big = vec![(
            "10.0.0.0/8".to_string(),
            ip_or_cidr("--ip", "10.0.0.0/8").unwrap(),
        )];
        let e = expand("--ip", &big, AddressCap::flag(4096)).unwrap_err();
        assert!(e.0.contains("16777216 addresses"), "{e}");
        assert!(
            e.0.ends_with("limit of 4096; raise it with --max-addresses N"),
            "{e}"
        );
        let e = expand("--ip", &big, AddressCap::server(256)).unwrap_err();
        assert!(e.0.ends_with("limit of 256 of this server"), "{e}");
        let huge = vec![("::/0".to_string(), ip_or_cidr("--ip", "::/0").unwrap())];
        assert!(expand("--ip", &huge, AddressCap::flag(4096)).is_err());
    }

    #[test]
    fn nameservers() {
        assert_eq!(nameserver("127.0.0.1").unwrap().port(), 53);
        assert_eq!(nameserver("127.0.0.1:5353").unwrap().port(), 5353);
        assert_eq!(nameserver("[::1]:5353").unwrap().port(), 5353);
        assert!(nameserver("localhost").is_err());
    }

    #[test]
    fn domains_and_mailboxes() {
        assert!(
            domain("domain", "exa mple..com")
                .unwrap_err()
                .0
                .starts_with("domain \"exa mple..com\"")
        );
        assert!(domain("domain", "localhost").is_err());
        assert_eq!(
            mailbox("--mail-from", "Bounce@Example.COM").unwrap(),
            "Bounce@example.com"
        );
        assert!(mailbox("--mail-from", "nobody").is_err());
        // What MTAs really send is accepted as it is.
        for h in [
            "hosed",
            "OEMCOMPUTER",
            "[192.168.218.40]",
            "mail.example.com",
        ] {
            assert_eq!(helo(h).unwrap(), h);
        }
        assert!(helo("bad\u{1b}[2Jname").is_err());
        assert_eq!(reverse_path("<>").unwrap(), "");
        assert_eq!(reverse_path("@Example.NET").unwrap(), "@example.net");
        assert_eq!(
            reverse_path("<Bounce@Example.COM>").unwrap(),
            "Bounce@example.com"
        );
        assert_eq!(reverse_path("foo@[1.2.3.5]").unwrap(), "foo@[1.2.3.5]");
        assert!(reverse_path("nobody").is_err());
        assert!(reverse_path("a\nb@example.com").is_err());
    }
}
