//! Who this host is to the manager: a stable `host_id` and the address it is reached at.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::path::Path;

/// The SMBIOS system UUID without dashes; else `<root>/etc/machine-id`. Both survive reboots
/// and re-registration, so the manager sees the same host every time.
pub fn host_id(root: &Path) -> Result<String, String> {
    if let Some(uuid) = crate::facts::system_uuid(root) {
        return Ok(uuid);
    }
    let path = root.join("etc/machine-id");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "cannot determine host_id: no SMBIOS system UUID, and {}: {e}",
            path.display()
        )
    })?;
    let id = text.trim();
    if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(format!(
            "cannot determine host_id: no SMBIOS system UUID, and {} does not hold a machine id",
            path.display()
        ))
    }
}

/// The local address the kernel would use to reach `manager`: connecting a UDP socket picks the
/// route without sending a packet, and works on networks with no route to the internet.
pub fn public_ip(manager: SocketAddr) -> io::Result<IpAddr> {
    let any: SocketAddr = match manager {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(any)?;
    socket.connect(manager)?;
    Ok(socket.local_addr()?.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_id_when_there_is_no_smbios() {
        let root = std::env::temp_dir().join(format!("aops-identity-{}", std::process::id()));
        std::fs::create_dir_all(root.join("etc")).unwrap();
        let e = host_id(&root).unwrap_err();
        assert!(e.contains("etc/machine-id: No such file"), "{e}");
        std::fs::write(
            root.join("etc/machine-id"),
            "0123456789ABCDEF0123456789abcdef\n",
        )
        .unwrap();
        assert_eq!(host_id(&root).unwrap(), "0123456789abcdef0123456789abcdef");
        std::fs::write(root.join("etc/machine-id"), "uninitialized\n").unwrap();
        assert!(host_id(&root)
            .unwrap_err()
            .contains("does not hold a machine id"));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn route_to_loopback_is_loopback() {
        let ip = public_ip("127.0.0.1:9".parse().unwrap()).unwrap();
        assert_eq!(ip, IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
}
