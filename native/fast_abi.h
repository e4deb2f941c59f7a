/* What the in-process recording code (fast_blob.c, mapped into the service) and the engine
 * (fast.cc) agree on: fixed addresses, the shared header and the ring's records. Plain C, so the
 * freestanding blob can include it. See docs/fast-path.md. */
#ifndef RB_FAST_ABI_H
#define RB_FAST_ABI_H
#include <stdint.h>

/* The blob's code is attached (SysV shm, read-only, executable) at RB_FAST_CODE in every process
 * of the recorded tree; its data segment (header + ring) at RB_FAST_DATA. High addresses that
 * neither the kernel's mmap (which starts below the stack, near 0x7f...) nor executables (0x55...,
 * 0x400000) nor Go's heap (0xc0...) use. The seccomp filter lets syscalls whose instruction
 * pointer is the blob's own `syscall` (RB_FAST_CODE + the fast site) run untraced. */
#define RB_FAST_CODE 0x6b6b00000000ULL
#define RB_FAST_CODE_SIZE 0x10000ULL
#define RB_FAST_DATA 0x6b6b00100000ULL
#define RB_FAST_HEADER_SIZE 0x10000ULL

#define RB_FAST_MAGIC 0x7262666173743031ULL /* "rbfast01" */
#define RB_FAST_NR 512                      /* syscall numbers the header has rules for */
#define RB_FAST_BUFS 3                      /* buffer rules per syscall */

/* What the blob does with a syscall. */
#define RB_CALL_SLOW 0 /* issue it from the traced site: the ptrace path records it */
#define RB_CALL_FAST 1 /* run it here and append a record to the ring */

/* Buffer rules: how many bytes a buffer argument has (the table's plain size rules). */
#define RB_SIZE_FIXED 1  /* n */
#define RB_SIZE_ARG 2    /* args[ref] * n */
#define RB_SIZE_RET 3    /* ret * n */
#define RB_SIZE_RETMAX 4 /* min(ret, args[ref]) */
#define RB_DIR_IN 1      /* handed to the kernel: captured after the call unless it failed with EFAULT */
#define RB_DIR_OUT 2     /* filled by the kernel: captured after a successful call */

struct rb_buf_rule {
  uint8_t arg, dir, size, ref;
  uint32_t n;
};

struct rb_call_rule {
  uint8_t mode, nbufs, pad[6];
  struct rb_buf_rule bufs[RB_FAST_BUFS];
};

/* A buffer's size by its rule, for a call with arguments `a` that returned `ret`. */
static inline uint64_t rb_buf_size(const struct rb_buf_rule* r, const uint64_t* a, int64_t ret) {
  uint64_t rv = ret > 0 ? (uint64_t)ret : 0;
  switch (r->size) {
    case RB_SIZE_FIXED: return r->n;
    case RB_SIZE_ARG: return a[r->ref % 6] * r->n;
    case RB_SIZE_RET: return rv * r->n;
    case RB_SIZE_RETMAX: return rv < a[r->ref % 6] ? rv : a[r->ref % 6];
  }
  return 0;
}

struct rb_fast_header {
  uint64_t magic;
  uint64_t seq;        /* atomic: the next event seq, taken by the blob and the engine alike */
  uint64_t head;       /* atomic: bytes of ring reserved so far (monotonic) */
  uint64_t tail;       /* bytes the engine has consumed (monotonic; written by the engine) */
  uint64_t ring_size;  /* bytes, a power of two; the ring follows the header */
  uint64_t lossy_seq;  /* atomic: the first seq whose record was lost (~0: none) */
  uint64_t wait_ns;    /* how long a thread waits for room in a full ring */
  uint64_t max_record; /* larger records are not kept (the call is marked lost) */
  uint32_t drain_gen;  /* futex: the engine bumps it and wakes waiters after each drain */
  uint32_t all_slow;   /* 1: every call takes the traced path (serial schedule, >1 thread) */
  uint32_t single_tid; /* the only thread of the tree, or 0: the blob asks the kernel */
  uint32_t engine_pid; /* woken (SIGUSR2) when the ring fills past half */
  uint32_t wake_sent;  /* atomic: a wake-up is on its way */
  uint32_t pad0;
  uint64_t calls_fast; /* statistics: calls recorded here */
  /* Replay (RB_MODE_SERVE): the ring holds rb_serve entries the engine filled from the log for
   * the one thread that runs; the blob answers matching calls from them. */
  uint32_t mode;        /* RB_MODE_RECORD or RB_MODE_SERVE */
  uint32_t serve_count; /* entries the engine handed out (written by the engine) */
  uint32_t serve_done;  /* atomic: entries the blob answered (written by the blob) */
  uint32_t pad1;
  uint64_t serve_off;   /* ring offset of the next entry (the blob's cursor) */
  uint64_t reserved[4];
  struct rb_call_rule calls[RB_FAST_NR];
};

/* A ring record: this header, then each buffer as rb_rec_buf + bytes, 8-byte aligned. `state` is
 * written last (release): RB_REC_CALL or RB_REC_PAD (skip to the ring's end). */
#define RB_REC_CALL 0x43414c4cu
#define RB_REC_PAD 0x50414444u
struct rb_rec {
  uint32_t len;   /* whole record, bytes, multiple of 8 */
  uint32_t state; /* 0 while it is written */
  uint64_t seq;
  int32_t nr;
  uint32_t tid;
  uint32_t nbufs;
  uint32_t pad;
  int64_t ret;
  uint64_t args[6];
};
struct rb_rec_buf {
  uint64_t addr;
  uint32_t len;
  uint32_t dir;
};

/* Replay: what the blob does with a call from a patched site. */
#define RB_MODE_RECORD 0
#define RB_MODE_SERVE 1 /* answer it from the next serve entry, or issue it from the traced site */

/* A serve entry: one recorded call the blob may answer without the tracer, then its buffers, each
 * an rb_serve_buf + bytes, 8-byte aligned. The call must be `nr` with the args named by
 * `cmp_mask` equal to `args`, and every RB_DIR_IN buffer holding exactly its bytes; then each
 * RB_DIR_OUT buffer's bytes are copied to the address in its argument, `actual` gets the call's
 * arguments, and the call returns `ret`. */
struct rb_serve {
  uint32_t len; /* whole entry, bytes, multiple of 8 */
  int32_t nr;
  uint32_t cmp_mask;
  uint32_t nbufs;
  int64_t ret;
  uint64_t args[6];
  uint64_t actual[6]; /* written by the blob */
};
struct rb_serve_buf {
  uint32_t len;
  uint8_t arg, dir;
  uint16_t pad;
};

#endif
