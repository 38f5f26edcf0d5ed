/**
 * Kernel events against a real daemon in the two-pods lab: a pod's host
 * veth going down, up, renamed and deleted is seen on the WatchKernelEvents
 * stream, in the vif (GetInterface) and in the datapath (pings to the pod
 * counted as interface_link_down while it is down, forwarded again after),
 * on /metrics; address, neighbour and route changes are streamed too.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientReadableStream } from '@grpc/grpc-js';
import { Lab } from '../../lab/topology.ts';
import { LabDaemon } from '../../lab/daemon.ts';
import { buildTwoPods, programTwoPods, type TwoPods } from '../../lab/two-pods.ts';
import { collect, type VrouterClient } from '../../src/client/client.ts';
import { KernelEventType, type KernelEvent, type WatchKernelEventsResponse } from '../../src/gen/vrouter/ebpf/v1/system_pb.js';
import { rejects } from '../helpers/grpc-status.ts';
import { runVrctl } from '../helpers/vrctl-run.ts';
import { status } from '@grpc/grpc-js';

let lab: Lab;
let topo: TwoPods;
let daemon: LabDaemon;
let c: VrouterClient;
let stream: ClientReadableStream<WatchKernelEventsResponse>;
const events: KernelEvent[] = [];

/** next: the first event after `from` (an index into events) matching pred, waiting up to 10 s */
async function next(from: number, pred: (e: KernelEvent) => boolean, what: string): Promise<KernelEvent> {
  for (let waited = 0; waited < 10_000; waited += 50) {
    const e = events.slice(from).find(pred);
    if (e) return e;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no ${what} event; got:\n${events.slice(from).map((e) => `${KernelEventType[e.type]} ${e.name}`).join('\n')}`);
}

async function drops(name: string): Promise<bigint> {
  return (await c.stats.getDropStats({})).counters.find((d) => d.name === name)!.packets;
}

async function scrape(): Promise<string> {
  // the daemon's default listener, on its namespace's loopback
  return lab.exec(topo.host, 'curl', ['-s', 'http://127.0.0.1:9478/metrics']);
}

before(async () => {
  lab = new Lab('vrkev');
  topo = buildTwoPods(lab);
  daemon = new LabDaemon(lab, { instance: lab.prefix, ns: topo.host });
  c = await daemon.start();
  await programTwoPods(c, topo);
  stream = c.system.watchKernelEvents({}, {}) as unknown as ClientReadableStream<WatchKernelEventsResponse>;
  const first = await new Promise<WatchKernelEventsResponse>((resolve, reject) => {
    stream.once('error', reject);
    stream.once('data', resolve);
  });
  assert.deepEqual([first.events.length, first.lost], [0, 0n], 'the first message is empty');
  stream.on('data', (m: WatchKernelEventsResponse) => events.push(...m.events));
  stream.on('error', () => {}); // cancelled at the end
});

after(async () => {
  stream?.cancel();
  await daemon?.destroy();
  lab?.cleanup();
});

describe('a vif whose kernel interface changes', () => {
  const pod2 = () => topo.pods[1];

  it('forwards while the link is up', () => {
    assert.equal(lab.ping(topo.pods[0].ns, pod2().ip4, 2).received, 2);
  });

  it('down: streamed, the vif says link_down, pings to the pod are dropped as interface_link_down', async () => {
    const from = events.length;
    const before = await drops('interface_link_down');
    lab.ip(topo.host, ['link', 'set', pod2().hostIf, 'down']);
    const e = await next(from, (x) => x.type === KernelEventType.LINK_DOWN && x.name === pod2().hostIf, 'link down');
    assert.equal(e.interfaceIndex, 2);
    assert.equal(e.operState, 'down');
    const vif = (await c.interfaces.getInterface({ index: 2 })).interface!;
    assert.equal(vif.linkDown, true);
    assert.equal(lab.ping(topo.pods[0].ns, pod2().ip4, 3, { allowFail: true }).received, 0);
    assert.ok((await drops('interface_link_down')) - before >= 3n, 'every ping counted under interface_link_down');
    const m = await scrape();
    assert.match(m, /vrouter_interface_oper_up\{vif="2",name="veth-p2"\} 0/);
    assert.match(m, /vrouter_interface_oper_up\{vif="1",name="veth-p1"\} 1/);
    assert.match(m, /vrouter_kernel_events_total\{type="link_down"\} [1-9]/);
  });

  it('up: streamed, forwarding again', async () => {
    const from = events.length;
    lab.ip(topo.host, ['link', 'set', pod2().hostIf, 'up']);
    const e = await next(from, (x) => x.type === KernelEventType.LINK_UP && x.name === pod2().hostIf, 'link up');
    assert.equal(e.interfaceIndex, 2);
    assert.equal((await c.interfaces.getInterface({ index: 2 })).interface!.linkDown, false);
    assert.ok(lab.ping(topo.pods[0].ns, pod2().ip4, 3, { allowFail: true }).received >= 1);
  });

  it('the pod taking its end down (no carrier on the host veth) is a link down too', async () => {
    const from = events.length;
    lab.ip(pod2().ns, ['link', 'set', pod2().ifname, 'down']);
    const e = await next(from, (x) => x.type === KernelEventType.LINK_DOWN && x.name === pod2().hostIf, 'carrier down');
    assert.notEqual(e.operState, 'up');
    assert.equal((await c.interfaces.getInterface({ index: 2 })).interface!.linkDown, true);
    lab.ip(pod2().ns, ['link', 'set', pod2().ifname, 'up']);
    await next(from, (x) => x.type === KernelEventType.LINK_UP && x.name === pod2().hostIf, 'carrier up');
    assert.equal((await c.interfaces.getInterface({ index: 2 })).interface!.linkDown, false);
  });

  it('renamed: streamed with the old name, the vif has the new one', async () => {
    const from = events.length;
    lab.ip(topo.host, ['link', 'set', pod2().hostIf, 'down']);
    lab.ip(topo.host, ['link', 'set', pod2().hostIf, 'name', 'veth-p2x']);
    lab.ip(topo.host, ['link', 'set', 'veth-p2x', 'up']);
    const e = await next(from, (x) => x.type === KernelEventType.LINK_RENAME, 'rename');
    assert.deepEqual([e.name, e.oldName, e.interfaceIndex], ['veth-p2x', 'veth-p2', 2]);
    await next(from, (x) => x.type === KernelEventType.LINK_UP && x.name === 'veth-p2x', 'up after rename');
    assert.equal((await c.interfaces.getInterface({ index: 2 })).interface!.name, 'veth-p2x');
  });

  it('an address, its routes and a neighbour are streamed', async () => {
    const from = events.length;
    lab.ip(topo.host, ['addr', 'add', '192.0.2.1/24', 'dev', 'veth-p1']);
    lab.ip(topo.host, ['neigh', 'add', '192.0.2.9', 'lladdr', '02:00:00:00:00:09', 'dev', 'veth-p1']);
    const a = await next(from, (x) => x.type === KernelEventType.ADDRESS_ADD && x.address === '192.0.2.1', 'address add');
    assert.deepEqual([a.prefixLength, a.interfaceIndex, a.name], [24, 1, 'veth-p1']);
    const r = await next(from, (x) => x.type === KernelEventType.ROUTE_ADD && x.prefix === '192.0.2.0/24', 'route add');
    assert.deepEqual([r.table, r.interfaceIndex], [254, 1]);
    const n = await next(from, (x) => x.type === KernelEventType.NEIGHBOUR_UPDATE && x.address === '192.0.2.9', 'neighbour');
    assert.deepEqual([n.lladdr, n.neighbourState], ['02:00:00:00:00:09', 'permanent']);
    lab.ip(topo.host, ['addr', 'del', '192.0.2.1/24', 'dev', 'veth-p1']);
    await next(from, (x) => x.type === KernelEventType.ADDRESS_DELETE && x.address === '192.0.2.1', 'address delete');
  });

  it('deleted: streamed, the vif is kept and reported orphaned and down', async () => {
    const from = events.length;
    lab.ip(topo.host, ['link', 'del', 'veth-p2x']);
    const e = await next(from, (x) => x.type === KernelEventType.LINK_DELETE && x.name === 'veth-p2x', 'delete');
    assert.equal(e.interfaceIndex, 2);
    const vif = (await c.interfaces.getInterface({ index: 2 })).interface!;
    assert.deepEqual([vif.orphaned, vif.linkDown], [true, true]);
    // the agent deletes it (what leads there first); the daemon goes on
    for (const prefix of [`${pod2().ip4}/32`, `${pod2().ip6}/128`]) await c.routes.deleteRoute({ vrf: 1, prefix });
    await c.nextHops.deleteNextHop({ id: 12 });
    await c.interfaces.deleteInterface({ index: 2 });
    assert.deepEqual((await collect(c.interfaces.listInterfaces({}))).map((r) => r.interface?.index), [1]);
  });

  it('max_queue out of range: INVALID_ARGUMENT naming it', async () => {
    await rejects(
      (async () => {
        for await (const _ of c.system.watchKernelEvents({ maxQueue: 1 << 20 })) break;
      })(),
      status.INVALID_ARGUMENT,
      'max_queue',
    );
  });
});

describe('vrctl events', () => {
  it('prints kernel events as they come, as JSON with --json', async () => {
    const run = runVrctl(['--socket', daemon.socketPath, '--json', 'events', '--count', '2']);
    // the watch is in place once the daemon counts its watcher; then two changes
    await waitForWatchers(2);
    lab.ip(topo.host, ['link', 'add', 'evx0', 'type', 'veth', 'peer', 'name', 'evx1']);
    lab.ip(topo.host, ['link', 'del', 'evx0']);
    const r = await run;
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; name: string });
    assert.equal(lines.length, 2);
    assert.ok(lines.some((l) => l.name.startsWith('evx') && l.type.startsWith('KERNEL_EVENT_TYPE_LINK_')), r.stdout);
  });

  it('prints one line per event without --json', async () => {
    const run = runVrctl(['--socket', daemon.socketPath, 'events', '--count', '1']);
    await waitForWatchers(2);
    lab.ip(topo.host, ['addr', 'add', '192.0.2.77/32', 'dev', 'veth-p1']);
    const r = await run;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /address_add {2}192\.0\.2\.77\/32 on veth-p1 \(ifindex \d+, vif 1\)/);
  });
});

/** waitForWatchers: until the daemon has n kernel event watchers (the test's stream and a vrctl) */
async function waitForWatchers(n: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (new RegExp(`vrouter_kernel_event_watchers ${n}\\b`).test(await scrape())) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`never ${n} kernel event watchers`);
}
