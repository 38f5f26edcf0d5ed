/**
 * XDP and tcx attachments through bpf_link: the link is pinned, so the
 * program stays attached after the daemon exits, and a restarted daemon
 * finds it again; a link update swaps its program in one step.
 */
import { existsSync, unlinkSync } from 'node:fs';
import { sys, LinkCreateOpts, sizeofStruct } from './libbpf.ts';
import { BpfError, check } from './errors.ts';

const BPF_XDP = 37; // enum bpf_attach_type
const BPF_TCX_INGRESS = 46;
const BPF_TCX_EGRESS = 47;
/** enum bpf_link_type */
export const BPF_LINK_TYPE_XDP = 6;
export const BPF_LINK_TYPE_TCX = 11;
export const XDP_FLAGS_SKB_MODE = 1 << 1;
export const XDP_FLAGS_DRV_MODE = 1 << 2;

export type XdpMode = 'native' | 'generic';
/** the side of a device a tcx link runs on */
export type TcxDirection = 'ingress' | 'egress';

export interface LinkInfo {
  /** enum bpf_link_type (BPF_LINK_TYPE_XDP, BPF_LINK_TYPE_TCX, ...) */
  type: number;
  id: number;
  progId: number;
  /** the interface of an XDP or tcx link */
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
    return BpfLink.pinned(BpfLink.createXdp(progFd, ifindex, mode), pinPath);
  }

  /** attachXdpUnpinned: an XDP link held by its fd only: it goes when this process closes it or exits. */
  static attachXdpUnpinned(progFd: number, ifindex: number, mode: XdpMode): BpfLink {
    return new BpfLink(BpfLink.createXdp(progFd, ifindex, mode), '');
  }

  private static createXdp(progFd: number, ifindex: number, mode: XdpMode): number {
    const opts = { sz: sizeofStruct(LinkCreateOpts), flags: mode === 'native' ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE };
    const fd = sys.bpf_link_create(progFd, ifindex, BPF_XDP, opts);
    check(fd, 'bpf_link_create', `xdp ${mode} ifindex ${ifindex}`);
    return fd;
  }

  /**
   * attachTcx: a tcx ingress (or egress) link on ifindex, pinned. Appended
   * after the programs already there (no relative_fd): tcx runs them in
   * order and a TC_ACT_UNSPEC (TCX_NEXT) hands over to the next one. The
   * libbpf here (1.1) predates tcx, so its generic bpf_link_create does it
   * with zeroed tcx options.
   */
  static attachTcx(progFd: number, ifindex: number, pinPath: string, direction: TcxDirection = 'ingress'): BpfLink {
    const opts = { sz: sizeofStruct(LinkCreateOpts), flags: 0 };
    const fd = sys.bpf_link_create(progFd, ifindex, direction === 'egress' ? BPF_TCX_EGRESS : BPF_TCX_INGRESS, opts);
    check(fd, 'bpf_link_create', `tcx ${direction} ifindex ${ifindex}`);
    return BpfLink.pinned(fd, pinPath);
  }

  private static pinned(fd: number, pinPath: string): BpfLink {
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
    // struct bpf_link_info: type, id, prog_id, then the union (xdp and tcx: ifindex first)
    return { type: buf.readUInt32LE(0), id: buf.readUInt32LE(4), progId: buf.readUInt32LE(8), ifindex: buf.readUInt32LE(16) };
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
