/**
 * End to end, the overlay against peers we did not write. This kernel
 * terminates VXLAN (the vxlan device) but no MPLS, FOU or GRE, so:
 * - VXLAN: host 1 runs our datapath, host 2 is a plain Linux router with a
 *   vxlan device (lab/linux-vxlan.ts); its pods and ours ping each other
 *   and move TCP both ways (sha256): ours decapsulated by Linux, Linux's by
 *   ours, and the underlay shows VXLAN with the pod's VNI;
 * - MPLSoUDP and MPLSoGRE: Debian's tshark reads a capture of what we send
 *   (outer headers, UDP 6635 or GRE, the label, the inner packet, IPv4 and
 *   IPv6), and frames that Debian's python3-scapy builds are decapsulated by
 *   us and arrive in a pod's UDP socket.
 * The first suite checks those peers themselves (scapy builds, tshark
 * reads: no datapath of ours involved) and runs everywhere; the others need
 * the tunnel API (branch tunnels) and skip, saying so, where it is absent.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Lab } from '../../lab/topology.ts';
import { startDaemons, type LabDaemon } from '../../lab/daemon.ts';
import { buildMultiHost, podOf, type MultiHost } from '../../lab/multihost.ts';
import { DEFAULT_VNI, VXLAN_PORT, addLinuxVtep, linkVtep, setVtepMac, type LinuxVtep } from '../../lab/linux-vxlan.ts';
import { labelOf, programOverlay } from '../../lab/overlay-program.ts';
import { MPLS_UDP_PORT, findTunnelApi, type Encap } from '../../lab/tunnel-api.ts';
import { tcpTransferChecked } from '../helpers/transfer.ts';
import { UnderlayCapture, type Dissected } from '../helpers/underlay-capture.ts';
import { sendTunnelFrames, type TunnelFrame } from '../helpers/scapy.ts';
import { UdpSink } from '../helpers/udp-peer.ts';

const api = await findTunnelApi();
const skip = typeof api === 'string' ? api : false;
const XFER_BYTES = 4 * 1024 * 1024;
const PORT = 7000;

/** CHAIN: what tshark calls the headers of an echo request inside each encapsulation */
const CHAIN: Record<Encap, { v4: string; v6: string }> = {
  mplsoudp: { v4: 'eth:ethertype:ip:udp:mpls:ip:icmp:data', v6: 'eth:ethertype:ip:udp:mpls:ipv6:icmpv6:data' },
  mplsogre: { v4: 'eth:ethertype:ip:gre:mpls:ip:icmp:data', v6: 'eth:ethertype:ip:gre:mpls:ipv6:icmpv6:data' },
  vxlan: { v4: 'eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:icmp:data', v6: 'eth:ethertype:ip:udp:vxlan:eth:ethertype:ipv6:icmpv6:data' },
};
const UDP_CHAIN: Record<Encap, { v4: string; v6: string }> = {
  mplsoudp: { v4: 'eth:ethertype:ip:udp:mpls:ip:udp:data', v6: 'eth:ethertype:ip:udp:mpls:ipv6:udp:data' },
  mplsogre: { v4: 'eth:ethertype:ip:gre:mpls:ip:udp:data', v6: 'eth:ethertype:ip:gre:mpls:ipv6:udp:data' },
  vxlan: { v4: 'eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:udp:data', v6: 'eth:ethertype:ip:udp:vxlan:eth:ethertype:ipv6:udp:data' },
};

/** the pcap filter of one encapsulation's packets toward an underlay address */
function underlayFilter(encap: Encap, dst: string): string {
  const proto = encap === 'mplsogre' ? 'proto gre' : `udp dst port ${encap === 'vxlan' ? VXLAN_PORT : MPLS_UDP_PORT}`;
  return `${proto} and dst host ${dst}`;
}

const hex = (s: string) => Buffer.from(s).toString('hex');

/**
 * framesTo: UDP datagrams to pod 1 of host h from pod 1 of another host,
 * IPv4 and IPv6, tunnelled to h's underlay address as scapy builds them,
 * sent from the router (innerEthDst: VXLAN's inner destination MAC).
 */
function framesTo(t: MultiHost, encap: Encap, h: number, label: number, texts: { v4: string; v6: string }, innerEthDst?: string): TunnelFrame[] {
  const host = t.hosts[h - 1]!;
  const from = podOf(t, h === 1 ? 2 : 1);
  const to = podOf(t, h);
  const base = {
    iface: host.routerIf, encap, ethDst: host.fabricMac, ethSrc: host.routerMac, outerSrc: host.routerIp, outerDst: host.fabricIp, label,
    ...(innerEthDst ? { innerEthDst } : {}),
  };
  return [
    { ...base, inner: { src: from.ip4, dst: to.ip4, sport: 4000, dport: PORT, text: texts.v4 } },
    { ...base, inner: { src: from.ip6, dst: to.ip6, sport: 4000, dport: PORT, text: texts.v6 } },
  ];
}

describe('the independent peers themselves: frames scapy builds, as tshark reads them off the underlay', () => {
  let lab: Lab;
  let t: MultiHost;

  before(() => {
    lab = new Lab('vrpeer');
    t = buildMultiHost(lab, { hosts: 2 });
  });

  after(() => lab?.cleanup());

  for (const encap of ['mplsoudp', 'mplsogre', 'vxlan'] as const)
    it(`${encap}: outer headers, ${encap === 'vxlan' ? 'VNI' : 'label'}, inner IPv4 and IPv6 datagrams`, async () => {
      const host = t.hosts[0]!;
      const cap = await UnderlayCapture.start(lab, t.router, host.routerIf, underlayFilter(encap, host.fabricIp), { count: 2 });
      const texts = { v4: `${encap} v4 by scapy`, v6: `${encap} v6 by scapy` };
      sendTunnelFrames(lab, t.router, framesTo(t, encap, 1, 777, texts));
      const frames = await cap.stop();
      assert.equal(frames.length, 2, JSON.stringify(frames));
      const [v4, v6] = frames as [Dissected, Dissected];
      assert.equal(v4.protocols.join(':'), UDP_CHAIN[encap].v4);
      assert.equal(v6.protocols.join(':'), UDP_CHAIN[encap].v6);
      const [pod1, pod2] = [podOf(t, 1), podOf(t, 2)];
      assert.deepEqual([v4.ipSrc, v4.ipDst], [[host.routerIp, pod2.ip4], [host.fabricIp, pod1.ip4]]);
      assert.deepEqual([v6.ipSrc, v6.ipDst, v6.ipv6Src, v6.ipv6Dst], [[host.routerIp], [host.fabricIp], [pod2.ip6], [pod1.ip6]]);
      for (const f of frames) {
        if (encap === 'vxlan') assert.deepEqual(f.vni, [777]);
        else assert.deepEqual(f.mplsLabels, [777]);
        if (encap !== 'mplsogre') assert.equal(f.udpDstPorts[0], encap === 'vxlan' ? VXLAN_PORT : MPLS_UDP_PORT);
        assert.equal(f.udpDstPorts.at(-1), PORT);
      }
      assert.deepEqual([v4.data, v6.data], [hex(texts.v4), hex(texts.v6)]);
    });

  it('scapy\'s VXLAN frames are well formed: a Linux vxlan device decapsulates them and the datagrams arrive in the pod', async () => {
    const vtep = addLinuxVtep(lab, t, 1, DEFAULT_VNI);
    linkVtep(lab, vtep, [{ host: 2, fabricIp: t.hosts[1]!.fabricIp, mac: t.hosts[1]!.fabricMac }]);
    const sink = await UdpSink.start(lab, podOf(t, 1).ns, PORT);
    try {
      const texts = { v4: 'vxlan v4 to Linux', v6: 'vxlan v6 to Linux' };
      sendTunnelFrames(lab, t.router, framesTo(t, 'vxlan', 1, DEFAULT_VNI, texts, vtep.mac));
      await sink.waitFor((l) => l === texts.v4, 5000);
      await sink.waitFor((l) => l === texts.v6, 5000);
    } finally {
      sink.stop();
    }
  });
});

describe('VXLAN between our datapath (host 1) and a Linux vxlan device (host 2)', { skip }, () => {
  let lab: Lab;
  let t: MultiHost;
  let daemons: LabDaemon[];
  let vtep: LinuxVtep;

  before(async () => {
    if (typeof api === 'string') return;
    lab = new Lab('vrvxi');
    t = buildMultiHost(lab, { hosts: 2 });
    const [h1, h2] = t.hosts as [typeof t.hosts[0], typeof t.hosts[0]];
    vtep = addLinuxVtep(lab, t, 2, DEFAULT_VNI);
    // what host 2 sends us: VNI 5101 (pod 1 of VRF 1, labelOf), inner MAC our fabric's (our decap maps the VNI to the pod)
    linkVtep(lab, vtep, [{ host: 1, fabricIp: h1.fabricIp, mac: h1.fabricMac }]);
    daemons = await startDaemons(lab, [h1.ns]);
    await programOverlay([daemons[0]!.client!], t, 'vxlan', api, { innerMac: () => vtep.mac });
    if (!api.hasInnerMac) {
      // the next hop has no inner MAC: the Linux VTEP takes the one we send as its own (as EVPN's router MAC)
      const cap = await UnderlayCapture.start(lab, t.router, h2.routerIf, underlayFilter('vxlan', h2.fabricIp), { count: 1 });
      lab.ping(podOf(t, 1).ns, podOf(t, 2).ip4, 1, { allowFail: true });
      const [f] = await cap.stop();
      assert.ok(f?.ethDst[1], `our datapath sent no VXLAN toward the Linux VTEP: ${JSON.stringify(f)}`);
      setVtepMac(lab, vtep, f.ethDst[1]);
    }
  });

  after(async () => {
    for (const d of daemons ?? []) await d.destroy();
    lab?.cleanup();
  });

  it('ping both ways, IPv4 and IPv6 inner', () => {
    const [p1, p2] = [podOf(t, 1), podOf(t, 2)];
    for (const [a, b] of [[p1, p2], [p2, p1]] as const) {
      assert.equal(lab.ping(a.ns, b.ip4, 3).received, 3, `${a.ip4} -> ${b.ip4}`);
      assert.equal(lab.ping(a.ns, b.ip6, 3).received, 3, `${a.ip6} -> ${b.ip6}`);
    }
  });

  it('TCP both ways arrives intact (sha256): Linux decapsulates ours, we decapsulate Linux\'s', async () => {
    await tcpTransferChecked(lab, podOf(t, 1), podOf(t, 2), 'ip4', XFER_BYTES);
    await tcpTransferChecked(lab, podOf(t, 2), podOf(t, 1), 'ip6', XFER_BYTES);
  });

  it('what we send is VXLAN with the VNI, from our underlay address, as tshark reads it', async () => {
    const [h1, h2] = t.hosts;
    const cap = await UnderlayCapture.start(lab, t.router, h2!.routerIf, underlayFilter('vxlan', h2!.fabricIp), { count: 1 });
    lab.ping(podOf(t, 1).ns, podOf(t, 2).ip4, 1);
    const [f] = await cap.stop();
    assert.equal(f?.protocols.join(':'), CHAIN.vxlan.v4);
    assert.deepEqual([f.vni, f.ipSrc, f.ipDst], [[DEFAULT_VNI], [h1!.fabricIp, podOf(t, 1).ip4], [h2!.fabricIp, podOf(t, 2).ip4]]);
    assert.equal(f.ethDst[1], vtep.mac, 'the inner destination is the Linux VTEP\'s MAC');
  });
});

for (const encap of ['mplsoudp', 'mplsogre'] as const)
  describe(`${encap}: tshark reads what we send, and we deliver what scapy builds`, { skip }, () => {
    let lab: Lab;
    let t: MultiHost;
    let daemons: LabDaemon[];

    before(async () => {
      if (typeof api === 'string') return;
      lab = new Lab('vrmpi');
      t = buildMultiHost(lab, { hosts: 2 });
      daemons = await startDaemons(lab, t.hosts.map((h) => h.ns));
      await programOverlay(daemons.map((d) => d.client), t, encap, api);
      // both directions work before anything is captured (neighbours resolved)
      lab.ping(podOf(t, 1).ns, podOf(t, 2).ip4, 2);
    });

    after(async () => {
      for (const d of daemons ?? []) await d.destroy();
      lab?.cleanup();
    });

    it('our frames: outer IPv4 between the underlay addresses, the remote pod\'s label, the inner echo (IPv4 and IPv6)', async () => {
      const [h1, h2] = t.hosts;
      const [p1, p2] = [podOf(t, 1), podOf(t, 2)];
      const cap = await UnderlayCapture.start(lab, t.router, h2!.routerIf, underlayFilter(encap, h2!.fabricIp), { count: 2 });
      lab.ping(p1.ns, p2.ip4, 1);
      lab.ping(p1.ns, p2.ip6, 1);
      const frames = await cap.stop();
      const v4 = frames.find((f) => f.protocols.join(':') === CHAIN[encap].v4);
      const v6 = frames.find((f) => f.protocols.join(':') === CHAIN[encap].v6);
      assert.ok(v4 && v6, `an IPv4 and an IPv6 echo inside ${encap}: ${JSON.stringify(frames)}`);
      assert.deepEqual([v4.ipSrc, v4.ipDst], [[h1!.fabricIp, p1.ip4], [h2!.fabricIp, p2.ip4]]);
      assert.deepEqual([v6.ipSrc, v6.ipDst, v6.ipv6Src, v6.ipv6Dst], [[h1!.fabricIp], [h2!.fabricIp], [p1.ip6], [p2.ip6]]);
      for (const f of [v4, v6]) {
        assert.deepEqual(f.mplsLabels, [labelOf(encap, p2)]);
        if (encap === 'mplsoudp') assert.equal(f.udpDstPorts[0], MPLS_UDP_PORT);
      }
    });

    it('scapy\'s frames to our underlay address are decapsulated and the inner datagrams (IPv4, IPv6) arrive in the pod', async () => {
      const pod = podOf(t, 1);
      const sink = await UdpSink.start(lab, pod.ns, PORT);
      try {
        const texts = { v4: `${encap} v4 from scapy`, v6: `${encap} v6 from scapy` };
        sendTunnelFrames(lab, t.router, framesTo(t, encap, 1, labelOf(encap, pod), texts));
        await sink.waitFor((l) => l === texts.v4, 5000);
        await sink.waitFor((l) => l === texts.v6, 5000);
      } finally {
        sink.stop();
      }
    });
  });
