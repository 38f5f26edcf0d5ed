/**
 * The manager's behaviour suites on the real kernel: a datapath loaded in a
 * throwaway bpffs directory, real veths in a private netns, the same
 * FaultyKernel wrapper the fake uses for injected failures. Every rule the
 * FakeKernel models is pinned here (test/unit/manager.test.ts runs the same
 * suites on the fake).
 */
import { before } from 'node:test';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { BpfLink } from '../../src/bpf/link.ts';
import { kernelOf } from '../../src/maps/kernel.ts';
import { privateNetns, vethPair } from '../helpers/private-netns.ts';
import { openTestDatapath } from '../helpers/datapath.ts';
import { FaultyKernel } from '../helpers/fake-kernel.ts';
import { DEFAULT_SIZES, newManager, restarted, type Harness, type HarnessFactory } from '../helpers/manager-harness.ts';
import { kernelRules } from '../helpers/kernel-rules-suite.ts';
import { managerBehaviour } from '../helpers/manager-suite.ts';
import { managerUndo } from '../helpers/manager-undo-suite.ts';

before(() => privateNetns());

let devs = 0;
const realHarness: HarnessFactory = (sizes = {}) => {
  const t = openTestDatapath({ ...DEFAULT_SIZES, ...sizes });
  const kernel = new FaultyKernel(kernelOf(t.dp));
  const names: string[] = [];
  const h: Harness = {
    real: true,
    kernel,
    mgr: newManager(kernel),
    netdev: () => {
      const name = `mk${devs++}`;
      vethPair(name, `${name}p`);
      names.push(name);
      return name;
    },
    occupy: (name, mode) => {
      const ifindex = kernel.netdev(name)!.ifindex;
      const link = BpfLink.attachXdp(t.dp.xdp.fd, ifindex, mode, join(t.dp.dir, `foreign_${ifindex}`));
      return () => link.detach();
    },
    restart: async () => (h.mgr = await restarted(kernel)),
    dispose: () => {
      for (const n of names) execFileSync('ip', ['link', 'del', n]);
      t.dispose();
    },
  };
  return h;
};

kernelRules(realHarness);
managerBehaviour(realHarness);
managerUndo(realHarness);
