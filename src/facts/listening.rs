//! The TCP sockets in LISTEN state, from `/proc/net/tcp` and `/proc/net/tcp6`: what is actually
//! bound, whatever a unit file or agent.conf says.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::root::Root;

/// `st` of a listening socket in /proc/net/tcp*.
const LISTEN: &str = "0A";

/// Every listening TCP address of this network namespace. An error only when neither table can
/// be read.
pub fn listening(root: &Root) -> io::Result<Vec<SocketAddr>> {
    let v4 = root.read_bytes("/proc/net/tcp");
    let v6 = root.read_bytes("/proc/net/tcp6");
    if let (Err(e), Err(_)) = (&v4, &v6) {
        return Err(io::Error::new(e.kind(), e.to_string()));
    }
    let mut out = Vec::new();
    for table in [v4, v6].into_iter().flatten() {
        out.extend(parse(&String::from_utf8_lossy(&table)));
    }
    Ok(out)
}

/// Whether `addr` is among `listening`, exactly or as the IPv4-mapped form of an IPv4 address
/// on a dual-stack socket.
pub fn is_listening(listening: &[SocketAddr], addr: SocketAddr) -> bool {
    listening.iter().any(|l| {
        l.port() == addr.port()
            && (l.ip() == addr.ip()
                || matches!((l.ip(), addr.ip()), (IpAddr::V6(m), IpAddr::V4(a)) if m.to_ipv4_mapped() == Some(a)))
    })
}

/// The listening entries of one table: `sl local_address rem_address st ...`, addresses as the
/// kernel's hex words in host byte order.
pub fn parse(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let local = f.nth(1)?;
            let state = f.nth(1)?;
            if state != LISTEN {
                return None;
            }
            let (ip, port) = local.split_once(':')?;
            let port = u16::from_str_radix(port, 16).ok()?;
            Some(SocketAddr::new(parse_ip(ip)?, port))
        })
        .collect()
}

fn parse_ip(hex: &str) -> Option<IpAddr> {
    let word = |i: usize| -> Option<[u8; 4]> {
        let w = u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16).ok()?;
        Some(w.to_ne_bytes())
    };
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(0)?))),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured on x86_64 (little-endian): 127.0.0.1:12000 listening, one established, and
    // [::]:22 / [::1]:631 in tcp6.
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:2EE0 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 40101 1 0000000000000000 100 0 0 10 0
   1: 0100007F:2EE0 0100007F:D2F4 01 00000000:00000000 00:00000000 00000000     0        0 40102 1 0000000000000000 20 4 30 10 -1
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 20201 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 20202 1 0000000000000000 100 0 0 10 0
   2: 0000000000000000FFFF00000200007F:2EE1 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 20203 1 0000000000000000 100 0 0 10 0
";

    #[cfg(target_endian = "little")]
    #[test]
    fn listening_entries_of_both_tables() {
        let mut all = parse(TCP);
        all.extend(parse(TCP6));
        let want: Vec<SocketAddr> = [
            "127.0.0.1:12000",
            "[::]:22",
            "[::1]:631",
            "[::ffff:127.0.0.2]:12001",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        assert_eq!(all, want);
        assert!(is_listening(&all, "127.0.0.1:12000".parse().unwrap()));
        assert!(is_listening(&all, "127.0.0.2:12001".parse().unwrap()));
        assert!(!is_listening(&all, "127.0.0.1:12001".parse().unwrap()));
        assert!(!is_listening(&all, "0.0.0.0:22".parse().unwrap()));
    }

    #[test]
    fn a_socket_of_this_process_is_seen() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let all = listening(&Root::new(std::path::Path::new("/"))).unwrap();
        assert!(is_listening(&all, addr), "{addr} not in {all:?}");
        drop(l);
    }

    #[test]
    fn junk_lines_are_skipped() {
        assert!(parse("header\n garbage\n 0: zz:zz 0:0 0A\n").is_empty());
    }
}
