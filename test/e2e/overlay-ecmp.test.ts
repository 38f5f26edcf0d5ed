/**
 * End to end, ECMP through our datapath in the multi-host lab
 * (lab/multihost.ts, a daemon per host, programOverlay with MPLSoUDP):
 * host 1 reaches pod 2 (on host 2) over two tunnel paths, two tunnel next
 * hops with different underlay source addresses of host 1 (172.16.1.2 and
 * a second address, 172.16.1.3, on its fabric), members of one ECMP
 * composite that pod 2's route leads to. Many UDP flows (one source port
 * each, several datagrams per flow) from pod 1 to pod 2: every datagram
 * arrives (host 2 decapsulates both paths), and an underlay capture on the
 * router (tcpdump, read by tshark) shows the flows spread over both paths,
 * each flow on one path only. Then a member removed: every flow on the path
 * that stays.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Lab } from '../../lab/topology.ts';
import { startDaemons, type LabDaemon } from '../../lab/daemon.ts';
import { buildMultiHost, podOf, type MultiHost } from '../../lab/multihost.ts';
import { FABRIC_VIF, labelOf, programOverlay, tunnelNextHop } from '../../lab/overlay-program.ts';
import { findTunnelApi, MPLS_UDP_PORT } from '../../lab/tunnel-api.ts';
import type { VrouterClient } from '../../src/client/client.ts';
import { AttachHook } from '../../src/gen/vrouter/ebpf/v1/interface_pb.js';
import { CompositeKind } from '../../src/gen/vrouter/ebpf/v1/nexthop_pb.js';
import { UdpSink, udpSend } from '../helpers/udp-peer.ts';
import { UnderlayCapture } from '../helpers/underlay-capture.ts';

const api = await findTunnelApi();
const skip = typeof api === 'string' ? api : false;
const PORT = 7000;
const FLOWS = 24;
const PER_FLOW = 3;
const SECOND_SRC = '172.16.1.3';
const ECMP_NH = 3000;
const SECOND_TUNNEL = 3001;

for (const [hook, policy] of [['tc', AttachHook.TC], ['xdp', AttachHook.XDP]] as const)
  describe(`ECMP over two tunnel paths between two hosts, ${hook.toUpperCase()} vifs`, { skip }, () => {
    let lab: Lab;
    let t: MultiHost;
    let daemons: LabDaemon[] = [];
    let c1: VrouterClient;
    let sink: UdpSink;

    before(async () => {
      if (typeof api === 'string') throw new Error(api);
      lab = new Lab(`vrec${hook}`);
      t = buildMultiHost(lab, { hosts: 2, offloads: hook === 'tc' ? 'default' : 'xdp' });
      daemons = await startDaemons(lab, t.hosts.map((h) => h.ns));
      const clients = daemons.map((d) => d.client!);
      c1 = clients[0]!;
      await programOverlay(clients, t, 'mplsoudp', api, { hook: policy });
      const h1 = t.hosts[0]!;
      const pod2 = podOf(t, 2);
      // the second path: host 1's second underlay address as the outer source
      lab.ip(h1.ns, ['addr', 'add', `${SECOND_SRC}/24`, 'dev', h1.fabricIf]);
      const label = labelOf('mplsoudp', pod2);
      await c1.nextHops.addNextHop(api.tunnelNextHop({ id: SECOND_TUNNEL, vrf: pod2.vrf, encap: 'mplsoudp', srcIp: SECOND_SRC, dstIp: t.hosts[1]!.fabricIp, label, fabricVif: FABRIC_VIF }));
      await c1.nextHops.addNextHop({
        nextHop: { id: ECMP_NH, vrf: pod2.vrf, kind: { case: 'composite', value: { kind: CompositeKind.ECMP, memberIds: [tunnelNextHop(pod2), SECOND_TUNNEL] } } },
      });
      await c1.routes.updateRoute(api.tunnelRoute(pod2.vrf, `${pod2.ip4}/32`, ECMP_NH, label) as never);
      sink = await UdpSink.start(lab, pod2.ns, PORT);
    });

    after(async () => {
      sink?.stop();
      for (const d of daemons) await d.destroy();
      lab?.cleanup();
    });

    /** send: FLOWS flows of PER_FLOW datagrams each from pod 1 to pod 2; the outer sources each flow took on the underlay */
    async function send(tag: string): Promise<Map<number, Set<string>>> {
      const pod1 = podOf(t, 1);
      const pod2 = podOf(t, 2);
      const cap = await UnderlayCapture.start(lab, t.router, t.hosts[0]!.routerIf, `udp dst port ${MPLS_UDP_PORT}`, { count: FLOWS * PER_FLOW + 50 });
      for (let f = 0; f < FLOWS; f++)
        udpSend(lab, pod1.ns, 'udp4', 20000 + f, pod2.ip4, PORT, Array.from({ length: PER_FLOW }, (_, k) => `${tag}-${f}-${k}`));
      for (let f = 0; f < FLOWS; f++)
        for (let k = 0; k < PER_FLOW; k++) await sink.waitFor((l) => l === `${tag}-${f}-${k}`, 5000);
      const frames = await cap.stop();
      const paths = new Map<number, Set<string>>();
      for (const fr of frames) {
        const m = /^([a-z]+)-(\d+)-\d+$/.exec(Buffer.from(fr.data, 'hex').toString());
        if (!m || m[1] !== tag) continue;
        const f = Number(m[2]);
        paths.set(f, (paths.get(f) ?? new Set()).add(fr.ipSrc[0]!));
      }
      assert.equal(paths.size, FLOWS, `every flow seen on the underlay (${paths.size})`);
      return paths;
    }

    it(`${FLOWS} flows of ${PER_FLOW} datagrams: all delivered, spread over both paths, each flow on one path`, async (ctx) => {
      const paths = await send('a');
      const per = new Map<string, number>();
      for (const [f, srcs] of paths) {
        assert.equal(srcs.size, 1, `flow ${f} took one path (${[...srcs].join(', ')})`);
        const s = [...srcs][0]!;
        per.set(s, (per.get(s) ?? 0) + 1);
      }
      ctx.diagnostic(`flows per path: ${JSON.stringify(Object.fromEntries(per))}`);
      assert.deepEqual([...per.keys()].sort(), [t.hosts[0]!.fabricIp, SECOND_SRC].sort(), `both paths used (${JSON.stringify([...per])})`);
      const st = (await c1.nextHops.getNextHop({ id: SECOND_TUNNEL })).nextHop!;
      assert.equal(st.compositeRefCount, 1);
    });

    it('a path removed from the composite: every flow on the path that stays, all delivered', async () => {
      await c1.nextHops.removeCompositeMember({ id: ECMP_NH, memberId: SECOND_TUNNEL });
      const paths = await send('b');
      for (const [f, srcs] of paths) assert.deepEqual([...srcs], [t.hosts[0]!.fabricIp], `flow ${f}`);
    });
  });
