/**
 * The Linux baseline on the two-pods topology: the host namespace forwards
 * between the pods itself, configured as a plain router would be. undo()
 * returns the host namespace to what buildTwoPods made (forwarding off, no
 * addresses), so that only our XDP can carry packets in the next phase.
 */
import type { Lab } from '../lab/topology.ts';
import type { TwoPods } from '../lab/two-pods.ts';

const GW = ['10.10.1.1/24', '10.10.2.1/24'] as const;

/**
 * hostGro (default true): GRO on pod1's host veth, which the packet
 * generator needs; the TCP phase passes false and keeps the kernel's
 * defaults, as the pods' own traffic needs nothing of the kind.
 */
export function enableLinuxForwarding(lab: Lab, t: TwoPods, opts: { hostGro?: boolean } = {}): { undo: () => void } {
  const [pod1, pod2] = t.pods;
  lab.sysctl(t.host, 'net.ipv4.ip_forward', '1');
  t.pods.forEach((p, i) => lab.ip(t.host, ['addr', 'add', GW[i]!, 'dev', p.hostIf]));
  // permanent: pod2's XDP sink drops ARP requests too, so it could never answer one
  lab.ip(t.host, ['neigh', 'replace', pod2.ip4, 'lladdr', pod2.mac, 'dev', pod2.hostIf, 'nud', 'permanent']);
  // the generator XDP-transmits into pod1's veth: its host end only takes such frames with GRO (or XDP) on
  const restoreGro = (opts.hostGro ?? true) ? setGro(lab, t.host, pod1.hostIf, 'on') : () => {};
  return {
    undo: () => {
      restoreGro();
      lab.ip(t.host, ['neigh', 'del', pod2.ip4, 'dev', pod2.hostIf]);
      t.pods.forEach((p, i) => lab.ip(t.host, ['addr', 'del', GW[i]!, 'dev', p.hostIf]));
      lab.sysctl(t.host, 'net.ipv4.ip_forward', '0');
    },
  };
}

/** setGro: GRO of one device; returns what puts it back as it was. */
export function setGro(lab: Lab, ns: string, dev: string, gro: 'on' | 'off'): () => void {
  const was = /generic-receive-offload: (on|off)/.exec(lab.exec(ns, 'ethtool', ['-k', dev]))?.[1] ?? 'off';
  lab.exec(ns, 'ethtool', ['-K', dev, 'gro', gro]);
  return () => lab.exec(ns, 'ethtool', ['-K', dev, 'gro', was]);
}
