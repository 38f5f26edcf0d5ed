/**
 * The gRPC API against a real daemon: reflection and health through buf
 * curl with no .proto at hand, every kind of bad input answered with the
 * right status naming the field, nothing half-written, the daemon serving
 * on; and /metrics.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { status } from '@grpc/grpc-js';
import { Lab } from '../../lab/topology.ts';
import { BPFFS_LAB_ROOT, LabDaemon } from '../../lab/daemon.ts';
import { buildTwoPods, type TwoPods } from '../../lab/two-pods.ts';
import { collect, type VrouterClient } from '../../src/client/client.ts';
import { AttachHook, AttachMode, InterfaceType } from '../../src/gen/vrouter/ebpf/v1/interface_pb.js';
import { rejects } from '../helpers/grpc-status.ts';

const BUF = fileURLToPath(new URL('../../node_modules/.bin/buf', import.meta.url));
const SINK = fileURLToPath(new URL('../../bpf/build/tools/sink.o', import.meta.url));
const MAX_ROUTES = 64;

let lab: Lab;
let topo: TwoPods;
let daemon: LabDaemon;
let c: VrouterClient;

function bufCurl(args: string[]): string {
  return execFileSync(BUF, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '--unix-socket', daemon.socketPath, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
  });
}

const vif = (index: number, name: string, extra: Record<string, unknown> = {}) => ({
  interface: { index, type: InterfaceType.VIRTUAL, name, vrf: 1, ...extra },
});

before(async () => {
  lab = new Lab('vrapi');
  topo = buildTwoPods(lab);
  lab.ip(topo.host, ['link', 'add', 'spare0', 'type', 'veth', 'peer', 'name', 'spare1']);
  lab.ip(topo.host, ['link', 'add', 'nonative0', 'type', 'bridge']); // a driver with no native XDP
  daemon = new LabDaemon(lab, {
    instance: lab.prefix,
    ns: topo.host,
    extraArgs: ['--max-routes', String(MAX_ROUTES), '--max-interfaces', '16', '--grpc-tcp', '127.0.0.1:50051', '--grpc-tcp-insecure-plaintext'],
  });
  c = await daemon.start();
  await c.interfaces.addInterface(vif(1, 'veth-p1'));
  await c.nextHops.addNextHop({ nextHop: { id: 11, vrf: 1, kind: { case: 'encap', value: { interfaceIndex: 1, dstMac: topo.pods[0].mac } } } });
  await c.routes.addRoute({ route: { vrf: 1, prefix: '10.10.1.0/24', nextHopId: 11 } });
});

after(async () => {
  await daemon?.destroy();
  lab?.cleanup();
});

describe('reflection and health (buf curl, no .proto files)', () => {
  it('lists every service and method over reflection v1 and v1alpha', () => {
    for (const proto of ['grpc-v1', 'grpc-v1alpha']) {
      const methods = bufCurl(['--reflect-protocol', proto, '--list-methods', 'http://localhost']);
      for (const m of [
        'vrouter.ebpf.v1.InterfaceService/AddInterface',
        'vrouter.ebpf.v1.InterfaceService/ListInterfaces',
        'vrouter.ebpf.v1.NextHopService/UpdateNextHop',
        'vrouter.ebpf.v1.RouteService/AddRoutes',
        'vrouter.ebpf.v1.RouteService/LookupRoute',
        'vrouter.ebpf.v1.StatsService/GetDropStats',
        'vrouter.ebpf.v1.SystemService/GetSystemInfo',
        'grpc.health.v1.Health/Check',
      ])
        assert.ok(methods.includes(m), `${proto}: ${m} in\n${methods}`);
    }
  });

  it('calls methods with JSON through reflection', () => {
    assert.deepEqual(JSON.parse(bufCurl(['http://localhost/grpc.health.v1.Health/Check'])), { status: 'SERVING' });
    const r = JSON.parse(bufCurl(['-d', '{"vrf":1,"address":"10.10.1.7"}', 'http://localhost/vrouter.ebpf.v1.RouteService/LookupRoute'])) as {
      route: { prefix: string; nextHopId: number };
    };
    assert.deepEqual(r.route, { vrf: 1, prefix: '10.10.1.0/24', nextHopId: 11 });
    const sys = JSON.parse(bufCurl(['http://localhost/vrouter.ebpf.v1.SystemService/GetSystemInfo'])) as {
      instance: string; maps: { name: string; capacity: number; used?: number }[];
      attachments: { name: string; mode?: string; hook: string; program: string }[]; programs: { name: string }[];
    };
    assert.equal(sys.instance, lab.prefix);
    assert.deepEqual(sys.maps.find((m) => m.name === 'vr_rt4'), { ...sys.maps.find((m) => m.name === 'vr_rt4'), capacity: MAX_ROUTES, used: 1 });
    // a veth with policy auto: tcx ingress (no XDP mode)
    assert.deepEqual(sys.attachments.map((a) => [a.name, a.mode, a.hook, a.program]), [['veth-p1', undefined, 'ATTACH_HOOK_TC', 'vr_tc_vif']]);
    assert.deepEqual(sys.programs.map((p) => p.name), ['vr_xdp_vif', 'vr_tc_vif', 'vr_tc_egress']);
  });

  it('streams a list through buf curl', () => {
    const out = bufCurl(['http://localhost/vrouter.ebpf.v1.NextHopService/ListNextHops']);
    assert.match(out, /"discard"/);
    assert.match(out, /"id": 11/);
  });
});

describe('listeners and attach modes', () => {
  it('the unix socket is mode 0660; TCP (plaintext, asked for by name, with a warning) serves the same API', () => {
    assert.equal(statSync(daemon.socketPath).mode & 0o777, 0o660);
    // TCP listens on the host namespace's loopback: call it from there
    const out = lab.exec(topo.host, BUF, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', 'http://127.0.0.1:50051/grpc.health.v1.Health/Check']);
    assert.deepEqual(JSON.parse(out), { status: 'SERVING' });
    // the daemon says loudly that it serves TCP in plaintext
    const warn = daemon.log.split('\n').find((l) => l.includes('grpc-tcp-insecure-plaintext'));
    assert.match(warn ?? '', /"level":40.*WITHOUT TLS OR AUTHENTICATION/);
    assert.match(daemon.log, /"tls":false.*"msg":"listening on tcp"/);
  });

  it('a daemon that cannot open its listeners exits with the reason', async () => {
    // same namespace, so the metrics port is taken by the daemon under test
    const second = new LabDaemon(lab, { instance: `${lab.prefix}-2`, ns: topo.host });
    try {
      await assert.rejects(second.start(), /daemon exited with 1[\s\S]*EADDRINUSE/);
    } finally {
      await second.destroy();
    }
  });

  it('falls back to generic XDP where the driver has no native mode, and says so', async () => {
    const r = await c.interfaces.addInterface({ interface: { index: 5, type: InterfaceType.FABRIC, name: 'nonative0' } });
    assert.equal(r.interface!.attachMode, AttachMode.GENERIC);
    assert.match(lab.ip(topo.host, ['link', 'show', 'nonative0']), /xdpgeneric/);
    const g = await c.interfaces.addInterface({ interface: { index: 6, type: InterfaceType.VIRTUAL, name: 'spare1' }, attachMode: AttachMode.GENERIC });
    assert.equal(g.interface!.attachMode, AttachMode.GENERIC, 'generic when asked, even where native exists');
    await c.interfaces.deleteInterface({ index: 5 });
    await c.interfaces.deleteInterface({ index: 6 });
    assert.doesNotMatch(lab.ip(topo.host, ['link', 'show', 'nonative0']), /xdp/);
  });
});

describe('bad input: a precise status, nothing written', () => {
  it('interfaces', async () => {
    const I = c.interfaces;
    await rejects(I.addInterface({}), status.INVALID_ARGUMENT, 'interface');
    await rejects(I.addInterface(vif(16, 'veth-p2')), status.INVALID_ARGUMENT, 'interface.index', /max_interfaces is 16/);
    await rejects(I.addInterface({ interface: { index: 2, name: 'veth-p2' } }), status.INVALID_ARGUMENT, 'interface.type');
    await rejects(I.addInterface(vif(2, '')), status.INVALID_ARGUMENT, 'interface.name');
    await rejects(I.addInterface(vif(2, 'no-such-if')), status.NOT_FOUND, 'interface.name', /no kernel interface named "no-such-if"/);
    await rejects(I.addInterface(vif(2, 'veth-p2', { mac: '02:00:00:00:01' })), status.INVALID_ARGUMENT, 'interface.mac');
    await rejects(I.addInterface(vif(2, 'veth-p2', { ipv4Address: '10.1.1.300' })), status.INVALID_ARGUMENT, 'interface.ipv4_address');
    await rejects(I.addInterface(vif(2, 'veth-p2', { ipv6Address: '10.1.1.3' })), status.INVALID_ARGUMENT, 'interface.ipv6_address');
    await rejects(I.addInterface(vif(2, 'veth-p2', { vrf: 5000 })), status.INVALID_ARGUMENT, 'interface.vrf');
    await rejects(I.addInterface(vif(2, 'veth-p2', { mtu: 20 })), status.INVALID_ARGUMENT, 'interface.mtu');
    await rejects(I.addInterface(vif(2, 'veth-p2', { hookPolicy: 7 })), status.INVALID_ARGUMENT, 'interface.hook_policy', /unknown attach hook 7/);
    await rejects(I.addInterface({ ...vif(2, 'veth-p2', { hookPolicy: AttachHook.TC }), attachMode: AttachMode.GENERIC }), status.INVALID_ARGUMENT, 'attach_mode');
    await rejects(I.addInterface(vif(1, 'veth-p2')), status.ALREADY_EXISTS, 'interface.index');
    await rejects(I.addInterface(vif(2, 'veth-p1')), status.ALREADY_EXISTS, 'interface.name', /already interface 1/);
    await rejects(I.updateInterface({ index: 9, vrf: 2 }), status.NOT_FOUND, 'index');
    await rejects(I.updateInterface({ index: 1, mac: 'nope' }), status.INVALID_ARGUMENT, 'mac');
    await rejects(I.updateInterface({ index: 1, hookPolicy: 9 as AttachHook }), status.INVALID_ARGUMENT, 'hook_policy');
    await rejects(I.getInterface({ index: 9 }), status.NOT_FOUND, 'index');
    await rejects(I.deleteInterface({ index: 1 }), status.FAILED_PRECONDITION, 'index', /next hop\(s\) 11/);
    // nothing half-written: one vif, one pinned link (veth-p1's), and no XDP program on veth-p2
    assert.equal((await collect(I.listInterfaces({}))).length, 1);
    assert.equal(readdirSync(join(BPFFS_LAB_ROOT, lab.prefix, 'links')).length, 1);
    assert.doesNotMatch(lab.ip(topo.host, ['link', 'show', 'veth-p2']), /xdp/);
  });

  it('an XDP attach that fails leaves no vif behind', async () => {
    lab.ip(topo.host, ['link', 'set', 'dev', 'spare0', 'xdpdrv', 'obj', SINK, 'sec', 'xdp']);
    try {
      await rejects(
        c.interfaces.addInterface({ ...vif(3, 'spare0'), attachMode: 1 }),
        status.FAILED_PRECONDITION,
        'interface.name',
        /cannot attach XDP to spare0.*EBUSY/,
      );
      await rejects(c.interfaces.getInterface({ index: 3 }), status.NOT_FOUND);
    } finally {
      lab.ip(topo.host, ['link', 'set', 'dev', 'spare0', 'xdpdrv', 'off']);
    }
    // and the same interface can be added once it is free
    const r = await c.interfaces.addInterface(vif(3, 'spare0'));
    assert.equal(r.interface!.osIndex > 0, true);
    await c.interfaces.deleteInterface({ index: 3 });
    assert.doesNotMatch(lab.ip(topo.host, ['link', 'show', 'spare0']), /xdp/);
  });

  it('next hops', async () => {
    const N = c.nextHops;
    const encap = (id: number, value: Record<string, unknown>) => ({ nextHop: { id, vrf: 1, kind: { case: 'encap' as const, value } } });
    await rejects(N.addNextHop({}), status.INVALID_ARGUMENT, 'next_hop');
    await rejects(N.addNextHop({ nextHop: { id: 0, kind: { case: 'discard', value: {} } } }), status.INVALID_ARGUMENT, 'next_hop.id', /built-in discard/);
    await rejects(N.addNextHop({ nextHop: { id: 5 } }), status.INVALID_ARGUMENT, 'next_hop.kind');
    await rejects(N.addNextHop(encap(5, { interfaceIndex: 7, dstMac: '02:00:00:00:00:07' })), status.NOT_FOUND, 'next_hop.encap.interface_index');
    await rejects(N.addNextHop(encap(5, { interfaceIndex: 1, dstMac: 'ff:ff:ff:ff:ff:ff' })), status.INVALID_ARGUMENT, 'next_hop.encap.dst_mac', /multicast/);
    await rejects(N.addNextHop(encap(5, { interfaceIndex: 1 })), status.INVALID_ARGUMENT, 'next_hop.encap.dst_mac', /required/);
    await rejects(N.addNextHop(encap(11, { interfaceIndex: 1, dstMac: '02:00:00:00:00:07' })), status.ALREADY_EXISTS, 'next_hop.id');
    await rejects(N.updateNextHop({ nextHop: { id: 11, kind: { case: 'discard', value: {} } } }), status.FAILED_PRECONDITION, 'next_hop.kind', /cannot change/);
    await rejects(N.updateNextHop({ nextHop: { id: 12, kind: { case: 'discard', value: {} } } }), status.NOT_FOUND, 'next_hop.id');
    await rejects(N.deleteNextHop({ id: 11 }), status.FAILED_PRECONDITION, 'id', /used by 1 route\(s\); delete or repoint them first/);
    await rejects(N.deleteNextHop({ id: 0 }), status.FAILED_PRECONDITION, 'id');
    await rejects(N.getNextHop({ id: 12 }), status.NOT_FOUND, 'id');
    const list = await collect(N.listNextHops({}));
    assert.deepEqual(list.map((n) => [n.nextHop!.id, n.nextHop!.kind.case, n.nextHop!.refCount]), [[0, 'discard', 0], [11, 'encap', 1]]);
  });

  it('routes', async () => {
    const R = c.routes;
    const route = (prefix: string, nextHopId = 11, vrf = 1) => ({ route: { vrf, prefix, nextHopId } });
    await rejects(R.addRoute({}), status.INVALID_ARGUMENT, 'route');
    await rejects(R.addRoute(route('10.2.0.0/33')), status.INVALID_ARGUMENT, 'route.prefix', /bad prefix length/);
    await rejects(R.addRoute(route('10.2.0.1/16')), status.INVALID_ARGUMENT, 'route.prefix', /host bits/);
    await rejects(R.addRoute(route('10.2.0.0')), status.INVALID_ARGUMENT, 'route.prefix');
    await rejects(R.addRoute(route('10.2.0.0/16', 99)), status.NOT_FOUND, 'route.next_hop_id');
    await rejects(R.addRoute(route('10.2.0.0/16', 11, 4096)), status.INVALID_ARGUMENT, 'route.vrf');
    await rejects(R.addRoute(route('10.10.1.0/24')), status.ALREADY_EXISTS, 'route.prefix');
    await rejects(R.updateRoute(route('10.3.0.0/16')), status.NOT_FOUND, 'route.prefix');
    await rejects(R.deleteRoute({ vrf: 1, prefix: '10.3.0.0/16' }), status.NOT_FOUND, 'prefix');
    await rejects(R.getRoute({ vrf: 2, prefix: '10.10.1.0/24' }), status.NOT_FOUND, 'prefix');
    await rejects(R.lookupRoute({ vrf: 1, address: '10.99.0.1' }), status.NOT_FOUND, 'address');
    await rejects(R.addRoutes({}), status.INVALID_ARGUMENT, 'routes');
    // a batch with one bad entry writes none of it
    const batch = ['10.4.0.0/24', '10.4.1.0/24', '10.4.2.1/24', '10.4.3.0/24'].map((p) => route(p).route);
    await rejects(R.addRoutes({ routes: batch }), status.INVALID_ARGUMENT, 'routes[2].prefix');
    await rejects(R.addRoutes({ routes: [batch[0]!, batch[1]!, batch[0]!] }), status.INVALID_ARGUMENT, 'routes[2].prefix', /duplicate of an earlier route in the same batch/);
    await rejects(R.deleteRoutes({ keys: [{ vrf: 1, prefix: '10.10.1.0/24' }, { vrf: 1, prefix: '10.5.0.0/16' }] }), status.NOT_FOUND, 'keys[1].prefix');
    assert.deepEqual((await collect(R.listRoutes({}))).map((r) => r.route!.prefix), ['10.10.1.0/24']);
  });

  it('a 1 MB string in any field is quoted short: the client sees the real status, not a header error', async () => {
    const huge = 'x'.repeat(1 << 20);
    const short = (e: { details: string }) => assert.ok(e.details.length < 300, `status message of ${e.details.length} characters`);
    short(await rejects(c.interfaces.addInterface(vif(2, huge)), status.INVALID_ARGUMENT, 'interface.name', /at most 15 bytes/));
    short(await rejects(c.interfaces.addInterface(vif(2, 'veth-p2', { mac: huge })), status.INVALID_ARGUMENT, 'interface.mac', /1048576 characters/));
    short(await rejects(c.interfaces.addInterface(vif(2, 'veth-p2', { ipv4Address: huge })), status.INVALID_ARGUMENT, 'interface.ipv4_address'));
    short(await rejects(c.routes.addRoute({ route: { vrf: 1, prefix: huge, nextHopId: 11 } }), status.INVALID_ARGUMENT, 'route.prefix'));
    short(await rejects(c.routes.lookupRoute({ vrf: 1, address: huge }), status.INVALID_ARGUMENT, 'address'));
    // IFNAMSIZ: 16 bytes with the NUL, so a 16-character name is no kernel name at all
    await rejects(c.interfaces.addInterface(vif(2, 'a'.repeat(16))), status.INVALID_ARGUMENT, 'interface.name');
    await rejects(c.interfaces.addInterface(vif(2, 'a'.repeat(15))), status.NOT_FOUND, 'interface.name');
  });

  it('exact routes are told from covering ones, and ListRoutes streams in chunks', async () => {
    const R = c.routes;
    // 10.10.1.0/24 exists: its /25 does not, though the trie's longest match for it is the /24
    await rejects(R.getRoute({ vrf: 1, prefix: '10.10.1.0/25' }), status.NOT_FOUND, 'prefix');
    await rejects(R.deleteRoute({ vrf: 1, prefix: '10.10.1.0/25' }), status.NOT_FOUND, 'prefix');
    assert.equal((await R.lookupRoute({ vrf: 1, address: '10.10.1.77' })).route!.prefix, '10.10.1.0/24');
    await R.addRoute({ route: { vrf: 1, prefix: '10.10.1.0/25', nextHopId: 11 } });
    assert.equal((await R.lookupRoute({ vrf: 1, address: '10.10.1.77' })).route!.prefix, '10.10.1.0/25');
    assert.equal((await R.lookupRoute({ vrf: 1, address: '10.10.1.177' })).route!.prefix, '10.10.1.0/24');
    const many = Array.from({ length: 25 }, (_, i) => ({ vrf: 1, prefix: `10.40.${i}.0/24`, nextHopId: 11 }));
    await R.addRoutes({ routes: many });
    const chunks = await collect(R.listRoutes({ chunkSize: 10 }));
    assert.deepEqual(chunks.map((m) => m.routes.length), [10, 10, 7], 'chunks of 10: 27 routes');
    assert.deepEqual(new Set(chunks.flatMap((m) => m.routes.map((r) => r.prefix))), new Set(['10.10.1.0/24', '10.10.1.0/25', ...many.map((r) => r.prefix)]));
    await rejects(collect(R.listRoutes({ chunkSize: 10_001 })), status.INVALID_ARGUMENT, 'chunk_size');
    await R.deleteRoutes({ keys: [...many, { vrf: 1, prefix: '10.10.1.0/25' }] });
    assert.equal((await collect(R.listRoutes({}))).length, 1);
  });

  it('a full route table answers RESOURCE_EXHAUSTED and writes nothing; host routes and prefixes have a table each', async () => {
    const R = c.routes;
    const many = (n: number, third: number) => Array.from({ length: n }, (_, i) => ({ vrf: 1, prefix: `10.20.${third}.${i}/32`, nextHopId: 11 }));
    const prefixes = (n: number) => Array.from({ length: n }, (_, i) => ({ vrf: 1, prefix: `10.21.${i}.0/24`, nextHopId: 11 }));
    await rejects(R.addRoutes({ routes: many(MAX_ROUTES + 1, 0) }), status.RESOURCE_EXHAUSTED, undefined, /IPv4 host routes \(vr_host4\) full: 0 of 64 used, 65 asked for/);
    assert.equal((await collect(R.listRoutes({}))).length, 1);
    assert.equal((await R.addRoutes({ routes: many(MAX_ROUTES, 1) })).added, MAX_ROUTES, 'the host hash holds max-routes');
    await rejects(R.addRoute({ route: { vrf: 1, prefix: '10.20.2.1/32', nextHopId: 11 } }), status.RESOURCE_EXHAUSTED);
    // the trie is another table: 10.10.1.0/24 and 63 more
    assert.equal((await R.addRoutes({ routes: prefixes(MAX_ROUTES - 1) })).added, MAX_ROUTES - 1);
    await rejects(R.addRoute({ route: { vrf: 1, prefix: '10.30.0.0/16', nextHopId: 11 } }), status.RESOURCE_EXHAUSTED, undefined, /IPv4 routes \(vr_rt4\) full: 64 of 64 used, 1 asked for/);
    // IPv6 has its own tables
    await R.addRoute({ route: { vrf: 1, prefix: 'fd00:30::/64', nextHopId: 11 } });
    await R.addRoute({ route: { vrf: 1, prefix: 'fd00:30::1/128', nextHopId: 11 } });
    const info = await c.system.getSystemInfo({});
    const used = (name: string) => info.maps.find((m) => m.name === name)!.used;
    assert.deepEqual([used('vr_rt4'), used('vr_host4'), used('vr_rt6'), used('vr_host6')], [MAX_ROUTES, MAX_ROUTES, 1, 1]);
    const keys = (rs: { vrf: number; prefix: string }[]) => rs.map(({ vrf, prefix }) => ({ vrf, prefix }));
    assert.equal((await R.deleteRoutes({ keys: keys([...many(MAX_ROUTES, 1), ...prefixes(MAX_ROUTES - 1)]) })).deleted, 2 * MAX_ROUTES - 1);
    await R.deleteRoutes({ keys: [{ vrf: 1, prefix: 'fd00:30::/64' }, { vrf: 1, prefix: 'fd00:30::1/128' }] });
    assert.equal((await collect(R.listRoutes({}))).length, 1);
  });

  it('the daemon is still serving and healthy', async () => {
    const info = await c.system.getSystemInfo({});
    assert.equal(info.instance, lab.prefix);
    assert.equal(daemon.proc?.exitCode, null);
    assert.deepEqual(JSON.parse(bufCurl(['http://localhost/grpc.health.v1.Health/Check'])), { status: 'SERVING' });
  });
});

describe('/metrics', () => {
  it('exposes drop, vif and map metrics read at scrape time', async () => {
    const scrape = () =>
      lab.exec(topo.host, process.execPath, ['-e', 'fetch("http://127.0.0.1:9478/metrics").then(r=>r.text()).then(t=>process.stdout.write(t))']);
    const before = scrape();
    assert.match(before, /# TYPE vrouter_drops_total counter/);
    assert.match(before, /vrouter_map_entries\{map="vr_rt4"\} 1/);
    assert.match(before, /vrouter_map_capacity\{map="vr_rt4"\} 64/);
    assert.match(before, /vrouter_interface_rx_packets_total\{vif="1",name="veth-p1"\} \d+/);
    assert.match(before, /vrouter_interface_info\{vif="1",name="veth-p1",hook="tc",mode="",policy="auto",peer_delivery="true",vrf="1"\} 1/);
    // a pod packet with no route moves the no_route counter between two scrapes
    const n0 = Number(/vrouter_drops_total\{reason="no_route"\} (\d+)/.exec(before)?.[1] ?? '0');
    // (no proxy route for the gateway here: give pod1 its neighbour by hand)
    lab.ip(topo.pods[0].ns, ['neigh', 'replace', '10.10.1.1', 'lladdr', topo.pods[0].hostMac, 'dev', 'eth0', 'nud', 'permanent']);
    lab.ping(topo.pods[0].ns, '10.77.0.1', 1, { allowFail: true });
    const n1 = Number(/vrouter_drops_total\{reason="no_route"\} (\d+)/.exec(scrape())?.[1]);
    assert.ok(n1 > n0, `no_route ${n0} -> ${n1}`);
  });
});
