/**
 * CompositeManager: the members of composite next hops, in vr_comp. Each
 * composite owns one block of VR_COMP_BLOCK slots for its life: its
 * members from the block's first slot (what a flood walks, and the list the
 * API shows), and, for ECMP, VR_COMP_BUCKETS buckets from slot
 * VR_COMP_MEMBERS, each naming a member: a flow's hash picks a bucket.
 *
 * Buckets move as little as they can, so a flow keeps its member: a new
 * member takes an equal share, one bucket at a time from the member that
 * holds most; a member that goes gives its buckets, one at a time, to the
 * member that holds fewest; no other bucket moves. Writes are ordered so
 * the datapath never reads a half-made set: the slots first, then the
 * count in the next hop (adding); the buckets away from a member before it
 * leaves the list (removing).
 *
 * The daemon keeps, per composite, its block, members and buckets (read
 * back from the map at start), and, per next hop, how many composites it
 * is a member of (a member cannot be deleted).
 */
import type { Logger } from 'pino';
import type { CompTable } from '../maps/tables/comp-table.ts';
import type { NextHopTable } from '../maps/tables/nexthop-table.ts';
import { CompKind, NhType, VR_COMP_BLOCK, VR_COMP_BUCKETS, VR_COMP_MEMBERS } from '../maps/layout.ts';
import type { NhValue } from '../maps/codecs.ts';
import { exhausted, exists, invalid, notFound, precondition } from './errors.ts';
import type { Journal } from './journal.ts';
import type { Composite, CompositeKind, NhKind } from './model.ts';

/** the kinds a composite's member may be */
export const MEMBER_KINDS: readonly NhKind[] = ['encap', 'tunnel'];
export const COMP_KIND_CODES: Record<CompositeKind, number> = { ecmp: CompKind.ECMP, flood: CompKind.FLOOD };
const COMP_KIND_NAMES = new Map(Object.entries(COMP_KIND_CODES).map(([k, v]) => [v, k as CompositeKind]));

interface CompState {
  block: number;
  kind: CompositeKind;
  members: number[];
  /** ECMP: the member of each bucket (empty for a flood) */
  buckets: number[];
}

const copy = (s: CompState): CompState => ({ ...s, members: [...s.members], buckets: [...s.buckets] });

export class CompositeManager {
  private readonly table: CompTable;
  private readonly nhTable: NextHopTable;
  private readonly log: Logger;
  private readonly comps = new Map<number, CompState>();
  /** blocks in use */
  private readonly used: Uint8Array;
  /** composites each next hop is a member of */
  private readonly refs: Uint32Array;

  constructor(table: CompTable, nhTable: NextHopTable, log: Logger) {
    this.table = table;
    this.nhTable = nhTable;
    this.log = log;
    this.used = new Uint8Array(table.blocks);
    this.refs = new Uint32Array(nhTable.capacity);
  }

  /** capacity: how many composites vr_comp holds */
  get capacity(): number {
    return this.used.length;
  }

  get size(): number {
    return this.comps.size;
  }

  /** load: the composites of the next-hop table, their blocks read back from vr_comp. */
  load(nhs: Iterable<[number, NhValue]>): void {
    let slots: Uint32Array | undefined;
    for (const [id, v] of nhs) {
      if (v.type !== NhType.COMPOSITE) continue;
      slots ??= this.table.all();
      const block = Math.floor(v.compFirst / VR_COMP_BLOCK);
      const kind = COMP_KIND_NAMES.get(v.compKind) ?? 'ecmp';
      const first = block * VR_COMP_BLOCK;
      const members = [...slots.subarray(first, first + Math.min(v.compCount, VR_COMP_MEMBERS))];
      const buckets = kind === 'ecmp' && members.length ? [...slots.subarray(first + VR_COMP_MEMBERS, first + VR_COMP_MEMBERS + VR_COMP_BUCKETS)] : [];
      this.comps.set(id, { block, kind, members, buckets });
      if (block < this.used.length) this.used[block] = 1;
      for (const m of members) this.refs[m]!++;
    }
  }

  /** get: a composite's kind and members (slot order), or undefined. */
  get(id: number): Composite | undefined {
    const s = this.comps.get(id);
    return s && { kind: s.kind, members: [...s.members] };
  }

  /** firstSlot: the first slot of a composite's block (what its next hop carries) */
  firstSlot(id: number): number {
    return (this.comps.get(id)?.block ?? 0) * VR_COMP_BLOCK;
  }

  /** buckets: an ECMP composite's bucket table (tests, diagnostics) */
  buckets(id: number): number[] {
    return [...(this.comps.get(id)?.buckets ?? [])];
  }

  /** refCount: how many composites next hop id is a member of. */
  refCount(id: number): number {
    return this.refs[id] ?? 0;
  }

  /** users: the composites next hop id is a member of (for messages). */
  users(id: number): number[] {
    const out: number[] = [];
    for (const [c, s] of this.comps) if (s.members.includes(id)) out.push(c);
    return out.sort((a, b) => a - b);
  }

  /**
   * checkMember: member may join composite id (kindOf: the next hops'
   * kinds). field: where the member id sits in the request.
   */
  checkMember(id: number, member: number, kindOf: (id: number) => NhKind | undefined, field: string): void {
    if (member === id) throw invalid(field, `next hop ${id} cannot be a member of itself`);
    const kind = kindOf(member);
    if (!kind) throw notFound(field, `no next hop with id ${member}`);
    if (kind === 'composite') throw precondition(`next hop ${member} is a composite; a composite's members are ${MEMBER_KINDS.join(' or ')} next hops (no nesting)`, field);
    if (!MEMBER_KINDS.includes(kind)) throw precondition(`next hop ${member} is a ${kind} next hop; a composite's members are ${MEMBER_KINDS.join(' or ')} next hops`, field);
  }

  /** checkMembers: a composite's whole member list (count, duplicates, each member). */
  checkMembers(id: number, members: number[], kindOf: (id: number) => NhKind | undefined): void {
    if (members.length > VR_COMP_MEMBERS) throw invalid('composite.memberIds', `${members.length} members; a composite has at most ${VR_COMP_MEMBERS}`);
    const seen = new Set<number>();
    members.forEach((m, i) => {
      if (seen.has(m)) throw invalid(`composite.memberIds[${i}]`, `next hop ${m} is listed twice`);
      seen.add(m);
      this.checkMember(id, m, kindOf, `composite.memberIds[${i}]`);
    });
  }

  /** create: a block for composite id with its members written; the caller then writes the next hop. */
  create(id: number, c: Composite, j: Journal): void {
    const block = this.used.indexOf(0);
    if (block < 0) throw exhausted(`the composite table is full (${this.capacity} composites of ${VR_COMP_BLOCK} slots, ${this.table.name})`);
    this.used[block] = 1;
    const st: CompState = { block, kind: c.kind, members: [], buckets: [] };
    this.comps.set(id, st);
    j.record('forget composite', () => {
      this.used[block] = 0;
      this.comps.delete(id);
    });
    for (const m of c.members) this.join(id, st, m, j);
  }

  /** destroy: a deleted composite's block cleared and freed (its next hop is cleared already). */
  destroy(id: number, j: Journal): void {
    const st = this.comps.get(id);
    if (!st) return;
    const before = copy(st);
    const first = st.block * VR_COMP_BLOCK;
    for (let i = 0; i < st.members.length; i++) this.put(first + i, 0, j);
    for (let b = 0; b < st.buckets.length; b++) this.put(first + VR_COMP_MEMBERS + b, 0, j);
    for (const m of st.members) this.refs[m]!--;
    this.comps.delete(id);
    this.used[st.block] = 0;
    j.record('remember composite', () => {
      this.comps.set(id, before);
      this.used[before.block] = 1;
      for (const m of before.members) this.refs[m]!++;
    });
  }

  /** addMember: one member more; its count written in the next hop. */
  addMember(id: number, member: number, kindOf: (id: number) => NhKind | undefined, j: Journal): void {
    const st = this.comps.get(id);
    if (!st) throw notFound('id', `next hop ${id} is not a composite`);
    this.checkMember(id, member, kindOf, 'memberId');
    if (st.members.includes(member)) throw exists('memberId', `next hop ${member} is a member of composite ${id} already`);
    if (st.members.length >= VR_COMP_MEMBERS) throw exhausted(`composite ${id} has ${VR_COMP_MEMBERS} members, the most it may have`);
    this.join(id, st, member, j);
    this.log.info({ nh: id, member }, 'composite member added');
  }

  /** removeMember: one member less. */
  removeMember(id: number, member: number, j: Journal): void {
    const st = this.comps.get(id);
    if (!st) throw notFound('id', `next hop ${id} is not a composite`);
    const i = st.members.indexOf(member);
    if (i < 0) throw notFound('memberId', `next hop ${member} is not a member of composite ${id}`);
    const before = copy(st);
    j.record('restore composite', () => this.comps.set(id, before));
    const first = st.block * VR_COMP_BLOCK;
    const rest = st.members.filter((m) => m !== member);
    if (st.kind === 'ecmp' && rest.length) {
      // its buckets to the members that hold fewest, one at a time
      const held = new Map(rest.map((m) => [m, st.buckets.filter((b) => b === m).length]));
      st.buckets.forEach((b, k) => {
        if (b !== member) return;
        let to = rest[0]!;
        for (const m of rest) if (held.get(m)! < held.get(to)!) to = m;
        held.set(to, held.get(to)! + 1);
        st.buckets[k] = to;
        this.put(first + VR_COMP_MEMBERS + k, to, j);
      });
    }
    // the list: the last member moves into the gap, then the count goes down
    const last = st.members.length - 1;
    if (i !== last) this.put(first + i, st.members[last]!, j);
    st.members[i] = st.members[last]!;
    st.members.pop();
    this.writeCount(id, st.members.length, j);
    this.put(first + last, 0, j);
    if (st.kind === 'ecmp' && !st.members.length) {
      for (let k = 0; k < st.buckets.length; k++) this.put(first + VR_COMP_MEMBERS + k, 0, j);
      st.buckets = [];
    }
    this.refs[member]!--;
    j.record('restore member count', () => this.refs[member]!++);
    this.log.info({ nh: id, member }, 'composite member removed');
  }

  /** join: member written into the block (and the buckets), then the count into the next hop. */
  private join(id: number, st: CompState, member: number, j: Journal): void {
    const before = copy(st);
    j.record('restore composite', () => this.comps.set(id, before));
    const first = st.block * VR_COMP_BLOCK;
    this.put(first + st.members.length, member, j);
    if (st.kind === 'ecmp') {
      if (!st.members.length) st.buckets = new Array<number>(VR_COMP_BUCKETS).fill(member);
      else {
        // an equal share, one bucket at a time from the member that holds most (its last bucket)
        const held = new Map(st.members.map((m) => [m, st.buckets.filter((b) => b === m).length]));
        const share = Math.floor(VR_COMP_BUCKETS / (st.members.length + 1));
        for (let n = 0; n < share; n++) {
          let from = st.members[0]!;
          for (const m of st.members) if (held.get(m)! > held.get(from)!) from = m;
          held.set(from, held.get(from)! - 1);
          st.buckets[st.buckets.lastIndexOf(from)] = member;
        }
      }
      st.buckets.forEach((b, k) => {
        if (b === member) this.put(first + VR_COMP_MEMBERS + k, member, j);
      });
    }
    st.members.push(member);
    this.refs[member]!++;
    j.record('restore member count', () => this.refs[member]!--);
    if (this.nhTable.get(id)) this.writeCount(id, st.members.length, j);
  }

  private put(slot: number, nhId: number, j: Journal): void {
    const old = this.table.get(slot);
    if (old === nhId) return;
    j.run('write composite slot', () => this.table.put(slot, nhId), () => this.table.put(slot, old));
  }

  /** writeCount: the member count in the composite's next hop (what the datapath reads) */
  private writeCount(id: number, count: number, j: Journal): void {
    const old = this.nhTable.get(id);
    if (!old) return;
    j.run('write composite count', () => this.nhTable.put(id, { ...old, compCount: count }), () => this.nhTable.put(id, old));
  }
}
