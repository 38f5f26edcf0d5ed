/**
 * runVrctl: the CLI as an operator runs it, a child process (a 20 s bound
 * per run), with what it printed and its exit code.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/vrctl.ts', import.meta.url));

export interface VrctlRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runVrctl(args: string[]): Promise<VrctlRun> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.once('error', reject);
    p.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
