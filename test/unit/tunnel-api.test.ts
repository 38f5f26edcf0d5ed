/**
 * lab/tunnel-api.ts builds the overlay's requests from descriptors, placing
 * values by meaning. The real API is on another branch, so it is checked
 * here on two stand-ins in the shape the issue describes
 * (test/fixtures/tunnel-api/*.proto, compiled with buf at test time): the
 * label on the tunnel next hop, or on the route; batch and single Add
 * methods; a oneof of next hop or VRF in the VNI table.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createFileRegistry, fromBinary, toJson, type DescMessage, type DescService, type Message } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { NextHopSchema } from '../../src/gen/vrouter/ebpf/v1/nexthop_pb.js';
import { findTunnelApi, tunnelApiFrom, type ApiDescs, type Encap, type TunnelApiOf } from '../../lab/tunnel-api.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/tunnel-api', import.meta.url));
const BUF = fileURLToPath(new URL('../../node_modules/.bin/buf', import.meta.url));

function descs(pkg: string, reg: ReturnType<typeof createFileRegistry>): ApiDescs {
  const msg = (n: string) => reg.getMessage(`${pkg}.${n}`) as DescMessage;
  const services = new Map<string, DescService>();
  for (const s of ['MplsService', 'VxlanService']) {
    const svc = reg.getService(`${pkg}.${s}`);
    if (svc) services.set(svc.typeName, svc);
  }
  return { addNextHopRequest: msg('AddNextHopRequest'), addRouteRequest: msg('AddRouteRequest'), services };
}

const spec = (encap: Encap) => ({ id: 101, vrf: 2, encap, srcIp: '172.16.1.2', dstIp: '172.16.2.2', label: 5101, fabricVif: 100, innerDstMac: '02:00:00:00:00:09' });

describe('tunnel API lookup (lab/tunnel-api.ts)', () => {
  let reg: ReturnType<typeof createFileRegistry>;

  before(() => {
    const bin = execFileSync(BUF, ['build', FIXTURES, '-o', '-#format=binpb'], { maxBuffer: 1 << 20 });
    reg = createFileRegistry(fromBinary(FileDescriptorSetSchema, bin));
  });

  it('this build: absent with the reason a test skips on, or present when NextHop has field 13', async () => {
    const api = await findTunnelApi();
    if (NextHopSchema.fields.some((f) => f.number === 13)) assert.notEqual(typeof api, 'string', String(api));
    else assert.match(String(api), /^needs tunnel next hops \(branch tunnels\)/);
  });

  describe('label on the tunnel next hop (a port field beside the addresses); single and batch Add methods; VNI → next hop or VRF', () => {
    let api: TunnelApiOf;
    const d = () => descs('fixture.tunnels.v1', reg);
    before(() => {
      const a = tunnelApiFrom(d());
      assert.notEqual(typeof a, 'string', String(a));
      api = a as TunnelApiOf;
    });

    it('a tunnel next hop per encapsulation: type, endpoints, label, fabric vif, inner MAC', () => {
      assert.equal(api.hasInnerMac, true);
      const types: Record<Encap, string> = { vxlan: 'TUNNEL_TYPE_VXLAN', mplsoudp: 'TUNNEL_TYPE_MPLSOUDP', mplsogre: 'TUNNEL_TYPE_MPLSOGRE' };
      for (const encap of ['vxlan', 'mplsoudp', 'mplsogre'] as const)
        assert.deepEqual(toJson(d().addNextHopRequest, api.tunnelNextHop(spec(encap))), {
          nextHop: {
            id: 101, vrf: 2,
            tunnel: { type: types[encap], srcIp: '172.16.1.2', dstIp: '172.16.2.2', label: 5101, fabricInterfaceIndex: 100, innerDstMac: '02:00:00:00:00:09' },
          },
        });
    });

    it('routes carry no label when the route has no field for it', () => {
      assert.deepEqual(toJson(d().addRouteRequest, api.tunnelRoute(1, '10.12.1.2/32', 101, 5101)), { route: { vrf: 1, prefix: '10.12.1.2/32', nextHopId: 101 } });
    });

    it('decap: the single Add method (not the batch), label and next hop; the VNI entry takes the next hop, not the VRF of its oneof', () => {
      const mpls = api.decapRequest('mplsoudp', 1101, 11);
      assert.equal(mpls.method.name, 'AddMplsLabel');
      assert.deepEqual(toJson(mpls.method.input, mpls.request as Message), { label: { label: 1101, nextHopId: 11 } });
      const vx = api.decapRequest('vxlan', 5101, 11);
      assert.equal(vx.method.name, 'AddVni');
      assert.deepEqual(toJson(vx.method.input, vx.request as Message), { vni: { vni: 5101, nextHopId: 11 } });
    });
  });

  describe('a label stack on the route, none on the next hop; enum values spelled MPLS_O_UDP', () => {
    let api: TunnelApiOf;
    const d = () => descs('fixture.routelabel.v1', reg);
    before(() => {
      api = tunnelApiFrom(d()) as TunnelApiOf;
    });

    it('the next hop without a label, the route with a stack of one', () => {
      assert.equal(api.hasInnerMac, false);
      assert.deepEqual(toJson(d().addNextHopRequest, api.tunnelNextHop(spec('mplsogre'))), {
        nextHop: { id: 101, vrf: 2, tunnel: { type: 'TUNNEL_TYPE_MPLS_O_GRE', srcIp: '172.16.1.2', dstIp: '172.16.2.2', interfaceIndex: 100 } },
      });
      assert.deepEqual(toJson(d().addRouteRequest, api.tunnelRoute(1, '10.12.1.2/32', 101, 1101)), { route: { vrf: 1, prefix: '10.12.1.2/32', nextHopId: 101, labels: [1101] } });
    });

    it('flat decap requests', () => {
      const r = api.decapRequest('mplsoudp', 1101, 11);
      assert.deepEqual([r.method.name, toJson(r.method.input, r.request as Message)], ['AddLabel', { label: 1101, nextHopId: 11 }]);
    });
  });

  it('a missing service is a reason, naming the service', () => {
    const d = descs('fixture.tunnels.v1', reg);
    for (const gone of ['VxlanService', 'MplsService']) {
      const services = new Map([...d.services].filter(([k]) => !k.endsWith(gone)));
      assert.match(String(tunnelApiFrom({ ...d, services })), new RegExp(`^needs tunnel next hops \\(branch tunnels\\): no ${gone}`));
    }
  });
});
