/**
 * FlowService over gRPC, in process: the real ApiServer on a FakeKernel
 * with a FakeFlowHub, a client on a unix socket. Every refusal answers the
 * right status naming the request field; ListFlows pages with tokens; flow
 * operations on ProgramService; WatchFlowMisses keeps to its credit window
 * and ends its hub watch when cancelled; without a hub the watch streams
 * answer FAILED_PRECONDITION.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { pino } from 'pino';
import { ApiServer } from '../../src/api/server.ts';
import { VrouterClient } from '../../src/client/client.ts';
import { DatapathManager } from '../../src/manager/datapath-manager.ts';
import {
  FlowAction, FlowEventKind, WatchFlowMissesRequestSchema,
  type WatchFlowMissesRequest, type WatchFlowMissesResponse,
} from '../../src/gen/vrouter/ebpf/v1/flow_pb.js';
import { AttachHook } from '../../src/gen/vrouter/ebpf/v1/interface_pb.js';
import type { FlowMiss } from '../../src/manager/flow-model.ts';
import { FakeKernel } from '../helpers/fake-kernel.ts';
import { FakeFlowHub } from '../helpers/fake-flow-hub.ts';
import { fkey } from '../helpers/flow-suite.ts';
import { rejects } from '../helpers/grpc-status.ts';

const dir = mkdtempSync(join(tmpdir(), 'vr-flow-api-'));
const servers: ApiServer[] = [];
const clients: VrouterClient[] = [];
let hub: FakeFlowHub;
let c: VrouterClient;

async function serve(name: string, withHub: FakeFlowHub | undefined): Promise<VrouterClient> {
  const kernel = new FakeKernel({ maxInterfaces: 16, maxNextHops: 64, maxRoutes: 64, maxFlows: 1024 });
  const log = pino({ level: 'silent' });
  const mgr = new DatapathManager(kernel, { maxVrfs: 64 }, log);
  await mgr.load();
  const api = new ApiServer(mgr, { version: 'test', instance: name, startedAt: Date.now(), dp: undefined as never }, log, { flows: withHub });
  const socketPath = join(dir, `${name}.sock`);
  await api.listen({ socketPath, tcp: '' });
  servers.push(api);
  const client = new VrouterClient(`unix:${socketPath}`, 10_000);
  clients.push(client);
  return client;
}

before(async () => {
  hub = new FakeFlowHub();
  c = await serve('hub', hub);
});

after(async () => {
  for (const x of clients) x.close();
  for (const s of servers) await s.stop(100);
  rmSync(dir, { recursive: true, force: true });
});

const key = (extra: Record<string, unknown> = {}) => ({ vrf: 1, protocol: 6, srcIp: '10.0.0.1', dstIp: '10.0.0.2', srcPort: 1000, dstPort: 80, ...extra });
const spec = (extra: Record<string, unknown> = {}, k: Record<string, unknown> = {}) => ({ key: key(k), action: FlowAction.FORWARD, ...extra });

describe('FlowService: set, get, list, delete', () => {
  it('a flow round trip: both halves, the pair, counters, delete of both', async () => {
    const r = await c.flows.setFlow({ flow: spec({ action: FlowAction.NAT, nat: { srcIp: '192.0.2.1', srcPort: 40000 } }) });
    assert.equal(r.created, true);
    assert.equal(r.flow?.action, FlowAction.NAT);
    assert.deepEqual(r.flow?.nat, { ...r.flow?.nat, srcIp: '192.0.2.1', srcPort: 40000, dstIp: '' });
    assert.deepEqual(r.reverse?.key, { ...r.reverse?.key, srcIp: '10.0.0.2', srcPort: 80, dstIp: '192.0.2.1', dstPort: 40000 });
    assert.equal(r.reverse?.isReverse, true);
    assert.deepEqual(r.reverse?.nat, { ...r.reverse?.nat, srcIp: '', dstIp: '10.0.0.1', dstPort: 1000 });
    const g = await c.flows.getFlow({ key: r.reverse!.key! });
    assert.equal(g.pair?.key?.srcIp, '10.0.0.1');
    assert.equal(hub.calls.at(-1)?.op, 'resolved');
    const d = await c.flows.deleteFlow({ key: key() });
    assert.equal(d.entriesDeleted, 2);
    assert.equal(hub.calls.at(-1)?.op, 'deleted');
    await rejects(c.flows.getFlow({ key: key() }), status.NOT_FOUND, 'key');
  });

  it('every refusal names the request field', async () => {
    const cases: [Promise<unknown>, status, string][] = [
      [c.flows.setFlow({}), status.INVALID_ARGUMENT, 'flow'],
      [c.flows.setFlow({ flow: { action: FlowAction.FORWARD } }), status.INVALID_ARGUMENT, 'flow.key'],
      [c.flows.setFlow({ flow: spec({}, { srcIp: '10.0.0.300' }) }), status.INVALID_ARGUMENT, 'flow.key.src_ip'],
      [c.flows.setFlow({ flow: spec({}, { dstIp: 'fd00::2' }) }), status.INVALID_ARGUMENT, 'flow.key.dst_ip'],
      [c.flows.setFlow({ flow: spec({}, { vrf: 64 }) }), status.INVALID_ARGUMENT, 'flow.key.vrf'],
      [c.flows.setFlow({ flow: spec({}, { protocol: 300 }) }), status.INVALID_ARGUMENT, 'flow.key.protocol'],
      [c.flows.setFlow({ flow: spec({}, { srcPort: 70000 }) }), status.INVALID_ARGUMENT, 'flow.key.src_port'],
      [c.flows.setFlow({ flow: spec({}, { protocol: 1, srcPort: 7, dstPort: 3 }) }), status.INVALID_ARGUMENT, 'flow.key.dst_port'],
      [c.flows.setFlow({ flow: spec({ action: FlowAction.UNSPECIFIED }) }), status.INVALID_ARGUMENT, 'flow.action'],
      [c.flows.setFlow({ flow: spec({ action: FlowAction.HOLD }) }), status.INVALID_ARGUMENT, 'flow.action'],
      [c.flows.setFlow({ flow: spec({ action: 99 }) }), status.INVALID_ARGUMENT, 'flow.action'],
      [c.flows.setFlow({ flow: spec({ action: FlowAction.NAT }) }), status.INVALID_ARGUMENT, 'flow.nat'],
      [c.flows.setFlow({ flow: spec({ action: FlowAction.NAT, nat: { dstPort: 8080, srcIp: '192.0.2.1' } }) }), status.INVALID_ARGUMENT, 'flow.nat.dst_port'],
      [c.flows.setFlow({ flow: spec({ action: FlowAction.NAT, nat: { dstIp: 'nope' } }) }), status.INVALID_ARGUMENT, 'flow.nat.dst_ip'],
      [c.flows.setFlow({ flow: spec({ nat: { dstIp: '192.0.2.1' } }) }), status.INVALID_ARGUMENT, 'flow.nat'],
      [c.flows.setFlow({ flow: spec({ reverseAction: FlowAction.NAT }) }), status.INVALID_ARGUMENT, 'flow.reverse_action'],
      [c.flows.setFlow({ flow: spec({ noReverse: true, reverseAction: FlowAction.DROP }) }), status.INVALID_ARGUMENT, 'flow.reverse_action'],
      [c.flows.setFlows({ flows: [] }), status.INVALID_ARGUMENT, 'flows'],
      [c.flows.setFlows({ flows: [spec(), spec({}, { srcPort: 1 }), spec()] }), status.INVALID_ARGUMENT, 'flows[2].key'],
      [c.flows.setFlows({ flows: [spec(), spec({}, { vrf: 64 })] }), status.INVALID_ARGUMENT, 'flows[1].key.vrf'],
      [c.flows.setFlows({ flows: [spec(), spec({}, { srcIp: '' })] }), status.INVALID_ARGUMENT, 'flows[1].key.src_ip'],
      [c.flows.deleteFlow({ key: key({ srcPort: 9 }) }), status.NOT_FOUND, 'key'],
      [c.flows.deleteFlow({}), status.INVALID_ARGUMENT, 'key'],
      [c.flows.getFlow({ key: key({ dstPort: 65536 }) }), status.INVALID_ARGUMENT, 'key.dst_port'],
      [c.flows.listFlows({ pageSize: 10_001 }), status.INVALID_ARGUMENT, 'page_size'],
      [c.flows.listFlows({ address: '10.0.0' }), status.INVALID_ARGUMENT, 'address'],
      [c.flows.listFlows({ protocol: 256 }), status.INVALID_ARGUMENT, 'protocol'],
      [c.flows.listFlows({ vrf: 64 }), status.INVALID_ARGUMENT, 'vrf'],
      [c.flows.listFlows({ action: 42 as FlowAction }), status.INVALID_ARGUMENT, 'action'],
      [c.flows.listFlows({ pageToken: 'not-a-token' }), status.INVALID_ARGUMENT, 'page_token'],
    ];
    for (const [call, code, field] of cases) await rejects(call, code, field);
    assert.equal((await c.flows.listFlows({})).flows.length, 0, 'nothing was written');
  });

  it('ListFlows pages with tokens: every entry once; a token only with its filters', async () => {
    const flows = Array.from({ length: 25 }, (_, i) => spec({}, { srcIp: `10.1.0.${i + 1}`, vrf: 1 + (i % 2) }));
    const made = await c.flows.setFlows({ flows });
    const again = await c.flows.setFlows({ flows });
    assert.deepEqual([made.applied, made.created, again.applied, again.created], [25, 25, 25, 0]);
    const seen = new Set<string>();
    let pageToken = '';
    let pages = 0;
    do {
      const r = await c.flows.listFlows({ pageSize: 7, pageToken });
      assert.ok(r.flows.length <= 7);
      for (const f of r.flows) seen.add(JSON.stringify(f.key));
      pageToken = r.nextPageToken;
      pages++;
    } while (pageToken);
    assert.equal(seen.size, 50);
    assert.ok(pages >= 8);
    const first = await c.flows.listFlows({ pageSize: 3, vrf: 2 });
    assert.equal(first.flows.length, 3);
    assert.ok(first.flows.every((f) => f.key?.vrf === 2));
    await rejects(c.flows.listFlows({ pageSize: 3, vrf: 1, pageToken: first.nextPageToken }), status.INVALID_ARGUMENT, 'page_token');
    const byAddr = await c.flows.listFlows({ address: '10.1.0.4', protocol: 6, action: FlowAction.FORWARD });
    assert.equal(byAddr.flows.length, 2);
    for (const f of flows) await c.flows.deleteFlow({ key: f.key });
  });

  it('flow operations on the programming stream, with field paths into the request', async () => {
    const r = await c.program.apply({
      ops: [
        { op: { case: 'setFlow', value: { flow: spec() } } },
        { op: { case: 'setFlow', value: { flow: spec({}, { srcPort: 70000 }) } } },
        { op: { case: 'deleteFlow', value: { key: key({ srcPort: 5 }) } } },
        { op: { case: 'deleteFlow', value: { key: key() } } },
      ],
    });
    assert.deepEqual(r.results.map((x) => [status[x.code], x.field]), [
      ['OK', ''], ['INVALID_ARGUMENT', 'ops[1].set_flow.flow.key.src_port'], ['NOT_FOUND', 'ops[2].delete_flow.key'], ['OK', ''],
    ]);
    const atomic = await c.program.apply({ atomic: true, ops: [{ op: { case: 'setFlow', value: { flow: spec() } } }, { op: { case: 'deleteFlow', value: { key: key({ srcPort: 5 }) } } }] });
    assert.deepEqual(atomic.results.map((x) => status[x.code]), ['ABORTED', 'NOT_FOUND']);
    await rejects(c.flows.getFlow({ key: key() }), status.NOT_FOUND, 'key');
    // the coalescing client: one call at a time, answered per operation
    const ps = c.programStream();
    await ps.setFlow(spec());
    await assert.rejects(ps.setFlow(spec({}, { vrf: 64 })), (e: { code: status; details: string }) => e.code === status.INVALID_ARGUMENT && /^op\.set_flow\.flow\.key\.vrf: /.test(e.details));
    await ps.deleteFlow(key());
    await ps.close();
    assert.equal((await c.flows.listFlows({})).flows.length, 0);
  });
});

/** Reader: a duplex call's answers, one at a time, or its end. */
class Reader {
  private readonly queue: (WatchFlowMissesResponse | ServiceError | 'end')[] = [];
  private wake: (() => void) | undefined;
  readonly call: ClientDuplexStream<WatchFlowMissesRequest, WatchFlowMissesResponse>;

  constructor(call: ClientDuplexStream<WatchFlowMissesRequest, WatchFlowMissesResponse>) {
    this.call = call;
    const push = (x: WatchFlowMissesResponse | ServiceError | 'end') => {
      this.queue.push(x);
      this.wake?.();
    };
    call.on('data', push);
    call.on('error', push);
    call.on('end', () => push('end'));
  }

  send(msg: MessageInitShape<typeof WatchFlowMissesRequestSchema>['msg']): void {
    this.call.write(create(WatchFlowMissesRequestSchema, { msg }));
  }

  /** next: the next answer, or undefined when none comes within ms */
  async next(ms = 2000): Promise<WatchFlowMissesResponse | ServiceError | 'end' | undefined> {
    if (!this.queue.length) {
      const t = new Promise<void>((r) => setTimeout(r, ms));
      await Promise.race([t, new Promise<void>((r) => (this.wake = r))]);
      this.wake = undefined;
    }
    return this.queue.shift();
  }

  /** misses: answers until n misses came (throws on an error or end) */
  async misses(n: number): Promise<bigint[]> {
    const ids: bigint[] = [];
    while (ids.length < n) {
      const r = await this.next();
      assert.ok(r && r !== 'end' && 'misses' in r, `an answer, got ${String(r)}`);
      ids.push(...r.misses.map((m) => m.holdId));
    }
    return ids;
  }
}

const miss = (holdId: bigint): FlowMiss => ({
  holdId, key: fkey(1, 6, '10.0.0.1', 1000, '10.0.0.2', 80), vifIdx: 3, ifindex: 7, hook: 'tc', tsNs: 123n, pktLen: 74, head: Buffer.from('abcd'),
});

describe('FlowService: the watch streams', () => {
  it('WatchFlowMisses keeps to its window: misses come, stop, and come again as they are granted', async () => {
    const r = new Reader(c.flows.watchFlowMisses());
    r.send({ case: 'start', value: { window: 3, flushUs: 100 } });
    const ready = (await r.next()) as WatchFlowMissesResponse;
    assert.deepEqual([ready.misses, ready.lost], [[], 0n], 'an empty first message: the watch is in place');
    assert.equal(hub.watching, 1);
    for (let i = 1n; i <= 5n; i++) hub.emitMiss(miss(i));
    assert.deepEqual(await r.misses(3), [1n, 2n, 3n]);
    assert.equal(await r.next(150), undefined, 'nothing beyond the window');
    r.send({ case: 'grant', value: 2 });
    assert.deepEqual(await r.misses(2), [4n, 5n]);
    const first = hub.missWatches.at(-1)!;
    assert.deepEqual(first.grants, [2]);
    // the message as the agent sees it
    hub.emitMiss(miss(6n));
    r.send({ case: 'grant', value: 1 });
    const m = ((await r.next()) as WatchFlowMissesResponse).misses[0]!;
    assert.deepEqual([m.holdId, m.interfaceIndex, m.vrf, m.osIfindex, m.hook, m.timestampNs, m.packetLength, Buffer.from(m.head).toString()], [6n, 3, 1, 7, AttachHook.TC, 123n, 74, 'abcd']);
    assert.deepEqual(m.key, { ...m.key, srcIp: '10.0.0.1', dstIp: '10.0.0.2', srcPort: 1000, dstPort: 80, protocol: 6, vrf: 1 });
    // granting more than was received ends the stream
    r.send({ case: 'grant', value: 5 });
    const end = (await r.next()) as ServiceError;
    assert.equal(status[end.code], 'INVALID_ARGUMENT');
    assert.match(end.details, /^grant: /);
    assert.equal(hub.watching, 0, 'the hub watch is closed');
  });

  it('WatchFlowMisses: start first, in range; a cancelled stream closes its watch', async () => {
    const noStart = new Reader(c.flows.watchFlowMisses());
    noStart.send({ case: 'grant', value: 1 });
    assert.match(((await noStart.next()) as ServiceError).details, /^start: /);
    const big = new Reader(c.flows.watchFlowMisses());
    big.send({ case: 'start', value: { window: 2 ** 21 } });
    const e = (await big.next()) as ServiceError;
    assert.equal(status[e.code], 'INVALID_ARGUMENT');
    assert.match(e.details, /^start\.window: /);
    const r = new Reader(c.flows.watchFlowMisses());
    r.send({ case: 'start', value: {} });
    while (hub.watching === 0) await new Promise((res) => setTimeout(res, 5));
    r.call.cancel();
    for (let i = 0; i < 100 && hub.watching > 0; i++) await new Promise((res) => setTimeout(res, 10));
    assert.equal(hub.watching, 0);
  });

  it('WatchFlowEvents streams removed flows with their final counters', async () => {
    const it = c.flows.watchFlowEvents({ maxQueue: 16 })[Symbol.asyncIterator]();
    const ready = await it.next();
    assert.deepEqual([ready.value.events, ready.value.lost], [[], 0n], 'an empty first message: the watch is in place');
    const got = it.next();
    const k = fkey(1, 17, '10.0.0.1', 5, '10.0.0.2', 6);
    hub.emitEvent({
      kind: 'aged', atNs: 1_700_000_000_000_000_000n,
      flow: { key: k, action: 'forward', nat: undefined, reverse: false, reverseKey: k, holdId: 0n, holdCount: 0, tcpFlags: 0, packets: 9n, bytes: 900n, createdNs: 1n, lastNs: 2n },
    });
    const { value } = await got;
    assert.deepEqual([value.events[0].kind, value.events[0].flow.packets, value.events[0].flow.bytes, value.events[0].timeUnixNs], [FlowEventKind.AGED, 9n, 900n, 1_700_000_000_000_000_000n]);
    await it.return?.();
    await rejects(collectFirst(c.flows.watchFlowEvents({ maxQueue: 2 ** 21 })), status.INVALID_ARGUMENT, 'max_queue');
  });

  it('without a flow-miss reader both streams answer FAILED_PRECONDITION', async () => {
    const bare = await serve('bare', undefined);
    const r = new Reader(bare.flows.watchFlowMisses());
    r.send({ case: 'start', value: {} });
    const e = (await r.next()) as ServiceError;
    assert.equal(status[e.code], 'FAILED_PRECONDITION');
    await rejects(collectFirst(bare.flows.watchFlowEvents({})), status.FAILED_PRECONDITION, undefined, /flow-miss reader/);
    // flows themselves work: there is just no one to tell
    await bare.flows.setFlow({ flow: spec() });
    assert.equal((await bare.flows.listFlows({})).flows.length, 2);
  });
});

async function collectFirst<T>(it: AsyncIterable<T>): Promise<T | undefined> {
  for await (const x of it) return x;
  return undefined;
}
