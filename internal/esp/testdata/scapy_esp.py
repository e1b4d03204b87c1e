#!/usr/bin/python3
"""ESP cross-check helper for internal/esp/scapy_test.go.

Encrypts and decrypts tunnel-mode ESP packets with scapy's IPsec module
(scapy.layers.ipsec.SecurityAssociation), an implementation independent of
goipsec. Driven with one JSON document on stdin, answers with one on stdout:

  request:  {"ops": [op, ...]}
  op:       {"op": "decrypt", "algo": "AES-GCM", "key": hex(key||salt),
             "auth": "SHA2-256-128" or absent (AEADs), "auth_key": hex,
             "spi": int, "packet": hex(outer IPv4 header || ESP)}
            {"op": "encrypt", "algo": ..., "key": ..., "spi": int,
             "seq": int, "iv": hex or null (null: scapy picks a random IV),
             "src": "192.0.2.1", "dst": "198.51.100.2",
             "inner": hex(inner IPv4 packet)}
  response: {"python": str, "scapy": str, "crypt_algos": [str, ...],
             "results": [result, ...]}      (one result per op, in order)
            or {"missing": reason} when scapy cannot be imported.
  result:   decrypt: {"inner": hex, "nh": int, "padlen": int, "spi": int,
                      "seq": int}
            encrypt: {"packet": hex(outer IPv4 header || ESP)}
  AH ops:   {"op": "ah_encrypt", "auth": "SHA2-256-128", "auth_key": hex,
             "spi": int, "seq": int, "esn_en": bool, "esn": int (high 32
             bits), "packet": hex(IPv4 or IPv6 packet),
             "src"/"dst": tunnel endpoints, absent for transport mode}
            {"op": "ah_decrypt", ... "packet": hex(AH packet),
             "tunnel": bool}
            results: {"packet": hex} and {"inner": hex, "nh": int,
             "spi": int, "seq": int} (the packet scapy makes of it: the
             inner packet in tunnel mode, the packet without AH in
             transport mode)
            failure: {"error": "integrity" | "exception", "detail": str}
            {"unsupported": reason} when scapy lacks the algorithm.
"""

import json
import sys
import traceback


def main():
    try:
        import scapy
        from scapy.compat import raw
        from scapy.layers.inet import IP
        from scapy.layers.inet6 import IPv6
        from scapy.layers.ipsec import (AH, AUTH_ALGOS, CRYPT_ALGOS, ESP,
                                        IPSecIntegrityError,
                                        SecurityAssociation)
    except ImportError as err:
        json.dump({"missing": "cannot import scapy's IPsec module: %s" % err},
                  sys.stdout)
        return

    def ip_of(b):
        return IPv6(b) if b[0] >> 4 == 6 else IP(b)

    def new_sa(op):
        auth = {}
        if op.get("auth"):
            auth = {"auth_algo": op["auth"],
                    "auth_key": bytes.fromhex(op.get("auth_key", ""))}
        tunnel = None
        if not op.get("transport"):
            src = op.get("src", "192.0.2.1")
            cls = IPv6 if ":" in src else IP
            tunnel = cls(src=src, dst=op.get("dst", "198.51.100.2"))
        return SecurityAssociation(
            ESP, spi=op["spi"], crypt_algo=op["algo"],
            crypt_key=bytes.fromhex(op["key"]), tunnel_header=tunnel,
            esn_en=op.get("esn_en", False), esn=op.get("esn", 0), **auth)

    def decrypt(op):
        sa = new_sa(op)
        wire = bytes.fromhex(op["packet"])
        # The next header and pad length, which SecurityAssociation.decrypt
        # does not return in tunnel mode (it guesses the inner class from
        # the bytes, so a wrong next header would go unnoticed).
        outer = ip_of(wire)
        plain = sa.crypt_algo.decrypt(sa, outer[ESP], sa.crypt_key,
                                      sa.crypt_algo.icv_size or
                                      sa.auth_algo.icv_size,
                                      esn_en=sa.esn_en, esn=sa.esn)
        inner = sa.decrypt(ip_of(wire))
        return {"inner": raw(inner).hex(), "nh": plain.nh,
                "padlen": plain.padlen, "spi": outer[ESP].spi,
                "seq": outer[ESP].seq}

    def encrypt(op):
        sa = new_sa(op)
        iv = bytes.fromhex(op["iv"]) if op.get("iv") else None
        pkt = sa.encrypt(ip_of(bytes.fromhex(op["inner"])),
                         seq_num=op["seq"], iv=iv)
        return {"packet": raw(pkt).hex()}

    def new_ah_sa(op):
        tunnel = None
        if op.get("src"):
            cls = IPv6 if ":" in op["src"] else IP
            tunnel = cls(src=op["src"], dst=op["dst"])
        elif op.get("tunnel"):
            tunnel = IP()  # only its presence matters for decrypt
        return SecurityAssociation(
            AH, spi=op["spi"], auth_algo=op["auth"],
            auth_key=bytes.fromhex(op["auth_key"]), tunnel_header=tunnel,
            esn_en=op.get("esn_en", False), esn=op.get("esn", 0))

    def ah_encrypt(op):
        sa = new_ah_sa(op)
        pkt = sa.encrypt(ip_of(bytes.fromhex(op["packet"])),
                         seq_num=op["seq"])
        return {"packet": raw(pkt).hex()}

    def ah_decrypt(op):
        sa = new_ah_sa(op)
        pkt = ip_of(bytes.fromhex(op["packet"]))
        ah = pkt[AH]
        spi, seq, nh = ah.spi, ah.seq, ah.nh
        out = sa.decrypt(pkt)
        return {"inner": raw(out).hex(), "nh": nh, "spi": spi, "seq": seq}

    req = json.load(sys.stdin)
    results = []
    for op in req["ops"]:
        if op.get("auth") and op["auth"] not in AUTH_ALGOS:
            results.append({"unsupported": "scapy %s has no %s (it has %s)" % (
                scapy.VERSION, op["auth"], ", ".join(AUTH_ALGOS))})
            continue
        if op["op"].startswith("ah_"):
            try:
                results.append({"ah_encrypt": ah_encrypt,
                                "ah_decrypt": ah_decrypt}[op["op"]](op))
            except IPSecIntegrityError as err:
                results.append({"error": "integrity", "detail": repr(err)})
            except Exception:
                results.append({"error": "exception",
                                "detail": traceback.format_exc()})
            continue
        if op["algo"] not in CRYPT_ALGOS:
            results.append({"unsupported": "scapy %s has no %s (it has %s)" % (
                scapy.VERSION, op["algo"], ", ".join(CRYPT_ALGOS))})
            continue
        try:
            results.append({"decrypt": decrypt, "encrypt": encrypt}[op["op"]](op))
        except IPSecIntegrityError as err:
            results.append({"error": "integrity", "detail": repr(err)})
        except Exception:
            results.append({"error": "exception",
                            "detail": traceback.format_exc()})
    json.dump({"python": sys.version.split()[0], "scapy": scapy.VERSION,
               "crypt_algos": list(CRYPT_ALGOS), "results": results},
              sys.stdout)


if __name__ == "__main__":
    main()
