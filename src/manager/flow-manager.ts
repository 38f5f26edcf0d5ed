/**
 * FlowManager: the flow table's writes and reads. A flow is a pair of
 * entries (forward, reverse) written and removed together; a batch is
 * validated whole (flow-check.ts) before its first write, and every write
 * is journaled so that a failure undoes the batch. The map is the only
 * copy: the daemon keeps a count (a walk of the map now and then, plus its
 * own writes since) and nothing per flow. What the flow-miss side must
 * hear (flows resolved, flows deleted) is collected per write and told
 * once the write has committed.
 */
import type { Logger } from 'pino';
import { BpfError } from '../bpf/errors.ts';
import { FLOW } from '../maps/codecs.ts';
import { FLOW_F, FlowActionCode } from '../maps/layout.ts';
import {
  FlowTable, FlowUndoLog, decodeFlowKey, encodeFlowKey, flowOf, natOf, type FlowFilter, type PageCursor, type Written,
} from '../maps/tables/flow-table.ts';
import { writeError } from './route-manager.ts';
import { CHUNK, breathe } from './command-queue.ts';
import { DatapathError, invalid, notFound, precondition } from './errors.ts';
import { checkKey, checkSpec, type FlowPlan } from './flow-check.ts';
import { flowKeyString, reverseOf, type Flow, type FlowKey, type FlowSpec } from './flow-model.ts';
import type { Journal } from './journal.ts';
import type { FlowHub } from '../flows/hub.ts';

/** FlowNotify: the part of the flow-miss side a write tells (src/flows/hub.ts). */
export type FlowNotify = Pick<FlowHub, 'resolved' | 'deleted'>;

/** FlowNotes: what one write (a call, an operation, a transaction) tells the flow-miss side once it committed (encoded keys). */
export interface FlowNotes {
  resolved: Buffer[];
  deleted: Buffer[];
}

export const newFlowNotes = (): FlowNotes => ({ resolved: [], deleted: [] });

/** FlowSetResult: one flow as written. */
export interface FlowSetResult {
  flow: Flow;
  reverse: Flow | undefined;
  created: boolean;
}

/** the most flows one SetFlows call (or batch) may carry */
export const MAX_FLOWS_PER_BATCH = 100_000;
/** a count this small is re-walked at once when asked for; a larger one in the background */
const SMALL_COUNT = 16_384;
/** how old a count may be before it is walked again (ms) */
const COUNT_TTL_MS = 1000;

export class FlowManager {
  readonly table: FlowTable;
  private readonly maxVrfs: number;
  private readonly log: Logger;
  /** the flow-miss side, once the daemon has one (ApiServer attaches it) */
  hub: FlowNotify | undefined;
  /** entries counted by the last walk, plus this manager's own creations and removals since */
  private counted = 0;
  private countedAt = -Infinity;
  private recounting: Promise<number> | undefined;

  constructor(table: FlowTable, maxVrfs: number, log: Logger) {
    this.table = table;
    this.maxVrfs = maxVrfs;
    this.log = log;
  }

  // ------------------------------------------------------------ writes (on the manager's queue)

  /**
   * set: flows, all or nothing: every spec is checked, and no key may be
   * written twice, before the first write; the writes go into one undo log
   * the journal reverts if this (or a later step of the transaction) fails.
   */
  async set(specs: readonly FlowSpec[], j: Journal, notes: FlowNotes): Promise<{ created: number; written: Written[][] }> {
    // a batch places its errors at the flow (one flow: no position, as a single call or operation)
    const one = specs.length === 1;
    const plans = specs.map((s, i) => {
      try {
        return checkSpec(s, this.maxVrfs);
      } catch (err) {
        throw err instanceof DatapathError && !one ? err.at(i) : err;
      }
    });
    distinct(plans);
    specs.forEach((spec, i) => {
      if (spec.holdId === undefined) return;
      try {
        this.checkHold(spec);
      } catch (err) {
        throw err instanceof DatapathError && !one ? err.at(i) : err;
      }
    });
    const log = this.journaled(j, `set ${plans.length} flow(s)`);
    let created = 0;
    const written: Written[][] = [];
    for (let i = 0; i < plans.length; i++) {
      const w = this.writePlan(plans[i]!, log, notes, one ? undefined : i, one);
      if (!w[0]!.old) created++;
      if (one) written.push(w);
      if (i % CHUNK === CHUNK - 1) await breathe();
    }
    if (!one) this.log.info({ count: plans.length, created }, 'flows set');
    return { created, written };
  }

  /**
   * checkHold: a spec that answers one miss (hold_id) finds that miss's HOLD
   * entry still there: not answered already, not expired and made again.
   */
  private checkHold(spec: FlowSpec): void {
    const f = this.table.get(spec.key);
    if (!f) throw notFound('hold_id', `no flow entry under the key: the miss ${spec.holdId} expired or was deleted`);
    if (f.holdId !== spec.holdId)
      throw precondition(`the entry under the key belongs to miss ${f.holdId}, not ${spec.holdId} (the old one expired and the key missed again)`, 'hold_id');
    if (f.action !== 'hold') throw precondition(`miss ${spec.holdId} was answered already (the entry is ${f.action.toUpperCase()})`, 'hold_id');
  }

  /** setOne: one flow, with its halves as written (the unary SetFlow's answer). */
  async setOne(spec: FlowSpec, j: Journal, notes: FlowNotes): Promise<FlowSetResult> {
    const { written } = await this.set([spec], j, notes);
    const [fwd, rev] = written[0]!;
    const flow = (w: Written) => flowOf(decodeFlowKey(w.key), FLOW.decode(w.value!));
    return { flow: flow(fwd!), reverse: rev && flow(rev), created: !fwd!.old };
  }

  /** journaled: an undo log whose reversal the journal runs if the write fails (the entry counts follow it). */
  private journaled(j: Journal, what: string): FlowUndoLog {
    const log = new FlowUndoLog();
    j.changed({ object: 'flow', log });
    j.record(what, () => {
      const { created, removed } = this.table.undo(log);
      this.counted += removed - created;
    });
    return log;
  }

  private writePlan(p: FlowPlan, log: FlowUndoLog, notes: FlowNotes, index: number | undefined, keepValue: boolean): Written[] {
    let w: Written[];
    try {
      w = this.table.writePair(p.halves, keepValue);
    } catch (err) {
      throw this.writeError(err, index);
    }
    for (const x of w) {
      if (x.old) log.replaced(x.key, x.old);
      else {
        log.created(x.key);
        this.counted++;
      }
      notes.resolved.push(x.key);
    }
    // a key that was a half of another pair: that pair's other half goes, unless this plan wrote it
    for (const x of w) {
      const stale = x.old && otherKey(x.key, x.old);
      if (!stale || p.halves.some((h) => h.key.equals(stale))) continue;
      const sv = this.table.raw(stale);
      if (sv && paired(x.key, x.old!, stale, sv)) this.removeEntry(stale, log, notes, index);
    }
    return w;
  }

  /**
   * delete: the entry under the key and the other half of its pair.
   * NOT_FOUND (field "key") when there is no entry.
   */
  delete(k: FlowKey, j: Journal, notes: FlowNotes): { flow: Flow; entries: number } {
    checkKey(k, this.maxVrfs);
    const key = encodeFlowKey(k);
    const log = this.journaled(j, `delete flow ${flowKeyString(k)}`);
    const old = this.removeEntry(key, log, notes);
    if (!old) throw notFound('key', `no flow ${flowKeyString(k)}`);
    const other = otherKey(key, old);
    const ov = other && this.table.raw(other);
    const gone = ov && paired(key, old, other!, ov) && this.removeEntry(other!, log, notes);
    return { flow: flowOf(k, FLOW.decode(old)), entries: gone ? 2 : 1 };
  }

  /** removeEntry: deletes one entry if it is there (logged); its old value. */
  private removeEntry(key: Buffer, log: FlowUndoLog, notes: FlowNotes, index?: number): Buffer | undefined {
    let old: Buffer | undefined;
    try {
      old = this.table.remove(key);
    } catch (err) {
      throw this.writeError(err, index);
    }
    if (!old) return undefined;
    log.removed(key, old);
    this.counted--;
    notes.deleted.push(key);
    return old;
  }

  /** writeError: a kernel write failure as a domain error placed at its flow; a full table names the map and its size. */
  private writeError(err: unknown, index: number | undefined): DatapathError {
    const e =
      err instanceof BpfError && (err.code === 'E2BIG' || err.code === 'ENOSPC' || err.code === 'ENOMEM')
        ? new DatapathError('resource_exhausted', `flow table (vr_flows) is full: ${this.table.capacity} entries (${err.code})`, { cause: err })
        : writeError(err, 'flow');
    return index === undefined ? e : e.at(index);
  }

  /** notify: tells the flow-miss side what a committed write did (its failures are logged, never thrown). */
  notify(notes: FlowNotes): void {
    const hub = this.hub;
    if (!hub) return;
    try {
      if (notes.resolved.length)
        hub.resolved(notes.resolved.map((k) => decodeFlowKey(k))).catch((err: unknown) => this.log.warn({ err }, 'flow hub: re-injecting held packets failed'));
      if (notes.deleted.length) hub.deleted(notes.deleted.map((k) => decodeFlowKey(k)));
    } catch (err) {
      this.log.warn({ err }, 'flow hub: notification failed');
    }
  }

  // ------------------------------------------------------------ reads (not queued)

  /** get: the entry under the key and the other half of its pair. NOT_FOUND (field "key") when absent. */
  get(k: FlowKey): { flow: Flow; pair: Flow | undefined } {
    checkKey(k, this.maxVrfs);
    const key = encodeFlowKey(k);
    const v = this.table.raw(key);
    if (!v) throw notFound('key', `no flow ${flowKeyString(k)}`);
    const other = otherKey(key, v);
    const pv = other && this.table.raw(other);
    const pair = pv && paired(key, v, other!, pv) ? flowOf(decodeFlowKey(other!), FLOW.decode(pv)) : undefined;
    return { flow: flowOf(k, FLOW.decode(v)), pair };
  }

  /** list: a page of entries (see FlowTable.page); `budget` bounds the entries looked at. */
  list(filter: FlowFilter, size: number, from: PageCursor, budget = 65_536): { flows: Flow[]; next: PageCursor | undefined } {
    if (filter.vrf !== undefined && filter.vrf >= this.maxVrfs) throw invalid('vrf', `vrf ${filter.vrf} is out of range (max_vrfs is ${this.maxVrfs})`);
    return this.table.page(filter, size, from, budget);
  }

  /**
   * count: the entries of vr_flows (both halves and HOLD entries): the last
   * walk of the map plus this manager's writes since. The datapath makes
   * and removes entries too, so a count older than a second is walked
   * again: at once for a small table, in the background for a large one
   * (the count then lags by up to a walk).
   */
  count(): number {
    if (performance.now() - this.countedAt > COUNT_TTL_MS) {
      if (this.counted <= SMALL_COUNT && !this.recounting) this.setCount(this.table.count());
      else void this.recount();
    }
    return Math.max(0, this.counted);
  }

  /** recount: walks the whole map (breathing between chunks) and resolves with its count; one walk at a time. */
  recount(): Promise<number> {
    if (this.recounting) return this.recounting;
    // cleared in a later turn: a walk of an empty map finishes before this assignment
    const p = this.walk().finally(() => (this.recounting = undefined));
    this.recounting = p;
    return p;
  }

  private async walk(): Promise<number> {
    try {
      let n = 0;
      for (const c of this.table.countChunks()) {
        n += c;
        await breathe();
      }
      this.setCount(n);
      return n;
    } catch (err) {
      this.log.warn({ err }, 'counting the flow table failed');
      return this.counted;
    }
  }

  private setCount(n: number): void {
    this.counted = n;
    this.countedAt = performance.now();
  }
}

/** otherKey: where the other half of an entry's pair would be (undefined: HOLD entries have none). */
function otherKey(key: Buffer, value: Buffer): Buffer | undefined {
  if (value[0] === FlowActionCode.HOLD) return undefined;
  const k = decodeFlowKey(key);
  const other = encodeFlowKey(reverseOf(k, natOf(k.family, FLOW.decode(value))));
  return other.equals(key) ? undefined : other;
}

/**
 * paired: whether the entry under `other` is the other half of `key`'s
 * pair: one forward and one reverse entry, each the other's reverseOf (two
 * forward entries are two flows the agent set, each with no_reverse).
 */
function paired(key: Buffer, value: Buffer, other: Buffer, ov: Buffer): boolean {
  if (((value[1]! ^ ov[1]!) & FLOW_F.REVERSE) === 0) return false;
  return otherKey(other, ov)?.equals(key) ?? false;
}

/** distinct: no two entries of a batch under one key (the later flow is refused). */
function distinct(plans: readonly FlowPlan[]): void {
  const seen = new Map<string, number>();
  plans.forEach((p, i) => {
    p.halves.forEach((h, half) => {
      const id = h.key.toString('latin1');
      const first = seen.get(id);
      if (first !== undefined)
        throw invalid('key', half === 0 ? `the same key as flows[${first}] (or its reverse half)` : `its reverse half is the key of flows[${first}] (or of its reverse half)`).at(i);
      seen.set(id, i);
    });
  });
}
