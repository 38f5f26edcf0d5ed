/**
 * decodeRouteBatch reads AddRoutes / DeleteRoutes requests from the wire
 * exactly as the generated decoder + converter would: same routes, same
 * order, same errors (field path and code), unknown fields skipped.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { create, toBinary } from '@bufbuild/protobuf';
import { AddRoutesRequestSchema, DeleteRoutesRequestSchema } from '../../src/gen/vrouter/ebpf/v1/route_pb.js';
import { decodeRouteBatch } from '../../src/api/convert/route-wire.ts';
import { routeFromProto } from '../../src/api/convert/route.ts';
import { DatapathError } from '../../src/manager/errors.ts';
import { ROUTE_SLOTS, RouteBatch } from '../../src/maps/tables/route-pack.ts';

type R = { vrf?: number; prefix: string; nextHopId?: number; proxyArp?: boolean };
const wire = (routes: R[]) => Buffer.from(toBinary(AddRoutesRequestSchema, create(AddRoutesRequestSchema, { routes })));

/** dump: every route of a batch, in request order, as comparable text */
function dump(b: RouteBatch): string[] {
  const out: string[] = new Array(b.size);
  for (const slot of ROUTE_SLOTS)
    b.index[slot].forEach((i, k) => {
      const r = b.packs[slot].route(k);
      out[i] = `${r.vrf} ${r.addr.toString('hex')}/${r.plen} nh${r.nhId} ${r.proxyArp}`;
    });
  return out;
}

async function errorOf(p: Promise<unknown>): Promise<DatapathError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof DatapathError, String(e));
    return e;
  }
  assert.fail('decoded');
}

describe('route batches from the wire', () => {
  it('decodes what the generated code decodes, IPv4 and IPv6, in request order', async () => {
    const routes: R[] = [
      { vrf: 1, prefix: '10.1.0.0/16', nextHopId: 7, proxyArp: true },
      { vrf: 4095, prefix: 'fd00:1::/64', nextHopId: 2 },
      { prefix: '0.0.0.0/0' },
      { vrf: 2, prefix: '255.255.255.255/32', nextHopId: 0xffffffff },
      { vrf: 3, prefix: '::/0', proxyArp: true },
      { vrf: 3, prefix: '::ffff:10.0.0.0/104', nextHopId: 9 },
      { vrf: 9, prefix: ' 10.2.0.0/24', nextHopId: 1 }, // not the fast path: the string parser decides
    ];
    const want = routes.map((r, i) => routeFromProto(create(AddRoutesRequestSchema, { routes: [r] }).routes[0], `routes[${i}].`));
    const b = await decodeRouteBatch(wire(routes), 'routes');
    assert.equal(b.size, routes.length);
    assert.deepEqual(dump(b), dump(RouteBatch.of(want)));
  });

  it('many routes (more than one chunk), the same as one by one', async () => {
    const routes = Array.from({ length: 20_000 }, (_, i) => ({ vrf: i % 7, prefix: `10.${(i >> 8) & 255}.${i & 255}.0/24`, nextHopId: i % 100 }));
    const b = await decodeRouteBatch(wire(routes), 'routes');
    assert.deepEqual(dump(b), dump(RouteBatch.of(routes.map((r, i) => routeFromProto(create(AddRoutesRequestSchema, { routes: [r] }).routes[0], `routes[${i}].`)))));
  });

  it('refuses a bad prefix with the same field path and message as the converter', async () => {
    for (const bad of ['10.1.0.1/16', '10.1.0.0/33', '10.1.0.0', '010.1.0.0/16', '', 'x'.repeat(100_000)]) {
      const routes: R[] = [{ vrf: 1, prefix: '10.9.0.0/16' }, { vrf: 1, prefix: bad, nextHopId: 1 }];
      const e = await errorOf(decodeRouteBatch(wire(routes), 'routes'));
      let want: DatapathError | undefined;
      try {
        routeFromProto(create(AddRoutesRequestSchema, { routes }).routes[1], 'routes[1].');
      } catch (x) {
        want = x as DatapathError;
      }
      assert.ok(want, `the converter refuses ${bad.slice(0, 20)}`);
      assert.equal(e.code, 'invalid_argument');
      assert.equal(e.field, 'routes[1].prefix');
      assert.equal(e.detail, want.detail);
    }
  });

  it('skips unknown fields, takes the last of a repeated scalar, reads DeleteRoutes keys', async () => {
    // field 9 (unknown, varint and bytes) around a route whose vrf is sent twice
    const route = Buffer.from([0x08, 0x01, 0x08, 0x05, 0x12, 0x0b, ...Buffer.from('10.3.0.0/16'), 0x18, 0x02, 0x48, 0x07, 0x4a, 0x01, 0x00]);
    const msg = Buffer.concat([Buffer.from([0x48, 0x01]), Buffer.from([0x0a, route.length]), route, Buffer.from([0x52, 0x00])]);
    assert.deepEqual(dump(await decodeRouteBatch(msg, 'routes')), ['5 0a030000/16 nh2 false']);
    const keys = Buffer.from(toBinary(DeleteRoutesRequestSchema, create(DeleteRoutesRequestSchema, { keys: [{ vrf: 3, prefix: 'fd00::/8' }] })));
    assert.deepEqual(dump(await decodeRouteBatch(keys, 'keys')), [`3 fd${'0'.repeat(30)}/8 nh0 false`]);
  });

  it('refuses what is not protobuf, and an empty batch', async () => {
    assert.match((await errorOf(decodeRouteBatch(Buffer.from([0x0a, 0x05, 0x08]), 'routes'))).message, /not valid protobuf/);
    assert.match((await errorOf(decodeRouteBatch(Buffer.from([0x0a, 0x02, 0x12, 0x08]), 'routes'))).message, /not valid protobuf/);
    assert.match((await errorOf(decodeRouteBatch(Buffer.from([0x0a, 0x02, 0x08, 0x80]), 'routes'))).message, /not valid protobuf/);
    const e = await errorOf(decodeRouteBatch(Buffer.alloc(0), 'routes'));
    assert.equal(e.field, 'routes');
  });
});

describe('route chunks to the wire', () => {
  it('encodes what protobuf-es decodes as the same routes, VRF filter included', async () => {
    const { fromBinary } = await import('@bufbuild/protobuf');
    const { ListRoutesResponseSchema } = await import('../../src/gen/vrouter/ebpf/v1/route_pb.js');
    const { encodeRouteChunk } = await import('../../src/api/convert/route-wire.ts');
    const { routeToProto } = await import('../../src/api/convert/route.ts');
    const specs = [
      ['10.1.0.0/16', 7, true, 1], ['0.0.0.0/0', 0, false, 0], ['255.255.255.255/32', 0xffffffff, false, 4095], ['10.2.3.0/24', 300, true, 2],
    ] as const;
    const b = await decodeRouteBatch(wire(specs.map(([prefix, nextHopId, proxyArp, vrf]) => ({ prefix, nextHopId, proxyArp, vrf }))), 'routes');
    assert.equal(b.packs.host4.count, 1, 'the /32 is a host route');
    for (const vrf of [undefined, 1, 2, 99]) {
      const got: unknown[] = [];
      const want: unknown[] = [];
      let n = 0;
      for (const p of [b.packs.rt4, b.packs.host4]) {
        const { bytes, routes } = encodeRouteChunk(p.keys, p.values, p.count, p.keySize, vrf);
        got.push(...fromBinary(ListRoutesResponseSchema, bytes).routes.map((r) => ({ vrf: r.vrf, prefix: r.prefix, nextHopId: r.nextHopId, proxyArp: r.proxyArp })));
        const w = Array.from({ length: p.count }, (_, k) => routeToProto(p.route(k))).filter((r) => vrf === undefined || r.vrf === vrf);
        want.push(...w.map((r) => ({ vrf: r.vrf ?? 0, prefix: r.prefix, nextHopId: r.nextHopId ?? 0, proxyArp: r.proxyArp ?? false })));
        n += routes;
      }
      assert.deepEqual(got, want);
      assert.equal(n, want.length);
    }
    const six = await decodeRouteBatch(wire([{ vrf: 3, prefix: 'fd00:1::/64', nextHopId: 2 }, { prefix: '::/0' }]), 'routes');
    const q = six.packs.rt6;
    const e = encodeRouteChunk(q.keys, q.values, q.count, q.keySize, undefined);
    assert.deepEqual(fromBinary(ListRoutesResponseSchema, e.bytes).routes.map((r) => `${r.vrf} ${r.prefix} ${r.nextHopId}`), ['3 fd00:1::/64 2', '0 ::/0 0']);
  });
});
