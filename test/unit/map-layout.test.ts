/**
 * The TypeScript codecs against the compiled object's BTF (sizes and field
 * offsets of every map key/value struct) and the C header's enums and
 * constants against their TypeScript and proto mirrors.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OBJECT } from '../helpers/datapath.ts';
import { STRUCTS, TRACE_STRUCTS } from '../../src/maps/codecs.ts';
import { objectLayoutVersion } from '../../src/bpf/object.ts';
import { DROP_REASONS } from '../../src/maps/drop-reasons.ts';
import { CompKind, MAP_NAMES, NH_F_L2, NhType, VR_COMP_BLOCK, VR_COMP_BUCKETS, VR_COMP_MEMBERS, VR_DEF_MAX_COMP, VR_LAYOUT_VERSION, VR_MAGIC, VifType } from '../../src/maps/layout.ts';
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

const btfOf = (object: string) => (JSON.parse(execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', object], { encoding: 'utf8' })) as { types: BtfType[] }).types;
const btf = btfOf(OBJECT);
/** headerBtf: the BTF of the header alone (test/fixtures/abi_types.c), for structs no datapath code uses yet */
let headerTypes: BtfType[] | undefined;
function headerBtf(): BtfType[] {
  if (!headerTypes) {
    const dir = mkdtempSync(join(tmpdir(), 'vr-abi-'));
    try {
      const obj = join(dir, 'abi_types.o');
      execFileSync('clang', ['-target', 'bpf', '-O2', '-g', `-I/usr/include/${process.arch === 'x64' ? 'x86_64' : 'aarch64'}-linux-gnu`,
        '-I', fileURLToPath(new URL('../../bpf', import.meta.url)), '-c', fileURLToPath(new URL('../fixtures/abi_types.c', import.meta.url)), '-o', obj]);
      headerTypes = btfOf(obj);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return headerTypes;
}
const inBtf = (name: string, types: BtfType[]) => types.some((x) => x.kind === 'STRUCT' && x.name === name);
const TRACE_OBJECT = OBJECT.replace(/vr_xdp\.o$/, 'vr_trace.o');
const header = readFileSync(new URL('../../bpf/shared/vr_kern_user.h', import.meta.url), 'utf8');

function struct(name: string, types = btf): { size: number; offsets: Record<string, number> } {
  const t = types.find((x) => x.kind === 'STRUCT' && x.name === name);
  assert.ok(t, `struct ${name} in BTF`);
  return { size: t.size!, offsets: Object.fromEntries(t.members!.map((m) => [m.name, m.bits_offset / 8])) };
}

function checkStruct(name: string, size: number, offsets: Record<string, number>, types = btf): void {
  const s = struct(name, types);
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
  for (const s of STRUCTS)
    it(`struct ${s.cName}: size and every field's offset`, () => {
      // a ring record no datapath code writes yet is only in the header's BTF
      const types = inBtf(s.cName, btf) ? btf : headerBtf();
      checkStruct(s.cName, s.size, s.cOffsets(), types);
      const members = Object.keys(struct(s.cName, types).offsets).filter((m) => !m.startsWith('pad'));
      assert.deepEqual(Object.keys(s.cOffsets()).sort(), members.sort(), `every member of struct ${s.cName} has a field`);
    });
  for (const s of TRACE_STRUCTS)
    it(`struct ${s.cName} (the trace object's): size and every field's offset`, () => {
      const types = btfOf(TRACE_OBJECT);
      checkStruct(s.cName, s.size, s.cOffsets(), types);
      const members = Object.keys(struct(s.cName, types).offsets).filter((m) => !m.startsWith('pad'));
      assert.deepEqual(Object.keys(s.cOffsets()).sort(), members.sort(), `every member of struct ${s.cName} has a field`);
    });
  it('every map the daemon pins is in the object', () => {
    const secs = execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', OBJECT], { encoding: 'utf8' });
    for (const name of MAP_NAMES) assert.match(secs, new RegExp(`"name":\\s*"${name}"`), name);
  });
  it('the object says which layout it was built for (vr_layout_version in .rodata); the v1 build says 1', () => {
    assert.equal(objectLayoutVersion(OBJECT), VR_LAYOUT_VERSION);
    assert.equal(objectLayoutVersion(OBJECT.replace(/vr_xdp\.o$/, 'vr_xdp_v1.o')), 1);
    assert.equal(objectLayoutVersion(OBJECT.replace(/vr_xdp\.o$/, 'tools/sink.o')), undefined, 'not a datapath object');
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
  it('composite constants and the next-hop flags match the header', () => {
    const def = (name: string) => Number(new RegExp(`#define ${name}\\s+(\\(1u << \\d+\\)|\\d+)`).exec(header)?.[1]?.replace(/\(1u << (\d+)\)/, (_, b: string) => String(1 << Number(b))));
    assert.deepEqual(
      [def('VR_COMP_BLOCK'), def('VR_COMP_MEMBERS'), def('VR_COMP_BUCKETS'), def('VR_DEF_MAX_COMP'), def('VR_NH_F_L2')],
      [VR_COMP_BLOCK, VR_COMP_MEMBERS, VR_COMP_BUCKETS, VR_DEF_MAX_COMP, NH_F_L2],
    );
    const ck = cEnum('vr_comp_kind');
    for (const [k, v] of Object.entries(CompKind)) assert.equal(ck.get(`VR_COMP_${k}`), v, k);
  });
  it('vif and next-hop type codes match the header', () => {
    const vt = cEnum('vr_vif_type');
    for (const [k, v] of Object.entries(VifType)) assert.equal(vt.get(`VR_VIF_TYPE_${k}`), v, k);
    const nt = cEnum('vr_nh_type');
    for (const [k, v] of Object.entries(NhType)) assert.equal(nt.get(`VR_NH_${k}`), v, k);
  });
});
