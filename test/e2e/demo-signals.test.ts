/**
 * `npm run demo -- --keep` stopped by SIGTERM (a process manager, `timeout`)
 * cleans up exactly as Ctrl-C does: its namespaces, its daemon and its
 * pinned datapath are gone, and it exits 0.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BPFFS_LAB_ROOT } from '../../lab/daemon.ts';
import { PACKAGE_ROOT } from '../../src/config.ts';

const READY = 'Ctrl-C (or SIGTERM) to clean up.';

/** runDemo: the demo with --keep until it is up, then `signal`; its prefix, exit code and output */
function runDemo(signal: NodeJS.Signals): Promise<{ prefix: string; code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'scripts/demo.ts'), '--keep'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let sent = false;
    const deadline = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the demo did not finish in 120 s:\n${out}`));
    }, 120_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (!sent && out.includes(READY)) {
        sent = true;
        child.kill(signal);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(deadline);
      const prefix = /namespaces (\S+)-\*/.exec(out)?.[1] ?? '';
      resolve({ prefix, code, out });
    });
  });
}

describe('the demo cleans up on SIGINT and SIGTERM alike', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const)
    it(`--keep stopped by ${signal}: exit 0, no namespace and no pinned datapath left`, async () => {
      const r = await runDemo(signal);
      assert.ok(r.prefix, `the demo named its namespaces:\n${r.out}`);
      assert.match(r.out, new RegExp(`== ${signal}: cleaning up`), r.out);
      assert.match(r.out, /== done \(cleaned up\)/, r.out);
      assert.equal(r.code, 0, r.out);
      const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith(`${r.prefix}-`));
      assert.deepEqual(left, [], 'no namespace of the demo left');
      assert.equal(existsSync(join(BPFFS_LAB_ROOT, r.prefix)), false, 'no pinned datapath left');
    });
});
