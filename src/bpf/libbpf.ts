/**
 * libbpf: the raw koffi bindings of libbpf.so.1 and the libc calls the
 * datapath needs. Everything else in src/bpf wraps these; no other folder
 * imports this file.
 */
import koffi from 'koffi';

const libbpf = koffi.load('libbpf.so.1');
const libc = koffi.load('libc.so.6');

/** bpf_test_run_opts as of libbpf 1.x (sz must be exact: 80 bytes). */
export const TestRunOpts = koffi.struct('bpf_test_run_opts', {
  sz: 'size_t',
  data_in: 'void *',
  data_out: 'void *',
  data_size_in: 'uint32_t',
  data_size_out: 'uint32_t',
  ctx_in: 'void *',
  ctx_out: 'void *',
  ctx_size_in: 'uint32_t',
  ctx_size_out: 'uint32_t',
  retval: 'uint32_t',
  repeat: 'int',
  duration: 'uint32_t',
  flags: 'uint32_t',
  cpu: 'uint32_t',
  batch_size: 'uint32_t',
});

/** The leading part of bpf_link_create_opts: sz and flags. libbpf accepts a
 * smaller sz than it knows, so this stays valid across libbpf versions. */
export const LinkCreateOpts = koffi.struct('bpf_link_create_opts_head', {
  sz: 'size_t',
  flags: 'uint32_t',
});

/** bpf_link_update_opts (libbpf 1.x): sz (24 with its tail padding), flags,
 * old_prog_fd (with BPF_F_REPLACE), old_map_fd (struct_ops links). */
export const LinkUpdateOpts = koffi.struct('bpf_link_update_opts', {
  sz: 'size_t',
  flags: 'uint32_t',
  old_prog_fd: 'uint32_t',
  old_map_fd: 'uint32_t',
});

/** bpf_map_batch_opts (libbpf 1.x): sz, elem_flags, flags. */
export const MapBatchOpts = koffi.struct('bpf_map_batch_opts', {
  sz: 'size_t',
  elem_flags: 'uint64_t',
  flags: 'uint64_t',
});

/** libbpf's print callback; `ap` is a va_list, which on x86_64 is passed as a pointer. */
export const LibbpfPrintFn = koffi.proto('int libbpf_print_fn(int level, const char *fmt, void *ap)');

/** readU32: a u32 at a pointer libbpf returned (koffi 3: pointers are BigInt-like handles). */
export function readU32(ptr: unknown): number {
  return koffi.decode(ptr, 'uint32_t') as number;
}

export const sys = {
  // objects
  bpf_object__open_file: libbpf.func('void *bpf_object__open_file(const char *path, void *opts)'),
  bpf_object__load: libbpf.func('int bpf_object__load(void *obj)'),
  bpf_object__close: libbpf.func('void bpf_object__close(void *obj)'),
  bpf_object__find_map_by_name: libbpf.func('void *bpf_object__find_map_by_name(void *obj, const char *name)'),
  bpf_map__initial_value: libbpf.func('void *bpf_map__initial_value(void *map, _Out_ size_t *psize)'),
  bpf_object__find_program_by_name: libbpf.func('void *bpf_object__find_program_by_name(void *obj, const char *name)'),
  bpf_map__set_max_entries: libbpf.func('int bpf_map__set_max_entries(void *map, uint32_t n)'),
  bpf_map__fd: libbpf.func('int bpf_map__fd(void *map)'),
  bpf_map__reuse_fd: libbpf.func('int bpf_map__reuse_fd(void *map, int fd)'),
  bpf_program__fd: libbpf.func('int bpf_program__fd(void *prog)'),
  bpf_object__next_program: libbpf.func('void *bpf_object__next_program(void *obj, void *prev)'),
  bpf_program__name: libbpf.func('const char *bpf_program__name(void *prog)'),
  bpf_program__set_autoload: libbpf.func('int bpf_program__set_autoload(void *prog, bool autoload)'),
  // fds and pins
  bpf_obj_pin: libbpf.func('int bpf_obj_pin(int fd, const char *path)'),
  bpf_obj_get: libbpf.func('int bpf_obj_get(const char *path)'),
  bpf_obj_get_info_by_fd: libbpf.func('int bpf_obj_get_info_by_fd(int fd, void *info, _Inout_ uint32_t *len)'),
  // maps
  bpf_map_update_elem: libbpf.func('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)'),
  bpf_map_lookup_elem: libbpf.func('int bpf_map_lookup_elem(int fd, const void *key, void *value)'),
  bpf_map_delete_elem: libbpf.func('int bpf_map_delete_elem(int fd, const void *key)'),
  bpf_map_get_next_key: libbpf.func('int bpf_map_get_next_key(int fd, const void *key, void *next_key)'),
  bpf_map_update_batch: libbpf.func('int bpf_map_update_batch(int fd, const void *keys, const void *values, _Inout_ uint32_t *count, const bpf_map_batch_opts *opts)'),
  bpf_map_lookup_batch: libbpf.func('int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values, _Inout_ uint32_t *count, const bpf_map_batch_opts *opts)'),
  bpf_map_delete_batch: libbpf.func('int bpf_map_delete_batch(int fd, const void *keys, _Inout_ uint32_t *count, const bpf_map_batch_opts *opts)'),
  // programs and links
  bpf_prog_test_run_opts: libbpf.func('int bpf_prog_test_run_opts(int fd, _Inout_ bpf_test_run_opts *opts)'),
  bpf_link_create: libbpf.func('int bpf_link_create(int prog_fd, int target_fd, int attach_type, const bpf_link_create_opts_head *opts)'),
  bpf_link_detach: libbpf.func('int bpf_link_detach(int fd)'),
  bpf_link_update: libbpf.func('int bpf_link_update(int link_fd, int new_prog_fd, const bpf_link_update_opts *opts)'),
  libbpf_num_possible_cpus: libbpf.func('int libbpf_num_possible_cpus()'),
  libbpf_set_print: libbpf.func('void *libbpf_set_print(libbpf_print_fn *fn)'),
  vsnprintf: libc.func('int vsnprintf(char *buf, size_t size, const char *fmt, void *ap)'),
  // libc
  close: libc.func('int close(int fd)'),
  // returns the free memory of glibc's heaps to the kernel (see src/memory.ts)
  malloc_trim: libc.func('int malloc_trim(size_t pad)'),
  renameat2: libc.func('int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags)'),
  if_nametoindex: libc.func('uint32_t if_nametoindex(const char *name)'),
  if_indextoname: libc.func('char *if_indextoname(uint32_t index, _Out_ char *buf)'),
  socket: libc.func('int socket(int domain, int type, int protocol)'),
  ioctl: libc.func('int ioctl(int fd, unsigned long req, void *arg)'),
  send: libc.func('intptr_t send(int fd, const void *buf, size_t len, int flags)'),
  recv: libc.func('intptr_t recv(int fd, _Out_ void *buf, size_t len, int flags)'),
  // AF_PACKET transmit (src/bpf/packet-socket.ts): addr is a struct sockaddr_ll
  sendto: libc.func('intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)'),
  unshare: libc.func('int unshare(int flags)'),
  setns: libc.func('int setns(int fd, int nstype)'),
  // ring buffers (src/bpf/ringbuf.ts): the map's pages mapped, epoll on the map fd, an eventfd to wake the reader
  mmap: libc.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, intptr_t off)'),
  munmap: libc.func('int munmap(void *addr, size_t len)'),
  epoll_create1: libc.func('int epoll_create1(int flags)'),
  epoll_ctl: libc.func('int epoll_ctl(int epfd, int op, int fd, void *event)'),
  epoll_wait: libc.func('int epoll_wait(int epfd, _Out_ void *events, int maxevents, int timeout)'),
  eventfd: libc.func('int eventfd(unsigned int initval, int flags)'),
  write: libc.func('intptr_t write(int fd, const void *buf, size_t len)'),
  read: libc.func('intptr_t read(int fd, _Out_ void *buf, size_t len)'),
  getpagesize: libc.func('int getpagesize()'),
  // rtnetlink events (src/bpf/rtnetlink-reader.ts): a bound NETLINK_ROUTE socket, polled with a bounded wait
  bind: libc.func('int bind(int fd, const void *addr, uint32_t len)'),
  setsockopt: libc.func('int setsockopt(int fd, int level, int name, const void *val, uint32_t len)'),
  poll: libc.func('int poll(_Inout_ void *fds, unsigned long nfds, int timeout)'),
  errno: (): number => koffi.errno(),
};

/** registerCallback: a JS function as a C function pointer (kept alive by the caller). */
export function registerCallback(fn: (...args: never[]) => unknown, type: ReturnType<typeof koffi.proto>): bigint {
  return koffi.register(fn, koffi.pointer(type));
}

/** addressOf: the address of a buffer's bytes, for pointers inside structs the kernel fills (keep the buffer alive). */
export function addressOf(buf: Buffer): bigint {
  return koffi.address(buf) as bigint;
}

/** viewOf: an ArrayBuffer over `len` bytes at a pointer (no copy: e.g. an mmap'ed ring buffer). */
export function viewOf(ptr: unknown, len: number): ArrayBuffer {
  return koffi.view(ptr, len);
}

/** sizeofStruct: the C size of a koffi struct type (for opts.sz). */
export function sizeofStruct(t: Parameters<typeof koffi.sizeof>[0]): number {
  return koffi.sizeof(t);
}
