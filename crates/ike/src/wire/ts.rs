//! Traffic selectors (RFC 7296 3.13): the TSi and TSr payloads.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::WireError;
use super::consts::ts_type;
use super::util::{be16, fixed, len16, patch_u16};

/// One traffic selector: an IP protocol, a port range and an address
/// range. The TS type (7 for IPv4, 8 for IPv6) follows from the address
/// family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficSelector {
    /// The IP protocol (0: any).
    pub ip_protocol: u8,
    /// The first port of the range.
    pub start_port: u16,
    /// The last port of the range.
    pub end_port: u16,
    /// The first address of the range.
    pub start: IpAddr,
    /// The last address of the range (same family as `start`).
    pub end: IpAddr,
}

impl TrafficSelector {
    /// Every IPv4 address, protocol and port.
    pub fn any_v4() -> Self {
        TrafficSelector {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            end: IpAddr::V4(Ipv4Addr::BROADCAST),
        }
    }

    /// Every IPv6 address, protocol and port.
    pub fn any_v6() -> Self {
        TrafficSelector {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            end: IpAddr::V6(Ipv6Addr::from(u128::MAX)),
        }
    }

    /// A single address, any protocol and port.
    pub fn host(addr: IpAddr) -> Self {
        TrafficSelector {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start: addr,
            end: addr,
        }
    }

    /// Whether `other`'s ranges lie inside this selector's: the protocol
    /// is equal (or this one's is 0, any), the port range and the address
    /// range (of the same family) are included.
    pub fn contains(&self, other: &TrafficSelector) -> bool {
        let protocol = self.ip_protocol == 0 || self.ip_protocol == other.ip_protocol;
        let ports = self.start_port <= other.start_port && other.end_port <= self.end_port;
        let family = [self.end, other.start, other.end]
            .iter()
            .all(|a| a.is_ipv4() == self.start.is_ipv4());
        // IpAddr orders within a family numerically.
        let addrs = family && self.start <= other.start && other.end <= self.end;
        protocol && ports && addrs
    }

    /// The TS type of this selector's address family.
    pub fn ts_type(&self) -> u8 {
        match self.start {
            IpAddr::V4(_) => ts_type::IPV4_ADDR_RANGE,
            IpAddr::V6(_) => ts_type::IPV6_ADDR_RANGE,
        }
    }
}

/// Appends a TS payload body. The family of `start` decides the type; an
/// `end` of the other family (a caller's mistake) is written as `start`,
/// narrowing the selector to one address rather than widening it.
pub(crate) fn encode_ts(selectors: &[TrafficSelector], out: &mut Vec<u8>) {
    out.push(selectors.len() as u8);
    out.extend_from_slice(&[0, 0, 0]);
    for ts in selectors {
        let start = out.len();
        out.push(ts.ts_type());
        out.push(ts.ip_protocol);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&ts.start_port.to_be_bytes());
        out.extend_from_slice(&ts.end_port.to_be_bytes());
        match (ts.start, ts.end) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                out.extend_from_slice(&a.octets());
                out.extend_from_slice(&b.octets());
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                out.extend_from_slice(&a.octets());
                out.extend_from_slice(&b.octets());
            }
            (IpAddr::V4(a), IpAddr::V6(_)) => {
                out.extend_from_slice(&a.octets());
                out.extend_from_slice(&a.octets());
            }
            (IpAddr::V6(a), IpAddr::V4(_)) => {
                out.extend_from_slice(&a.octets());
                out.extend_from_slice(&a.octets());
            }
        }
        let len = len16(out.len() - start);
        patch_u16(out, start + 2, len);
    }
}

/// Parses a TS payload body (`kind` is TSI or TSR, for the errors): the
/// announced number (at least one) of selectors of type 7 or 8, filling
/// the body exactly.
pub(crate) fn decode_ts(kind: u8, body: &[u8]) -> Result<Vec<TrafficSelector>, WireError> {
    let bad = |why: String| WireError::BadPayload { kind, why };
    let (hdr, mut rest) = fixed::<4>(body, super::consts::payload_type::what(kind))?;
    let [count, _, _, _] = *hdr;
    if count == 0 {
        return Err(bad("no traffic selectors".into()));
    }
    let mut out = Vec::with_capacity(usize::from(count));
    for i in 1..=count {
        let Some((h, _)) = rest.split_first_chunk::<8>() else {
            return Err(bad(format!(
                "traffic selector {i} of {count}: {} bytes left, at least 8 needed",
                rest.len()
            )));
        };
        let [ty, ip_protocol, l0, l1, s0, s1, e0, e1] = *h;
        let len = usize::from(be16(l0, l1));
        let expected = match ty {
            ts_type::IPV4_ADDR_RANGE => 16,
            ts_type::IPV6_ADDR_RANGE => 40,
            other => {
                return Err(bad(format!(
                    "traffic selector {i}: unsupported TS type {other}"
                )));
            }
        };
        if len != expected {
            return Err(bad(format!(
                "traffic selector {i}: length {len} != {expected} for TS type {ty}"
            )));
        }
        let Some((ts, after)) = rest.split_at_checked(len) else {
            return Err(bad(format!(
                "traffic selector {i} length {len} runs past the {} bytes left",
                rest.len()
            )));
        };
        let addrs = ts.get(8..).unwrap_or_default();
        let addrs = if ty == ts_type::IPV4_ADDR_RANGE {
            pair::<4>(addrs).map(|(a, b)| (IpAddr::from(a), IpAddr::from(b)))
        } else {
            pair::<16>(addrs).map(|(a, b)| (IpAddr::from(a), IpAddr::from(b)))
        };
        let Some((start, end)) = addrs else {
            return Err(bad(format!("traffic selector {i}: addresses truncated")));
        };
        out.push(TrafficSelector {
            ip_protocol,
            start_port: be16(s0, s1),
            end_port: be16(e0, e1),
            start,
            end,
        });
        rest = after;
    }
    if !rest.is_empty() {
        return Err(bad(format!(
            "{} bytes after the {count} traffic selectors",
            rest.len()
        )));
    }
    Ok(out)
}

/// Two `N`-byte arrays from the front of `b`.
fn pair<const N: usize>(b: &[u8]) -> Option<([u8; N], [u8; N])> {
    let (a, rest) = b.split_first_chunk::<N>()?;
    let (c, _) = rest.split_first_chunk::<N>()?;
    Some((*a, *c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::consts::payload_type::{TSI, TSR};

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn net(a: &str, b: &str) -> TrafficSelector {
        TrafficSelector {
            start: v4(a),
            end: v4(b),
            ..TrafficSelector::any_v4()
        }
    }

    fn enc(ts: &[TrafficSelector]) -> Vec<u8> {
        let mut b = Vec::new();
        encode_ts(ts, &mut b);
        b
    }

    fn why(r: Result<Vec<TrafficSelector>, WireError>) -> String {
        match r {
            Err(WireError::BadPayload { why, .. }) => why,
            other => panic!("expected a bad TS payload, got {other:?}"),
        }
    }

    #[test]
    fn round_trip() {
        let tcp = TrafficSelector {
            ip_protocol: 6,
            start_port: 443,
            end_port: 443,
            start: v4("2001:db8::1"),
            end: v4("2001:db8::ffff"),
        };
        let all = vec![
            TrafficSelector::any_v4(),
            TrafficSelector::any_v6(),
            net("10.0.0.0", "10.0.0.255"),
            tcp,
            TrafficSelector::host(v4("192.0.2.7")),
        ];
        let b = enc(&all);
        assert_eq!(decode_ts(TSI, &b), Ok(all));
    }

    #[test]
    fn layout() {
        let b = enc(&[net("10.0.0.0", "10.0.0.255")]);
        assert_eq!(
            b,
            [
                1, 0, 0, 0, 7, 0, 0, 16, 0, 0, 0xff, 0xff, 10, 0, 0, 0, 10, 0, 0, 255
            ]
        );
    }

    #[test]
    fn mixed_family_encodes_narrow() {
        let odd = TrafficSelector {
            start: v4("10.0.0.1"),
            end: v4("::1"),
            ..TrafficSelector::any_v4()
        };
        let back = decode_ts(TSR, &enc(&[odd])).unwrap();
        assert_eq!(back, vec![TrafficSelector::host(v4("10.0.0.1"))]);
    }

    #[test]
    fn bad_selectors() {
        assert_eq!(
            decode_ts(TSI, &[1, 0]),
            Err(WireError::Truncated {
                what: "TSi payload",
                need: 4,
                have: 2
            })
        );
        assert_eq!(why(decode_ts(TSI, &[0, 0, 0, 0])), "no traffic selectors");

        let good = enc(&[net("10.0.0.0", "10.0.0.255")]);
        let mut b = good.clone();
        b[4] = 9;
        assert_eq!(
            why(decode_ts(TSI, &b)),
            "traffic selector 1: unsupported TS type 9"
        );
        let mut b = good.clone();
        b[4] = 8;
        assert_eq!(
            why(decode_ts(TSI, &b)),
            "traffic selector 1: length 16 != 40 for TS type 8"
        );
        let mut b = good.clone();
        b[0] = 2;
        assert!(why(decode_ts(TSI, &b)).starts_with("traffic selector 2 of 2"));
        let mut b = good.clone();
        b.push(0);
        assert_eq!(
            why(decode_ts(TSI, &b)),
            "1 bytes after the 1 traffic selectors"
        );
        for n in 0..good.len() {
            assert!(decode_ts(TSR, &good[..n]).is_err());
        }
    }

    #[test]
    fn containment() {
        let any = TrafficSelector::any_v4();
        let lan = net("10.0.0.0", "10.0.0.255");
        let host = TrafficSelector::host(v4("10.0.0.9"));
        assert!(any.contains(&lan));
        assert!(lan.contains(&host));
        assert!(lan.contains(&lan));
        assert!(!host.contains(&lan));
        assert!(!lan.contains(&TrafficSelector::host(v4("10.0.1.0"))));
        assert!(!any.contains(&TrafficSelector::host(v4("::1"))));
        assert!(TrafficSelector::any_v6().contains(&TrafficSelector::host(v4("::1"))));

        let https = TrafficSelector {
            ip_protocol: 6,
            start_port: 443,
            end_port: 443,
            ..lan.clone()
        };
        assert!(lan.contains(&https));
        assert!(!https.contains(&lan));
        let udp = TrafficSelector {
            ip_protocol: 17,
            ..https.clone()
        };
        assert!(!https.contains(&udp));
        let wide_ports = TrafficSelector {
            start_port: 400,
            end_port: 500,
            ..https.clone()
        };
        assert!(wide_ports.contains(&https));
        assert!(!https.contains(&wide_ports));
    }
}
