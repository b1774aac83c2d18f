//! Which addresses mailaudit may connect to: the SMTP probe and the HTTPS
//! fetches ask [`Reach::refuses`] of every address before they connect.
//!
//! From the command line everything may be reached (the user names their
//! own servers, often on a private network). A service whose requests come
//! from strangers reaches only public addresses (`Reach::Public`): a web
//! user must not be able to make it connect to the machine itself, the
//! network behind it or a cloud's metadata service by pointing an MX or
//! `mta-sts.` name there. Addresses are checked after our own resolver has
//! answered and connections go to exactly those addresses, so a name that
//! resolves once to a public address and then to a private one (DNS
//! rebinding) gains nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Which addresses may be connected to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Reach {
    /// Any address (the command line; `serve --allow-private`).
    #[default]
    Any,
    /// Only globally routable unicast addresses (`serve`).
    Public,
}

impl Reach {
    /// Why `ip` may not be connected to, said so a report reader knows
    /// what was not done and who can change it; `None` when it may.
    pub fn refuses(self, ip: IpAddr) -> Option<String> {
        match self {
            Reach::Any => None,
            Reach::Public => internal(ip).map(|what| {
                format!(
                    "{ip} is {what}, and this server connects only to public addresses (its operator can allow others)"
                )
            }),
        }
    }
}

/// What kind of non-public address `ip` is (`"a loopback address"`), or
/// `None` for a globally routable unicast address. IPv4 addresses inside
/// IPv6 (mapped, NAT64, 6to4) are judged by the IPv4 address.
pub fn internal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

/// Cloud metadata services: named apart because they hand out credentials.
const METADATA_V4: [Ipv4Addr; 3] = [
    Ipv4Addr::new(169, 254, 169, 254), // AWS, GCP, Azure, OpenStack, …
    Ipv4Addr::new(169, 254, 170, 2),   // AWS ECS task metadata
    Ipv4Addr::new(100, 100, 100, 200), // Alibaba Cloud
];
const METADATA_V6: [Ipv6Addr; 1] = [Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)];

/// Non-public IPv4 ranges (RFC 6890 and its updates), most specific
/// first where they nest.
const RANGES_V4: &[([u8; 4], u8, &str)] = &[
    ([0, 0, 0, 0], 8, "a \"this network\" address (RFC 791)"),
    ([10, 0, 0, 0], 8, "a private address (RFC 1918)"),
    (
        [100, 64, 0, 0],
        10,
        "a shared address of a provider's NAT (RFC 6598)",
    ),
    ([127, 0, 0, 0], 8, "a loopback address"),
    ([169, 254, 0, 0], 16, "a link-local address"),
    ([172, 16, 0, 0], 12, "a private address (RFC 1918)"),
    ([192, 0, 0, 0], 24, "an IETF protocol address (RFC 6890)"),
    ([192, 0, 2, 0], 24, "a documentation address (RFC 5737)"),
    ([192, 88, 99, 0], 24, "a 6to4 relay address (RFC 7526)"),
    ([192, 168, 0, 0], 16, "a private address (RFC 1918)"),
    ([198, 18, 0, 0], 15, "a benchmarking address (RFC 2544)"),
    ([198, 51, 100, 0], 24, "a documentation address (RFC 5737)"),
    ([203, 0, 113, 0], 24, "a documentation address (RFC 5737)"),
    ([224, 0, 0, 0], 4, "a multicast address"),
    ([240, 0, 0, 0], 4, "a reserved address (RFC 1112)"),
];

fn internal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    if METADATA_V4.contains(&ip) {
        return Some("a cloud metadata service address");
    }
    let bits = u32::from(ip);
    RANGES_V4
        .iter()
        .find(|(net, len, _)| {
            let mask = u32::MAX << (32 - u32::from(*len));
            bits & mask == u32::from_be_bytes(*net)
        })
        .map(|(_, _, what)| *what)
}

/// Non-public IPv6 ranges (RFC 6890, RFC 4291), as (prefix, length).
const RANGES_V6: &[(u128, u8, &str)] = &[
    (0, 128, "the unspecified address"),
    (1, 128, "a loopback address"),
    (
        0x0100_0000_0000_0000_0000_0000_0000_0000,
        64,
        "a discard-only address (RFC 6666)",
    ),
    (
        0x0064_ff9b_0001_0000_0000_0000_0000_0000,
        48,
        "a local NAT64 address (RFC 8215)",
    ),
    (
        0x2001_0000_0000_0000_0000_0000_0000_0000,
        32,
        "a Teredo tunnel address (RFC 4380)",
    ),
    (
        0x2001_0db8_0000_0000_0000_0000_0000_0000,
        32,
        "a documentation address (RFC 3849)",
    ),
    (
        0xfc00_0000_0000_0000_0000_0000_0000_0000,
        7,
        "a unique local (private) address (RFC 4193)",
    ),
    (
        0xfe80_0000_0000_0000_0000_0000_0000_0000,
        10,
        "a link-local address",
    ),
    (
        0xfec0_0000_0000_0000_0000_0000_0000_0000,
        10,
        "a site-local address (deprecated, RFC 3879)",
    ),
    (
        0xff00_0000_0000_0000_0000_0000_0000_0000,
        8,
        "a multicast address",
    ),
];

fn internal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if METADATA_V6.contains(&ip) {
        return Some("a cloud metadata service address");
    }
    let bits = u128::from(ip);
    let within = |prefix: u128, len: u8| {
        let mask = if len == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(len))
        };
        bits & mask == prefix
    };
    // IPv4 inside IPv6: ::ffff:a.b.c.d (mapped), 64:ff9b::a.b.c.d (NAT64,
    // RFC 6052), 2002:AABB:CCDD::/48 (6to4): the IPv4 address decides.
    let embedded = if within(0xffff_0000_0000, 96) || within(0x0064_ff9b << 96, 96) {
        Some(Ipv4Addr::from(bits as u32))
    } else if within(0x2002 << 112, 16) {
        Some(Ipv4Addr::from((bits >> 80) as u32))
    } else if within(0, 96) && bits > 1 {
        // The deprecated IPv4-compatible form (RFC 4291 §2.5.5.1).
        return Some("an IPv4-compatible address (deprecated, RFC 4291)");
    } else {
        None
    };
    if let Some(v4) = embedded {
        return internal_v4(v4);
    }
    RANGES_V6
        .iter()
        .find(|(prefix, len, _)| within(*prefix, *len))
        .map(|(_, _, what)| *what)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(ip: &str) -> Option<&'static str> {
        internal(ip.parse().unwrap())
    }

    #[test]
    fn public_addresses_may_be_reached() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.0",
            "172.32.0.1",
            "192.0.3.1",
            "198.20.0.1",
            "223.255.255.255",
            "2a00:1450:4001:80b::200e",
            "2606:4700::1111",
            "64:ff9b::808:808",
            "::ffff:8.8.8.8",
            "2002:808:808::1",
        ] {
            assert_eq!(kind(ip), None, "{ip}");
            assert_eq!(Reach::Public.refuses(ip.parse().unwrap()), None, "{ip}");
        }
    }

    #[test]
    fn internal_addresses_are_named() {
        for (ip, what) in [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("::1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("fd12:3456::1", "unique local"),
            ("169.254.1.1", "link-local"),
            ("fe80::1", "link-local"),
            ("169.254.169.254", "metadata"),
            ("169.254.170.2", "metadata"),
            ("100.100.100.200", "metadata"),
            ("fd00:ec2::254", "metadata"),
            ("100.64.0.1", "shared"),
            ("0.0.0.0", "this network"),
            ("::", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("ff02::1", "multicast"),
            ("255.255.255.255", "reserved"),
            ("192.0.2.7", "documentation"),
            ("2001:db8::1", "documentation"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "metadata"),
            ("64:ff9b::a00:1", "private"),
            ("2002:a00:1::1", "private"),
            ("2001::1", "Teredo"),
            ("::127.0.0.1", "IPv4-compatible"),
        ] {
            let got = kind(ip).unwrap_or_else(|| panic!("{ip} is internal"));
            assert!(got.contains(what), "{ip}: {got}");
        }
    }

    #[test]
    fn the_command_line_reaches_everything() {
        assert_eq!(Reach::Any.refuses("127.0.0.1".parse().unwrap()), None);
        let why = Reach::Public
            .refuses("10.0.0.5".parse().unwrap())
            .expect("refused");
        assert!(why.contains("10.0.0.5 is a private address"), "{why}");
    }
}
