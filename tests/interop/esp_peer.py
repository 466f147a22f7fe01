#!/usr/bin/python3
"""The third-party ESP peer for tests/tests/scapy_esp.rs: scapy's ESP
SecurityAssociation (tunnel mode, AES-CBC, HMAC-SHA1-96, optional NAT-T).

Reads one JSON job on stdin, writes one JSON answer on stdout. Nothing is
sent on any network: packets are built and parsed in memory.

Job:
  {"sa": {"spi": int, "src": str, "dst": str, "enc_key": hex, "auth_key": hex,
          "natt": bool},
   "mode": "decrypt" | "encrypt",
   "packets": [...]}

decrypt: packets = [{"outer": hex, "inner": hex}] produced by the card.
  For each, scapy decrypts the outer packet (must give `inner` byte for byte)
  and re-encrypts `inner` with the packet's own sequence number and IV (must
  give the card's ESP bytes byte for byte).
  Answer: {"results": [{"inner_equal": bool, "esp_equal": bool, "error": str|null}]}

encrypt: packets = [{"inner": hex, "seq": int, "iv": hex}]
  Answer: {"outer": [hex, ...]} scapy's tunnel-mode packets.
"""
import json
import sys

from scapy.all import IP, IPv6, UDP
from scapy.layers.ipsec import ESP, SecurityAssociation


def make_sa(sa):
    nat = UDP(sport=4500, dport=4500) if sa.get("natt") else None
    return SecurityAssociation(
        ESP, spi=sa["spi"], crypt_algo="AES-CBC", crypt_key=bytes.fromhex(sa["enc_key"]),
        auth_algo="HMAC-SHA1-96", auth_key=bytes.fromhex(sa["auth_key"]),
        tunnel_header=IP(src=sa["src"], dst=sa["dst"]), nat_t_header=nat)


def parse_inner(raw):
    return IP(raw) if raw[0] >> 4 == 4 else IPv6(raw)


def esp_bytes(pkt):
    """The ESP part (SPI .. ICV) of an outer IPv4 packet, UDP-encapsulated or not."""
    ip = IP(bytes(pkt))
    if ip.proto == 17:
        return bytes(ip[UDP].payload)
    return bytes(ip.payload)


def decrypt(job):
    results = []
    for p in job["packets"]:
        outer, inner = bytes.fromhex(p["outer"]), bytes.fromhex(p["inner"])
        r = {"inner_equal": False, "esp_equal": False, "error": None}
        try:
            got = make_sa(job["sa"]).decrypt(IP(outer))
            r["inner_equal"] = bytes(got) == inner
            esp = esp_bytes(outer)
            seq = int.from_bytes(esp[4:8], "big")
            iv = esp[8:24]
            again = make_sa(job["sa"]).encrypt(parse_inner(inner), seq_num=seq, iv=iv)
            r["esp_equal"] = esp_bytes(again) == esp
        except Exception as e:  # reported to the Rust side, which fails the test
            r["error"] = f"{type(e).__name__}: {e}"
        results.append(r)
    return {"results": results}


def encrypt(job):
    sa = make_sa(job["sa"])
    out = []
    for p in job["packets"]:
        inner = parse_inner(bytes.fromhex(p["inner"]))
        enc = sa.encrypt(inner, seq_num=p["seq"], iv=bytes.fromhex(p["iv"]))
        if enc.haslayer(UDP):
            # scapy 2.5 fills the NAT-T UDP header before the ESP payload is
            # attached: length 8, checksum 0. Linux trims such a datagram to
            # an empty payload; let scapy recompute both over the real payload.
            del enc[UDP].len
            del enc[UDP].chksum
            enc = IP(bytes(enc))
        out.append(bytes(enc).hex())
    return {"outer": out}


def main():
    job = json.load(sys.stdin)
    answer = {"decrypt": decrypt, "encrypt": encrypt}[job["mode"]](job)
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
