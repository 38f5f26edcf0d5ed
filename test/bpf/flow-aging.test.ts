/**
 * Aging on the real vr_flows map (a loaded datapath; batch lookups in
 * chunks), through the FlowHub with short timeouts and the real clock
 * (CLOCK_MONOTONIC, as the datapath stamps last_ns): idle pairs go with
 * 'aged' events, a pair kept busy stays, a TCP pair with a RST goes after
 * the linger with 'closed' events, and an old HOLD entry the hub never
 * heard of (its miss record lost) is removed with 'hold_expired'.
 * No packet is sent: no network namespace is needed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { openTestDatapath } from '../helpers/datapath.ts';
import { flowKey, flowValue } from '../helpers/flows.ts';
import { FlowHub } from '../../src/flows/flow-hub.ts';
import { encodeFlowKey } from '../../src/flows/flow-bytes.ts';
import { FLOW } from '../../src/maps/codecs.ts';
import { FLOW_F, FlowActionCode, TCP_FLAG } from '../../src/maps/layout.ts';
import { reverseOf, type FlowEvent, type FlowKey } from '../../src/manager/flow-model.ts';
import type { BpfMap } from '../../src/bpf/map.ts';

let t: ReturnType<typeof openTestDatapath>;
let flows: BpfMap;

before(() => {
  t = openTestDatapath();
  flows = t.dp.maps.vr_flows;
});
after(() => t.dispose());

const now = () => process.hrtime.bigint();

function pair(key: FlowKey, tcpFlags = 0): void {
  const at = now();
  flows.update(encodeFlowKey(key), flowValue({ action: FlowActionCode.FORWARD, lastNs: at, createdNs: at, packets: 3n, bytes: 300n, tcpFlags }));
  flows.update(encodeFlowKey(reverseOf(key)), flowValue({ action: FlowActionCode.FORWARD, flags: FLOW_F.REVERSE, lastNs: at, createdNs: at, packets: 2n, bytes: 200n }));
}

/** touch: a packet in the forward direction (what the datapath does to last_ns) */
function touch(key: FlowKey): void {
  const kb = encodeFlowKey(key);
  const v = flows.lookup(kb)!;
  v.writeBigUInt64LE(now(), FLOW.fields.lastNs.off);
  flows.update(kb, v);
}

const has = (key: FlowKey) => flows.lookup(encodeFlowKey(key)) !== undefined;

describe('flow aging on the real map', () => {
  it('idle pairs age out, busy ones stay, RST pairs close after the linger, lost holds end', async () => {
    const hub = FlowHub.open({
      dir: t.dp.dir, flows, log: pino({ level: 'silent' }), missSource: null,
      options: { hold: { timeoutMs: 200 }, aging: { udpMs: 400, tcpMs: 60_000, closeLingerMs: 100, intervalMs: 50, chunk: 64 } },
    });
    const events: FlowEvent[] = [];
    const watch = hub.watchEvents();
    const reading = (async () => {
      for await (const b of watch) events.push(...b.events);
    })();
    try {
      const idle = Array.from({ length: 300 }, (_, i) => flowKey('10.1.1.2', `10.1.${2 + (i >> 8)}.${i & 0xff}`, 17, 1000, 2000));
      for (const k of idle) pair(k);
      const busy = flowKey('10.1.1.3', '10.1.9.9', 17, 5000, 53);
      pair(busy);
      const rst = flowKey('10.1.1.3', '10.1.9.9', 6, 40000, 80);
      pair(rst, TCP_FLAG.ACK | TCP_FLAG.RST);
      const lostHold = flowKey('10.1.1.4', '10.1.9.9', 17, 1, 2);
      flows.update(encodeFlowKey(lostHold), flowValue({ action: FlowActionCode.HOLD, holdId: 77n, createdNs: now() - 1_000_000_000n }));
      assert.equal([...flows.keys()].length, 2 * 302 + 1);

      const t0 = Date.now();
      const ticker = setInterval(() => touch(busy), 50);
      while (events.filter((e) => e.kind === 'aged').length < 600 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
      clearInterval(ticker);

      assert.ok(idle.every((k) => !has(k) && !has(reverseOf(k))), 'every idle pair removed, both halves');
      assert.ok(has(busy) && has(reverseOf(busy)), 'the busy pair stays (its forward half is fresh)');
      assert.ok(!has(rst) && !has(reverseOf(rst)), 'the RST pair is gone');
      assert.ok(!has(lostHold), 'the lost hold is gone');
      const kinds = (k: string) => events.filter((e) => e.kind === k);
      assert.equal(kinds('aged').length, 600);
      assert.equal(kinds('closed').length, 2);
      assert.deepEqual(kinds('hold_expired').map((e) => e.flow.holdId), [77n]);
      const first = kinds('aged')[0]!;
      assert.deepEqual([first.flow.reverse, first.flow.packets, first.flow.bytes], [false, 3n, 300n], 'the forward half first, with its counters');
      assert.ok(first.atNs > BigInt(Date.now() - 60_000) * 1_000_000n, 'atNs is CLOCK_REALTIME');
      const s = hub.stats();
      assert.equal(s.flowsAged, 300n);
      assert.equal(s.flowsClosed, 1n);
      assert.equal(s.flowEntries, 2, 'the busy pair is what the last scan saw');
    } finally {
      watch.close();
      await hub.close();
      await reading;
    }
  });
});
