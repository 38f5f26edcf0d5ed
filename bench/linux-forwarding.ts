/**
 * The Linux baseline on the two-pods topology: the host namespace forwards
 * between the pods itself, configured as a plain router would be. undo()
 * returns the host namespace to what buildTwoPods made (forwarding off, no
 * addresses), so that only our XDP can carry packets in the next phase.
 */
import type { Lab } from '../lab/topology.ts';
import type { TwoPods } from '../lab/two-pods.ts';

const GW = ['10.10.1.1/24', '10.10.2.1/24'] as const;

export function enableLinuxForwarding(lab: Lab, t: TwoPods): { undo: () => void } {
  const [pod1, pod2] = t.pods;
  lab.sysctl(t.host, 'net.ipv4.ip_forward', '1');
  t.pods.forEach((p, i) => lab.ip(t.host, ['addr', 'add', GW[i]!, 'dev', p.hostIf]));
  // permanent: pod2's XDP sink drops ARP requests too, so it could never answer one
  lab.ip(t.host, ['neigh', 'replace', pod2.ip4, 'lladdr', pod2.mac, 'dev', pod2.hostIf, 'nud', 'permanent']);
  // the generator XDP-transmits into pod1's veth: its host end only takes such frames with GRO (or XDP) on
  const gro = /generic-receive-offload: (on|off)/.exec(lab.exec(t.host, 'ethtool', ['-k', pod1.hostIf]))?.[1] ?? 'off';
  lab.exec(t.host, 'ethtool', ['-K', pod1.hostIf, 'gro', 'on']);
  return {
    undo: () => {
      lab.exec(t.host, 'ethtool', ['-K', pod1.hostIf, 'gro', gro]);
      lab.ip(t.host, ['neigh', 'del', pod2.ip4, 'dev', pod2.hostIf]);
      t.pods.forEach((p, i) => lab.ip(t.host, ['addr', 'del', GW[i]!, 'dev', p.hostIf]));
      lab.sysctl(t.host, 'net.ipv4.ip_forward', '0');
    },
  };
}
