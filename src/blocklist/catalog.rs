//! The blocklist catalogue (`rules/dnsbl.toml`): what each list is, what
//! its answers mean, and how to judge an answer.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::rules::source::{RulesError, Source};

const CATALOG_TOML: &str = include_str!("../../rules/dnsbl.toml");

/// What a list lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Ip4,
    Ip6,
    Domain,
}

/// How much a listing matters; sets the severity of `dnsbl.listed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Major,
    Minor,
    Informational,
    Allowlist,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListStatus {
    #[default]
    Active,
    Dead,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Requires {
    Registration,
    Key,
}

/// Which RFC 5782 §5 test entries a list honours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TestMode {
    #[default]
    Rfc5782,
    NegativeOnly,
    PositiveOnly,
}

/// What an answer code means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    #[default]
    Listed,
    Good,
    Neutral,
    Error,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeEntry {
    code: String,
    #[serde(default)]
    class: Class,
    sublist: Option<String>,
    meaning: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct BitEntry {
    bit: u8,
    #[serde(default)]
    class: Class,
    sublist: Option<String>,
    meaning: String,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListEntry {
    zone: String,
    name: String,
    operator: String,
    kinds: Vec<Kind>,
    tier: Tier,
    #[serde(default)]
    status: ListStatus,
    dead_since: Option<String>,
    #[serde(default = "yes")]
    default: bool,
    requires: Option<Requires>,
    #[serde(default)]
    test: TestMode,
    #[serde(default)]
    bitmask: bool,
    usage: Option<String>,
    delist_url: Option<String>,
    note: Option<String>,
    source: Option<String>,
    key: Option<String>,
    replaces: Option<String>,
    #[serde(default)]
    codes: Vec<CodeEntry>,
    #[serde(default)]
    bits: Vec<BitEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PublicResolverEntry {
    address: IpAddr,
    operator: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    /// When the facts were last checked (YYYY-MM-DD), shown in reports.
    updated: Option<String>,
    #[serde(default)]
    public_resolver: Vec<PublicResolverEntry>,
    #[serde(default)]
    list: Vec<ListEntry>,
}

/// One answer code (or range) and its meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    pub low: Ipv4Addr,
    pub high: Ipv4Addr,
    /// Octets written `*` in the code (`127.0.*.255`): any value there
    /// matches (bit i set: octet i).
    pub any: u8,
    pub class: Class,
    pub sublist: Option<String>,
    pub meaning: String,
}

/// One bit of a bitmask list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bit {
    pub value: u8,
    pub class: Class,
    pub sublist: Option<String>,
    pub meaning: String,
}

/// A blocklist, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct List {
    pub zone: String,
    pub name: String,
    pub operator: String,
    pub kinds: Vec<Kind>,
    pub tier: Tier,
    pub status: ListStatus,
    pub dead_since: Option<String>,
    pub default: bool,
    pub requires: Option<Requires>,
    pub test: TestMode,
    pub bitmask: bool,
    pub usage: Option<String>,
    pub delist_url: Option<String>,
    pub note: Option<String>,
    /// Where its facts come from.
    pub source: Option<String>,
    /// The name of the account key its query names carry
    /// (`<subject>.<key>.<zone>`), e.g. `spamhaus-dqs`; never shown.
    pub key: Option<String>,
    /// The zone it stands in for when it can be asked (a DQS zone for the
    /// public one): that zone is then not asked by default.
    pub replaces: Option<String>,
    pub codes: Vec<Code>,
    pub bits: Vec<Bit>,
    /// From `--dnsbl ZONE` without a catalogue entry: RFC 5782 generic
    /// semantics, kinds found out by the test entries.
    pub generic: bool,
}

/// How one answer reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    Listed {
        sublists: Vec<String>,
        meanings: Vec<String>,
    },
    Good(String),
    Neutral(String),
    /// Not an answer about the subject: a refusal, an error code, or an
    /// address outside 127.0.0.0/8.
    Error(String),
}

impl List {
    /// An entry for a zone the catalogue does not know (RFC 5782: any
    /// answer in 127.0.0.0/8 is a listing).
    pub fn generic(zone: &str) -> List {
        List {
            zone: zone.to_string(),
            name: zone.to_string(),
            operator: "unknown (not in the catalogue)".into(),
            kinds: vec![Kind::Ip4, Kind::Ip6, Kind::Domain],
            tier: Tier::Major,
            status: ListStatus::Active,
            dead_since: None,
            default: true,
            requires: None,
            test: TestMode::Rfc5782,
            bitmask: false,
            usage: None,
            delist_url: None,
            note: Some("Not in the catalogue: read with RFC 5782 generic semantics.".into()),
            source: None,
            key: None,
            replaces: None,
            codes: Vec::new(),
            bits: Vec::new(),
            generic: true,
        }
    }

    pub fn accepts(&self, kind: Kind) -> bool {
        self.kinds.contains(&kind)
    }

    /// Reads the A records of one answer. Several records are read
    /// together: any error makes the whole answer an error (never a
    /// listing), any listing makes it a listing.
    pub fn read(&self, answers: &[Ipv4Addr]) -> Reading {
        let mut errors = Vec::new();
        let mut listed_subs = Vec::new();
        let mut listed_meanings = Vec::new();
        let mut good = None;
        let mut neutral = None;
        for &a in answers {
            for (class, sublist, meaning) in self.read_one(a) {
                match class {
                    Class::Error => errors.push(meaning),
                    Class::Listed => {
                        if let Some(s) = sublist
                            && !listed_subs.contains(&s)
                        {
                            listed_subs.push(s);
                        }
                        if !listed_meanings.contains(&meaning) {
                            listed_meanings.push(meaning);
                        }
                    }
                    Class::Good => good = Some(meaning),
                    Class::Neutral => neutral = Some(meaning),
                }
            }
        }
        if !errors.is_empty() {
            Reading::Error(errors.join("; "))
        } else if !listed_meanings.is_empty() {
            Reading::Listed {
                sublists: listed_subs,
                meanings: listed_meanings,
            }
        } else if let Some(g) = good {
            Reading::Good(g)
        } else if let Some(n) = neutral {
            Reading::Neutral(n)
        } else {
            Reading::Error("empty answer".into())
        }
    }

    fn read_one(&self, a: Ipv4Addr) -> Vec<(Class, Option<String>, String)> {
        let o = a.octets();
        if o[0] != 127 {
            return vec![(
                Class::Error,
                None,
                format!(
                    "answer {a} is outside 127.0.0.0/8: the resolver rewrites NXDOMAIN (a redirecting ISP or filtering resolver), or the list is broken"
                ),
            )];
        }
        if self.bitmask {
            if o[1] != 0 || o[2] != 0 || o[3] == 0 {
                return vec![(
                    Class::Error,
                    None,
                    format!("answer {a} is not a bitmask code of this list"),
                )];
            }
            let mut out = Vec::new();
            for bit in (0..8).map(|b| 1u8 << b).filter(|b| o[3] & b != 0) {
                match self.bits.iter().find(|x| x.value == bit) {
                    Some(b) => out.push((b.class, b.sublist.clone(), b.meaning.clone())),
                    None => out.push((
                        Class::Listed,
                        None,
                        format!("listed (bit {bit} of code {a})"),
                    )),
                }
            }
            return out;
        }
        match self.codes.iter().find(|c| c.matches(a)) {
            Some(c) => vec![(c.class, c.sublist.clone(), c.meaning.clone())],
            // RFC 5782 generic semantics, for codes the catalogue does not
            // name: 127.0.0.1 is the negative test entry's address, never a
            // listing (§5), and 127.255.255.0/24 is where lists put their
            // errors and refusals (Spamhaus' 127.255.255.252-255, others).
            None if a == Ipv4Addr::new(127, 0, 0, 1) => vec![(
                Class::Error,
                None,
                format!(
                    "answer {a} is not a listing code (RFC 5782 §5 keeps 127.0.0.1 unlisted): an error of the list"
                ),
            )],
            None if o[1] == 255 && o[2] == 255 => vec![(
                Class::Error,
                None,
                format!(
                    "answer {a} is in 127.255.255.0/24, where lists answer errors and refusals, not listings"
                ),
            )],
            None => vec![(Class::Listed, None, format!("listed (code {a})"))],
        }
    }
}

impl Code {
    /// Whether answer `a` is this code: within its range, the octets
    /// written `*` taking any value.
    pub fn matches(&self, a: Ipv4Addr) -> bool {
        let mut o = a.octets();
        let low = self.low.octets();
        for (i, octet) in o.iter_mut().enumerate() {
            if self.any & (1 << i) != 0 {
                *octet = low[i];
            }
        }
        let a = Ipv4Addr::from(o);
        self.low <= a && a <= self.high
    }
}

/// A well-known public resolver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicResolver {
    pub address: IpAddr,
    pub operator: String,
}

/// The validated catalogue.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub lists: Vec<List>,
    pub public_resolvers: Vec<PublicResolver>,
    /// Where it was read from: a path, or "(built-in) rules/dnsbl.toml".
    pub source: String,
    /// The date its facts were last checked, when the file says.
    pub updated: Option<String>,
}

impl Catalog {
    pub fn embedded() -> Catalog {
        Catalog::load(None, None).expect("the embedded catalogue is valid (tested)")
    }

    /// The catalogue from `file`, else `dir/dnsbl.toml`, else the built-in
    /// one.
    pub fn load(file: Option<&Path>, dir: Option<&Path>) -> Result<Catalog, RulesError> {
        let src = match file {
            Some(path) => {
                let shown = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|e| RulesError::File {
                    path: shown.clone(),
                    message: e.to_string(),
                })?;
                Source { path: shown, text }
            }
            None => Source::pick(dir, "dnsbl.toml", CATALOG_TOML)?,
        };
        Catalog::parse(&src)
    }

    fn parse(src: &Source) -> Result<Catalog, RulesError> {
        let file: CatalogFile = src.toml()?;
        if let Some(date) = &file.updated {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            time::Date::parse(date, &format)
                .map_err(|_| src.error(format!("updated = {date:?}: not a date YYYY-MM-DD")))?;
        }
        let mut lists = Vec::new();
        for e in file.list {
            let list = validate(e).map_err(|m| src.error(m))?;
            if lists.iter().any(|l: &List| l.zone == list.zone) {
                return Err(src.error(format!("zone {} appears twice", list.zone)));
            }
            lists.push(list);
        }
        for l in &lists {
            if let Some(r) = &l.replaces
                && !lists.iter().any(|o| &o.zone == r && o.zone != l.zone)
            {
                return Err(src.error(format!(
                    "list {}: replaces = {r:?}, which is not another list of the catalogue",
                    l.zone
                )));
            }
        }
        Ok(Catalog {
            lists,
            source: src.path.clone(),
            updated: file.updated,
            public_resolvers: file
                .public_resolver
                .into_iter()
                .map(|p| PublicResolver {
                    address: p.address,
                    operator: p.operator,
                })
                .collect(),
        })
    }

    pub fn find(&self, zone: &str) -> Option<&List> {
        self.lists.iter().find(|l| l.zone == zone)
    }
}

/// A code: one address, a range `a-b`, a CIDR block, or one address with
/// `*` for octets that may take any value (`127.0.*.255`): the range and
/// the wildcard octets.
fn parse_code(code: &str) -> Result<(Ipv4Addr, Ipv4Addr, u8), String> {
    if code.contains('*') {
        let parts: Vec<&str> = code.trim().split('.').collect();
        if parts.len() != 4 {
            return Err(format!(
                "code {code:?} is not an IPv4 address with * octets"
            ));
        }
        let mut octets = [0u8; 4];
        let mut any = 0u8;
        for (i, p) in parts.iter().enumerate() {
            if *p == "*" {
                any |= 1 << i;
            } else {
                octets[i] = p
                    .parse()
                    .map_err(|_| format!("code {code:?}: {p:?} is not an octet or *"))?;
            }
        }
        if any & 1 != 0 || octets[0] != 127 {
            return Err(format!("code {code:?} is outside 127.0.0.0/8"));
        }
        let a = Ipv4Addr::from(octets);
        return Ok((a, a, any));
    }
    let ip = |s: &str| -> Result<Ipv4Addr, String> {
        s.trim()
            .parse()
            .map_err(|_| format!("code {code:?}: {s:?} is not an IPv4 address"))
    };
    let (low, high) = if let Some((net, len)) = code.split_once('/') {
        let net: ipnet::Ipv4Net = format!("{}/{}", net.trim(), len.trim())
            .parse()
            .map_err(|_| format!("code {code:?} is not a valid range"))?;
        (net.network(), net.broadcast())
    } else if let Some((a, b)) = code.split_once('-') {
        (ip(a)?, ip(b)?)
    } else {
        let a = ip(code)?;
        (a, a)
    };
    if low > high {
        return Err(format!("code {code:?}: the range is reversed"));
    }
    if low.octets()[0] != 127 || high.octets()[0] != 127 {
        return Err(format!("code {code:?} is outside 127.0.0.0/8"));
    }
    Ok((low, high, 0))
}

fn validate(e: ListEntry) -> Result<List, String> {
    let zone = crate::dns::name::normalize_domain(&e.zone)
        .map_err(|err| format!("list {:?}: the zone {err}", e.zone))?;
    if !zone.contains('.') {
        return Err(format!(
            "list {zone}: the zone must have at least two labels"
        ));
    }
    let at = |m: String| format!("list {zone}: {m}");
    if e.name.trim().is_empty() || e.operator.trim().is_empty() {
        return Err(at("name and operator must not be empty".into()));
    }
    if e.kinds.is_empty() {
        return Err(at("kinds must name at least one of ip4, ip6, domain".into()));
    }
    if e.status == ListStatus::Dead && e.dead_since.is_none() {
        return Err(at("a dead list needs dead_since".into()));
    }
    if let Some(url) = &e.delist_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(at(format!("delist_url {url:?} is not an http(s) URL")));
    }
    if e.key.is_some() && e.requires != Some(Requires::Key) {
        return Err(at(
            "a list whose query names carry a key needs requires = \"key\"".into(),
        ));
    }
    if let Some(k) = &e.key
        && (k.is_empty() || !k.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
    {
        return Err(at(format!("key {k:?} must be a name (a-z and -)")));
    }
    if e.bitmask && !e.codes.is_empty() {
        return Err(at("a bitmask list takes bits, not codes".into()));
    }
    if !e.bitmask && !e.bits.is_empty() {
        return Err(at("bits need bitmask = true".into()));
    }
    let mut codes = Vec::new();
    for c in &e.codes {
        let (low, high, any) = parse_code(&c.code).map_err(at)?;
        codes.push(Code {
            low,
            high,
            any,
            class: c.class,
            sublist: c.sublist.clone(),
            meaning: c.meaning.clone(),
        });
    }
    let mut bits = Vec::new();
    for b in &e.bits {
        if !b.bit.is_power_of_two() {
            return Err(at(format!("bit {} is not a power of two", b.bit)));
        }
        bits.push(Bit {
            value: b.bit,
            class: b.class,
            sublist: b.sublist.clone(),
            meaning: b.meaning.clone(),
        });
    }
    Ok(List {
        zone,
        name: e.name,
        operator: e.operator,
        kinds: e.kinds,
        tier: e.tier,
        status: e.status,
        dead_since: e.dead_since,
        default: e.default,
        requires: e.requires,
        test: e.test,
        bitmask: e.bitmask,
        usage: e.usage,
        delist_url: e.delist_url,
        note: e.note,
        source: e.source,
        key: e.key,
        replaces: e.replaces,
        codes,
        bits,
        generic: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_lists_read_error_codes_as_errors() {
        let l = List::generic("bl.example");
        for code in [[127, 0, 0, 1], [127, 255, 255, 254], [127, 255, 255, 0]] {
            assert!(
                matches!(l.read(&[Ipv4Addr::from(code)]), Reading::Error(_)),
                "{code:?}"
            );
        }
        assert!(matches!(
            l.read(&[Ipv4Addr::new(127, 0, 0, 2)]),
            Reading::Listed { .. }
        ));
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn shipped_catalogue_is_well_formed() {
        let cat = Catalog::embedded();
        let live: Vec<&List> = cat
            .lists
            .iter()
            .filter(|l| l.status == ListStatus::Active)
            .collect();
        assert!(live.len() >= 50, "{} live lists", live.len());
        for l in &cat.lists {
            assert!(
                crate::dns::name::normalize_domain(&l.zone).is_ok(),
                "{}",
                l.zone
            );
            for c in &l.codes {
                assert_eq!(c.low.octets()[0], 127, "{}", l.zone);
                assert_eq!(c.high.octets()[0], 127, "{}", l.zone);
            }
            if l.status == ListStatus::Active && l.default {
                assert!(l.usage.is_some(), "{} has no usage terms", l.zone);
            }
            if let Some(u) = &l.delist_url {
                assert!(u.starts_with("http"), "{}", l.zone);
            }
        }
        assert!(
            cat.lists
                .iter()
                .any(|l| l.status == ListStatus::Dead && l.zone == "dnsbl.sorbs.net")
        );
        assert!(
            cat.public_resolvers
                .iter()
                .any(|p| p.address == "8.8.8.8".parse::<IpAddr>().unwrap())
        );
    }

    #[test]
    fn spamhaus_refusals_are_errors() {
        let cat = Catalog::embedded();
        let zen = cat.find("zen.spamhaus.org").unwrap();
        assert!(
            matches!(zen.read(&[ip("127.255.255.254")]), Reading::Error(m) if m.contains("public"))
        );
        assert!(matches!(
            zen.read(&[ip("127.255.255.17")]),
            Reading::Error(_)
        ));
        match zen.read(&[ip("127.0.0.2"), ip("127.0.0.4"), ip("127.0.0.10")]) {
            Reading::Listed { sublists, .. } => assert_eq!(sublists, ["SBL", "XBL", "PBL"]),
            other => panic!("{other:?}"),
        }
        // A refusal beside a listing code still makes the answer unusable.
        assert!(matches!(
            zen.read(&[ip("127.0.0.2"), ip("127.255.255.254")]),
            Reading::Error(_)
        ));
    }

    #[test]
    fn bitmask_lists_decode_into_sublists() {
        let cat = Catalog::embedded();
        let surbl = cat.find("multi.surbl.org").unwrap();
        match surbl.read(&[ip("127.0.0.24")]) {
            Reading::Listed { sublists, .. } => assert_eq!(sublists, ["PH", "MW"]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(surbl.read(&[ip("127.0.0.1")]), Reading::Error(_)));
        assert!(matches!(surbl.read(&[ip("127.0.0.9")]), Reading::Error(_)));
        let uribl = cat.find("multi.uribl.com").unwrap();
        assert!(
            matches!(uribl.read(&[ip("127.0.0.1")]), Reading::Error(m) if m.contains("refused"))
        );
        match uribl.read(&[ip("127.0.0.14")]) {
            Reading::Listed { sublists, .. } => assert_eq!(sublists, ["BLACK", "GREY", "RED"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn mixed_lists_have_good_codes() {
        let cat = Catalog::embedded();
        let hk = cat.find("hostkarma.junkemailfilter.com").unwrap();
        assert!(matches!(hk.read(&[ip("127.0.0.1")]), Reading::Good(_)));
        assert!(matches!(hk.read(&[ip("127.0.0.3")]), Reading::Neutral(_)));
        assert!(matches!(
            hk.read(&[ip("127.0.0.2")]),
            Reading::Listed { .. }
        ));
        let dnswl = cat.find("list.dnswl.org").unwrap();
        assert!(matches!(dnswl.read(&[ip("127.0.15.2")]), Reading::Good(_)));
        assert!(matches!(
            dnswl.read(&[ip("127.0.0.255")]),
            Reading::Error(_)
        ));
    }

    #[test]
    fn answers_outside_loopback_are_errors() {
        let g = List::generic("bl.example.net");
        assert!(
            matches!(g.read(&[ip("10.0.0.1")]), Reading::Error(m) if m.contains("outside 127.0.0.0/8"))
        );
        assert!(matches!(g.read(&[ip("127.0.0.5")]), Reading::Listed { .. }));
    }

    #[test]
    fn bad_catalogues_are_refused() {
        for (text, needle) in [
            (
                "[[list]]\nzone = \"x.example\"\nname = \"x\"\noperator = \"o\"\nkinds = [\"ip4\"]\ntier = \"major\"\n[[list.codes]]\ncode = \"10.0.0.2\"\nmeaning = \"m\"\n",
                "outside 127.0.0.0/8",
            ),
            (
                "[[list]]\nzone = \"x.example\"\nname = \"x\"\noperator = \"o\"\nkinds = [\"ip4\"]\ntier = \"huge\"\n",
                "huge",
            ),
            (
                "[[list]]\nzone = \"x.example\"\nname = \"x\"\noperator = \"o\"\nkinds = [\"ip4\"]\ntier = \"major\"\ndelist_url = \"ftp://x\"\n",
                "http",
            ),
            (
                "[[list]]\nzone = \"bad zone\"\nname = \"x\"\noperator = \"o\"\nkinds = [\"ip4\"]\ntier = \"major\"\n",
                "zone",
            ),
            (
                "[[list]]\nzone = \"x.example\"\nname = \"x\"\noperator = \"o\"\nkinds = [\"ip4\"]\ntier = \"major\"\nstatus = \"dead\"\n",
                "dead_since",
            ),
            (
                "[[list]]\nzone = \"x.example\"\nname = \"x\"\noperator = \"o\"\nkinds = [\"ip4\"]\ntier = \"major\"\ncolour = \"red\"\n",
                "colour",
            ),
        ] {
            let src = Source {
                path: "test.toml".into(),
                text: text.into(),
            };
            let e = Catalog::parse(&src).unwrap_err().to_string();
            assert!(e.contains(needle) && e.contains("test.toml"), "{e}");
        }
    }

    /// Issue 18.12 and 18.13: codes the catalogue read wrongly, against
    /// rspamd, SpamAssassin, Spamhaus' DQS configs and Haraka.
    #[test]
    fn refusals_and_neutral_codes_are_not_verdicts() {
        let cat = Catalog::embedded();
        let list = |z: &str| cat.find(z).unwrap_or_else(|| panic!("{z}"));
        let dnswl = list("list.dnswl.org");
        for refusal in [
            "127.0.0.255",
            "127.0.5.255",
            "127.0.15.255",
            "127.0.10.0",
            "127.0.10.2",
        ] {
            assert!(
                matches!(dnswl.read(&[ip(refusal)]), Reading::Error(_)),
                "{refusal}"
            );
        }
        assert!(matches!(dnswl.read(&[ip("127.0.15.3")]), Reading::Good(_)));
        assert_eq!(dnswl.test, TestMode::NegativeOnly);
        let dwl = list("dwl.dnswl.org");
        assert!(matches!(dwl.read(&[ip("127.0.3.255")]), Reading::Error(_)));
        assert!(matches!(dwl.read(&[ip("127.0.3.1")]), Reading::Good(_)));
        assert!(matches!(
            list("bl.mailspike.net").read(&[ip("127.0.0.13")]),
            Reading::Neutral(_)
        ));
        let rep = list("rep.mailspike.net");
        for n in ["127.0.0.16", "127.0.0.17"] {
            assert!(matches!(rep.read(&[ip(n)]), Reading::Neutral(_)), "{n}");
        }
        assert!(matches!(rep.read(&[ip("127.0.0.18")]), Reading::Good(_)));
        assert!(matches!(
            rep.read(&[ip("127.0.0.10")]),
            Reading::Listed { .. }
        ));
        let spfbl = list("dnsbl.spfbl.net");
        for n in ["127.0.0.3", "127.0.0.4"] {
            assert!(matches!(spfbl.read(&[ip(n)]), Reading::Neutral(_)), "{n}");
        }
        assert!(matches!(
            spfbl.read(&[ip("127.0.0.2")]),
            Reading::Listed { .. }
        ));
        let surbl = list("multi.surbl.org");
        assert!(matches!(
            surbl.read(&[ip("127.0.0.2")]),
            Reading::Neutral(_)
        ));
        match surbl.read(&[ip("127.0.0.66")]) {
            Reading::Listed { sublists, .. } => assert_eq!(sublists, ["ABUSE"]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            list("combined.mail.abusix.zone").read(&[ip("127.0.0.100")]),
            Reading::Error(_)
        ));
    }

    /// Issue 18.14 and 18.15: the DQS forms of ZEN and DBL, the retired
    /// zones as dead entries, and a source for every list.
    #[test]
    fn dqs_forms_dead_zones_and_sources() {
        let cat = Catalog::embedded();
        for (dqs, public) in [
            ("zen.dq.spamhaus.net", "zen.spamhaus.org"),
            ("dbl.dq.spamhaus.net", "dbl.spamhaus.org"),
        ] {
            let d = cat.find(dqs).unwrap();
            let p = cat.find(public).unwrap();
            assert_eq!(d.key.as_deref(), Some("spamhaus-dqs"));
            assert_eq!(d.replaces.as_deref(), Some(public));
            assert_eq!(d.codes, p.codes, "{dqs} reads as {public}");
        }
        for dead in [
            "spam.dnsbl.anonmails.de",
            "sbl.spamdown.org",
            "dnsbl.madavi.de",
            "rbl.lugh.ch",
            "dynip.rothen.com",
            "ubl.lashback.com",
            "virbl.bit.nl",
            "spamrbl.imp.ch",
            "drone.abuse.ch",
            "combined.abuse.ch",
        ] {
            assert_eq!(cat.find(dead).unwrap().status, ListStatus::Dead, "{dead}");
        }
        for l in &cat.lists {
            assert!(
                l.source.as_deref().is_some_and(|s| !s.trim().is_empty()),
                "{} cites no source",
                l.zone
            );
        }
    }

    #[test]
    fn wildcard_codes() {
        let (low, high, any) = parse_code("127.0.*.255").unwrap();
        let c = Code {
            low,
            high,
            any,
            class: Class::Error,
            sublist: None,
            meaning: String::new(),
        };
        assert!(c.matches(ip("127.0.7.255")) && c.matches(ip("127.0.0.255")));
        assert!(!c.matches(ip("127.0.7.254")) && !c.matches(ip("127.1.7.255")));
        assert!(parse_code("*.0.0.2").is_err());
        assert!(parse_code("127.0.x.2").is_err());
    }
}
