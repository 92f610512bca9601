"""The hash functions IPVS schedulers use, bit for bit.

* `hash_32` is the kernel's generic multiplicative hash (include/linux/hash.h, since 4.7):
  multiply by GOLDEN_RATIO_32 modulo 2^32 and keep the top `bits` bits. sh and dh use it.
* `legacy_hash` is the pre-hash_32 form in ip_vs_sh.c / ip_vs_dh.c: `v * 2654435761`
  masked to the table size, so only the low byte of `v` matters.
* `siphash` is SipHash-c-d (lib/siphash.c). On 64-bit kernels `hsiphash` is SipHash-1-3
  with a 128-bit key, truncated to 32 bits; Maglev (ip_vs_mh.c) uses it with fixed keys.
"""

from __future__ import annotations

import ipaddress

MASK32 = 0xFFFFFFFF
MASK64 = 0xFFFFFFFFFFFFFFFF
GOLDEN_RATIO_32 = 0x61C88647  # include/linux/hash.h
LEGACY_MULTIPLIER = 2654435761  # ip_vs_sh.c before hash_32 (2^32 / golden ratio)


def hash_32(value: int, bits: int) -> int:
    """`hash_32(val, bits)`: the top `bits` bits of `val * GOLDEN_RATIO_32` (mod 2^32)."""
    return ((value * GOLDEN_RATIO_32) & MASK32) >> (32 - bits)


def legacy_hash(value: int, size: int) -> int:
    """The old sh/dh bucket: `(v * 2654435761) & (size - 1)`."""
    return ((value & MASK32) * LEGACY_MULTIPLIER) & (size - 1)


def addr_fold(address: str) -> int:
    """An address as the 32-bit host-order word the schedulers hash: IPv4 `ntohl(addr)`;
    IPv6 the XOR of its four 32-bit words (`addr->ip6[0] ^ ... ^ addr->ip6[3]`)."""
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        return int(ip)
    value = int(ip)
    folded = 0
    for _ in range(4):
        folded ^= value & MASK32
        value >>= 32
    return folded


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & MASK64


def _sipround(v: list[int]) -> None:
    v0, v1, v2, v3 = v
    v0 = (v0 + v1) & MASK64
    v1 = _rotl(v1, 13) ^ v0
    v0 = _rotl(v0, 32)
    v2 = (v2 + v3) & MASK64
    v3 = _rotl(v3, 16) ^ v2
    v0 = (v0 + v3) & MASK64
    v3 = _rotl(v3, 21) ^ v0
    v2 = (v2 + v1) & MASK64
    v1 = _rotl(v1, 17) ^ v2
    v2 = _rotl(v2, 32)
    v[:] = [v0, v1, v2, v3]


def siphash(key: tuple[int, int], data: bytes, c_rounds: int = 2, d_rounds: int = 4) -> int:
    """SipHash-c-d of `data` under the key words (k0, k1) (each 64-bit, little-endian
    loaded); returns the 64-bit result. c=2, d=4 is the published SipHash-2-4."""
    k0, k1 = key
    v = [
        k0 ^ 0x736F6D6570736575,
        k1 ^ 0x646F72616E646F6D,
        k0 ^ 0x6C7967656E657261,
        k1 ^ 0x7465646279746573,
    ]
    whole = len(data) - len(data) % 8
    for i in range(0, whole, 8):
        m = int.from_bytes(data[i : i + 8], "little")
        v[3] ^= m
        for _ in range(c_rounds):
            _sipround(v)
        v[0] ^= m
    b = ((len(data) & 0xFF) << 56) | int.from_bytes(data[whole:], "little")
    v[3] ^= b
    for _ in range(c_rounds):
        _sipround(v)
    v[0] ^= b
    v[2] ^= 0xFF
    for _ in range(d_rounds):
        _sipround(v)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def hsiphash_u32(value: int, key: tuple[int, int]) -> int:
    """`hsiphash(&v, 4, key)` for a u32 `v` on a 64-bit little-endian kernel: SipHash-1-3
    of v's four bytes, low 32 bits of the result (lib/siphash.c)."""
    data = (value & MASK32).to_bytes(4, "little")
    return siphash(key, data, 1, 3) & MASK32
