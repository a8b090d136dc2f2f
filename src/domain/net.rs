//! Client addresses: which address a request came from when reverse proxies stand in between,
//! and the key under which an address is throttled and recognised (an IPv6 client by its /64).

use std::net::{IpAddr, Ipv6Addr};

/// An address or a network (`10.0.0.0/8`, `fd00::/8`, or a single `127.0.0.1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpRange {
    net: IpAddr,
    prefix: u8,
}

impl IpRange {
    /// Parses `addr` or `addr/prefix`, saying what is wrong otherwise.
    pub fn parse(text: &str) -> Result<IpRange, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let net: IpAddr = addr.parse().map_err(|_| format!("`{text}` is not an IP address or a network such as 10.0.0.0/8"))?;
        let net = net.to_canonical();
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(p) if p <= max => p,
                _ => return Err(format!("`{text}`: the prefix length must be between 0 and {max}")),
            },
        };
        Ok(IpRange { net, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                masked(u32::from(n) as u128, self.prefix, 32) == masked(u32::from(a) as u128, self.prefix, 32)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => masked(u128::from(n), self.prefix, 128) == masked(u128::from(a), self.prefix, 128),
            _ => false,
        }
    }
}

fn masked(bits: u128, prefix: u8, width: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        bits >> (width - prefix)
    }
}

/// The address a request came from. The TCP peer, unless the peer is one of `trusted` proxies:
/// then `X-Forwarded-For` (every value of the header, in order) is read from the right, skipping
/// the trusted proxies, and the first address that is not one is the client. Entries to its left
/// were written by the client itself and are never believed. An entry that is not an address
/// stops the walk at the last trusted hop, which is then taken as the client.
pub fn client_address<'a>(peer: Option<IpAddr>, forwarded_for: impl IntoIterator<Item = &'a str>, trusted: &[IpRange]) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|r| r.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let hops: Vec<&str> = forwarded_for.into_iter().flat_map(|v| v.split(',')).map(str::trim).filter(|h| !h.is_empty()).collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else { break };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    Some(client)
}

/// One entry of `X-Forwarded-For`: an address, possibly with a port (`1.2.3.4:5678`, `[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sock) = hop.parse::<std::net::SocketAddr>() {
        return Some(sock.ip().to_canonical());
    }
    None
}

/// The key an address is throttled and recognised under: an IPv4 address as it is; an IPv6
/// address by its /64 network, the block one subscriber usually holds and within which privacy
/// extensions rotate the address (so that neither an attacker nor a phone changes identity by
/// changing the low bits). `None` (no peer address, e.g. a Unix socket) is one key of its own.
pub fn address_key(ip: Option<IpAddr>) -> String {
    match ip.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let net = Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1));
            format!("{net}/64")
        }
        None => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_parse_and_match() {
        let r = IpRange::parse("10.0.0.0/8").unwrap();
        assert!(r.contains(ip("10.200.1.1")));
        assert!(!r.contains(ip("11.0.0.1")));
        assert!(r.contains(ip("::ffff:10.1.2.3")), "an IPv4-mapped address is the IPv4 address");
        assert!(IpRange::parse("127.0.0.1").unwrap().contains(ip("127.0.0.1")));
        assert!(!IpRange::parse("127.0.0.1").unwrap().contains(ip("127.0.0.2")));
        assert!(IpRange::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(IpRange::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(IpRange::parse("10.0.0.0/33").unwrap_err().contains("prefix"));
        assert!(IpRange::parse("proxy.local").unwrap_err().contains("not an IP address"));
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let trusted = [IpRange::parse("10.0.0.0/8").unwrap()];
        let peer = Some(ip("10.0.0.2"));
        // The peer itself is the client unless it is trusted.
        assert_eq!(client_address(Some(ip("203.0.113.9")), ["198.51.100.1"], &trusted), Some(ip("203.0.113.9")));
        assert_eq!(client_address(peer, ["198.51.100.1"], &[]), peer);
        // Through a trusted proxy: the right-most address that is not a proxy.
        assert_eq!(client_address(peer, ["198.51.100.1"], &trusted), Some(ip("198.51.100.1")));
        // What the client wrote on the left is ignored; proxies in the chain are skipped.
        assert_eq!(client_address(peer, ["1.1.1.1, 198.51.100.1, 10.0.0.7"], &trusted), Some(ip("198.51.100.1")));
        assert_eq!(client_address(peer, ["1.1.1.1", "198.51.100.1"], &trusted), Some(ip("198.51.100.1")), "several header lines");
        // No header, or garbage: the last trusted hop.
        assert_eq!(client_address(peer, [], &trusted), peer);
        assert_eq!(client_address(peer, ["1.1.1.1, garbage"], &trusted), peer);
        assert_eq!(client_address(peer, ["198.51.100.1:4711"], &trusted), Some(ip("198.51.100.1")));
        assert_eq!(client_address(None, ["198.51.100.1"], &trusted), None);
    }

    #[test]
    fn an_ipv6_client_is_known_by_its_64_network() {
        assert_eq!(address_key(Some(ip("2001:db8:1:2:aaaa::1"))), "2001:db8:1:2::/64");
        assert_eq!(address_key(Some(ip("2001:db8:1:2:bbbb::9"))), address_key(Some(ip("2001:db8:1:2::5"))));
        assert_ne!(address_key(Some(ip("2001:db8:1:3::1"))), address_key(Some(ip("2001:db8:1:2::1"))));
        assert_eq!(address_key(Some(ip("::ffff:192.0.2.7"))), "192.0.2.7");
        assert_eq!(address_key(None), "unknown");
    }
}
