"""Which resolved addresses input media may be fetched from: one table, read top to bottom.

`allow_private_addresses` opens only the LOCAL rows (loopback, RFC 1918, unique
local, shared 100.64/10), for local fixtures. The NEVER rows stay refused
whatever the setting: the metadata services a cloud VM answers on, link-local,
multicast, unspecified, IPv4-mapped IPv6, and every other non-global range.
IPv6 forms that carry an IPv4 address (NAT64, 6to4) are judged by the IPv4
address they carry, and refused unless that one is public.
"""

from __future__ import annotations

import enum
import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Access(enum.Enum):
    PUBLIC = "public"  # always fetched
    LOCAL = "local"  # fetched only with allow_private_addresses
    NEVER = "never"  # refused whatever the setting


# First match wins: the narrow metadata addresses sit above the ranges holding them.
POLICY: tuple[tuple[str, Access, str], ...] = (
    ("169.254.169.254/32", Access.NEVER, "cloud metadata"),
    ("fd00:ec2::254/128", Access.NEVER, "cloud metadata"),
    ("100.100.100.200/32", Access.NEVER, "cloud metadata"),
    ("169.254.0.0/16", Access.NEVER, "link-local"),
    ("fe80::/10", Access.NEVER, "link-local"),
    ("0.0.0.0/8", Access.NEVER, "unspecified"),
    ("::/128", Access.NEVER, "unspecified"),
    ("224.0.0.0/4", Access.NEVER, "multicast"),
    ("ff00::/8", Access.NEVER, "multicast"),
    ("::ffff:0:0/96", Access.NEVER, "IPv4-mapped IPv6"),
    ("127.0.0.0/8", Access.LOCAL, "loopback"),
    ("::1/128", Access.LOCAL, "loopback"),
    ("10.0.0.0/8", Access.LOCAL, "private"),
    ("172.16.0.0/12", Access.LOCAL, "private"),
    ("192.168.0.0/16", Access.LOCAL, "private"),
    ("fc00::/7", Access.LOCAL, "private"),
    ("100.64.0.0/10", Access.LOCAL, "shared CGNAT"),
)
_TABLE = tuple((ipaddress.ip_network(net), access, label) for net, access, label in POLICY)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")


def classify(address: IPAddress) -> tuple[Access, str]:
    """The access an address gets and a short name for its range."""
    for network, access, label in _TABLE:
        if address.version == network.version and address in network:
            return access, label
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        access, label = classify(embedded)
        if access is Access.PUBLIC:
            return Access.PUBLIC, "public"
        return Access.NEVER, f"IPv6 form of a {label}"
    if not address.is_global:
        return Access.NEVER, "reserved"
    return Access.PUBLIC, "public"


def refusal(address: IPAddress, allow_private: bool) -> str | None:
    """Why the address is not fetched (its range's name), or None when it may be."""
    access, label = classify(address)
    if access is Access.PUBLIC or (access is Access.LOCAL and allow_private):
        return None
    return label


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _SIX_TO_FOUR:
        return address.sixtofour
    return None
