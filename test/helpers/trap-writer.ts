/**
 * TrapWriter: test/fixtures/trap_writer.c (compiled here) loaded on a
 * pinned vr_trap_rb: each write() puts one vr_trap record into the ring, as
 * the datapath's trap rules would, for tests of the reader and the
 * WatchPackets stream that need no trapped traffic.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BpfMap } from '../../src/bpf/map.ts';
import { BpfObject } from '../../src/bpf/object.ts';
import { BpfProgram } from '../../src/bpf/program.ts';
import { encodeTrap, type TrappedPacket } from '../../src/packets/trap-record.ts';

const SRC = fileURLToPath(new URL('../fixtures/trap_writer.c', import.meta.url));
const XDP_PASS = 2;

export class TrapWriter {
  private readonly ring: BpfMap;
  private readonly obj: BpfObject;
  private readonly prog: BpfProgram;

  private constructor(ring: BpfMap, obj: BpfObject) {
    this.ring = ring;
    this.obj = obj;
    this.prog = new BpfProgram(obj.progFd('trap_writer'), 'trap_writer', SRC);
  }

  /** open: a writer into the ring pinned at ringPin (e.g. <bpffs>/<instance>/maps/vr_trap_rb). */
  static open(ringPin: string): TrapWriter {
    const dir = mkdtempSync(join(tmpdir(), 'vr-trapw-'));
    const objPath = join(dir, 'trap_writer.o');
    try {
      execFileSync('clang', ['-target', 'bpf', '-O2', '-g', `-I/usr/include/${process.arch === 'x64' ? 'x86_64' : 'aarch64'}-linux-gnu`, '-c', SRC, '-o', objPath]);
      const ring = BpfMap.open(ringPin);
      try {
        return new TrapWriter(ring, BpfObject.loadOnMaps(objPath, { vr_trap_rb: ring }));
      } catch (err) {
        ring.close();
        throw err;
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** write: one record; throws when the ring is full. */
  write(p: TrappedPacket): void {
    const r = this.prog.testRun({ data: encodeTrap(p) });
    if (r.retval !== XDP_PASS) throw new Error(`trap_writer: verdict ${r.retval} (1: the ring is full)`);
  }

  close(): void {
    this.obj.close();
    this.ring.close();
  }
}
