/**
 * The overlay's API against a real daemon: tunnel and VRF next hops
 * (NextHopService), the MPLS label table (MplsService) and the VNI table
 * (VxlanService), route labels, their operations on the programming stream
 * and in transactions, every refusal with its status and field, reflection,
 * and vrctl nh / mpls / vxlan.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { status } from '@grpc/grpc-js';
import { Lab } from '../../lab/topology.ts';
import { LabDaemon } from '../../lab/daemon.ts';
import { collect, type VrouterClient } from '../../src/client/client.ts';
import { InterfaceType } from '../../src/gen/vrouter/ebpf/v1/interface_pb.js';
import { CompositeKind, TunnelType } from '../../src/gen/vrouter/ebpf/v1/nexthop_pb.js';
import type { ProgramError } from '../../src/client/program-stream.ts';
import { rejects } from '../helpers/grpc-status.ts';
import { runVrctl } from '../helpers/vrctl-run.ts';

const BUF = fileURLToPath(new URL('../../node_modules/.bin/buf', import.meta.url));
const MAX_LABELS = 4;

let lab: Lab;
let host: string;
let daemon: LabDaemon;
let c: VrouterClient;

const tunnel = (id: number, over: Record<string, unknown> = {}) => ({
  nextHop: {
    id,
    vrf: 1,
    kind: {
      case: 'tunnel' as const,
      value: { type: TunnelType.VXLAN, srcIp: '192.0.2.1', dstIp: '192.0.2.2', label: 5001, interfaceIndex: 2, innerDstMac: '02:bb:00:00:00:01', ...over },
    },
  },
});
const vrctl = (...args: string[]) => runVrctl(['--socket', daemon.socketPath, ...args]);

before(async () => {
  lab = new Lab('vrtun');
  host = lab.ns('host');
  lab.ip(host, ['link', 'add', 'pod0', 'type', 'veth', 'peer', 'name', 'pod1']);
  lab.ip(host, ['link', 'add', 'fab0', 'type', 'veth', 'peer', 'name', 'fab1']);
  lab.ip(host, ['link', 'add', 'fab2', 'type', 'veth', 'peer', 'name', 'fab3']);
  // the underlay lookup (bpf_fib_lookup) answers only for a fabric that forwards; fab2 does not
  lab.sysctl(host, 'net.ipv4.conf.fab0.forwarding', '1');
  daemon = new LabDaemon(lab, { instance: lab.prefix, ns: host, extraArgs: ['--max-labels', String(MAX_LABELS), '--max-vnis', '8'] });
  c = await daemon.start();
  await c.interfaces.addInterface({ interface: { index: 1, type: InterfaceType.VIRTUAL, name: 'pod0', vrf: 1 } });
  await c.interfaces.addInterface({ interface: { index: 2, type: InterfaceType.FABRIC, name: 'fab0', vrf: 0, ipv4Address: '192.0.2.1' } });
  await c.interfaces.addInterface({ interface: { index: 3, type: InterfaceType.FABRIC, name: 'fab2', vrf: 0 } });
  await c.nextHops.addNextHop({ nextHop: { id: 11, vrf: 1, kind: { case: 'encap', value: { interfaceIndex: 1, dstMac: '02:aa:00:00:00:01' } } } });
});

after(async () => {
  await daemon?.destroy();
  lab?.cleanup();
});

describe('NextHopService: tunnel and VRF next hops', () => {
  it('a VXLAN tunnel: added, read back with its defaults, changed in place, listed', async () => {
    const added = (await c.nextHops.addNextHop(tunnel(20))).nextHop!;
    assert.equal(added.kind.case, 'tunnel');
    const t = added.kind.case === 'tunnel' ? added.kind.value : undefined;
    const fabMac = lab.mac(host, 'fab0');
    assert.deepEqual(
      { type: t?.type, src: t?.srcIp, dst: t?.dstIp, label: t?.label, vif: t?.interfaceIndex, inner: [t?.innerDstMac, t?.innerSrcMac] },
      { type: TunnelType.VXLAN, src: '192.0.2.1', dst: '192.0.2.2', label: 5001, vif: 2, inner: ['02:bb:00:00:00:01', fabMac] },
      'the inner source defaults to the fabric vif\'s MAC',
    );
    await c.nextHops.updateNextHop(tunnel(20, { dstIp: '192.0.2.3', label: 5002 }));
    const got = (await c.nextHops.getNextHop({ id: 20 })).nextHop!;
    assert.equal(got.kind.case === 'tunnel' && got.kind.value.dstIp, '192.0.2.3');
    await c.nextHops.addNextHop({ nextHop: { id: 21, vrf: 1, kind: { case: 'tunnel', value: { type: TunnelType.MPLS_OVER_GRE, srcIp: '192.0.2.1', dstIp: '192.0.2.2', label: 1000, interfaceIndex: 2 } } } });
    await c.nextHops.addNextHop({ nextHop: { id: 30, vrf: 2, kind: { case: 'vrfRoute', value: {} } } });
    const kinds = (await collect(c.nextHops.listNextHops({}))).map((r) => [r.nextHop!.id, r.nextHop!.kind.case]);
    for (const k of [[20, 'tunnel'], [21, 'tunnel'], [30, 'vrfRoute']]) assert.ok(kinds.some((x) => x[0] === k[0] && x[1] === k[1]), String(k));
  });

  it('refuses what is wrong, naming the field', async () => {
    const f = 'next_hop.tunnel.';
    await rejects(c.nextHops.addNextHop(tunnel(40, { type: TunnelType.UNSPECIFIED })), status.INVALID_ARGUMENT, `${f}type`);
    await rejects(c.nextHops.addNextHop(tunnel(40, { srcIp: '' })), status.INVALID_ARGUMENT, `${f}src_ip`);
    await rejects(c.nextHops.addNextHop(tunnel(40, { dstIp: 'nonsense' })), status.INVALID_ARGUMENT, `${f}dst_ip`);
    await rejects(c.nextHops.addNextHop(tunnel(40, { dstIp: '2001:db8::2' })), status.INVALID_ARGUMENT, `${f}dst_ip`, /IPv6 underlays/);
    await rejects(c.nextHops.addNextHop(tunnel(40, { label: 1 << 24 })), status.INVALID_ARGUMENT, `${f}label`);
    await rejects(c.nextHops.addNextHop(tunnel(40, { type: TunnelType.MPLS_OVER_UDP, label: 1 << 20, innerDstMac: '' })), status.INVALID_ARGUMENT, `${f}label`);
    await rejects(c.nextHops.addNextHop(tunnel(40, { type: TunnelType.MPLS_OVER_UDP })), status.INVALID_ARGUMENT, `${f}inner_dst_mac`);
    await rejects(c.nextHops.addNextHop(tunnel(40, { innerDstMac: 'zz' })), status.INVALID_ARGUMENT, `${f}inner_dst_mac`);
    await rejects(c.nextHops.addNextHop(tunnel(40, { interfaceIndex: 9 })), status.NOT_FOUND, `${f}interface_index`);
    await rejects(c.nextHops.addNextHop(tunnel(40, { interfaceIndex: 1 })), status.FAILED_PRECONDITION, `${f}interface_index`, /fabric/);
    await rejects(c.nextHops.addNextHop(tunnel(40, { interfaceIndex: 3 })), status.FAILED_PRECONDITION, `${f}interface_index`, /forwarding=1/);
    await rejects(c.nextHops.updateNextHop({ nextHop: { id: 20, vrf: 1, kind: { case: 'receive', value: {} } } }), status.FAILED_PRECONDITION, 'next_hop.kind');
    await rejects(c.interfaces.deleteInterface({ index: 2 }), status.FAILED_PRECONDITION, 'index', /next hop\(s\) 20, 21/);
    await rejects(c.nextHops.getNextHop({ id: 40 }), status.NOT_FOUND, 'id');
  });
});

describe('MplsService and VxlanService', () => {
  it('labels: add, get, list in order, update, delete; the next hop counts them', async () => {
    await c.mpls.addLabel({ label: { label: 200, nextHopId: 11 } });
    await c.mpls.addLabel({ label: { label: 100, nextHopId: 30 } });
    assert.deepEqual((await c.mpls.getLabel({ label: 200 })).label?.nextHopId, 11);
    assert.deepEqual((await collect(c.mpls.listLabels({}))).map((r) => [r.label!.label, r.label!.nextHopId]), [[100, 30], [200, 11]]);
    assert.equal((await c.nextHops.getNextHop({ id: 11 })).nextHop!.decapRefCount, 1);
    await c.mpls.updateLabel({ label: { label: 200, nextHopId: 30 } });
    assert.equal((await c.nextHops.getNextHop({ id: 30 })).nextHop!.decapRefCount, 2);
    await c.mpls.deleteLabel({ label: 200 });
    assert.deepEqual((await collect(c.mpls.listLabels({}))).map((r) => r.label!.label), [100]);
  });

  it('VNIs: add, get, list, update, delete', async () => {
    await c.vxlan.addVni({ vni: { vni: 5001, nextHopId: 30 } });
    await c.vxlan.addVni({ vni: { vni: 16_777_215, nextHopId: 11 } });
    assert.deepEqual((await collect(c.vxlan.listVnis({}))).map((r) => [r.vni!.vni, r.vni!.nextHopId]), [[5001, 30], [16_777_215, 11]]);
    await c.vxlan.updateVni({ vni: { vni: 16_777_215, nextHopId: 30 } });
    assert.equal((await c.vxlan.getVni({ vni: 16_777_215 })).vni!.nextHopId, 30);
    await c.vxlan.deleteVni({ vni: 16_777_215 });
  });

  it('refuses what is wrong, naming the field: range, missing, tunnel targets, in use, full', async () => {
    await rejects(c.mpls.addLabel({ label: { label: 1 << 20, nextHopId: 11 } }), status.INVALID_ARGUMENT, 'label.label');
    await rejects(c.mpls.addLabel({ label: { label: 7, nextHopId: 99 } }), status.NOT_FOUND, 'label.next_hop_id');
    await rejects(c.mpls.addLabel({ label: { label: 7, nextHopId: 20 } }), status.FAILED_PRECONDITION, 'label.next_hop_id', /tunnel/);
    await rejects(c.mpls.addLabel({ label: { label: 100, nextHopId: 11 } }), status.ALREADY_EXISTS, 'label.label');
    await rejects(c.mpls.addLabel({}), status.INVALID_ARGUMENT, 'label');
    await rejects(c.mpls.updateLabel({ label: { label: 7, nextHopId: 11 } }), status.NOT_FOUND, 'label.label');
    await rejects(c.mpls.getLabel({ label: 7 }), status.NOT_FOUND, 'label');
    await rejects(c.mpls.deleteLabel({ label: 7 }), status.NOT_FOUND, 'label');
    await rejects(c.vxlan.addVni({ vni: { vni: 1 << 24, nextHopId: 11 } }), status.INVALID_ARGUMENT, 'vni.vni');
    await rejects(c.vxlan.addVni({ vni: { vni: 9, nextHopId: 21 } }), status.FAILED_PRECONDITION, 'vni.next_hop_id');
    await rejects(c.vxlan.deleteVni({ vni: 9 }), status.NOT_FOUND, 'vni');
    await rejects(c.nextHops.deleteNextHop({ id: 30 }), status.FAILED_PRECONDITION, 'id', /MPLS label\(s\) \/ VNI\(s\)/);
    // --max-labels 4: 100 is there, three more fit
    for (const l of [1, 2, 3]) await c.mpls.addLabel({ label: { label: l, nextHopId: 11 } });
    await rejects(c.mpls.addLabel({ label: { label: 4, nextHopId: 11 } }), status.RESOURCE_EXHAUSTED, undefined, /label table is full \(4 entries/);
    for (const l of [1, 2, 3]) await c.mpls.deleteLabel({ label: l });
  });
});

describe('route labels', () => {
  it('a route carries its label through AddRoute, AddRoutes, GetRoute and both ListRoutes forms', async () => {
    await c.routes.addRoute({ route: { vrf: 1, prefix: '10.20.0.0/16', nextHopId: 20, label: 7777 } });
    await c.routes.addRoutes({ routes: [{ vrf: 1, prefix: '10.21.0.0/16', nextHopId: 20, label: 0 }, { vrf: 1, prefix: '10.22.0.0/16', nextHopId: 20 }] });
    assert.equal((await c.routes.getRoute({ vrf: 1, prefix: '10.20.0.0/16' })).route!.label, 7777);
    assert.equal((await c.routes.getRoute({ vrf: 1, prefix: '10.21.0.0/16' })).route!.label, 0, 'label 0 is a label');
    assert.equal((await c.routes.getRoute({ vrf: 1, prefix: '10.22.0.0/16' })).route!.label, undefined);
    for (const chunkSize of [0, 100]) {
      const rs = (await collect(c.routes.listRoutes({ vrf: 1, chunkSize }))).flatMap((m) => (chunkSize ? m.routes : [m.route!]));
      const label = (p: string) => rs.find((r) => r.prefix === p)?.label;
      assert.deepEqual([label('10.20.0.0/16'), label('10.21.0.0/16'), label('10.22.0.0/16')], [7777, 0, undefined], `chunk_size ${chunkSize}`);
    }
    await rejects(c.routes.addRoute({ route: { vrf: 1, prefix: '10.23.0.0/16', nextHopId: 20, label: 1 << 24 } }), status.INVALID_ARGUMENT, 'route.label');
    await rejects(c.routes.addRoutes({ routes: [{ vrf: 1, prefix: '10.23.0.0/16', nextHopId: 20 }, { vrf: 1, prefix: '10.24.0.0/16', nextHopId: 20, label: 1 << 24 }] }), status.INVALID_ARGUMENT, 'routes[1].label');
    await c.routes.deleteRoutes({ keys: ['10.20.0.0/16', '10.21.0.0/16', '10.22.0.0/16'].map((prefix) => ({ vrf: 1, prefix })) });
  });
});

describe('ProgramService: labels and VNIs on the stream and in transactions', () => {
  it('Apply: add, update and delete of labels and VNIs, each with its own result and field', async () => {
    const r = await c.program.apply({
      ops: [
        { op: { case: 'addLabel', value: { label: { label: 500, nextHopId: 11 } } } },
        { op: { case: 'addVni', value: { vni: { vni: 6000, nextHopId: 30 } } } },
        { op: { case: 'addLabel', value: { label: { label: 501, nextHopId: 21 } } } },
        { op: { case: 'updateVni', value: { vni: { vni: 6000, nextHopId: 11 } } } },
        { op: { case: 'deleteLabel', value: { label: 999 } } },
      ],
      atomic: false,
    });
    assert.deepEqual(r.results.map((x) => [x.code, x.field]), [
      [0, ''], [0, ''], [status.FAILED_PRECONDITION, 'ops[2].add_label.label.next_hop_id'], [0, ''], [status.NOT_FOUND, 'ops[4].delete_label.label'],
    ]);
    assert.equal((await c.vxlan.getVni({ vni: 6000 })).vni!.nextHopId, 11);
  });

  it('a transaction: next hop and label in dependency order; a failing op undoes them all', async () => {
    const bad = await c.program.apply({
      ops: [
        { op: { case: 'addLabel', value: { label: { label: 600, nextHopId: 60 } } } },
        { op: { case: 'addNextHop', value: { nextHop: { id: 60, vrf: 3, kind: { case: 'vrfRoute', value: {} } } } } },
        { op: { case: 'addVni', value: { vni: { vni: 1 << 24, nextHopId: 60 } } } },
      ],
      atomic: true,
    });
    assert.deepEqual(bad.results.map((x) => x.code), [status.ABORTED, status.ABORTED, status.INVALID_ARGUMENT]);
    assert.equal(bad.results[2]!.field, 'ops[2].add_vni.vni.vni');
    await rejects(c.nextHops.getNextHop({ id: 60 }), status.NOT_FOUND, 'id');
    await rejects(c.mpls.getLabel({ label: 600 }), status.NOT_FOUND, 'label');
    const ok = await c.program.apply({
      ops: [
        { op: { case: 'addLabel', value: { label: { label: 600, nextHopId: 60 } } } },
        { op: { case: 'addNextHop', value: { nextHop: { id: 60, vrf: 3, kind: { case: 'vrfRoute', value: {} } } } } },
      ],
      atomic: true,
    });
    assert.equal(ok.applied, 2);
  });

  it('a resync on the stream removes the labels and VNIs not re-sent, and says so', async () => {
    const s = c.programStream();
    try {
      await s.beginSync('tunnel-test');
      const keep = [
        s.addInterface({ interface: { index: 1, type: InterfaceType.VIRTUAL, name: 'pod0', vrf: 1 } }),
        s.addInterface({ interface: { index: 2, type: InterfaceType.FABRIC, name: 'fab0', vrf: 0, ipv4Address: '192.0.2.1' } }),
        s.addInterface({ interface: { index: 3, type: InterfaceType.FABRIC, name: 'fab2', vrf: 0 } }),
        s.addNextHop({ id: 11, vrf: 1, kind: { case: 'encap', value: { interfaceIndex: 1, dstMac: '02:aa:00:00:00:01' } } }),
        s.addNextHop({ id: 30, vrf: 2, kind: { case: 'vrfRoute', value: {} } }),
        s.addLabel(100, 30),
        s.addVni(5001, 30),
      ];
      await Promise.all(keep);
      const end = await s.endSync();
      assert.deepEqual({ ...end, $typeName: undefined }, { $typeName: undefined, interfaces: 0, nextHops: 3, routes: 0, labels: 2, vnis: 1, bridgeEntries: 0 });
    } finally {
      await s.close();
    }
    assert.deepEqual((await collect(c.mpls.listLabels({}))).map((r) => r.label!.label), [100]);
    assert.deepEqual((await collect(c.vxlan.listVnis({}))).map((r) => r.vni!.vni), [5001]);
  });
});

describe('composites on the programming stream', () => {
  it('composite add, member add / remove and a transaction on the stream; a failing member op names its field', async () => {
    const s = c.programStream();
    try {
      await s.addNextHop({ id: 12, vrf: 1, kind: { case: 'encap', value: { interfaceIndex: 1, dstMac: '02:aa:00:00:00:02' } } });
      await s.addNextHop({ id: 40, vrf: 1, kind: { case: 'composite', value: { kind: CompositeKind.ECMP, memberIds: [11] } } });
      await s.addCompositeMember(40, 12);
      await assert.rejects(s.addCompositeMember(40, 12), (e: ProgramError) => e.code === status.ALREADY_EXISTS && e.field === 'op.add_composite_member.member_id');
      await assert.rejects(
        s.transaction([
          { op: { case: 'removeCompositeMember', value: { id: 40, memberId: 11 } } },
          { op: { case: 'addCompositeMember', value: { id: 40, memberId: 40 } } },
        ]),
        (e: ProgramError) => e.code === status.INVALID_ARGUMENT && e.field === 'transaction.ops[1].add_composite_member.member_id',
      );
      let nh = (await c.nextHops.getNextHop({ id: 40 })).nextHop!;
      assert.deepEqual(nh.kind.case === 'composite' && nh.kind.value.memberIds, [11, 12], 'the transaction undone whole');
      await s.transaction([
        { op: { case: 'addNextHop', value: { nextHop: { id: 41, vrf: 1, kind: { case: 'composite', value: { kind: CompositeKind.FLOOD, memberIds: [] } } } } } },
        { op: { case: 'removeCompositeMember', value: { id: 40, memberId: 11 } } },
        { op: { case: 'addCompositeMember', value: { id: 41, memberId: 11 } } },
      ]);
      nh = (await c.nextHops.getNextHop({ id: 40 })).nextHop!;
      assert.deepEqual(nh.kind.case === 'composite' && nh.kind.value.memberIds, [12]);
      nh = (await c.nextHops.getNextHop({ id: 41 })).nextHop!;
      assert.deepEqual(nh.kind.case === 'composite' && [nh.kind.value.kind, nh.kind.value.memberIds], [CompositeKind.FLOOD, [11]]);
      await rejects(c.nextHops.deleteNextHop({ id: 11 }), status.FAILED_PRECONDITION, 'id');
      await s.deleteNextHop(41);
      await s.deleteNextHop(40);
      await s.deleteNextHop(12);
    } finally {
      await s.close();
    }
  });
});

describe('reflection and vrctl', () => {
  it('buf curl lists the new services', () => {
    const methods = execFileSync(BUF, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '--unix-socket', daemon.socketPath, '--list-methods', 'http://localhost'], { encoding: 'utf8' });
    for (const m of ['vrouter.ebpf.v1.MplsService/AddLabel', 'vrouter.ebpf.v1.MplsService/ListLabels', 'vrouter.ebpf.v1.VxlanService/AddVni', 'vrouter.ebpf.v1.VxlanService/ListVnis'])
      assert.ok(methods.includes(m), m);
  });

  it('vrctl nh add tunnel / vrf, mpls add|list|set|del, vxlan add|list|del, rt add --label', async () => {
    let r = await vrctl('nh', 'add', '70', 'tunnel', '--type', 'mplsoudp', '--src', '192.0.2.1', '--dst', '192.0.2.9', '--label', '1234', '--vif', '2', '--vrf', '1');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /tunnel\s+mplsoudp/);
    assert.match(r.stdout, /dst ip\s+192\.0\.2\.9/);
    r = await vrctl('nh', 'add', '71', 'vrf', '--vrf', '5');
    assert.equal(r.code, 0, r.stderr);
    r = await vrctl('nh', 'list');
    assert.match(r.stdout, /70\s+tunnel\s+1\s+2\s+-\s+-\s+mplsoudp 192\.0\.2\.1>192\.0\.2\.9 label 1234/);
    assert.match(r.stdout, /71\s+vrf\s+5\s+.*route in vrf 5/);
    r = await vrctl('mpls', 'add', '777', '--nh', '71');
    assert.equal(r.code, 0, r.stderr);
    r = await vrctl('mpls', 'set', '777', '--nh', '11');
    assert.equal(r.code, 0, r.stderr);
    r = await vrctl('--json', 'mpls', 'list');
    assert.ok((JSON.parse(r.stdout) as { label: number; nextHopId: number }[]).some((l) => l.label === 777 && l.nextHopId === 11), r.stdout);
    r = await vrctl('mpls', 'add', '778', '--nh', '70');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /FAILED_PRECONDITION: label\.next_hop_id: next hop 70 is a tunnel next hop/);
    r = await vrctl('mpls', 'del', '777');
    assert.equal(r.code, 0, r.stderr);
    r = await vrctl('vxlan', 'add', '9001', '--nh', '71');
    assert.equal(r.code, 0, r.stderr);
    r = await vrctl('vxlan', 'list');
    assert.match(r.stdout, /9001\s+71/);
    r = await vrctl('vxlan', 'del', '9001');
    assert.equal(r.code, 0, r.stderr);
    r = await vrctl('rt', 'add', '1', '10.30.0.0/16', '--nh', '70', '--label', '4321');
    assert.equal(r.code, 0, r.stderr);
    r = await vrctl('rt', 'get', '1', '10.30.0.0/16');
    assert.match(r.stdout, /10\.30\.0\.0\/16\s+70\s+4321/);
    r = await vrctl('nh', 'add', '72', 'tunnel', '--type', 'nope', '--src', '192.0.2.1', '--dst', '192.0.2.9', '--vif', '2');
    assert.equal(r.code, 2, 'a usage error');
  });
});
