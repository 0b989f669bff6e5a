"""A PCRE matching every textual form of the IPv6 addresses in a network: leading zeros, `::` and either case."""

from __future__ import annotations

import ipaddress

HEX = "0123456789abcdef"


def _nibbles(value: int, fixed_bits: int) -> list[str]:
    """The four hex digit classes of a hextet whose top `fixed_bits` bits equal those of `value`."""
    classes = []
    for index in range(4):
        known = max(0, min(4, fixed_bits - 4 * index))  # fixed bits inside this nibble
        digit = (value >> (12 - 4 * index)) & 0xF
        base = digit >> (4 - known) << (4 - known)
        classes.append("".join(HEX[d] for d in range(base, base + (1 << (4 - known)))))
    return classes


def _hextet(value: int, fixed_bits: int) -> tuple[str, bool]:
    """(PCRE for the hextet written with 1-4 digits, whether it can be zero)."""
    classes = _nibbles(value, fixed_bits)
    if all(len(c) == 16 for c in classes):
        return "[0-9a-f]{1,4}", True
    if classes == ["0"] * 4:
        return "0{1,4}", True
    forms = []
    for drop in range(4):  # a leading digit may be left out only when it is 0
        if all("0" in classes[i] for i in range(drop)):
            forms.append("".join(c if len(c) == 1 else f"[{c}]" if len(c) < 16 else "[0-9a-f]" for c in classes[drop:]))
    return "(?:" + "|".join(forms) + ")", all("0" in c for c in classes)


def _free_tail(count: int) -> list[str]:
    """Spellings of `count` unconstrained hextets after a written one: all written, or `::` among them."""
    hextet = "[0-9a-f]{1,4}"
    forms = [f"(?::{hextet}){{{count}}}"]
    for before in range(count):  # hextets written before the `::`; at most count - 1 written in all
        after = count - 1 - before
        forms.append(f"(?::{hextet}){{{before}}}::" + (f"(?:{hextet}(?::{hextet}){{0,{after - 1}}})?" if after else ""))
    return forms


def ipv6_network_pattern(network: ipaddress.IPv6Network) -> str:
    """PCRE (to use case-insensitively) for any RFC 4291 text form of any address in the network, IPv4-embedded forms aside."""
    value = int(network.network_address)
    hextets = [_hextet((value >> (112 - 16 * i)) & 0xFFFF, max(0, min(16, network.prefixlen - 16 * i))) for i in range(8)]
    fixed = max(1, min(8, -(-network.prefixlen // 16)))  # hextets written out before the free ones (at least one)
    head = ":".join(pattern for pattern, _ in hextets[:fixed])
    forms = [head] if fixed == 8 else [head + tail for tail in _free_tail(8 - fixed)]
    for written in range(fixed if fixed < 8 else 8):  # `::` starting among the constrained hextets
        for tail in range(8 - written):
            if written + tail <= 7 and all(can_be_zero for _, can_be_zero in hextets[written : 8 - tail]):
                forms.append(":".join(p for p, _ in hextets[:written]) + "::" + ":".join(p for p, _ in hextets[8 - tail :]))
    return "(?:" + "|".join(dict.fromkeys(forms)) + ")"
