//! Who may call the agent: `[agent] allow_from` (addresses and CIDR blocks) and the addresses that
//! are always let in (loopback, for local tools).
//!
//! systemd's socket is dual-stack, so an IPv4 client can arrive as `::ffff:a.b.c.d`; every rule
//! here looks at [`canonical`] addresses, so such a peer is matched as `a.b.c.d`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `::ffff:a.b.c.d` as `a.b.c.d`; every other address as it is.
pub fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// 127.0.0.1 and ::1: local tools may always call, and are never capped.
pub fn is_exempt(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => v4 == Ipv4Addr::LOCALHOST,
        IpAddr::V6(v6) => v6 == Ipv6Addr::LOCALHOST,
    }
}

/// One entry of `allow_from`: an address, or a block `address/prefix`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Net {
    base: IpAddr,
    prefix: u8,
}

impl Net {
    /// Parses `a.b.c.d`, `a.b.c.d/n`, an IPv6 address or `ipv6/n`. Host bits set in a block
    /// (`10.1.2.3/8`) are refused: such an entry is a typo more often than not.
    pub fn parse(s: &str) -> Result<Net, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let base: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IPv4 or IPv6 address or CIDR block"))?;
        let base = canonical(base);
        let max = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max && !p.starts_with('+') => n,
                _ => return Err(format!("{s:?} has a prefix length that is not 0 to {max}")),
            },
        };
        let net = Net { base, prefix };
        if net.masked(base) != base {
            return Err(format!(
                "{s:?} has bits set past its /{prefix} prefix (the block starts at {}/{prefix})",
                net.masked(base)
            ));
        }
        Ok(net)
    }

    fn masked(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(v4) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        ip.is_ipv4() == self.base.is_ipv4() && self.masked(ip) == self.base
    }
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let max = if self.base.is_ipv4() { 32 } else { 128 };
        if self.prefix == max {
            write!(f, "{}", self.base)
        } else {
            write!(f, "{}/{}", self.base, self.prefix)
        }
    }
}

/// The parsed `allow_from`: comma-separated entries, at least one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowList {
    nets: Vec<Net>,
}

impl AllowList {
    pub fn parse(s: &str) -> Result<AllowList, String> {
        let mut nets = Vec::new();
        for entry in s.split(',') {
            let entry = entry.trim();
            if entry.is_empty() {
                return Err("an entry is empty (entries are separated by single commas)".into());
            }
            nets.push(Net::parse(entry)?);
        }
        Ok(AllowList { nets })
    }

    /// Whether `ip` may call: loopback always, else any entry that contains it.
    pub fn allows(&self, ip: IpAddr) -> bool {
        is_exempt(ip) || self.nets.iter().any(|n| n.contains(ip))
    }
}

impl fmt::Display for AllowList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.nets.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{n}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_blocks_and_lists() {
        let l = AllowList::parse("192.168.1.23, 10.0.0.0/8,fd00::/16 ,2001:db8::7").unwrap();
        for yes in [
            "192.168.1.23",
            "10.255.0.1",
            "fd00:1::5",
            "2001:db8::7",
            "::ffff:10.1.2.3",
            "::ffff:192.168.1.23",
            "127.0.0.1",
            "::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(l.allows(ip(yes)), "{yes}");
        }
        for no in [
            "192.168.1.24",
            "11.0.0.1",
            "fe80::1",
            "2001:db8::8",
            "127.0.0.2",
            "::ffff:11.0.0.1",
        ] {
            assert!(!l.allows(ip(no)), "{no}");
        }
        assert_eq!(
            l.to_string(),
            "192.168.1.23,10.0.0.0/8,fd00::/16,2001:db8::7"
        );
        let any = AllowList::parse("0.0.0.0/0,::/0").unwrap();
        assert!(any.allows(ip("8.8.8.8")) && any.allows(ip("2001:db8::1")));
        assert!(AllowList::parse("::ffff:10.0.0.1")
            .unwrap()
            .allows(ip("10.0.0.1")));
    }

    #[test]
    fn bad_entries_say_what_is_wrong() {
        for (bad, says) in [
            ("", "empty"),
            ("10.0.0.1,,10.0.0.2", "empty"),
            ("10.0.0.1,", "empty"),
            ("host.example", "not an IPv4 or IPv6 address"),
            ("10.0.0.0/33", "prefix length that is not 0 to 32"),
            ("10.0.0.0/-1", "prefix length"),
            ("10.0.0.0/+8", "prefix length"),
            ("fd00::/129", "not 0 to 128"),
            ("10.1.2.3/8", "the block starts at 10.0.0.0/8"),
            ("10.0.0.0 /8", "not an IPv4"),
            ("10.0.0.1 10.0.0.2", "not an IPv4"),
        ] {
            let e = AllowList::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }

    #[test]
    fn only_loopback_is_exempt() {
        assert!(is_exempt(ip("127.0.0.1")));
        assert!(is_exempt(ip("::1")));
        assert!(is_exempt(ip("::ffff:127.0.0.1")));
        assert!(!is_exempt(ip("127.0.0.2")));
        assert!(!is_exempt(ip("10.0.0.1")));
    }
}
