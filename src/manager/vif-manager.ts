/**
 * VifManager: the vifs (a few thousand at most, kept as objects) and their
 * attachments. Every vif has a tcx ingress link (vr_tc_vif); a vif whose
 * policy picks XDP also has an XDP link, which runs first and hands what
 * must become an skb (packets to vifs on the TC hook) to the tcx one. A
 * host vif (vhost0) also has a tcx egress link (vr_tc_egress): what the
 * host's own stack sends out of it takes the datapath's lookups. Every
 * write takes a journal and records its inverse; a hook change attaches
 * before it detaches.
 */
import type { Logger } from 'pino';
import { BpfError } from '../bpf/errors.ts';
import type { XdpMode } from '../bpf/link.ts';
import { BPF_EXIST, BPF_NOEXIST } from '../bpf/map.ts';
import type { NetDev } from '../bpf/netdev.ts';
import type { Attachment, DatapathKernel } from '../maps/kernel.ts';
import type { VifValue } from '../maps/codecs.ts';
import { AttachModeCode, HookPolicyCode, VIF_F_ENABLED, VIF_F_LINK_DOWN, VIF_F_PEER, VIF_F_POLICY, VifType } from '../maps/layout.ts';
import type { VifTable } from '../maps/tables/vif-table.ts';
import { DatapathError, exists, invalid, notFound, quote } from './errors.ts';
import type { Journal } from './journal.ts';
import type { Hook, HookPolicy, Vif, VifChange, VifSpec, VifTypeName } from './model.ts';

const IFNAMSIZ = 16;
const VIF_TYPE_CODES: Record<VifTypeName, number> = {
  host: VifType.HOST, agent: VifType.AGENT, fabric: VifType.FABRIC, virtual: VifType.VIRTUAL,
};
const VIF_TYPE_NAMES = new Map(Object.entries(VIF_TYPE_CODES).map(([k, v]) => [v, k as VifTypeName]));
const HOOK_POLICY_CODES: Record<HookPolicy, number> = { auto: HookPolicyCode.AUTO, xdp: HookPolicyCode.XDP, tc: HookPolicyCode.TC };
const HOOK_POLICY_NAMES = new Map(Object.entries(HOOK_POLICY_CODES).map(([k, v]) => [v, k as HookPolicy]));
/** the link kinds whose other end is a pod's: auto puts them on TC */
const POD_LINK_KINDS = new Set(['veth', 'netkit']);
const ZERO4 = Buffer.alloc(4);
const ZERO16 = Buffer.alloc(16);

export class VifManager {
  private readonly kernel: DatapathKernel;
  private readonly table: VifTable;
  private readonly log: Logger;
  private readonly maxVrfs: number;
  private readonly vifs = new Map<number, Vif>();
  private readonly byIfindex = new Map<number, number>();
  private readonly links = new Map<number, VifLinks>();

  constructor(kernel: DatapathKernel, table: VifTable, maxVrfs: number, log: Logger) {
    this.kernel = kernel;
    this.table = table;
    this.maxVrfs = maxVrfs;
    this.log = log;
  }

  get capacity(): number {
    return this.table.capacity;
  }

  get size(): number {
    return this.vifs.size;
  }

  /** load: the vifs from the map, with their pinned links (re-attached if a pin is missing). */
  load(): void {
    for (const [ifindex, v] of this.table.all()) {
      const vif: Vif = {
        index: v.vifIdx,
        type: VIF_TYPE_NAMES.get(v.type) ?? 'virtual',
        name: this.kernel.nameOf(ifindex) ?? '',
        ifindex,
        vrf: v.vrf,
        mac: v.mac,
        ip4: v.ip4.equals(ZERO4) ? undefined : v.ip4,
        ip6: v.ip6.equals(ZERO16) ? undefined : v.ip6,
        mtu: v.mtu,
        policyEnabled: (v.flags & VIF_F_POLICY) !== 0,
        disabled: (v.flags & VIF_F_ENABLED) === 0,
        hookPolicy: HOOK_POLICY_NAMES.get(v.hookPolicy) ?? 'auto',
        hook: v.attachMode === AttachModeCode.TC ? 'tc' : 'xdp',
        attachMode: v.attachMode === AttachModeCode.GENERIC ? 'generic' : 'native',
        peer: (v.flags & VIF_F_PEER) !== 0,
      };
      // set only when down: a vif whose link never went down has no such key (as when added)
      if (v.flags & VIF_F_LINK_DOWN) vif.linkDown = true;
      this.vifs.set(vif.index, vif);
      this.byIfindex.set(ifindex, vif.index);
      if (!vif.name) {
        vif.orphaned = true;
        this.log.warn({ vif: vif.index, ifindex }, 'kernel interface of vif is gone');
        continue;
      }
      const links: VifLinks = {};
      links.tc = this.kernel.openTc(ifindex);
      if (!links.tc) {
        // a datapath pinned before XDP vifs had their tcx link, or a lost pin
        this.log.warn({ vif: vif.index, name: vif.name, hook: vif.hook }, 'tcx link not pinned; attaching it');
        links.tc = this.kernel.attachTc(ifindex);
      }
      const xdp = this.kernel.openXdp(ifindex);
      if (vif.hook === 'xdp') {
        links.xdp = xdp;
        if (!links.xdp) {
          this.log.warn({ vif: vif.index, name: vif.name }, 'XDP link not pinned; attaching again');
          links.xdp = this.kernel.attachXdp(ifindex, vif.attachMode);
        }
      } else if (xdp) {
        // a move to TC cut short (the entry already says TC): finish it
        this.log.warn({ vif: vif.index, name: vif.name }, 'an XDP link was left by an interrupted move to TC; detaching it');
        xdp.detach();
      }
      if (vif.type === 'host') {
        links.egress = this.kernel.openTcEgress(ifindex);
        if (!links.egress) {
          // a host vif added by a daemon without the egress entry, or a lost pin
          this.log.warn({ vif: vif.index, name: vif.name }, 'tcx egress link of the host vif not pinned; attaching it');
          links.egress = this.kernel.attachTcEgress(ifindex);
        }
      }
      this.links.set(vif.index, links);
    }
  }

  has(index: number): boolean {
    return this.vifs.has(index);
  }

  find(index: number): Vif | undefined {
    return this.vifs.get(index);
  }

  get(index: number, field = 'index'): Vif {
    const vif = this.vifs.get(index);
    if (!vif) throw notFound(field, `no interface with index ${index}`);
    return vif;
  }

  list(): Vif[] {
    return [...this.vifs.values()].sort((a, b) => a.index - b.index);
  }

  /** linkOf: the link of the vif's hook (its XDP link, or its tcx link on TC) */
  linkOf(index: number): Attachment | undefined {
    const links = this.links.get(index);
    const vif = this.vifs.get(index);
    return vif?.hook === 'xdp' ? links?.xdp : links?.tc;
  }

  /** egressLinkOf: the tcx egress link of a host vif */
  egressLinkOf(index: number): Attachment | undefined {
    return this.links.get(index)?.egress;
  }

  checkVrf(vrf: number, field: string): number {
    if (vrf >= this.maxVrfs) throw invalid(field, `vrf ${vrf} is out of range (max_vrfs is ${this.maxVrfs})`);
    return vrf;
  }

  /** add: validates, writes the vif's entry, then attaches (the entry is in place before the program runs). */
  add(spec: VifSpec, j: Journal): Vif {
    if (spec.index >= this.table.capacity)
      throw invalid('index', `${spec.index} is out of range (max_interfaces is ${this.table.capacity})`);
    if (!spec.type) throw invalid('type', 'an interface type is required');
    if (!spec.name) throw invalid('name', 'the kernel interface name is required');
    if (Buffer.byteLength(spec.name) >= IFNAMSIZ)
      throw invalid('name', `${quote(spec.name)} is not a kernel interface name (at most ${IFNAMSIZ - 1} bytes)`);
    this.checkVrf(spec.vrf, 'vrf');
    if (spec.mtu) checkMtu(spec.mtu, 'mtu');
    if (this.vifs.has(spec.index)) throw exists('index', `interface ${spec.index} already exists`);
    const dev = this.kernel.netdev(spec.name);
    if (!dev) throw notFound('name', `no kernel interface named ${quote(spec.name)}`);
    const owner = this.byIfindex.get(dev.ifindex);
    if (owner !== undefined) throw exists('name', `${spec.name} is already interface ${owner}`);
    const hookPolicy = spec.hookPolicy ?? 'auto';
    // an XDP mode asked for with policy auto keeps the vif on XDP (what the mode is for)
    const hook = spec.attachMode && hookPolicy === 'auto' ? 'xdp' : hookOf(hookPolicy, dev);
    const vif: Vif = {
      index: spec.index,
      type: spec.type,
      name: spec.name,
      ifindex: dev.ifindex,
      vrf: spec.vrf,
      mac: spec.mac ?? dev.mac,
      ip4: spec.ip4,
      ip6: spec.ip6,
      mtu: spec.mtu || Math.min(dev.mtu, 65535),
      policyEnabled: spec.policyEnabled,
      disabled: spec.disabled,
      hookPolicy,
      hook,
      attachMode: spec.attachMode ?? 'native',
      peer: dev.peerInOtherNetns && POD_LINK_KINDS.has(dev.kind ?? ''),
    };
    this.table.zeroStats(vif.index);
    j.run('write vif', () => this.table.put(vif.ifindex, valueOf(vif), BPF_NOEXIST), () => this.table.remove(vif.ifindex));
    // the tcx link first: once the XDP one runs, it hands packets for TC vifs to it
    const links: VifLinks = { tc: j.run('attach tc', () => this.attachTc(vif), (l) => l.detach()) };
    if (hook === 'xdp') links.xdp = j.run('attach xdp', () => this.attachXdp(vif, spec.attachMode), (l) => l.detach());
    if (vif.type === 'host') links.egress = j.run('attach egress', () => this.attachEgress(vif), (l) => l.detach());
    this.table.put(vif.ifindex, valueOf(vif), BPF_EXIST); // the attach mode that took
    this.remember(vif, links);
    j.record('remember vif', () => this.forget(vif));
    j.changed({ object: 'vif', action: 'add', index: vif.index, name: vif.name, vrf: vif.vrf });
    this.log.info({ vif: vif.index, name: vif.name, ifindex: vif.ifindex, hook, mode: hook === 'xdp' ? vif.attachMode : undefined }, 'interface added');
    return vif;
  }

  private attachTc(vif: Vif): Attachment {
    try {
      return this.kernel.attachTc(vif.ifindex);
    } catch (err) {
      const why = err instanceof BpfError ? err.code : String(err);
      throw new DatapathError('failed_precondition', `cannot attach TC (tcx ingress) to ${vif.name}: ${why}`, { field: 'name', cause: err });
    }
  }

  /** attachEgress: the host vif's tcx egress link (what the host sends out of its interface) */
  private attachEgress(vif: Vif): Attachment {
    try {
      return this.kernel.attachTcEgress(vif.ifindex);
    } catch (err) {
      const why = err instanceof BpfError ? err.code : String(err);
      throw new DatapathError('failed_precondition', `cannot attach TC (tcx egress) to ${vif.name}: ${why}`, { field: 'name', cause: err });
    }
  }

  /** attachXdp: the mode asked for, else native then generic; sets vif.attachMode to the one that took. */
  private attachXdp(vif: Vif, asked: XdpMode | undefined): Attachment {
    const modes: XdpMode[] = asked ? [asked] : ['native', 'generic'];
    let last: unknown;
    for (const mode of modes) {
      try {
        const link = this.kernel.attachXdp(vif.ifindex, mode);
        vif.attachMode = mode;
        return link;
      } catch (err) {
        last = err;
        this.log.debug({ err, name: vif.name, mode }, 'XDP attach failed');
      }
    }
    const why = last instanceof BpfError ? last.code : String(last);
    const hint = last instanceof BpfError && last.code === 'EBUSY' ? ' (another XDP program is attached)' : '';
    throw new DatapathError('failed_precondition', `cannot attach XDP to ${vif.name} (${modes.join(', then ')}): ${why}${hint}`, {
      field: 'name',
      cause: last,
    });
  }

  /** next: the vif a change would make (validated), without writing. */
  next(index: number, change: VifChange): Vif {
    const cur = this.get(index);
    const n: Vif = { ...cur };
    if (change.vrf !== undefined) n.vrf = this.checkVrf(change.vrf, 'vrf');
    if (change.mac !== undefined) n.mac = change.mac;
    if (change.ip4 !== undefined) n.ip4 = change.ip4.length ? change.ip4 : undefined;
    if (change.ip6 !== undefined) n.ip6 = change.ip6.length ? change.ip6 : undefined;
    if (change.mtu !== undefined) n.mtu = checkMtu(change.mtu, 'mtu');
    if (change.policyEnabled !== undefined) n.policyEnabled = change.policyEnabled;
    if (change.disabled !== undefined) n.disabled = change.disabled;
    if (change.hookPolicy !== undefined && change.hookPolicy !== cur.hookPolicy) {
      n.hookPolicy = change.hookPolicy;
      const dev = this.kernel.netdev(cur.name);
      if (!dev || dev.ifindex !== cur.ifindex) throw notFound('name', `kernel interface ${quote(cur.name)} of interface ${index} is gone`);
      n.hook = hookOf(n.hookPolicy, dev);
    }
    return n;
  }

  /**
   * replace: writes an updated vif (same index and kernel interface). A hook
   * change is made before broken: the new hook is attached (XDP runs before
   * tcx, so from then on one of them carries every packet), the entry says
   * so, and only then the old link goes.
   */
  replace(next: Vif, j: Journal): void {
    const cur = this.get(next.index);
    let links = this.links.get(cur.index);
    if (!links) this.links.set(cur.index, (links = {}));
    const toXdp = next.hook === 'xdp' && cur.hook !== 'xdp';
    const toTc = next.hook === 'tc' && cur.hook !== 'tc';
    if (toXdp) {
      // the tcx link stays: XDP runs first from now on
      links.xdp = j.run('attach xdp', () => this.attachXdp(next, undefined), (l) => l.detach());
      j.record('remember link', () => delete links.xdp);
    }
    j.run('update vif', () => this.table.put(cur.ifindex, valueOf(next), BPF_EXIST), () => this.table.put(cur.ifindex, valueOf(cur), BPF_EXIST));
    this.vifs.set(next.index, next);
    j.record('remember vif', () => this.vifs.set(cur.index, cur));
    j.changed({ object: 'vif', action: 'update', index: next.index, name: next.name, vrf: next.vrf });
    if (toTc && links.xdp) {
      // the tcx link was there all along: without XDP in front it takes every packet
      links.xdp.detach();
      delete links.xdp;
      j.record('detach xdp', () => (links.xdp = this.kernel.attachXdp(cur.ifindex, cur.attachMode)));
    }
    if (toXdp || toTc) this.log.info({ vif: cur.index, name: cur.name, from: cur.hook, to: next.hook }, 'interface moved to another hook');
  }

  /** remove: detaches first (no packet arrives on a vif whose entry is gone), then deletes the entry. */
  remove(index: number, j: Journal): Vif {
    const vif = this.get(index);
    const links = this.links.get(index) ?? {};
    if (links.egress) {
      links.egress.detach();
      j.record('detach egress', () => (links.egress = this.kernel.attachTcEgress(vif.ifindex)));
    }
    if (links.xdp) {
      links.xdp.detach();
      j.record('detach xdp', () => (links.xdp = this.kernel.attachXdp(vif.ifindex, vif.attachMode)));
    }
    if (links.tc) {
      links.tc.detach();
      j.record('detach tc', () => (links.tc = this.kernel.attachTc(vif.ifindex)));
    }
    this.links.delete(index);
    j.record('remember links', () => this.links.set(index, links));
    j.run('delete vif', () => this.table.remove(vif.ifindex), () => this.table.put(vif.ifindex, valueOf(vif), BPF_NOEXIST));
    j.changed({ object: 'vif', action: 'delete', index, name: vif.name, vrf: vif.vrf });
    this.vifs.delete(index);
    this.byIfindex.delete(vif.ifindex);
    j.record('forget vif', () => {
      this.vifs.set(index, vif);
      this.byIfindex.set(vif.ifindex, index);
    });
    this.log.info({ vif: index, name: vif.name }, 'interface deleted');
    return vif;
  }

  /** byIfindexOf: the vif on a kernel ifindex */
  byIfindexOf(ifindex: number): Vif | undefined {
    const index = this.byIfindex.get(ifindex);
    return index === undefined ? undefined : this.vifs.get(index);
  }

  /**
   * renamed, orphaned: what rtnetlink said of a vif's kernel interface, in
   * this view only (the map is keyed by ifindex and holds no name). An
   * orphan stays: deleting it is the agent's call.
   */
  renamed(index: number, name: string): void {
    const vif = this.vifs.get(index);
    if (vif) vif.name = name;
  }

  orphaned(index: number): void {
    const vif = this.vifs.get(index);
    if (vif) vif.orphaned = true;
  }

  /** forwards: the vif's kernel interface has IPv4 forwarding on (undefined: cannot tell) */
  forwards(vif: Vif): boolean | undefined {
    return this.kernel.ipv4Forwarding(vif.name);
  }

  readStats(index: number) {
    return this.table.readStats(index);
  }

  private remember(vif: Vif, links: VifLinks): void {
    this.vifs.set(vif.index, vif);
    this.byIfindex.set(vif.ifindex, vif.index);
    this.links.set(vif.index, links);
  }

  private forget(vif: Vif): void {
    this.vifs.delete(vif.index);
    this.byIfindex.delete(vif.ifindex);
    this.links.delete(vif.index);
  }
}

/** VifLinks: a vif's links: tcx always, XDP on the XDP hook, tcx egress on a host vif */
interface VifLinks {
  tc?: Attachment;
  xdp?: Attachment;
  egress?: Attachment;
}

/** hookOf: the hook a policy picks for a kernel device (auto: TC for a pod's veth or netkit, else XDP). */
export function hookOf(policy: HookPolicy, dev: Pick<NetDev, 'kind'>): Hook {
  if (policy !== 'auto') return policy;
  return POD_LINK_KINDS.has(dev.kind ?? '') ? 'tc' : 'xdp';
}

function checkMtu(mtu: number, field: string): number {
  if (mtu < 68 || mtu > 65535) throw invalid(field, `${mtu} is out of range (68..65535)`);
  return mtu;
}

export function valueOf(v: Vif): VifValue {
  return {
    vifIdx: v.index,
    vrf: v.vrf,
    flags: (v.disabled ? 0 : VIF_F_ENABLED) | (v.policyEnabled ? VIF_F_POLICY : 0) | (v.peer ? VIF_F_PEER : 0) | (v.linkDown ? VIF_F_LINK_DOWN : 0),
    mtu: v.mtu,
    type: VIF_TYPE_CODES[v.type],
    attachMode: v.hook === 'tc' ? AttachModeCode.TC : v.attachMode === 'generic' ? AttachModeCode.GENERIC : AttachModeCode.NATIVE,
    hookPolicy: HOOK_POLICY_CODES[v.hookPolicy],
    mac: v.mac,
    ip4: v.ip4 ?? ZERO4,
    ip6: v.ip6 ?? ZERO16,
  };
}
