"""tunnel-frames.py: tunnelled frames built by scapy (Debian's python3-scapy),
an encapsulation library we did not write, sent out of an interface with
sendp. Used by the overlay interoperability tests (test/helpers/scapy.ts):
run inside a lab namespace with the frames as one JSON argument:
  [{"iface", "encap": "mplsoudp"|"mplsogre"|"vxlan", "eth_dst", "eth_src",
    "outer_src", "outer_dst", "label", "sport",
    "inner": {"src", "dst", "sport", "dport", "text"}, "inner_eth_dst"?}]
"""
import json
import sys

from scapy.all import Ether, GRE, IP, IPv6, UDP, Raw, conf, sendp
from scapy.contrib.mpls import MPLS
from scapy.layers.vxlan import VXLAN

MPLS_UDP_PORT = 6635
VXLAN_PORT = 4789

conf.verb = 0


def inner_packet(f):
    i = f["inner"]
    l3 = IPv6(src=i["src"], dst=i["dst"], hlim=64) if ":" in i["dst"] else IP(src=i["src"], dst=i["dst"], ttl=64)
    return l3 / UDP(sport=i["sport"], dport=i["dport"]) / Raw(i["text"].encode())


def frame(f):
    outer = Ether(dst=f["eth_dst"], src=f["eth_src"]) / IP(src=f["outer_src"], dst=f["outer_dst"], ttl=64)
    inner = inner_packet(f)
    if f["encap"] == "mplsoudp":
        return outer / UDP(sport=f["sport"], dport=MPLS_UDP_PORT) / MPLS(label=f["label"], s=1, ttl=64) / inner
    if f["encap"] == "mplsogre":
        return outer / GRE(proto=0x8847) / MPLS(label=f["label"], s=1, ttl=64) / inner
    if f["encap"] == "vxlan":
        ethertype = 0x86DD if ":" in f["inner"]["dst"] else 0x0800
        l2 = Ether(dst=f["inner_eth_dst"], src=f["eth_src"], type=ethertype)
        return outer / UDP(sport=f["sport"], dport=VXLAN_PORT) / VXLAN(vni=f["label"], flags=0x08) / l2 / inner
    raise SystemExit("unknown encap " + f["encap"])


for f in json.loads(sys.argv[1]):
    sendp(frame(f), iface=f["iface"])
print("sent")
