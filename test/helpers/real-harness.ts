/**
 * realHarness: the behaviour suites' Harness on the real kernel: a datapath
 * loaded in a throwaway bpffs directory, real veths in the test process's
 * private netns (privateNetns must have run), and the same FaultyKernel
 * wrapper the fake uses for injected failures.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { BpfLink } from '../../src/bpf/link.ts';
import { kernelOf } from '../../src/maps/kernel.ts';
import { vethPair } from './private-netns.ts';
import { openTestDatapath } from './datapath.ts';
import { FaultyKernel } from './fake-kernel.ts';
import { DEFAULT_SIZES, newManager, restarted, type Harness, type HarnessFactory } from './manager-harness.ts';

let devs = 0;
export const realHarness: HarnessFactory = (sizes = {}) => {
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
    forwarding: (name, on) => execFileSync('sysctl', ['-qw', `net.ipv4.conf.${name}.forwarding=${on ? 1 : 0}`]),
    restart: async () => (h.mgr = await restarted(kernel)),
    dispose: () => {
      for (const n of names) execFileSync('ip', ['link', 'del', n]);
      t.dispose();
    },
  };
  return h;
};
