/**
 * XDP attachment through bpf_link: the link is pinned, so the program stays
 * attached after the daemon exits, and a restarted daemon finds it again.
 */
import { existsSync, unlinkSync } from 'node:fs';
import { sys, LinkCreateOpts, sizeofStruct } from './libbpf.ts';
import { BpfError, check } from './errors.ts';

const BPF_XDP = 37; // enum bpf_attach_type
export const XDP_FLAGS_SKB_MODE = 1 << 1;
export const XDP_FLAGS_DRV_MODE = 1 << 2;

export type XdpMode = 'native' | 'generic';

export interface LinkInfo {
  id: number;
  progId: number;
  ifindex: number;
}

export class BpfLink {
  readonly fd: number;
  readonly pinPath: string;

  constructor(fd: number, pinPath: string) {
    this.fd = fd;
    this.pinPath = pinPath;
  }

  /** attachXdp: creates an XDP link on ifindex in the given mode and pins it. */
  static attachXdp(progFd: number, ifindex: number, mode: XdpMode, pinPath: string): BpfLink {
    const opts = { sz: sizeofStruct(LinkCreateOpts), flags: mode === 'native' ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE };
    const fd = sys.bpf_link_create(progFd, ifindex, BPF_XDP, opts);
    check(fd, 'bpf_link_create', `xdp ${mode} ifindex ${ifindex}`);
    const ret = sys.bpf_obj_pin(fd, pinPath);
    if (ret < 0) {
      sys.bpf_link_detach(fd);
      sys.close(fd);
      throw new BpfError('bpf_obj_pin', pinPath, -ret);
    }
    return new BpfLink(fd, pinPath);
  }

  /** open: a pinned link, or undefined when the pin is gone. */
  static open(pinPath: string): BpfLink | undefined {
    if (!existsSync(pinPath)) return undefined;
    const fd = sys.bpf_obj_get(pinPath);
    check(fd, 'bpf_obj_get', pinPath);
    return new BpfLink(fd, pinPath);
  }

  info(): LinkInfo {
    const buf = Buffer.alloc(64);
    check(sys.bpf_obj_get_info_by_fd(this.fd, buf, [buf.length]), 'bpf_obj_get_info_by_fd', this.pinPath);
    return { id: buf.readUInt32LE(4), progId: buf.readUInt32LE(8), ifindex: buf.readUInt32LE(16) };
  }

  /**
   * update: swaps the link's program for another in one step
   * (bpf_link_update): the interface never runs without a program. ENOLINK:
   * the interface is gone (the link is defunct).
   */
  update(newProgFd: number): void {
    check(sys.bpf_link_update(this.fd, newProgFd, null), 'bpf_link_update', this.pinPath);
  }

  /** detach: detaches from the interface and removes the pin. */
  detach(): void {
    const ret = sys.bpf_link_detach(this.fd);
    // ENOLINK: the interface is already gone, which detached it
    if (ret < 0 && -ret !== 67) check(ret, 'bpf_link_detach', this.pinPath);
    if (existsSync(this.pinPath)) unlinkSync(this.pinPath);
    sys.close(this.fd);
  }

  close(): void {
    sys.close(this.fd);
  }
}
