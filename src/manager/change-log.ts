/**
 * ChangeLog: every change a committed write made to the datapath, logged
 * at debug with its object's key, in one place. The table managers tell
 * the journal what they wrote (Journal.changed) beside the undo they
 * record; the manager hands the journal's changes here once the call or
 * transaction committed, so an undone write is never logged, and sync
 * sweeps, upserts that changed something and the next-hop refreshes of a
 * vif update are logged like plain calls. Nothing is decoded unless debug
 * is on.
 */
import type { Logger } from 'pino';
import { RT, decodeRouteKey } from '../maps/codecs.ts';
import { routeOf, type RoutePack } from '../maps/tables/route-pack.ts';
import { decodeFlowKey, type FlowUndoLog } from '../maps/tables/flow-table.ts';
import { flowKeyString } from './flow-model.ts';
import type { NhKind } from './model.ts';
import { formatMac, formatPrefix } from './net-addr.ts';

export type ChangeAction = 'add' | 'update' | 'delete';

/** Change: what one step of a write added, updated or deleted */
export type Change =
  | { object: 'vif'; action: ChangeAction; index: number; name: string; vrf: number }
  | { object: 'nh'; action: ChangeAction; id: number; kind: NhKind }
  /** routes as written to the tables (a view; a delete's values are the routes' old ones) */
  | { object: 'route'; action: 'add' | 'delete'; pack: RoutePack }
  /** one route by its LPM key and new value */
  | { object: 'route'; action: 'update'; key: Buffer; value: Buffer }
  | { object: 'mpls' | 'vxlan'; action: ChangeAction; key: number; nhId: number | undefined }
  | { object: 'bridge'; action: ChangeAction; vrf: number; mac: Buffer; nhId: number | undefined }
  /** flow entries (halves of pairs) as their undo log has them: created, replaced or removed */
  | { object: 'flow'; log: FlowUndoLog };

/**
 * PER_ITEM_MAX: a commit of more items than this is logged at debug as one
 * summary per object and action (count, first and last key), and item by
 * item at trace only: an agent's 1M-route resync would write a million
 * lines otherwise.
 */
export const PER_ITEM_MAX = 1000;

type Fields = Record<string, unknown>;
const FLOW_ACTIONS = { created: 'add', replaced: 'update', removed: 'delete' } as const;

/** size: the items of a change */
function size(c: Change): number {
  if (c.object === 'route' && 'pack' in c) return c.pack.count;
  if (c.object === 'flow') return c.log.size;
  return 1;
}

/** item: item i of a change as log fields, its action included */
function item(c: Change, i: number): Fields & { action: ChangeAction } {
  switch (c.object) {
    case 'vif':
      return { action: c.action, vif: c.index, name: c.name, vrf: c.vrf };
    case 'nh':
      return { action: c.action, nh: c.id, type: c.kind };
    case 'route': {
      const r = 'pack' in c ? c.pack.route(i) : routeOf(decodeRouteKey(c.key, 0, c.key.length), RT.decode(c.value));
      return c.action === 'delete' ? { action: c.action, vrf: r.vrf, prefix: formatPrefix(r) } : { action: c.action, vrf: r.vrf, prefix: formatPrefix(r), nh: r.nhId };
    }
    case 'mpls':
    case 'vxlan': {
      const f: Fields & { action: ChangeAction } = { action: c.action, [c.object === 'mpls' ? 'label' : 'vni']: c.key };
      if (c.nhId !== undefined) f.nh = c.nhId;
      return f;
    }
    case 'bridge':
      return c.nhId === undefined ? { action: c.action, vrf: c.vrf, mac: formatMac(c.mac) } : { action: c.action, vrf: c.vrf, mac: formatMac(c.mac), nh: c.nhId };
    case 'flow': {
      const e = c.log.at(i);
      return { action: FLOW_ACTIONS[e.did], flow: flowKeyString(decodeFlowKey(e.key)) };
    }
  }
}

/** actionOf: item i's action without decoding its key */
function actionOf(c: Change, i: number): ChangeAction {
  return c.object === 'flow' ? FLOW_ACTIONS[c.log.at(i).did] : c.action;
}

export class ChangeLog {
  private readonly log: Logger;

  constructor(log: Logger) {
    this.log = log;
  }

  /** committed: logs the changes of a write that committed, in the order they were made. */
  committed(changes: readonly Change[]): void {
    if (!changes.length || !this.log.isLevelEnabled('debug')) return;
    const total = changes.reduce((n, c) => n + size(c), 0);
    if (total <= PER_ITEM_MAX) {
      this.items(changes, 'debug');
      return;
    }
    // per object and action: how many, and where the first and last item are (only those two are decoded)
    const groups = new Map<string, { object: string; action: ChangeAction; count: number; first: [Change, number]; last: [Change, number] }>();
    const add = (c: Change, action: ChangeAction, from: number, to: number) => {
      const id = `${c.object} ${action}`;
      const g = groups.get(id);
      if (!g) groups.set(id, { object: c.object, action, count: to - from, first: [c, from], last: [c, to - 1] });
      else {
        g.count += to - from;
        g.last = [c, to - 1];
      }
    };
    for (const c of changes) {
      const n = size(c);
      if (!n) continue;
      // a flow log's entries each have their own action; any other change has one for all its items
      if (c.object === 'flow') for (let i = 0; i < n; i++) add(c, actionOf(c, i), i, i + 1);
      else add(c, c.action, 0, n);
    }
    for (const g of groups.values())
      this.log.debug({ object: g.object, action: g.action, count: g.count, first: keyOf(...g.first), last: keyOf(...g.last) }, 'datapath changes');
    if (this.log.isLevelEnabled('trace')) this.items(changes, 'trace');
  }

  private items(changes: readonly Change[], level: 'debug' | 'trace'): void {
    for (const c of changes)
      for (let i = 0, n = size(c); i < n; i++) this.log[level]({ object: c.object, ...item(c, i) }, 'datapath change');
  }
}

/** keyOf: item i's fields without its action (a summary's first and last) */
function keyOf(c: Change, i: number): Fields {
  const { action: _, ...k } = item(c, i);
  return k;
}
