/**
 * programOverlay (lab/overlay-program.ts) on a recording client and the
 * tunnel API stand-in (test/fixtures/tunnel-api): what each host's daemon
 * is asked, in which order: its pods, the fabric vif, the decap entries
 * (each local pod's label / VNI → its next hop), then a tunnel next hop and
 * routes per remote pod, nothing for a host without a client.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createFileRegistry, fromBinary, toJson, type DescMessage, type DescService, type Message } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { multiHostOptions, podIp4, podIp6, type MultiHost, type OverlayPod, type SimHost } from '../../lab/multihost.ts';
import { FABRIC_VIF, labelOf, programOverlay } from '../../lab/overlay-program.ts';
import { tunnelApiFrom, type TunnelApi, type TunnelApiOf } from '../../lab/tunnel-api.ts';
import type { VrouterClient } from '../../src/client/client.ts';
import { InterfaceType } from '../../src/gen/vrouter/ebpf/v1/interface_pb.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/tunnel-api', import.meta.url));
const BUF = fileURLToPath(new URL('../../node_modules/.bin/buf', import.meta.url));
const PKG = 'fixture.tunnels.v1';

/** a two-host, two-VRF topology as data (no namespace) */
function topology(): MultiHost {
  const hosts: SimHost[] = [1, 2].map((h) => {
    const pods: OverlayPod[] = [];
    for (const vrf of [1, 2]) {
      const ip4 = podIp4(h, 1);
      const ip6 = podIp6(h, 1);
      pods.push({
        ns: `h${h}v${vrf}p1`, ifname: 'eth0', hostIf: `veth-v${vrf}p1`, mac: `02:00:00:00:0${h}:0${vrf}`, hostMac: '02:ff:00:00:00:01',
        ip4, ip6, host: h, vrf, index: 1, vif: pods.length + 1, gw4: ip4.replace(/\.2$/, '.1'), gw6: ip6.replace(/::2$/, '::1'),
      });
    }
    return { index: h, ns: `h${h}`, fabricIf: 'fabric0', fabricIp: `172.16.${h}.2`, fabricMac: `02:fa:00:00:00:0${h}`, routerIf: `to-h${h}`, routerIp: `172.16.${h}.1`, routerMac: '02:fb:00:00:00:01', pods };
  });
  return { router: 'fab', hosts, opts: multiHostOptions({ vrfs: 2 }) };
}

/** Recorder: a VrouterClient stand-in that writes down every call as "service.method json" */
function recorder(d: { nextHop: DescMessage; route: DescMessage }): { client: VrouterClient; calls: string[] } {
  const calls: string[] = [];
  const rec = (name: string, desc?: DescMessage) => async (req: unknown) => {
    calls.push(`${name} ${JSON.stringify(desc ? toJson(desc, req as Message) : req, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))}`);
    return {};
  };
  const client = {
    interfaces: { addInterface: rec('interfaces.addInterface') },
    nextHops: { addNextHop: async (req: unknown) => rec('nextHops.addNextHop', (req as { $typeName?: string }).$typeName ? d.nextHop : undefined)(req) },
    routes: { addRoute: async (req: unknown) => rec('routes.addRoute', (req as { $typeName?: string }).$typeName ? d.route : undefined)(req) },
    service: (svc: DescService) =>
      Object.fromEntries(svc.methods.map((m) => [m.localName, rec(`${svc.name}.${m.name}`, m.input)])),
  };
  return { client: client as unknown as VrouterClient, calls };
}

describe('programOverlay on a recording client and the tunnel API stand-in', () => {
  let api: TunnelApiOf;
  let descs: { nextHop: DescMessage; route: DescMessage };

  before(() => {
    const reg = createFileRegistry(fromBinary(FileDescriptorSetSchema, execFileSync(BUF, ['build', FIXTURES, '-o', '-#format=binpb'])));
    const services = new Map<string, DescService>();
    for (const s of ['MplsService', 'VxlanService']) services.set(`${PKG}.${s}`, reg.getService(`${PKG}.${s}`)!);
    descs = { nextHop: reg.getMessage(`${PKG}.AddNextHopRequest`)!, route: reg.getMessage(`${PKG}.AddRouteRequest`)! };
    api = tunnelApiFrom({ addNextHopRequest: descs.nextHop, addRouteRequest: descs.route, services }) as TunnelApiOf;
  });

  it('VXLAN, host 1 programmed, host 2 a remote only (a Linux VTEP): the calls in order', async () => {
    const t = topology();
    const { client, calls } = recorder(descs);
    await programOverlay([client, undefined], t, 'vxlan', api as unknown as TunnelApi, { innerMac: (h) => `02:4c:00:00:00:0${h.index}` });
    const kinds = calls.map((c) => c.split(' ')[0]);
    // pods (vif, next hop, 2 routes, 2 gateway routes) x 2, the fabric vif, 2 decap entries, 2 x (tunnel, 2 routes)
    assert.deepEqual(kinds, [
      'nextHops.addNextHop',
      ...Array(2).fill(['interfaces.addInterface', 'nextHops.addNextHop', ...Array(4).fill('routes.addRoute')]).flat(),
      'interfaces.addInterface',
      'VxlanService.AddVni', 'VxlanService.AddVni',
      ...Array(2).fill(['nextHops.addNextHop', 'routes.addRoute', 'routes.addRoute']).flat(),
    ]);
    const fabric = JSON.parse(calls[13]!.slice(calls[13]!.indexOf(' ') + 1)) as { interface: { index: number; type: number; name: string; ipv4Address: string } };
    assert.deepEqual([fabric.interface.index, fabric.interface.type, fabric.interface.name, fabric.interface.ipv4Address], [FABRIC_VIF, InterfaceType.FABRIC, 'fabric0', '172.16.1.2']);
    assert.deepEqual(calls.slice(14, 16), [
      `VxlanService.AddVni {"vni":{"vni":${labelOf('vxlan', { vrf: 1, index: 1 })},"nextHopId":11}}`,
      `VxlanService.AddVni {"vni":{"vni":${labelOf('vxlan', { vrf: 2, index: 1 })},"nextHopId":12}}`,
    ]);
    assert.equal(labelOf('vxlan', { vrf: 1, index: 1 }), 5101, 'the Linux VTEP\'s VNI (DEFAULT_VNI)');
    assert.deepEqual(calls.slice(16, 19), [
      'nextHops.addNextHop {"nextHop":{"id":1201,"vrf":1,"tunnel":{"type":"TUNNEL_TYPE_VXLAN","srcIp":"172.16.1.2","dstIp":"172.16.2.2","label":5101,"fabricInterfaceIndex":100,"innerDstMac":"02:4c:00:00:00:02"}}}',
      'routes.addRoute {"route":{"vrf":1,"prefix":"10.12.1.2/32","nextHopId":1201}}',
      'routes.addRoute {"route":{"vrf":1,"prefix":"fd00:12:1::2/128","nextHopId":1201}}',
    ]);
    assert.match(calls[19]!, /"id":1202,"vrf":2,.*"label":5201/);
  });

  it('MPLSoGRE on both hosts: labels per VRF and pod, the same on each host, each mapped to the local pod', async () => {
    const t = topology();
    const [a, b] = [recorder(descs), recorder(descs)];
    await programOverlay([a.client, b.client], t, 'mplsogre', api as unknown as TunnelApi);
    for (const [i, r] of [a, b].entries()) {
      assert.deepEqual(r.calls.filter((c) => c.startsWith('MplsService')), [
        'MplsService.AddMplsLabel {"label":{"label":1101,"nextHopId":11}}',
        'MplsService.AddMplsLabel {"label":{"label":1201,"nextHopId":12}}',
      ]);
      const other = 2 - i;
      assert.ok(r.calls.some((c) => c.includes(`"type":"TUNNEL_TYPE_MPLSOGRE","srcIp":"172.16.${i + 1}.2","dstIp":"172.16.${other}.2","label":1101`)), r.calls.join('\n'));
    }
  });
});
