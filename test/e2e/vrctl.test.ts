/**
 * vrctl against a real daemon on the two-pod lab (TC vifs): every command's
 * table shows the daemon's values, --json is the API's messages, writes
 * change the daemon's state (read back with the client), trace shows a
 * redirect to the right vif, and the exit codes and one-line errors are
 * what scripts rely on. The CLI runs as a child process, as an operator
 * runs it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runVrctl } from '../helpers/vrctl-run.ts';
import { status } from '@grpc/grpc-js';
import { toJson } from '@bufbuild/protobuf';
import { Lab } from '../../lab/topology.ts';
import { LabDaemon } from '../../lab/daemon.ts';
import { buildTwoPods, programTwoPods, type TwoPods } from '../../lab/two-pods.ts';
import { collect, type VrouterClient } from '../../src/client/client.ts';
import { AttachHook, AttachMode, InterfaceSchema } from '../../src/gen/vrouter/ebpf/v1/interface_pb.js';
import { CompositeKind, NextHopSchema } from '../../src/gen/vrouter/ebpf/v1/nexthop_pb.js';
import { RouteSchema } from '../../src/gen/vrouter/ebpf/v1/route_pb.js';
import { eth, ipv4, udp } from '../helpers/packets.ts';
import { rejects } from '../helpers/grpc-status.ts';

const VERSION = (JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { version: string }).version;
const MAX_ROUTES = 64;
const JSON_OPTS = { alwaysEmitImplicit: true } as const;

let lab: Lab;
let topo: TwoPods;
let daemon: LabDaemon;
let c: VrouterClient;
let tmp: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** vrctl: runs the CLI against the lab daemon (a 20 s bound per run). */
function vrctl(...args: string[]): Promise<Run> {
  return vrctlRaw(['--socket', daemon.socketPath, ...args]);
}

function vrctlRaw(args: string[]): Promise<Run> {
  return runVrctl(args);
}

/** ok: runs vrctl and asserts exit 0 with nothing on stderr. */
async function ok(...args: string[]): Promise<string> {
  const r = await vrctl(...args);
  assert.equal(r.code, 0, `vrctl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  assert.equal(r.stderr, '');
  return r.stdout;
}

/** okJson: vrctl --json, parsed. */
async function okJson<T = unknown>(...args: string[]): Promise<T> {
  return JSON.parse(await ok('--json', ...args)) as T;
}

/** rows: a table's rows as records keyed by its header (cells are two or more spaces apart). */
function rows(out: string): Record<string, string>[] {
  const [head, ...lines] = out.trimEnd().split('\n');
  const cols = head!.trim().split(/\s{2,}/);
  return lines.map((l) => {
    const cells = l.trim().split(/\s{2,}/);
    assert.equal(cells.length, cols.length, `row ${JSON.stringify(l)} has the header's ${cols.length} columns`);
    return Object.fromEntries(cols.map((c, i) => [c, cells[i]!]));
  });
}

/** field: a value of a key/value block ("hook           tc"). */
function field(out: string, key: string): string | undefined {
  for (const l of out.split('\n')) if (l.startsWith(`${key}  `)) return l.slice(key.length).trim();
  return undefined;
}

/** failed: asserts exit code 1 and the one-line error naming the status and field. */
async function failed(run: Promise<Run>, code: status, prefix: string): Promise<string> {
  const r = await run;
  assert.equal(r.code, 1, `exit 1 (stderr: ${r.stderr})`);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^vrctl: [^\n]+\n$/, 'one line');
  assert.ok(r.stderr.startsWith(`vrctl: ${status[code]}: ${prefix}`), r.stderr);
  return r.stderr;
}

/** usage: asserts exit code 2 and a message on stderr. */
async function usage(run: Promise<Run>, message: RegExp): Promise<void> {
  const r = await run;
  assert.equal(r.code, 2, `exit 2 (stderr: ${r.stderr})`);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, message);
  assert.match(r.stderr, /Try 'vrctl[^']*--help'/);
}

const ifindex = (dev: string) => (JSON.parse(lab.ip(topo.host, ['-j', 'link', 'show', dev])) as { ifindex: number }[])[0]!.ifindex;

before(async () => {
  lab = new Lab('vrctl');
  topo = buildTwoPods(lab, 1500, { offloads: 'default' });
  lab.ip(topo.host, ['link', 'add', 'spare0', 'type', 'veth', 'peer', 'name', 'spare1']);
  lab.ip(topo.host, ['link', 'set', 'spare0', 'up']);
  daemon = new LabDaemon(lab, { instance: lab.prefix, ns: topo.host, extraArgs: ['--max-routes', String(MAX_ROUTES), '--max-interfaces', '16'] });
  c = await daemon.start();
  await programTwoPods(c, topo);
  tmp = mkdtempSync(join(tmpdir(), 'vrctl-'));
});

after(async () => {
  await daemon?.destroy();
  lab?.cleanup();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('vrctl vif', () => {
  it('list: a row per vif with hook, policy, peer delivery and os index; --json is the API\'s Interface messages', async () => {
    const t = rows(await ok('vif', 'list'));
    assert.deepEqual(t.map((r) => r.VIF), ['1', '2']);
    for (const [i, pod] of topo.pods.entries()) {
      const r = t[i]!;
      assert.deepEqual(
        [r.NAME, r.TYPE, r.VRF, r['OS-IDX'], r.HOOK, r['HOOK-POLICY'], r.MODE, r.PEER, r.MAC, r.IPV4, r.IPV6, r.MTU, r.FLAGS],
        [pod.hostIf, 'virtual', '1', String(ifindex(pod.hostIf)), 'tc', 'auto', '-', 'yes', pod.hostMac, pod.ip4, pod.ip6, '1500', '-'],
      );
    }
    const want = (await collect(c.interfaces.listInterfaces({}))).map((m) => toJson(InterfaceSchema, m.interface!, JSON_OPTS));
    assert.deepEqual(await okJson('vif', 'list'), want);
    assert.deepEqual(await okJson('vif', 'get', '2'), want[1]);
  });

  it('get: every field of one vif', async () => {
    const out = await ok('vif', 'get', '1');
    assert.equal(field(out, 'name'), 'veth-p1');
    assert.equal(field(out, 'hook'), 'tc');
    assert.equal(field(out, 'hook policy'), 'auto');
    assert.equal(field(out, 'peer delivery'), 'yes');
    assert.equal(field(out, 'os index'), String(ifindex('veth-p1')));
    assert.equal(field(out, 'ipv6'), topo.pods[0].ip6);
  });

  it('add, set (a hook move among them), del change the daemon\'s vifs', async () => {
    const added = await ok('vif', 'add', '3', '--name', 'spare0', '--vrf', '2', '--hook', 'xdp', '--ipv4', '10.30.0.1', '--mtu', '1400', '--policy');
    assert.equal(field(added, 'hook'), 'xdp');
    let v = (await c.interfaces.getInterface({ index: 3 })).interface!;
    assert.deepEqual([v.name, v.vrf, v.hook, v.hookPolicy, v.ipv4Address, v.mtu, v.policyEnabled], ['spare0', 2, AttachHook.XDP, AttachHook.XDP, '10.30.0.1', 1400, true]);
    assert.notEqual(v.attachMode, AttachMode.UNSPECIFIED);
    assert.equal(field(added, 'attach mode'), v.attachMode === AttachMode.NATIVE ? 'native' : 'generic');

    const set = await okJson<{ hook: string; hookPolicy: string; mtu: number; policyEnabled: boolean; disabled: boolean }>(
      'vif', 'set', '3', '--hook', 'tc', '--mtu', '1300', '--no-policy', '--disabled',
    );
    assert.deepEqual([set.hook, set.hookPolicy, set.mtu, set.policyEnabled, set.disabled], ['ATTACH_HOOK_TC', 'ATTACH_HOOK_TC', 1300, false, true]);
    v = (await c.interfaces.getInterface({ index: 3 })).interface!;
    assert.deepEqual([v.hook, v.mtu, v.policyEnabled, v.disabled, v.vrf], [AttachHook.TC, 1300, false, true, 2]);
    assert.equal(rows(await ok('vif', 'list')).find((r) => r.VIF === '3')?.FLAGS, 'disabled');

    assert.equal(await ok('vif', 'del', '3'), 'vif 3 deleted\n');
    await rejects(c.interfaces.getInterface({ index: 3 }), status.NOT_FOUND, 'index');
  });
});

describe('vrctl nh', () => {
  it('list: the built-in discard, the receive and the encap next hops with their references', async () => {
    const t = rows(await ok('nh', 'list'));
    const row = (id: number) => t.find((r) => r.ID === String(id));
    assert.deepEqual(t.map((r) => r.ID), ['0', '1', '11', '12']);
    assert.deepEqual([row(0)?.KIND, row(1)?.KIND, row(1)?.REFS], ['discard', 'receive', '4']);
    assert.deepEqual([row(12)?.KIND, row(12)?.VRF, row(12)?.['OUT-VIF'], row(12)?.['DST-MAC'], row(12)?.['SRC-MAC'], row(12)?.REFS], ['encap', '1', '2', topo.pods[1].mac, topo.pods[1].hostMac, '2']);
    const want = (await collect(c.nextHops.listNextHops({}))).map((m) => toJson(NextHopSchema, m.nextHop!, JSON_OPTS));
    assert.deepEqual(await okJson('nh', 'list'), want);
  });

  it('add encap / receive, get, set, del change the daemon\'s next hops', async () => {
    const out = await ok('nh', 'add', '20', 'encap', '--vif', '2', '--dst-mac', '02:00:00:00:00:20', '--vrf', '1');
    assert.equal(field(out, 'kind'), 'encap');
    let nh = (await c.nextHops.getNextHop({ id: 20 })).nextHop!;
    assert.deepEqual(nh.kind, { case: 'encap', value: nh.kind.value });
    assert.deepEqual(nh.kind.case === 'encap' && [nh.kind.value.interfaceIndex, nh.kind.value.dstMac], [2, '02:00:00:00:00:20']);
    await ok('nh', 'add', '21', 'receive');
    assert.equal((await c.nextHops.getNextHop({ id: 21 })).nextHop!.kind.case, 'receive');
    assert.deepEqual(await okJson('nh', 'get', '21'), toJson(NextHopSchema, (await c.nextHops.getNextHop({ id: 21 })).nextHop!, JSON_OPTS));

    await ok('nh', 'set', '20', 'encap', '--vif', '1', '--dst-mac', '02:00:00:00:00:21', '--vrf', '1');
    nh = (await c.nextHops.getNextHop({ id: 20 })).nextHop!;
    assert.deepEqual(nh.kind.case === 'encap' && [nh.kind.value.interfaceIndex, nh.kind.value.dstMac], [1, '02:00:00:00:00:21']);

    assert.equal(await ok('nh', 'del', '20'), 'nh 20 deleted\n');
    assert.deepEqual(await okJson('nh', 'del', '21'), {});
    for (const id of [20, 21]) await rejects(c.nextHops.getNextHop({ id }), status.NOT_FOUND, 'id');
  });

  it('composites: add --ecmp / --flood with members, member add / del, list and get show them; refusals with status and field', async () => {
    await ok('nh', 'add', '30', 'encap', '--vif', '2', '--l2');
    const e = (await c.nextHops.getNextHop({ id: 30 })).nextHop!;
    assert.deepEqual(e.kind.case === 'encap' && [e.kind.value.l2, e.kind.value.interfaceIndex], [true, 2]);
    const out = await ok('nh', 'add', '40', 'composite', '--ecmp', '11', '12', '--vrf', '1');
    assert.deepEqual([field(out, 'composite'), field(out, 'members')], ['ecmp', '11, 12']);
    await ok('nh', 'add', '41', 'composite', '--flood', '12', '30');
    await ok('nh', 'member', 'add', '40', '30');
    let nh = (await c.nextHops.getNextHop({ id: 40 })).nextHop!;
    assert.deepEqual(nh.kind.case === 'composite' && [nh.kind.value.kind, nh.kind.value.memberIds], [CompositeKind.ECMP, [11, 12, 30]]);
    assert.equal((await c.nextHops.getNextHop({ id: 12 })).nextHop!.compositeRefCount, 2);
    const t = rows(await ok('nh', 'list'));
    assert.deepEqual([t.find((r) => r.ID === '40')?.['TUNNEL/MEMBERS'], t.find((r) => r.ID === '41')?.['TUNNEL/MEMBERS'], t.find((r) => r.ID === '12')?.['COMP-REFS']], ['ecmp [11,12,30]', 'flood [12,30]', '2']);
    await failed(vrctl('nh', 'del', '30'), status.FAILED_PRECONDITION, 'id: ');
    await failed(vrctl('nh', 'member', 'add', '40', '41'), status.FAILED_PRECONDITION, 'member_id: ');
    await failed(vrctl('nh', 'member', 'add', '40', '30'), status.ALREADY_EXISTS, 'member_id: ');
    await failed(vrctl('nh', 'member', 'del', '40', '99'), status.NOT_FOUND, 'member_id: ');
    await failed(vrctl('nh', 'add', '42', 'composite', '--flood', '41'), status.FAILED_PRECONDITION, 'next_hop.composite.member_ids[0]: ');
    await usage(vrctl('nh', 'add', '42', 'composite', '11'), /one of --ecmp or --flood/);
    await ok('nh', 'member', 'del', '40', '30');
    nh = (await c.nextHops.getNextHop({ id: 40 })).nextHop!;
    assert.deepEqual(nh.kind.case === 'composite' && nh.kind.value.memberIds, [11, 12]);
    for (const id of ['40', '41', '30']) await ok('nh', 'del', id);
  });

  it('a next hop in use is refused with the status and field; bad kinds are usage errors', async () => {
    await failed(vrctl('nh', 'del', '12'), status.FAILED_PRECONDITION, 'id: ');
    await usage(vrctl('nh', 'add', '22', 'receive', '--vif', '1'), /--vif is not an option of receive next hops/);
    await usage(vrctl('nh', 'add', '22', 'bridge'), /kind: want one of encap, tunnel, composite, vrf, receive, discard/);
    await usage(vrctl('nh', 'add', '22', 'tunnel'), /tunnel wants --type, --src, --dst and --vif/);
    await usage(vrctl('nh', 'add', '22', 'encap', '--vif', '1'), /encap wants --vif and --dst-mac/);
  });
});

describe('vrctl rt', () => {
  it('list: every route sorted by VRF and prefix, with next hop and flags; --vrf filters; --json is the API\'s Route messages', async () => {
    const t = rows(await ok('rt', 'list'));
    assert.deepEqual(t.map((r) => r.PREFIX), [
      '10.10.1.1/32', '10.10.1.2/32', '10.10.2.1/32', '10.10.2.2/32',
      'fd00:10:1::1/128', 'fd00:10:1::2/128', 'fd00:10:2::1/128', 'fd00:10:2::2/128',
    ]);
    assert.deepEqual(t.find((r) => r.PREFIX === '10.10.2.2/32'), { VRF: '1', PREFIX: '10.10.2.2/32', NH: '12', LABEL: '-', FLAGS: 'proxy-arp' });
    assert.equal(rows(await ok('rt', 'list', '--vrf', '1')).length, 8);
    assert.deepEqual(rows(await ok('rt', 'list', '--vrf', '7')), []);
    const want = (await collect(c.routes.listRoutes({}))).map((m) => toJson(RouteSchema, m.route!, JSON_OPTS));
    assert.deepEqual(await okJson('rt', 'list'), want);
  });

  it('add, lookup (longest prefix), get, set, del change the daemon\'s routes', async () => {
    assert.equal(await ok('rt', 'add', '1', '10.20.0.0/16', '--nh', '12'), 'route 10.20.0.0/16 added to vrf 1\n');
    assert.deepEqual((await c.routes.getRoute({ vrf: 1, prefix: '10.20.0.0/16' })).route?.nextHopId, 12);
    assert.deepEqual(rows(await ok('rt', 'lookup', '1', '10.20.3.4')), [{ VRF: '1', PREFIX: '10.20.0.0/16', NH: '12', LABEL: '-', FLAGS: '-' }]);
    assert.deepEqual(await okJson('rt', 'lookup', '1', '10.10.2.2'), { vrf: 1, prefix: '10.10.2.2/32', nextHopId: 12, proxyArp: true });
    await ok('rt', 'set', '1', '10.20.0.0/16', '--nh', '11', '--proxy-arp');
    const r = (await c.routes.getRoute({ vrf: 1, prefix: '10.20.0.0/16' })).route!;
    assert.deepEqual([r.nextHopId, r.proxyArp], [11, true]);
    assert.deepEqual(rows(await ok('rt', 'get', '1', '10.20.0.0/16')), [{ VRF: '1', PREFIX: '10.20.0.0/16', NH: '11', LABEL: '-', FLAGS: 'proxy-arp' }]);
    await ok('rt', 'del', '1', '10.20.0.0/16');
    await rejects(c.routes.getRoute({ vrf: 1, prefix: '10.20.0.0/16' }), status.NOT_FOUND);
    await failed(vrctl('rt', 'lookup', '1', '10.99.0.1'), status.NOT_FOUND, '');
    await failed(vrctl('rt', 'add', '1', '10.20.0.1/16', '--nh', '12'), status.INVALID_ARGUMENT, 'route.prefix: ');
    await failed(vrctl('rt', 'add', '1', '10.21.0.0/16', '--nh', '99'), status.NOT_FOUND, 'route.next_hop_id: ');
    await usage(vrctl('rt', 'add', '1', '10.21.0.0/16'), /--nh is required/);
  });
});

describe('vrctl dropstats, stats, system', () => {
  it('dropstats: the non-zero reasons and a total; --all every reason; --per-cpu a column per CPU; --json the API\'s message', async () => {
    const j = await okJson<{ counters: { name: string; packets: string; perCpu: string[] }[]; total: string }>('dropstats', '--per-cpu');
    assert.equal(BigInt(j.total), j.counters.reduce((a, x) => a + BigInt(x.packets), 0n));
    for (const x of j.counters) assert.equal(BigInt(x.packets), x.perCpu.reduce((a, n) => a + BigInt(n), 0n));
    const names = j.counters.map((x) => x.name);
    assert.ok(names.includes('no_route') && names.includes('ttl_exceeded'), names.join(' '));
    const all = rows(await ok('dropstats', '--all'));
    assert.deepEqual(all.map((r) => r.REASON), [...names, 'total']);
    const nonzero = rows(await ok('dropstats'));
    assert.ok(nonzero.every((r) => r.REASON === 'total' || r.PACKETS !== '0'));
    const perCpu = rows(await ok('dropstats', '--per-cpu', '--all'));
    const cpus = j.counters[0]!.perCpu.length;
    assert.ok(cpus >= 1);
    assert.deepEqual(Object.keys(perCpu[0]!), ['REASON', 'PACKETS', ...Array.from({ length: cpus }, (_, i) => `CPU${i}`)]);
  });

  it('stats: a row per vif with its counters; stats <vif> one; an unknown vif is NOT_FOUND', async () => {
    const t = rows(await ok('stats'));
    assert.deepEqual(t.map((r) => [r.VIF, r.NAME]), [['1', 'veth-p1'], ['2', 'veth-p2']]);
    assert.deepEqual(Object.keys(t[0]!), ['VIF', 'NAME', 'RX-PKTS', 'RX-BYTES', 'TX-PKTS', 'TX-BYTES', 'DROPS', 'TO-HOST', 'PROXIED']);
    assert.deepEqual(rows(await ok('stats', '2')).map((r) => r.NAME), ['veth-p2']);
    const j = await okJson<{ index: number; name: string; rxPackets: string }>('stats', '2');
    assert.deepEqual([j.index, j.name], [2, 'veth-p2']);
    const s = (await c.stats.getInterfaceStats({ index: 2 })).stats!;
    assert.ok(BigInt(j.rxPackets) <= s.rxPackets);
    await failed(vrctl('stats', '9'), status.NOT_FOUND, 'index: ');
  });

  it('system: version, kernel, programs, maps with capacity and use, attachments with their hook', async () => {
    const out = await ok('system');
    assert.equal(field(out, 'version'), VERSION);
    assert.equal(field(out, 'kernel'), release());
    assert.equal(field(out, 'instance'), lab.prefix);
    assert.equal(field(out, 'adopted'), 'no');
    const [, progs, maps, atts] = out.split('\n\n');
    assert.deepEqual(rows(progs!.split('\n').slice(1).join('\n')).map((p) => p.NAME), ['vr_xdp_vif', 'vr_tc_vif', 'vr_tc_egress']);
    const mapRows = rows(maps!.split('\n').slice(1).join('\n'));
    const [rt4, host4] = ['vr_rt4', 'vr_host4'].map((n) => mapRows.find((m) => m.NAME === n));
    assert.deepEqual([rt4?.TYPE, rt4?.CAPACITY, rt4?.USED], ['lpm_trie', String(MAX_ROUTES), '0'], 'the demo has host routes only');
    assert.deepEqual([host4?.TYPE, host4?.CAPACITY, host4?.USED], ['hash', String(MAX_ROUTES), '4']);
    assert.deepEqual(rows(atts!.split('\n').slice(1).join('\n')).map((a) => [a.VIF, a.NAME, a['OS-IDX'], a.HOOK, a.DIR, a.MODE, a.PROGRAM]), [
      ['1', 'veth-p1', String(ifindex('veth-p1')), 'tc', 'ingress', '-', 'vr_tc_vif'],
      ['2', 'veth-p2', String(ifindex('veth-p2')), 'tc', 'ingress', '-', 'vr_tc_vif'],
    ]);
    const j = await okJson<{ instance: string; version: string; maps: { name: string; capacity: number }[] }>('system');
    assert.deepEqual([j.instance, j.version], [lab.prefix, VERSION]);
    assert.equal(j.maps.find((m) => m.name === 'vr_rt4')?.capacity, MAX_ROUTES);
  });
});

describe('vrctl trace', () => {
  const [pod1, pod2] = [() => topo.pods[0], () => topo.pods[1]];
  const frame = (dst = pod2().ip4) => eth(pod1().hostMac, pod1().mac, 0x0800, ipv4(pod1().ip4, dst, 17, udp(1000, 2000, Buffer.alloc(18))));

  it('a frame to pod 2: REDIRECT by next hop 12 to vif 2, into the pod; the output frame decoded and in hex', async () => {
    const out = await ok('trace', '--vif', '1', '--hex', frame().toString('hex'));
    assert.equal(field(out, 'hook'), 'tc');
    assert.equal(field(out, 'verdict'), 'redirect');
    assert.equal(field(out, 'next hop'), '12');
    assert.equal(field(out, 'out vif'), `2 (os index ${ifindex('veth-p2')})`);
    assert.equal(field(out, 'peer delivery'), 'yes');
    assert.equal(field(out, 'output'), `60 bytes: eth ${pod2().hostMac} > ${pod2().mac}, ipv4 ${pod1().ip4} > ${pod2().ip4} ttl 63 len 46, udp 1000 > 2000`);
    const want = eth(pod2().mac, pod2().hostMac, 0x0800, ipv4(pod1().ip4, pod2().ip4, 17, udp(1000, 2000, Buffer.alloc(18)), { ttl: 63 }));
    const dump = out.split('\n').filter((l) => /^[0-9a-f]{4}  /.test(l));
    assert.equal(dump.length, 4);
    assert.deepEqual(Buffer.from(dump.map((l) => l.slice(6, 55).replace(/\s/g, '')).join(''), 'hex'), want);

    // from a file, on the XDP hook, as JSON: vif 2 is on TC, so XDP hands the frame, untouched, to TC
    const file = join(tmp, 'frame.bin');
    writeFileSync(file, frame());
    const j = await okJson<{ hook: string; verdict: string; nextHopId: number; hasOut: boolean; handedToTc: boolean; output: string }>(
      'trace', '--vif', '1', '--file', file, '--hook', 'xdp',
    );
    assert.deepEqual([j.hook, j.verdict, j.nextHopId, j.hasOut, j.handedToTc], ['ATTACH_HOOK_XDP', 'TRACE_VERDICT_PASS', 12, false, true]);
    assert.deepEqual(Buffer.from(j.output, 'base64'), frame());
  });

  it('a frame with no route: DROP, no_route', async () => {
    const out = await ok('trace', '--vif', '1', '--hex', frame('10.99.0.1').toString('hex'));
    assert.deepEqual([field(out, 'verdict'), field(out, 'drop reason'), field(out, 'out vif')], ['drop', 'no_route', '-']);
  });

  it('bad input: usage errors, and the daemon\'s status for an unknown vif', async () => {
    await usage(vrctl('trace', '--vif', '1'), /one of --hex and --file/);
    await usage(vrctl('trace', '--vif', '1', '--hex', 'abc'), /--hex: want an even number of hex digits/);
    await usage(vrctl('trace', '--vif', '1', '--file', join(tmp, 'missing')), /--file: cannot read .*ENOENT/);
    await usage(vrctl('trace', '--vif', '1', '--hex', 'aa', '--hook', 'nope'), /--hook: want one of/);
    await failed(vrctl('trace', '--vif', '9', '--hex', frame().toString('hex')), status.NOT_FOUND, 'interface_index: ');
  });
});

describe('vrctl exit codes, errors and help', () => {
  it('a failed call: exit 1, one line with the status and the field', async () => {
    const line = await failed(vrctl('vif', 'get', '9'), status.NOT_FOUND, 'index: ');
    assert.equal(line, 'vrctl: NOT_FOUND: index: no interface with index 9\n');
    await failed(vrctl('vif', 'add', '4', '--name', 'spare1', '--mac', 'zz'), status.INVALID_ARGUMENT, 'interface.mac: not a MAC address');
    await failed(vrctl('vif', 'add', '4', '--name', 'nosuchif'), status.NOT_FOUND, 'interface.name: ');
    await failed(vrctl('vif', 'add', '1', '--name', 'spare1'), status.ALREADY_EXISTS, 'interface.index: ');
    await failed(vrctlRaw(['--socket', join(tmp, 'nothing.sock'), 'vif', 'list']), status.UNAVAILABLE, '');
    await failed(vrctl('--json', 'vif', 'get', '9'), status.NOT_FOUND, 'index: ');
  });

  it('a bad command line: exit 2 with what is wrong and where to look', async () => {
    await usage(vrctlRaw([]), /no command given/);
    await usage(vrctl('frob'), /unknown command "frob"/);
    await usage(vrctl('vif'), /vif: missing verb \(list, get, add, set, del\)/);
    await usage(vrctl('vif', 'frob'), /unknown verb "frob"/);
    await usage(vrctl('vif', 'get'), /missing arguments: want <index>/);
    await usage(vrctl('vif', 'get', '1', '2'), /unexpected argument "2"/);
    await usage(vrctl('vif', 'get', 'one'), /index: want an integer/);
    await usage(vrctl('vif', 'list', '--frob'), /Unknown option '--frob'/);
    await usage(vrctl('vif', 'add', '4'), /--name is required[\s\S]*Try 'vrctl vif add --help'/);
    await usage(vrctl('vif', 'add', '4', '--name', 'spare1', '--hook', 'ebpf'), /--hook: want one of auto, xdp, tc/);
    await usage(vrctl('vif', 'set', '1'), /nothing to change/);
    await usage(vrctl('rt', 'list', '--vrf', '-1'), /--vrf/);
    await usage(vrctl('--timeout', '0', 'system'), /--timeout/);
    // nothing was written by any of them
    assert.deepEqual((await collect(c.interfaces.listInterfaces({}))).map((m) => m.interface!.index), [1, 2]);
  });

  it('--help at every level, --version; global options before or after the command', async () => {
    const top = await vrctlRaw(['--help']);
    assert.equal(top.code, 0);
    for (const s of ['usage: vrctl', 'vif list', 'nh add <id> encap|tunnel|composite|vrf|receive|discard', 'mpls add <label>', 'vxlan add <vni>', 'rt lookup <vrf> <address>', 'dropstats', 'trace --vif N', '--socket PATH', 'Exit codes'])
      assert.ok(top.stdout.includes(s), `top help has ${s}`);
    assert.match((await vrctlRaw(['vif', '--help'])).stdout, /usage: vrctl vif <verb>[\s\S]*vif set <index>/);
    const add = await vrctlRaw(['vif', 'add', '-h']);
    assert.equal(add.code, 0);
    assert.match(add.stdout, /usage: vrctl vif add <index> --name IF[\s\S]*--hook HOOK[\s\S]*--mode MODE/);
    assert.equal((await vrctlRaw(['--version'])).stdout, `vrctl ${VERSION}\n`);
    // --json and --socket on either side of the command
    const a = await vrctlRaw(['vif', 'list', '--socket', daemon.socketPath, '--json']);
    const b = await vrctlRaw(['--json', '--socket', daemon.socketPath, 'vif', 'list']);
    assert.equal(a.code, 0);
    assert.deepEqual(JSON.parse(a.stdout), JSON.parse(b.stdout));
  });
});
