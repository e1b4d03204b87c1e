#!/usr/bin/python3
"""Generates the cross-check ESP packets of espxform_vectors_test.go.

Run with Debian's /usr/bin/python3 and its python3-scapy (2.5.0) and
python3-cryptography (OpenSSL) packages:

    /usr/bin/python3 internal/suite/espxform_vectors_gen.py

Scapy encrypts (its CryptAlgo: AES-CBC, AES-CTR with a 4-octet nonce,
AES-CCM with a 3-octet salt, 3DES) and pads. Scapy 2.5 leaves the ESN high
bits out of the ICV of an ESP packet (AuthAlgo.sign ignores esn_en for
ESP), so the ICV is computed here as RFC 4303 2.2.1 says: over
SPI || Seq || IV || ciphertext || SeqHigh. Without ESN that is exactly
scapy's own sign(), which is asserted. AES-XCBC-MAC-96 and AES-GMAC, which
scapy lacks, are computed with cryptography's AES-ECB and AES-GCM.
"""
import hmac
import hashlib
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from scapy.all import IP, ICMP, Raw, raw
from scapy.layers.ipsec import CRYPT_ALGOS, AUTH_ALGOS, ESP, SecurityAssociation, _ESPPlain


def xcbc(key, msg):
    """AES-XCBC-MAC (RFC 3566 4), checked below against its vectors."""
    ecb = lambda k: Cipher(algorithms.AES(k), modes.ECB()).encryptor()
    k1, k2, k3 = (ecb(key).update(bytes([i]) * 16) for i in (1, 2, 3))
    e = bytes(16)
    blocks = [msg[i:i + 16] for i in range(0, len(msg), 16)] or [b""]
    for b in blocks[:-1]:
        e = ecb(k1).update(bytes(x ^ y for x, y in zip(e, b)))
    last = blocks[-1]
    if len(last) == 16:
        last = bytes(x ^ y for x, y in zip(last, k2))
    else:
        last = last + b"\x80" + bytes(15 - len(last))
        last = bytes(x ^ y for x, y in zip(last, k3))
    return ecb(k1).update(bytes(x ^ y for x, y in zip(e, last)))


assert xcbc(bytes(range(16)), b"").hex() == "75f0251d528ac01c4573dfd584d79f29"
assert xcbc(bytes(range(16)), bytes(range(34))).hex() == "becbb3bccdb518a30677d5481fb6b4d8"

HASHES = {
    "HMAC-SHA1-96": (hashlib.sha1, 12),
    "SHA2-256-128": (hashlib.sha256, 16),
    "SHA2-384-192": (hashlib.sha384, 24),
    "SHA2-512-256": (hashlib.sha512, 32),
}

inner = raw(IP(src="192.0.2.1", dst="198.51.100.2", id=7) / ICMP(id=1, seq=2) /
            Raw(b"goipsec cross-check payload " * 2))


def esp_packet(name, crypt, ckey, auth, akey, iv, spi, seq, esn):
    sa = SecurityAssociation(ESP, spi=spi, crypt_algo=crypt, crypt_key=ckey)
    algo = CRYPT_ALGOS[crypt]
    esp = _ESPPlain(spi=spi, seq=seq & 0xffffffff, iv=iv, data=inner, nh=4)
    esp = algo.pad(esp)
    esp = algo.encrypt(sa, esp, sa.crypt_key, None, esn_en=esn is not None, esn=esn or 0)
    body = raw(esp)
    if auth == "AES-XCBC-MAC-96":
        icv = xcbc(akey, body + (struct.pack("!L", esn) if esn is not None else b""))[:12]
    elif auth is not None:
        h, n = HASHES[auth]
        icv = hmac.new(akey, body + (struct.pack("!L", esn) if esn is not None else b""), h).digest()[:n]
        if esn is None:
            signed = AUTH_ALGOS[auth].sign(ESP(body), akey)
            assert raw(signed)[len(body):] == icv
    else:
        icv = b""
    key_bits = 0 if crypt in ("3DES", "NULL") else 8 * len(sa.crypt_key)
    emit(name, crypt, key_bits, auth, ckey + (akey or b""), spi, seq, esn, body + icv)


def gmac_packet(name, key, salt, iv, spi, seq, esn):
    payload = inner + b"\x01\x02\x02\x04"  # pad to 4 octets, pad length 2, next header 4
    assert len(payload) % 4 == 0
    hdr = struct.pack("!LL", spi, seq & 0xffffffff)
    aad = (struct.pack("!LLL", spi, esn, seq & 0xffffffff) if esn is not None else hdr) + iv + payload
    tag = AESGCM(key).encrypt(salt + iv, b"", aad)
    emit(name, "GMAC", 8 * len(key), None, key + salt, spi, seq, esn, hdr + iv + payload + tag)


ENCR = {"AES-CBC": "ike.EncrAESCBC", "AES-CTR": "ike.EncrAESCTR", "3DES": "ike.Encr3DES", "NULL": "ike.EncrNull",
        "GMAC": "ike.EncrNullAuthAESGMAC", 8: "ike.EncrAESCCM8", 12: "ike.EncrAESCCM12", 16: "ike.EncrAESCCM16"}
INTEG = {None: "ike.IntegNone", "HMAC-SHA1-96": "ike.IntegHMACSHA1_96", "AES-XCBC-MAC-96": "ike.IntegAESXCBC96",
         "SHA2-256-128": "ike.IntegHMACSHA256_128", "SHA2-384-192": "ike.IntegHMACSHA384_192",
         "SHA2-512-256": "ike.IntegHMACSHA512_256"}


def emit(name, encr, key_bits, integ, keymat, spi, seq, esn, pkt):
    print('\t{name: "%s", encr: %s, keyBits: %d, integ: %s, esn: %s, hi: 0x%x,\n\t\tkeymat: "%s",\n\t\tpacket: "%s"},' % (
        name, ENCR[encr], key_bits, INTEG[integ], "true" if esn is not None else "false", esn or 0, keymat.hex(), pkt.hex()))


print('const scapyInner = "%s"' % inner.hex())
k16 = bytes(range(0x10, 0x20))
k32 = bytes(range(0x20, 0x40))
esp_packet("AES_CBC_128/HMAC_SHA2_256_128", "AES-CBC", k16, "SHA2-256-128", bytes(range(0x40, 0x60)),
           bytes(range(0xa0, 0xb0)), 0x0a0b0c0d, 5, None)
esp_packet("AES_CBC_128/HMAC_SHA2_256_128 ESN", "AES-CBC", k16, "SHA2-256-128", bytes(range(0x40, 0x60)),
           bytes(range(0xa0, 0xb0)), 0x0a0b0c0d, 0x100000005, 1)
esp_packet("AES_CBC_256/HMAC_SHA1_96", "AES-CBC", k32, "HMAC-SHA1-96", bytes(range(0x60, 0x74)),
           bytes(range(0xb0, 0xc0)), 0x11223344, 1, None)
esp_packet("AES_CBC_192/HMAC_SHA2_512_256 ESN", "AES-CBC", k32[:24], "SHA2-512-256", bytes(range(0x80, 0xc0)),
           bytes(range(0xc0, 0xd0)), 0x11223344, 0x7fffffff00000001, 0x7fffffff)
esp_packet("AES_CTR_128/HMAC_SHA2_256_128", "AES-CTR", k16 + b"\xde\xad\xbe\xef", "SHA2-256-128",
           bytes(range(0x40, 0x60)), struct.pack("!Q", 9), 0x0a0b0c0d, 9, None)
esp_packet("AES_CTR_256/HMAC_SHA2_384_192 ESN", "AES-CTR", k32 + b"\xca\xfe\xf0\x0d", "SHA2-384-192",
           bytes(range(0x30, 0x60)), struct.pack("!Q", 0x200000003), 0x55667788, 0x200000003, 2)
esp_packet("AES_CTR_192/AES_XCBC_96", "AES-CTR", k32[:24] + b"\x00\x00\x00\x30", "AES-XCBC-MAC-96",
           bytes(range(16)), struct.pack("!Q", 0x42), 0x55667788, 0x42, None)
esp_packet("3DES/HMAC_SHA2_384_192", "3DES", bytes(range(0x01, 0x19)), "SHA2-384-192", bytes(range(0x30, 0x60)),
           bytes(range(0xe0, 0xe8)), 0x99aabbcc, 3, None)
esp_packet("3DES/HMAC_SHA1_96 ESN", "3DES", bytes(range(0x01, 0x19)), "HMAC-SHA1-96", bytes(range(0x60, 0x74)),
           bytes(range(0xe0, 0xe8)), 0x99aabbcc, 0xffffffff00000003, 0xffffffff)
esp_packet("NULL/HMAC_SHA2_256_128", "NULL", b"", "SHA2-256-128", bytes(range(0x40, 0x60)),
           b"", 0x01020304, 0x10, None)
esp_packet("NULL/AES_XCBC_96 ESN", "NULL", b"", "AES-XCBC-MAC-96", bytes(range(16)),
           b"", 0x01020304, 0x300000010, 3)
for icv, name in ((8, "AES_CCM_8_128"), (12, "AES_CCM_12_128"), (16, "AES_CCM_16_256")):
    key = (k16 if icv != 16 else k32) + b"\x01\x02\x03"
    for esn in (None, 6):
        seq = 0x600000011 if esn else 0x11
        sa = SecurityAssociation(ESP, spi=0x3344, crypt_algo="AES-CCM", crypt_key=key, crypt_icv_size=icv)
        algo = CRYPT_ALGOS["AES-CCM"]
        esp = _ESPPlain(spi=0x3344, seq=seq & 0xffffffff, iv=struct.pack("!Q", seq), data=inner, nh=4)
        esp = algo.pad(esp)
        esp = algo.encrypt(sa, esp, sa.crypt_key, icv, esn_en=esn is not None, esn=esn or 0)
        emit(name + (" ESN" if esn else ""), icv, 8 * len(sa.crypt_key), None, key, 0x3344, seq, esn, raw(esp))
gmac_packet("NULL_AES_GMAC_128", k16, b"\x0a\x0b\x0c\x0d", struct.pack("!Q", 77), 0x4321, 77, None)
gmac_packet("NULL_AES_GMAC_256 ESN", k32, b"\x0a\x0b\x0c\x0d", struct.pack("!Q", 0x500000004), 0x4321, 0x500000004, 5)
