/**
 * sendTunnelFrames: tunnelled frames built by scapy (test/helpers/
 * tunnel-frames.py, Debian's python3-scapy: Debian's own python, where the
 * package lives), sent from a lab namespace with sendp.
 */
import { fileURLToPath } from 'node:url';
import type { Lab } from '../../lab/topology.ts';
import type { Encap } from '../../lab/tunnel-api.ts';

const SCRIPT = fileURLToPath(new URL('./tunnel-frames.py', import.meta.url));
const PYTHON = '/usr/bin/python3';

export interface TunnelFrame {
  iface: string;
  encap: Encap;
  ethDst: string;
  ethSrc: string;
  outerSrc: string;
  outerDst: string;
  /** MPLS label or VNI */
  label: number;
  /** outer UDP source port (MPLSoUDP, VXLAN) */
  sport?: number;
  /** VXLAN: the inner Ethernet destination */
  innerEthDst?: string;
  /** the inner UDP datagram (IPv6 when dst has a colon) */
  inner: { src: string; dst: string; sport: number; dport: number; text: string };
}

export function sendTunnelFrames(lab: Lab, ns: string, frames: TunnelFrame[]): void {
  const json = frames.map((f) => ({
    iface: f.iface, encap: f.encap, eth_dst: f.ethDst, eth_src: f.ethSrc, outer_src: f.outerSrc, outer_dst: f.outerDst,
    label: f.label, sport: f.sport ?? 49152, inner: f.inner, inner_eth_dst: f.innerEthDst ?? f.ethDst,
  }));
  const out = lab.exec(ns, PYTHON, [SCRIPT, JSON.stringify(json)], { timeoutMs: 60_000 });
  if (!out.includes('sent')) throw new Error(`scapy: ${out}`);
}
