/**
 * SystemService.WatchKernelEvents: the rtnetlink events of the daemon's
 * namespace (src/netlink/kernel-events.ts) as a server stream. An empty
 * first message says the watch is in place; the watch is closed at once
 * when the call is cancelled.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { CallContext } from '../grpc-adapter.ts';
import {
  KernelEventType, type KernelEventSchema, type WatchKernelEventsRequest, type WatchKernelEventsResponseSchema,
} from '../../gen/vrouter/ebpf/v1/system_pb.js';
import type { KernelEvent, KernelEvents, KernelEventType as EventName } from '../../netlink/kernel-events.ts';
import { invalid, precondition } from '../../manager/errors.ts';

export const MAX_KERNEL_QUEUE = 65536;
const DEFAULT_QUEUE = 4096;

const TYPES: Record<EventName, KernelEventType> = {
  link_up: KernelEventType.LINK_UP,
  link_down: KernelEventType.LINK_DOWN,
  link_rename: KernelEventType.LINK_RENAME,
  link_delete: KernelEventType.LINK_DELETE,
  address_add: KernelEventType.ADDRESS_ADD,
  address_delete: KernelEventType.ADDRESS_DELETE,
  neighbour_update: KernelEventType.NEIGHBOUR_UPDATE,
  neighbour_delete: KernelEventType.NEIGHBOUR_DELETE,
  route_add: KernelEventType.ROUTE_ADD,
  route_delete: KernelEventType.ROUTE_DELETE,
  overrun: KernelEventType.OVERRUN,
};

export function kernelEventToProto(e: KernelEvent): MessageInitShape<typeof KernelEventSchema> {
  return {
    type: TYPES[e.type],
    timeMs: BigInt(e.timeMs),
    osIndex: e.ifindex,
    interfaceIndex: e.vif,
    name: e.name,
    oldName: e.oldName ?? '',
    operState: e.operState ?? '',
    address: e.address ?? '',
    prefixLength: e.prefixLen ?? 0,
    lladdr: e.lladdr ?? '',
    neighbourState: e.neighState ?? '',
    prefix: e.prefix ?? '',
    gateway: e.gateway ?? '',
    table: e.table ?? 0,
  };
}

export async function* watchKernelEvents(
  hub: KernelEvents | undefined,
  req: WatchKernelEventsRequest,
  ctx: CallContext,
): AsyncGenerator<MessageInitShape<typeof WatchKernelEventsResponseSchema>> {
  if (!hub) throw precondition('kernel events are not available: this daemon runs without its rtnetlink reader');
  if (req.maxQueue > MAX_KERNEL_QUEUE) throw invalid('max_queue', `${req.maxQueue} is out of range (1..${MAX_KERNEL_QUEUE}; 0: ${DEFAULT_QUEUE})`);
  const watch = hub.watch(req.maxQueue || DEFAULT_QUEUE);
  const close = () => watch.close();
  ctx.signal.addEventListener('abort', close, { once: true });
  try {
    yield { events: [], lost: 0n };
    for await (const item of watch) {
      if (item.kind === 'lost') yield { events: [], lost: BigInt(item.count) };
      else yield { events: item.batch.events.map(kernelEventToProto), lost: 0n };
    }
  } finally {
    ctx.signal.removeEventListener('abort', close);
    watch.close();
  }
}
