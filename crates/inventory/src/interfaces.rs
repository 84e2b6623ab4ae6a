//! The addresses of the network interfaces of the calling thread's network
//! namespace, so a socket bound to one address can be named by its interface.

use std::ffi::CStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

/// One address of one network interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Interface {
    /// The interface's name (`lo`, `eth0`).
    pub name: String,
    /// An IPv4 or IPv6 address assigned to it.
    pub address: IpAddr,
}

/// Every (interface, address) pair, from getifaddrs(3).
pub fn list() -> Vec<Interface> {
    interface_states()
        .into_iter()
        .flat_map(|state| {
            let name = state.name;
            state.addresses.into_iter().map(move |(address, _)| Interface { name: name.clone(), address })
        })
        .collect()
}

/// One network interface: its flags and every address with its prefix length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceState {
    /// The interface's name (`lo`, `eth0`).
    pub name: String,
    /// IFF_UP: the administrator brought it up.
    pub up: bool,
    /// IFF_LOOPBACK: the loopback interface.
    pub loopback: bool,
    /// Every IPv4 and IPv6 address with its prefix length (counted from
    /// the netmask); empty when it has none.
    pub addresses: Vec<(IpAddr, u8)>,
}

/// Every interface with its flags and addresses, from getifaddrs(3). An
/// interface with no address still appears (through its AF_PACKET entry),
/// so a loopback without 127.0.0.1 is seen as such, not as missing.
pub fn interface_states() -> Vec<InterfaceState> {
    let mut found: Vec<InterfaceState> = Vec::new();
    // SAFETY: getifaddrs allocates a list that freeifaddrs releases; every
    // pointer is checked for null and each address's family before the cast.
    unsafe {
        let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
        if libc::getifaddrs(&mut head) != 0 {
            return found;
        }
        let mut cursor = head;
        while !cursor.is_null() {
            let entry = &*cursor;
            cursor = entry.ifa_next;
            if entry.ifa_name.is_null() {
                continue;
            }
            let name = CStr::from_ptr(entry.ifa_name).to_string_lossy().into_owned();
            let index = match found.iter().position(|i| i.name == name) {
                Some(index) => index,
                None => {
                    let flags = entry.ifa_flags;
                    found.push(InterfaceState {
                        name,
                        up: flags & libc::IFF_UP as libc::c_uint != 0,
                        loopback: flags & libc::IFF_LOOPBACK as libc::c_uint != 0,
                        addresses: Vec::new(),
                    });
                    found.len() - 1
                }
            };
            if entry.ifa_addr.is_null() {
                continue;
            }
            let address = match i32::from((*entry.ifa_addr).sa_family) {
                libc::AF_INET => {
                    let sin = &*(entry.ifa_addr as *const libc::sockaddr_in);
                    IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
                }
                libc::AF_INET6 => {
                    let sin6 = &*(entry.ifa_addr as *const libc::sockaddr_in6);
                    IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))
                }
                _ => continue,
            };
            let prefix = if entry.ifa_netmask.is_null() {
                if address.is_ipv4() {
                    32
                } else {
                    128
                }
            } else {
                match i32::from((*entry.ifa_netmask).sa_family) {
                    libc::AF_INET6 => {
                        let mask = &*(entry.ifa_netmask as *const libc::sockaddr_in6);
                        mask.sin6_addr.s6_addr.iter().map(|b| b.count_ones()).sum::<u32>() as u8
                    }
                    _ => {
                        let mask = &*(entry.ifa_netmask as *const libc::sockaddr_in);
                        mask.sin_addr.s_addr.count_ones() as u8
                    }
                }
            };
            found[index].addresses.push((address, prefix));
        }
        libc::freeifaddrs(head);
    }
    found
}
