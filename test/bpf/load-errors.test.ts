/**
 * A program the verifier refuses: the error names the call and the object,
 * carries the errno, and keeps the verifier's log.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAndPin } from '../../src/bpf/object.ts';
import { BpfError } from '../../src/bpf/errors.ts';
import { setLibbpfSink } from '../../src/bpf/libbpf-log.ts';
import { TEST_BPFFS } from '../helpers/datapath.ts';

describe('load errors', () => {
  it('a verifier refusal keeps the whole log in the error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vr-bad-'));
    const obj = join(dir, 'bad_prog.o');
    const src = fileURLToPath(new URL('../fixtures/bad_prog.c', import.meta.url));
    execFileSync('clang', ['-target', 'bpf', '-O2', '-g', `-I/usr/include/${process.arch === 'x64' ? 'x86_64' : 'aarch64'}-linux-gnu`, '-c', src, '-o', obj]);
    const seen: string[] = [];
    setLibbpfSink((level, message) => seen.push(`${level}: ${message}`));
    const pins = join(TEST_BPFFS, `bad-${process.pid}`);
    try {
      assert.throws(
        () => loadAndPin({ objectPath: obj, maxEntries: {}, maps: [], programs: ['bad'], mapDir: join(pins, 'maps'), progDir: join(pins, 'progs') }),
        (e: unknown) => {
          assert.ok(e instanceof BpfError);
          assert.equal(e.op, 'bpf_object__load');
          assert.equal(e.object, obj);
          assert.equal(e.code, 'EACCES');
          assert.match(e.message, /BEGIN PROG LOAD LOG/);
          assert.match(e.message, /invalid access to packet/);
          return true;
        },
      );
      assert.ok(seen.some((l) => l.startsWith('warn: ') && /PROG LOAD LOG/.test(l)), 'the sink saw the log too');
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(pins, { recursive: true, force: true });
    }
  });
});
