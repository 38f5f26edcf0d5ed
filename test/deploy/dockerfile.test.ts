/**
 * The Dockerfile, linted and read (no engine can pull images here):
 * dockerfile-utils (the linter of the VS Code Docker extension) finds no
 * problem; its build stage installs exactly setup.sh's BPF_BUILD_PACKAGES
 * and runs setup.sh's npm commands, so CI (which runs setup.sh) exercises
 * the image's build steps; the runtime stage is Node 24 slim with libbpf,
 * has the objects the daemon opens, vrctl on PATH, a HEALTHCHECK through
 * it, the daemon's node flags, and the capabilities documented.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validate } from 'dockerfile-utils';
import { Copy, DockerfileParser, type Instruction } from 'dockerfile-ast';
import { DAEMON_NODE_FLAGS } from '../../src/config.ts';
import { CAPABILITIES, ROOT } from '../helpers/deploy-files.ts';

const TEXT = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const SETUP = readFileSync(join(ROOT, 'scripts/setup.sh'), 'utf8');

interface Stage {
  image: string;
  name: string | null;
  instructions: Instruction[];
}

function stages(): Stage[] {
  const out: Stage[] = [];
  for (const ins of DockerfileParser.parse(TEXT).getInstructions()) {
    if (ins.getKeyword() === 'FROM') {
      const args = ins.getArguments().map((a) => a.getValue());
      out.push({ image: args[0]!, name: args[2] ?? null, instructions: [] });
    } else out.at(-1)!.instructions.push(ins);
  }
  return out;
}

/** commands: each RUN of a stage as its shell commands (split on &&, whitespace collapsed). */
function commands(stage: Stage): string[] {
  return stage.instructions
    .filter((i) => i.getKeyword() === 'RUN')
    .flatMap((i) => i.getArgumentsContent()!.replace(/\\\n/g, ' ').split('&&'))
    .map((c) => c.replace(/\s+/g, ' ').trim());
}

/** aptInstalls: the packages of every apt-get install of a stage. */
function aptInstalls(stage: Stage): string[] {
  return commands(stage)
    .filter((c) => /\bapt-get install\b/.test(c))
    .flatMap((c) => c.split(/\bapt-get install\b/)[1]!.trim().split(' ').filter((w) => !w.startsWith('-')));
}

/** shellArray: a bash array assignment of setup.sh, NAME=(a b c) */
function shellArray(name: string): string[] {
  const m = new RegExp(`^${name}=\\(([^)]*)\\)`, 'm').exec(SETUP);
  assert.ok(m, `scripts/setup.sh has no ${name}=( ... )`);
  return m[1]!.trim().split(/\s+/);
}

const args = (i: Instruction) => i.getArguments().map((a) => a.getValue());
const jsonOf = (i: Instruction) => JSON.parse(i.getArgumentsContent()!) as string[];

describe('Dockerfile', () => {
  it('passes the linter with no finding', () => {
    const found = validate(TEXT).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
    assert.deepEqual(found, []);
  });

  it('the linter is a real check: it flags a broken Dockerfile', () => {
    assert.ok(validate(`${TEXT}\nCOPY\nEXPOSE notaport\n`).length >= 2);
  });

  it('builds in one stage and runs in a Node 24 slim one', () => {
    const [build, run, ...more] = stages();
    assert.equal(more.length, 0);
    assert.match(build!.image, /^node:24[.-]/);
    assert.equal(build!.name, 'build');
    assert.match(run!.image, /^node:24[.-].*slim$/);
    // the runtime image takes only what the build stage made, never the build tools
    assert.deepEqual(aptInstalls(run!), ['libbpf1']);
    for (const c of run!.instructions.filter((i) => i instanceof Copy))
      assert.equal((c as Copy).getFromFlag()?.getValue(), 'build', `runtime COPY ${args(c).join(' ')}`);
  });

  it('its build steps are setup.sh\'s: the same Debian packages for the BPF objects, the same npm commands', () => {
    const build = stages()[0]!;
    const bpfPackages = shellArray('BPF_BUILD_PACKAGES');
    assert.deepEqual(aptInstalls(build).sort(), [...bpfPackages].sort());
    // setup.sh installs them all (DEB_PACKAGES is what it checks and installs)
    const deb = shellArray('DEB_PACKAGES');
    for (const p of bpfPackages) assert.ok(deb.includes(p), `${p} in setup.sh DEB_PACKAGES`);
    const npmInSetup = SETUP.split('\n').map((l) => l.trim()).filter((l) => /^npm (ci|run)\b/.test(l));
    assert.deepEqual(npmInSetup, ['npm ci --no-audit --no-fund --loglevel=error', 'npm run -s build']);
    const run = commands(build);
    for (const c of npmInSetup) assert.ok(run.includes(c), `the build stage runs "${c}": ${JSON.stringify(run)}`);
    // every file the build stage copies exists in the repository
    for (const c of build.instructions.filter((i) => i.getKeyword() === 'COPY'))
      for (const src of args(c).slice(0, -1)) assert.ok(existsSync(join(ROOT, src)), `COPY ${src}`);
  });

  it('ships the objects the daemon opens, vrctl on PATH, a health check, the daemon\'s node flags', () => {
    const run = stages()[1]!;
    const copied = run.instructions.filter((i) => i.getKeyword() === 'COPY').flatMap((i) => args(i).slice(0, -1));
    for (const o of ['vr_xdp.o', 'vr_trace.o', 'vr_reinject.o']) assert.ok(copied.includes(`/app/bpf/build/${o}`), o);
    assert.ok(commands(run).includes('ln -s /app/src/cli/vrctl.ts /usr/local/bin/vrctl'));
    const health = run.instructions.filter((i) => i.getKeyword() === 'HEALTHCHECK');
    assert.equal(health.length, 1);
    assert.match(health[0]!.getArgumentsContent()!, /CMD \["vrctl", "--timeout", "\d+", "health"\]$/);
    const entry = run.instructions.find((i) => i.getKeyword() === 'ENTRYPOINT')!;
    assert.deepEqual(jsonOf(entry), ['node', ...DAEMON_NODE_FLAGS, 'src/main.ts']);
    const exposed = run.instructions.filter((i) => i.getKeyword() === 'EXPOSE').flatMap(args);
    const cmd = jsonOf(run.instructions.find((i) => i.getKeyword() === 'CMD')!);
    assert.equal(cmd[cmd.indexOf('--metrics') + 1], `0.0.0.0:${exposed[0]}`);
  });

  it('documents every capability the daemon needs', () => {
    const comments = TEXT.split('\n').filter((l) => l.startsWith('#')).join('\n');
    for (const cap of CAPABILITIES) {
      assert.match(comments, new RegExp(`^#\\s+${cap}\\s+\\S`, 'm'), `${cap} and what it is for`);
      assert.match(comments, new RegExp(`--cap-add ${cap.replace(/^CAP_/, '')}\\b`), `docker run --cap-add ${cap}`);
    }
  });

  it('keeps the host\'s build outputs out of the build context', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
    for (const p of ['node_modules', 'bpf/build', 'src/gen']) assert.ok(ignored.includes(p), p);
  });
});
