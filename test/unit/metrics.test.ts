/**
 * /metrics on a FakeKernel: no gauge is named like a counter (promtool's
 * rule; the real tool runs in test/e2e/metrics.test.ts), every map has its
 * entries and capacity, vifs name their VRF; and the gRPC call metrics
 * through a real ApiServer: started, handled by status code (OK, an error,
 * a cancelled stream) and the latency histogram, for unary and streams.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status, type ClientReadableStream } from '@grpc/grpc-js';
import { pino } from 'pino';
import type { MetricObjectWithValues, MetricValueWithName } from 'prom-client';
import { ApiServer } from '../../src/api/server.ts';
import { VrouterClient } from '../../src/client/client.ts';
import { DatapathManager } from '../../src/manager/datapath-manager.ts';
import { MAP_NAMES } from '../../src/maps/layout.ts';
import { DatapathMetrics } from '../../src/metrics/registry.ts';
import { HANDLING_BUCKETS } from '../../src/metrics/grpc-metrics.ts';
import { FakeKernel } from '../helpers/fake-kernel.ts';
import { FakeFlowHub } from '../helpers/fake-flow-hub.ts';
import { rejects } from '../helpers/grpc-status.ts';
import { vif } from '../helpers/specs.ts';

const dir = mkdtempSync(join(tmpdir(), 'vr-metrics-'));
let kernel: FakeKernel;
let mgr: DatapathManager;
let metrics: DatapathMetrics;
let api: ApiServer;
let c: VrouterClient;

before(async () => {
  kernel = new FakeKernel({ maxInterfaces: 16, maxNextHops: 64, maxRoutes: 64, maxFlows: 1024 });
  const log = pino({ level: 'silent' });
  mgr = new DatapathManager(kernel, { maxVrfs: 64 }, log);
  await mgr.load();
  const hub = new FakeFlowHub();
  metrics = new DatapathMetrics(mgr, false, { flows: hub });
  api = new ApiServer(mgr, { version: 'test', instance: 'metrics', startedAt: Date.now(), dp: undefined as never }, log, { flows: hub, calls: metrics.grpc });
  const socketPath = join(dir, 'api.sock');
  await api.listen({ socketPath, tcp: '' });
  c = new VrouterClient(`unix:${socketPath}`, 10_000);
});

after(async () => {
  c?.close();
  await api?.stop(100);
  rmSync(dir, { recursive: true, force: true });
});

async function json(): Promise<Map<string, MetricObjectWithValues<MetricValueWithName<string>>>> {
  await metrics.scrape(); // the vif rows are read the way a scrape reads them
  return new Map((await metrics.registry.getMetricsAsJSON()).map((m) => [m.name, m as MetricObjectWithValues<MetricValueWithName<string>>]));
}

const value = (m: MetricObjectWithValues<MetricValueWithName<string>> | undefined, labels: Record<string, string>, metricName?: string): number | undefined =>
  m?.values.find((v) => (metricName === undefined || v.metricName === metricName) && Object.entries(labels).every(([k, x]) => String(v.labels[k]) === x))?.value;

describe('the datapath registry', () => {
  it('names no gauge like a counter (prom-client\'s nodejs_active_*_total are dropped, their by-type twins kept)', async () => {
    const all = await json();
    for (const [name, m] of all) if (name.endsWith('_total')) assert.equal(m.type, 'counter', `${name} is a ${m.type}`);
    for (const kind of ['handles', 'requests', 'resources']) {
      assert.ok(!all.has(`vrouter_ebpfd_nodejs_active_${kind}_total`));
      assert.equal(all.get(`vrouter_ebpfd_nodejs_active_${kind}`)?.type, 'gauge', `vrouter_ebpfd_nodejs_active_${kind} stays`);
    }
    assert.ok(all.has('vrouter_ebpfd_process_cpu_seconds_total'), 'the other process metrics stay');
  });

  it('every map has its entries and its capacity, read at scrape time', async () => {
    let all = await json();
    for (const map of MAP_NAMES) {
      const used = value(all.get('vrouter_map_entries'), { map });
      const cap = value(all.get('vrouter_map_capacity'), { map });
      assert.ok(used !== undefined && cap !== undefined, `${map}: entries ${used}, capacity ${cap}`);
      assert.ok(used <= cap, `${map}: ${used} of ${cap}`);
    }
    assert.equal(value(all.get('vrouter_map_capacity'), { map: 'vr_vifs' }), 16);
    const before = value(all.get('vrouter_map_entries'), { map: 'vr_vifs' })!;
    await mgr.addInterface(vif({ index: 3, type: 'virtual', name: kernel.fake.addNetdev('mx0', { kind: 'veth' }).name, vrf: 7 }));
    all = await json();
    assert.equal(value(all.get('vrouter_map_entries'), { map: 'vr_vifs' }), before + 1);
    // per-VRF sums are a join on this label (README): the datapath counts per vif, not per VRF
    assert.equal(value(all.get('vrouter_interface_info'), { vif: '3', name: 'mx0', vrf: '7' }), 1);
    assert.equal(value(all.get('vrouter_interface_rx_packets_total'), { vif: '3' }), 0);
  });
});

describe('gRPC call metrics', () => {
  const svc = 'vrouter.ebpf.v1.InterfaceService';
  const started = async (labels: Record<string, string>) => value((await json()).get('vrouter_grpc_server_started_total'), labels);
  const handled = async (labels: Record<string, string>) => value((await json()).get('vrouter_grpc_server_handled_total'), labels);
  const histo = async (labels: Record<string, string>, suffix: string) =>
    value((await json()).get('vrouter_grpc_server_handling_seconds'), labels, `vrouter_grpc_server_handling_seconds${suffix}`);

  it('every method of every service starts at zero, with its type', async () => {
    assert.equal(await started({ service: svc, method: 'DeleteInterface', type: 'unary' }), 0);
    assert.equal(await handled({ service: svc, method: 'DeleteInterface', type: 'unary', code: 'OK' }), 0);
    assert.equal(await started({ service: 'vrouter.ebpf.v1.FlowService', method: 'WatchFlowMisses', type: 'bidi_stream' }), 0);
    assert.equal(await started({ service: 'vrouter.ebpf.v1.ProgramService', method: 'Program', type: 'bidi_stream' }), 0);
    assert.equal(await started({ service: 'vrouter.ebpf.v1.RouteService', method: 'ListRoutes', type: 'server_stream' }), 0);
  });

  it('unary calls are counted by status code, with their latency', async () => {
    const lbl = { service: svc, method: 'GetInterface', type: 'unary' };
    await c.interfaces.getInterface({ index: 3 });
    await c.interfaces.getInterface({ index: 3 });
    await rejects(c.interfaces.getInterface({ index: 9 }), status.NOT_FOUND, 'index');
    assert.equal(await started(lbl), 3);
    assert.equal(await handled({ ...lbl, code: 'OK' }), 2);
    assert.equal(await handled({ ...lbl, code: 'NOT_FOUND' }), 1);
    assert.equal(await histo(lbl, '_count'), 3);
    assert.equal(await histo({ ...lbl, le: '+Inf' }, '_bucket'), 3);
    const sum = (await histo(lbl, '_sum'))!;
    assert.ok(sum > 0 && sum < 30, `seconds, not ms: ${sum}`);
    const les = (await json()).get('vrouter_grpc_server_handling_seconds')!.values.filter((v) => v.metricName?.endsWith('_bucket') && v.labels.method === 'GetInterface');
    assert.deepEqual(les.map((v) => v.labels.le), [...HANDLING_BUCKETS, '+Inf']);
  });

  it('streams count when they end: OK when done, CANCELLED when the client goes away', async () => {
    const list = { service: svc, method: 'ListInterfaces', type: 'server_stream' };
    assert.equal((await collectAll(c.interfaces.listInterfaces({}))).length, 1);
    assert.equal(await handled({ ...list, code: 'OK' }), 1);
    assert.equal(await histo(list, '_count'), 1);

    const events = { service: 'vrouter.ebpf.v1.FlowService', method: 'WatchFlowEvents', type: 'server_stream' };
    // the grpc-js call under the iterable: cancel() is what a client going away does
    const call = c.flows.watchFlowEvents({ maxQueue: 16 }) as ClientReadableStream<unknown>;
    call.on('error', () => undefined); // the client's own CANCELLED
    await call[Symbol.asyncIterator]().next(); // the first (empty) message: the watch is in place
    assert.equal(await started(events), 1);
    assert.equal(await handled({ ...events, code: 'CANCELLED' }), undefined, 'an open stream has no status yet');
    call.cancel();
    // the cancellation reaches the server on its own time
    for (let i = 0; i < 200 && !(await handled({ ...events, code: 'CANCELLED' })); i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(await handled({ ...events, code: 'CANCELLED' }), 1);
    assert.equal(await histo(events, '_count'), 1);
  });

  it('labels stay bounded: methods, types and codes only', async () => {
    const m = (await json()).get('vrouter_grpc_server_handled_total')!;
    for (const v of m.values) assert.deepEqual(Object.keys(v.labels).sort(), ['code', 'method', 'service', 'type']);
    for (const v of m.values) assert.ok(Object.values(status).includes(String(v.labels.code) as never), String(v.labels.code));
  });
});

async function collectAll<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
