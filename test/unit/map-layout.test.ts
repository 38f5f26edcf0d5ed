/**
 * The TypeScript codecs against the compiled object's BTF (sizes and field
 * offsets of every map key/value struct) and the C header's enums and
 * constants against their TypeScript and proto mirrors.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { OBJECT } from '../helpers/datapath.ts';
import {
  META_VALUE_SIZE, NH_VALUE_SIZE, NhOffsets, RT4_KEY_SIZE, RT6_KEY_SIZE, RT_VALUE_SIZE, RtKeyOffsets, RtOffsets,
  VIF_STATS_FIELDS, VIF_STATS_SIZE, VIF_VALUE_SIZE, VifOffsets,
} from '../../src/maps/codecs.ts';
import { DROP_REASONS } from '../../src/maps/drop-reasons.ts';
import { MAP_NAMES, NhType, VR_LAYOUT_VERSION, VR_MAGIC, VifType } from '../../src/maps/layout.ts';
import { DropReason } from '../../src/gen/vrouter/ebpf/v1/stats_pb.js';

interface BtfMember {
  name: string;
  bits_offset: number;
}
interface BtfType {
  kind: string;
  name?: string;
  size?: number;
  members?: BtfMember[];
}

const btf = (JSON.parse(execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', OBJECT], { encoding: 'utf8' })) as { types: BtfType[] }).types;
const header = readFileSync(new URL('../../bpf/shared/vr_kern_user.h', import.meta.url), 'utf8');

function struct(name: string): { size: number; offsets: Record<string, number> } {
  const t = btf.find((x) => x.kind === 'STRUCT' && x.name === name);
  assert.ok(t, `struct ${name} in BTF`);
  return { size: t.size!, offsets: Object.fromEntries(t.members!.map((m) => [m.name, m.bits_offset / 8])) };
}

function checkStruct(name: string, size: number, offsets: Record<string, number>): void {
  const s = struct(name);
  assert.equal(size, s.size, `sizeof(struct ${name})`);
  for (const [field, off] of Object.entries(offsets)) assert.equal(off, s.offsets[field], `offsetof(${name}, ${field})`);
}

function cEnum(name: string): Map<string, number> {
  const body = new RegExp(`enum ${name} \\{([^}]*)\\}`).exec(header)?.[1];
  assert.ok(body, `enum ${name} in vr_kern_user.h`);
  const out = new Map<string, number>();
  let next = 0;
  for (const line of body.split('\n')) {
    const m = /^\s*(\w+)\s*(?:=\s*(\d+))?\s*,/.exec(line);
    if (!m) continue;
    next = m[2] !== undefined ? Number(m[2]) : next;
    out.set(m[1]!, next++);
  }
  return out;
}

describe('map layout', () => {
  it('struct vr_vif', () => checkStruct('vr_vif', VIF_VALUE_SIZE, VifOffsets));
  it('struct vr_nh', () => checkStruct('vr_nh', NH_VALUE_SIZE, NhOffsets));
  it('struct vr_rt4_key / vr_rt6_key', () => {
    checkStruct('vr_rt4_key', RT4_KEY_SIZE, RtKeyOffsets);
    checkStruct('vr_rt6_key', RT6_KEY_SIZE, RtKeyOffsets);
  });
  it('struct vr_rt', () => checkStruct('vr_rt', RT_VALUE_SIZE, RtOffsets));
  it('struct vr_meta', () => checkStruct('vr_meta', META_VALUE_SIZE, { magic: 0, layout_version: 4, loaded_at_ns: 8 }));
  it('struct vr_vif_stats: u64 fields in codec order', () => {
    const snake = VIF_STATS_FIELDS.map((f) => f.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));
    checkStruct('vr_vif_stats', VIF_STATS_SIZE, Object.fromEntries(snake.map((f, i) => [f, i * 8])));
  });
  it('every map the daemon pins is in the object', () => {
    const secs = execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', OBJECT], { encoding: 'utf8' });
    for (const name of MAP_NAMES) assert.match(secs, new RegExp(`"name":\\s*"${name}"`), name);
  });
  it('layout version and magic match the header', () => {
    assert.equal(Number(/#define VR_LAYOUT_VERSION\s+(\d+)/.exec(header)?.[1]), VR_LAYOUT_VERSION);
    assert.equal(Number(/#define VR_MAGIC\s+(0x[0-9a-f]+)/i.exec(header)?.[1]), VR_MAGIC);
  });
  it('drop reasons: C enum = TypeScript list = proto enum', () => {
    const c = cEnum('vr_drop_reason');
    assert.equal(c.get('VR_DROP_MAX'), DROP_REASONS.length);
    DROP_REASONS.forEach((name, i) => {
      if (i === 0) return;
      assert.equal(c.get(`VR_DROP_${name.toUpperCase()}`), i, `VR_DROP_${name.toUpperCase()}`);
      assert.equal((DropReason as unknown as Record<string, number>)[name.toUpperCase()], i, `proto DROP_REASON_${name.toUpperCase()}`);
    });
  });
  it('vif and next-hop type codes match the header', () => {
    const vt = cEnum('vr_vif_type');
    for (const [k, v] of Object.entries(VifType)) assert.equal(vt.get(`VR_VIF_TYPE_${k}`), v, k);
    const nt = cEnum('vr_nh_type');
    for (const [k, v] of Object.entries(NhType)) assert.equal(nt.get(`VR_NH_${k}`), v, k);
  });
});
