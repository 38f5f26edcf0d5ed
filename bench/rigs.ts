/**
 * Rigs: every throwaway lab (namespaces) and lab daemon a bench run makes,
 * so that one clean-up at the end removes them all, also on failure, Ctrl-C
 * or the time budget running out, and one check proves nothing is left.
 * A phase that builds a topology per row releases it as soon as the row is
 * measured; the final clean-up repeats every step (each is idempotent).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, sh } from '../lab/topology.ts';
import { BPFFS_LAB_ROOT, LabDaemon, startDaemons } from '../lab/daemon.ts';
import { benchBpffsDir, removeBenchBpffs } from './packet-rate.ts';

interface Rig {
  lab: Lab;
  /** one, or one per simulated host */
  daemons: LabDaemon[];
}

export class Rigs {
  private readonly rigs: Rig[] = [];

  /** lab: a new lab (own namespace prefix), registered for the clean-up. */
  lab(tag: string): Lab {
    const lab = new Lab(tag);
    this.rigs.push({ lab, daemons: [] });
    return lab;
  }

  /** startDaemon: a daemon in ns of a registered lab (instance = the lab's prefix), with extra flags if given. */
  async startDaemon(lab: Lab, ns: string, extraArgs?: string[]): Promise<LabDaemon> {
    const rig = this.rig(lab);
    if (rig.daemons.length) throw new Error(`lab ${lab.prefix} already has a daemon`);
    const daemon = new LabDaemon(lab, { instance: lab.prefix, ns, ...(extraArgs ? { extraArgs } : {}) });
    rig.daemons.push(daemon);
    await daemon.start();
    return daemon;
  }

  /** startHostDaemons: a daemon in each namespace (simulated hosts) of a registered lab (lab/daemon.ts startDaemons). */
  async startHostDaemons(lab: Lab, namespaces: string[]): Promise<LabDaemon[]> {
    const rig = this.rig(lab);
    if (rig.daemons.length) throw new Error(`lab ${lab.prefix} already has daemons`);
    rig.daemons.push(...(await startDaemons(lab, namespaces)));
    return rig.daemons;
  }

  /**
   * stopDaemon: removes a lab's daemon and its pinned datapath now (the
   * namespaces stay), so that a fresh one can start on the same topology.
   */
  async stopDaemon(lab: Lab): Promise<void> {
    const rig = this.rig(lab);
    for (const d of rig.daemons.splice(0)) await d.destroy();
  }

  daemonOf(lab: Lab): LabDaemon | undefined {
    return this.rig(lab).daemons[0];
  }

  daemonsOf(lab: Lab): LabDaemon[] {
    return this.rig(lab).daemons;
  }

  /** lastDaemon: the most recently started daemon (its log explains a failure). */
  get lastDaemon(): LabDaemon | undefined {
    return this.rigs.findLast((r) => r.daemons.length)?.daemons.at(-1);
  }

  /** release: removes one lab's daemon, namespaces and bench pins now; throws the first failure. */
  async release(lab: Lab): Promise<void> {
    const errors = await this.clean(this.rig(lab));
    if (errors.length) throw new Error(`clean-up of ${lab.prefix}: ${errors.join('; ')}`);
  }

  /** cleanUp: every step of every rig runs even if an earlier one fails; returns the failures. */
  async cleanUp(): Promise<string[]> {
    const errors: string[] = [];
    for (const rig of [...this.rigs].reverse()) errors.push(...(await this.clean(rig)));
    return errors;
  }

  /** leftovers: what of any rig is still there (should be nothing after cleanUp). */
  leftovers(): string[] {
    const left: string[] = [];
    const netns = sh('ip', ['netns', 'list']).split('\n');
    for (const { lab, daemons } of this.rigs) {
      const ns = netns.filter((l) => l.startsWith(`${lab.prefix}-`));
      if (ns.length) left.push(`namespaces: ${ns.join(', ')}`);
      for (const daemon of daemons) {
        const p = daemon.proc;
        if (p && p.exitCode === null && p.signalCode === null) left.push(`daemon pid ${p.pid}`);
      }
      const instances = new Set([lab.prefix, ...daemons.map((d) => d.opts.instance)]);
      for (const dir of [...[...instances].map((i) => join(BPFFS_LAB_ROOT, i)), benchBpffsDir(lab)])
        if (existsSync(dir)) left.push(`bpffs ${dir}`);
    }
    return left;
  }

  private rig(lab: Lab): Rig {
    const rig = this.rigs.find((r) => r.lab === lab);
    if (!rig) throw new Error(`lab ${lab.prefix} is not one of this run's`);
    return rig;
  }

  private async clean({ lab, daemons }: Rig): Promise<string[]> {
    const errors: string[] = [];
    const steps: [string, () => unknown][] = [
      ...daemons.map((d): [string, () => unknown] => [`daemon ${d.opts.instance}`, () => d.destroy()]),
      ['namespaces', () => lab.cleanup()],
      ['bench bpffs', () => removeBenchBpffs(lab)],
    ];
    for (const [what, step] of steps) {
      try {
        await step();
      } catch (err) {
        errors.push(`${lab.prefix} ${what}: ${(err as Error).message}`);
      }
    }
    return errors;
  }
}
