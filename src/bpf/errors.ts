/**
 * BpfError: a failed libbpf or libc call, with the call, the object it was
 * about and the errno. The manager turns it into a domain error; nothing
 * matches on its message.
 */
import { constants } from 'node:os';

const errnoNames = new Map<number, string>(
  Object.entries(constants.errno).map(([name, n]) => [n, name]),
);

export class BpfError extends Error {
  readonly op: string;
  readonly object: string;
  readonly errno: number;

  constructor(op: string, object: string, errno: number, detail?: string) {
    const name = errnoNames.get(errno) ?? `errno ${errno}`;
    super(`${op}(${object}): ${name}${detail ? `: ${detail}` : ''}`);
    this.name = 'BpfError';
    this.op = op;
    this.object = object;
    this.errno = errno;
  }

  /** code: the errno's symbolic name, e.g. "ENOENT". */
  get code(): string {
    return errnoNames.get(this.errno) ?? `E${this.errno}`;
  }
}

/** check: libbpf 1.x returns -errno from int calls; throws on < 0. */
export function check(ret: number, op: string, object: string): number {
  if (ret < 0) throw new BpfError(op, object, -ret);
  return ret;
}

export const ERRNO = constants.errno;
