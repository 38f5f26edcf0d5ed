/**
 * The programming stream (ProgramService) against a real daemon and real
 * packets: the two-pod topology programmed over one stream, per-step
 * errors, transactions undone whole, a resync under traffic, a disconnect
 * mid-sync, cancellation, a client that never reads its answers, and Apply
 * through buf curl with JSON.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { status, type ServiceError } from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import { Lab } from '../../lab/topology.ts';
import { tcpTransferChecked } from '../helpers/transfer.ts';
import { LabDaemon } from '../../lab/daemon.ts';
import { buildTwoPods, twoPodsOps, VRF, type TwoPods } from '../../lab/two-pods.ts';
import { collect, type VrouterClient } from '../../src/client/client.ts';
import { ProgramError } from '../../src/client/program-stream.ts';
import { InterfaceType } from '../../src/gen/vrouter/ebpf/v1/interface_pb.js';
import { ProgramRequestSchema, type ProgramResponse } from '../../src/gen/vrouter/ebpf/v1/program_pb.js';
import { SyncState } from '../../src/gen/vrouter/ebpf/v1/system_pb.js';

const BUF = fileURLToPath(new URL('../../node_modules/.bin/buf', import.meta.url));
const ORPHAN_TIMEOUT_MS = 1500;

let lab: Lab;
let topo: TwoPods;
let daemon: LabDaemon;
let c: VrouterClient;

before(async () => {
  lab = new Lab('vrprog');
  topo = buildTwoPods(lab);
  lab.ip(topo.host, ['link', 'add', 'spare0', 'type', 'veth', 'peer', 'name', 'spare1']);
  lab.ip(topo.host, ['link', 'set', 'spare0', 'up']);
  daemon = new LabDaemon(lab, { instance: lab.prefix, ns: topo.host, extraArgs: ['--sync-orphan-timeout', String(ORPHAN_TIMEOUT_MS), '--metrics', ''] });
  c = await daemon.start();
});

after(async () => {
  await daemon?.destroy();
  lab?.cleanup();
});

/** tables: every vif, next hop and route, sorted, as plain JSON (for before/after comparisons). */
async function tables() {
  const vifs = (await collect(c.interfaces.listInterfaces({}))).map((r) => JSON.stringify(r.interface));
  const nhs = (await collect(c.nextHops.listNextHops({}))).map((r) => JSON.stringify(r.nextHop));
  const routes = (await collect(c.routes.listRoutes({ chunkSize: 1000 }))).flatMap((r) => r.routes.map((x) => JSON.stringify(x))).sort();
  return { vifs, nhs, routes };
}

/** rawCall: one request message on a fresh raw stream; the answer. */
async function rawCall(steps: Parameters<typeof create<typeof ProgramRequestSchema>>[1]): Promise<ProgramResponse> {
  const call = c.program.program();
  const answers: ProgramResponse[] = [];
  call.on('data', (r: ProgramResponse) => answers.push(r));
  const done = new Promise<void>((resolve, reject) => {
    call.on('error', reject);
    call.on('end', resolve);
  });
  call.write(create(ProgramRequestSchema, steps));
  call.end();
  await done;
  assert.equal(answers.length, 1, 'one answer per request message');
  return answers[0]!;
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]);
}

async function healthy(): Promise<void> {
  const info = await c.system.getSystemInfo({});
  assert.ok(info.version);
}

describe('ProgramService.Program', () => {
  it('programs the two-pod topology over one stream (pipelined); ping both ways and 8 MiB over TCP arrive', async () => {
    const s = c.programStream();
    const done = twoPodsOps(topo).map((op) => s.op(op));
    await Promise.all(done);
    await s.close();
    assert.ok(s.counters.messagesSent <= 2, `coalesced into ${s.counters.messagesSent} message(s)`);
    for (const [from, to] of [[0, 1], [1, 0]] as const) {
      assert.equal(lab.ping(topo.pods[from].ns, topo.pods[to].ip4, 3).received, 3);
      assert.equal(lab.ping(topo.pods[from].ns, topo.pods[to].ip6, 3).received, 3);
    }
    await tcpTransferChecked(lab, topo.pods[0], topo.pods[1], 'ip4', 8 * 1024 * 1024);
    await tcpTransferChecked(lab, topo.pods[0], topo.pods[1], 'ip6', 8 * 1024 * 1024);
  });

  it('a bad step in the middle gets its own status and field path; the steps around it are applied', async () => {
    const route = (seq: number, prefix: string, nextHopId: number) => ({ seq: BigInt(seq), step: { case: 'op' as const, value: { op: { case: 'addRoute' as const, value: { route: { vrf: VRF, prefix, nextHopId } } } } } });
    const r = await rawCall({
      steps: [route(10, '10.20.0.1/32', 11), route(11, '10.20.0.9/32', 999), route(12, '10.20.0.300/32', 11), route(13, '10.20.0.2/32', 12)],
    });
    assert.equal(r.okThroughSeq, 13n);
    assert.deepEqual(r.results.map((x) => [x.seq, status[x.code], x.field]), [
      [11n, 'NOT_FOUND', 'op.add_route.route.next_hop_id'],
      [12n, 'INVALID_ARGUMENT', 'op.add_route.route.prefix'],
    ]);
    assert.match(r.results[0]!.message, /^op\.add_route\.route\.next_hop_id: /);
    for (const prefix of ['10.20.0.1/32', '10.20.0.2/32']) assert.ok((await c.routes.getRoute({ vrf: VRF, prefix })).route);

    // the same through the coalescing client: one promise per call
    const s = c.programStream();
    const ok = s.addRoute({ vrf: VRF, prefix: '10.20.0.3/32', nextHopId: 11 });
    const bad = s.deleteRoute({ vrf: VRF, prefix: '10.20.9.0/24' });
    const ok2 = s.updateRoute({ vrf: VRF, prefix: '10.20.0.3/32', nextHopId: 12 });
    await ok;
    await assert.rejects(bad, (e: ProgramError) => e.code === status.NOT_FOUND && e.field === 'op.delete_route.prefix');
    await ok2;
    await s.close();
    assert.equal((await c.routes.getRoute({ vrf: VRF, prefix: '10.20.0.3/32' })).route!.nextHopId, 12);
  });

  it('control steps out of place and empty steps get their own status', async () => {
    const r = await rawCall({ steps: [{ seq: 1n, step: { case: 'endSync', value: {} } }, { seq: 2n }, { seq: 3n, step: { case: 'op', value: {} } }] });
    assert.equal(r.okThroughSeq, 3n);
    assert.deepEqual(r.results.map((x) => [x.seq, status[x.code], x.field]), [
      [1n, 'FAILED_PRECONDITION', ''],
      [2n, 'INVALID_ARGUMENT', ''],
      [3n, 'INVALID_ARGUMENT', 'op'],
    ]);
  });

  it('a seq that does not increase ends the stream with INVALID_ARGUMENT naming it', async () => {
    const step = (seq: number) => ({ seq: BigInt(seq), step: { case: 'op' as const, value: { op: { case: 'deleteNextHop' as const, value: { id: 4000 } } } } });
    await assert.rejects(rawCall({ steps: [step(5), step(5)] }), (e: ServiceError) => e.code === status.INVALID_ARGUMENT && /^steps\[1\]\.seq: /.test(e.details));
    await healthy();
  });

  it('a transaction that fails at its last step leaves every table as it was', async () => {
    const before1 = await tables();
    const s = c.programStream();
    const tx = s.transaction([
      { op: { case: 'addInterface', value: { interface: { index: 3, type: InterfaceType.VIRTUAL, name: 'spare0', vrf: VRF } } } },
      { op: { case: 'addNextHop', value: { nextHop: { id: 30, vrf: VRF, kind: { case: 'encap', value: { interfaceIndex: 3, dstMac: '02:00:00:00:00:30' } } } } } },
      { op: { case: 'addRoute', value: { route: { vrf: VRF, prefix: '10.30.0.0/24', nextHopId: 30 } } } },
      { op: { case: 'updateRoute', value: { route: { vrf: VRF, prefix: `${topo.pods[1].ip4}/32`, nextHopId: 30, proxyArp: true } } } },
      { op: { case: 'updateInterface', value: { index: 1, mtu: 1400 } } },
      { op: { case: 'deleteRoute', value: { vrf: VRF, prefix: '10.20.0.1/32' } } },
      { op: { case: 'deleteRoute', value: { vrf: VRF, prefix: '10.99.0.0/16' } } }, // does not exist: fails last
    ]);
    await assert.rejects(tx, (e: ProgramError) => e.code === status.NOT_FOUND && e.field === 'transaction.ops[6].delete_route.prefix');
    // the same transaction without the bad step would have worked: the stream goes on
    await s.addRoute({ vrf: VRF, prefix: '10.20.0.4/32', nextHopId: 11 });
    await s.deleteRoute({ vrf: VRF, prefix: '10.20.0.4/32' });
    await s.close();
    assert.deepEqual(await tables(), before1);
    assert.doesNotMatch(lab.ip(topo.host, ['link', 'show', 'spare0']), /xdp/, 'spare0 detached again');
    assert.equal(lab.ping(topo.pods[0].ns, topo.pods[1].ip4, 2).received, 2);
  });

  it('Apply through buf curl with JSON, atomic and not', () => {
    const curl = (body: unknown) =>
      JSON.parse(
        execFileSync(BUF, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '--unix-socket', daemon.socketPath, '-d', JSON.stringify(body),
          'http://localhost/vrouter.ebpf.v1.ProgramService/Apply'], { encoding: 'utf8', timeout: 30_000 }),
      ) as { results: { code?: number; field?: string; message?: string }[]; applied?: number };
    const add = (prefix: string, nextHopId: number) => ({ addRoute: { route: { vrf: VRF, prefix, nextHopId } } });
    const each = curl({ ops: [add('10.40.0.1/32', 11), add('10.40.0.2/32', 77), { deleteRoute: { vrf: VRF, prefix: '10.40.0.1/32' } }] });
    assert.equal(each.applied, 2);
    assert.deepEqual(each.results.map((r) => [r.code ?? 0, r.field ?? '']), [[0, ''], [status.NOT_FOUND, 'ops[1].add_route.route.next_hop_id'], [0, '']]);
    const atomic = curl({ atomic: true, ops: [add('10.40.0.3/32', 11), add('10.40.0.4/32', 77)] });
    assert.equal(atomic.applied ?? 0, 0);
    assert.deepEqual(atomic.results.map((r) => [r.code ?? 0, r.field ?? '']), [[status.ABORTED, ''], [status.NOT_FOUND, 'ops[1].add_route.route.next_hop_id']]);
    const ok = curl({ atomic: true, ops: [add('10.40.0.3/32', 11), { deleteRoute: { vrf: VRF, prefix: '10.40.0.3/32' } }] });
    assert.equal(ok.applied, 2);
    const empty = curl({ ops: [{}] });
    assert.deepEqual(empty.results.map((r) => [r.code, r.field]), [[status.INVALID_ARGUMENT, 'ops[0]']]);
  });

  it('resync under traffic: only the changed and the left-out route change, ping loses nothing', async () => {
    const routesBefore = (await collect(c.routes.listRoutes({ chunkSize: 1000 }))).flatMap((r) => r.routes);
    const vifs = (await collect(c.interfaces.listInterfaces({}))).map((r) => r.interface!);
    const nhs = (await collect(c.nextHops.listNextHops({}))).map((r) => r.nextHop!).filter((n) => n.id !== 0);
    assert.ok(routesBefore.some((r) => r.prefix === '10.20.0.1/32') && routesBefore.some((r) => r.prefix === '10.20.0.2/32'));

    const ping = lab.spawnIn(topo.pods[0].ns, 'ping', ['-i', '0.02', '-c', '150', '-W', '1', topo.pods[1].ip4]);
    let pingOut = '';
    ping.stdout!.on('data', (d: Buffer) => (pingOut += d.toString()));
    const pingDone = new Promise<void>((resolve) => ping.once('exit', () => resolve()));
    const killer = setTimeout(() => ping.kill('SIGKILL'), 20_000);
    await new Promise((r) => setTimeout(r, 500));

    const s = c.programStream();
    const epoch = await s.beginSync('resync-test');
    assert.ok(epoch > 0n);
    const work: Promise<void>[] = [];
    for (const v of vifs) work.push(s.addInterface({ interface: { ...v, osIndex: 0 } }));
    for (const n of nhs) work.push(s.addNextHop({ ...n, refCount: 0 }));
    for (const r of routesBefore) {
      if (r.prefix === '10.20.0.2/32') continue; // left out: removed at end_sync
      work.push(s.addRoute(r.prefix === '10.20.0.1/32' ? { ...r, nextHopId: 12 } : r)); // one changed
    }
    await Promise.all(work);
    const status1 = await c.system.getSystemInfo({});
    assert.equal(status1.currentSync?.state, SyncState.OPEN);
    const removed = await s.endSync();
    await s.close();
    assert.deepEqual({ ...removed, $typeName: undefined }, { $typeName: undefined, interfaces: 0, nextHops: 0, routes: 1, labels: 0, vnis: 0, bridgeEntries: 0 });

    await pingDone;
    clearTimeout(killer);
    assert.match(pingOut, / 150 received, 0% packet loss/, pingOut.split('\n').slice(-3).join('\n'));

    const routesAfter = (await collect(c.routes.listRoutes({ chunkSize: 1000 }))).flatMap((r) => r.routes);
    const key = (r: { vrf: number; prefix: string }) => `${r.vrf} ${r.prefix}`;
    const expected = routesBefore.filter((r) => r.prefix !== '10.20.0.2/32').map((r) => (r.prefix === '10.20.0.1/32' ? { ...r, nextHopId: 12 } : r));
    assert.deepEqual(routesAfter.map((r) => JSON.stringify(r)).sort(), expected.map((r) => JSON.stringify(r)).sort());
    assert.equal((await c.routes.getRoute({ vrf: VRF, prefix: '10.20.0.1/32' })).route!.nextHopId, 12);
    assert.ok(!routesAfter.some((r) => key(r) === `${VRF} 10.20.0.2/32`));
    const info = await c.system.getSystemInfo({});
    assert.equal(info.currentSync, undefined);
    assert.equal(info.lastSync?.state, SyncState.COMPLETED);
    assert.equal(info.lastSync?.epoch, epoch);
    assert.equal(info.lastSync?.owner, 'resync-test');
  });

  it('a stream that goes away mid-sync removes nothing; its epoch is orphaned, then abandoned', async () => {
    const before1 = await tables();
    const s = c.programStream();
    const epoch = await s.beginSync('dies-mid-sync');
    await s.addRoute({ vrf: VRF, prefix: `${topo.pods[0].ip4}/32`, nextHopId: 11, proxyArp: true }); // re-sent, unchanged
    s.cancel();
    await s.close();
    let info = await c.system.getSystemInfo({});
    for (let i = 0; i < 50 && info.currentSync?.state !== SyncState.ORPHANED; i++) {
      await new Promise((r) => setTimeout(r, 20));
      info = await c.system.getSystemInfo({});
    }
    assert.equal(info.currentSync?.epoch, epoch);
    assert.equal(info.currentSync?.state, SyncState.ORPHANED);
    assert.deepEqual(await tables(), before1, 'nothing removed');
    const deadline = Date.now() + ORPHAN_TIMEOUT_MS + 5000;
    while (Date.now() < deadline && (await c.system.getSystemInfo({})).currentSync) await new Promise((r) => setTimeout(r, 100));
    info = await c.system.getSystemInfo({});
    assert.equal(info.currentSync, undefined);
    assert.equal(info.lastSync?.epoch, epoch);
    assert.equal(info.lastSync?.state, SyncState.ABANDONED);
    assert.match(info.lastSync!.reason, /disconnected/);
    assert.deepEqual(await tables(), before1, 'still nothing removed');
    assert.equal(lab.ping(topo.pods[0].ns, topo.pods[1].ip4, 2).received, 2);
  });

  it('a cancelled stream: the daemon stays healthy, every acknowledged step is in place', async () => {
    const s = c.programStream({ maxOpsPerMessage: 500 });
    const acked: string[] = [];
    const all: Promise<void>[] = [];
    const N = 60_000;
    for (let i = 0; i < N; i++) {
      const prefix = `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`;
      all.push(s.addRoute({ vrf: 2, prefix, nextHopId: 11 }).then(() => void acked.push(prefix), () => undefined));
    }
    s.flush();
    const deadline = Date.now() + 20_000;
    while (acked.length < 2000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    s.cancel();
    await Promise.all(all);
    await s.close();
    assert.ok(acked.length >= 2000, `acknowledged ${acked.length}`);
    await healthy();
    const inVrf2 = new Set((await collect(c.routes.listRoutes({ vrf: 2, chunkSize: 10000 }))).flatMap((r) => r.routes.map((x) => x.prefix)));
    for (const p of acked) assert.ok(inVrf2.has(p), `${p} acknowledged and present`);
    assert.ok(inVrf2.size < N, `cancelled before the end (${inVrf2.size} of ${N})`);
    await c.routes.deleteRoutes({ keys: [...inVrf2].map((prefix) => ({ vrf: 2, prefix })) });
  });

  it('a client that sends a lot and never reads: the daemon stops reading, its RSS stays bounded, it keeps answering', async () => {
    const pid = daemon.proc!.pid!;
    const rss0 = rssKiB(pid);
    // no 'data' listener: answers are never consumed. (read(0) starts grpc-js's
    // reading, which then fills the stream's 16-message buffer and stops; a
    // grpc-js call that was never asked to read buffers everything in the
    // client itself, which would hide what the daemon does.)
    const call = c.program.program();
    call.on('error', () => undefined);
    call.read(0);
    // one route add per message, then steps that fail (no such route): the
    // answers are large, the work is real, and the routes count the messages applied
    const OPS = 2000;
    let seq = 0n;
    let msgNo = 0;
    const message = () => {
      const n = msgNo++;
      const add = { seq: ++seq, step: { case: 'op' as const, value: { op: { case: 'addRoute' as const, value: { route: { vrf: 3, prefix: `10.78.${n >> 8}.${n & 255}/32`, nextHopId: 11 } } } } } };
      const dels = Array.from({ length: OPS - 1 }, (_, i) => ({ seq: ++seq, step: { case: 'op' as const, value: { op: { case: 'deleteRoute' as const, value: { vrf: 3, prefix: `10.77.${i >> 8}.${i & 255}/32` } } } } }));
      return create(ProgramRequestSchema, { steps: [add, ...dels] });
    };
    const applied = async () => (await collect(c.routes.listRoutes({ vrf: 3, chunkSize: 10000 }))).flatMap((r) => r.routes);
    let written = 0;
    let stalled = false;
    const deadline = Date.now() + 20_000;
    while (written < 2000 && Date.now() < deadline) {
      written++;
      if (!call.write(message())) {
        const drained = await new Promise<boolean>((resolve) => {
          const t = setTimeout(() => resolve(false), 1500);
          call.once('drain', () => (clearTimeout(t), resolve(true)));
        });
        if (!drained) {
          stalled = true;
          break;
        }
      }
    }
    assert.ok(stalled && written < 300, `the daemon stopped reading (after ${written} messages of ${OPS} operations)`);
    // the daemon still serves others, and applies their writes
    await c.routes.addRoute({ route: { vrf: VRF, prefix: '10.50.0.1/32', nextHopId: 11 } });
    await c.routes.deleteRoute({ vrf: VRF, prefix: '10.50.0.1/32' });
    const health = execFileSync(BUF, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '--unix-socket', daemon.socketPath, 'http://localhost/grpc.health.v1.Health/Check'], { encoding: 'utf8', timeout: 10_000 });
    assert.deepEqual(JSON.parse(health), { status: 'SERVING' });
    const rss1 = rssKiB(pid);
    // what the applied messages left (their garbage, 120-160 MiB seen here, given back
    // after the reclaimer's collection) is bounded; the stall below must not add to it
    assert.ok(rss1 - rss0 < 256 * 1024, `daemon RSS grew by ${Math.round((rss1 - rss0) / 1024)} MiB (from ${Math.round(rss0 / 1024)} MiB)`);
    // stalled means stalled: more time does not make it grow
    await new Promise((r) => setTimeout(r, 2000));
    const rss2 = rssKiB(pid);
    assert.ok(rss2 - rss1 < 16 * 1024, `daemon RSS grew by ${Math.round((rss2 - rss1) / 1024)} MiB while stalled`);
    // cancelled while it waits for 'drain': it stops at once, the messages it
    // had read but not applied stay unapplied
    const atStall = (await applied()).length;
    assert.ok(atStall > 0 && atStall <= written, `${atStall} messages applied of ${written} written`);
    call.cancel();
    await healthy();
    await new Promise((r) => setTimeout(r, 1000));
    const routes = await applied();
    assert.equal(routes.length, atStall, 'nothing applied after the cancel');
    await c.routes.deleteRoutes({ keys: routes.map((r) => ({ vrf: 3, prefix: r.prefix })) });
  });
});
