/* The in-process half of `record --fast`: code the engine attaches into every process of the
 * recorded tree at RB_FAST_CODE (fast_abi.h). A patched syscall site jumps here through a
 * trampoline; rb_entry runs the call from its own `syscall` instruction (which the seccomp filter
 * lets through untraced) and appends the call, its result and its buffers to the shared ring the
 * engine drains. Calls the header says to leave to the tracer are issued from a second `syscall`
 * instruction that the filter traces as usual.
 *
 * Freestanding: no libc, no globals, no relocations (built with -nostdlib -ffreestanding -fPIC
 * into a flat binary by scripts/build-blob.js). Everything it knows comes from the header. */
#include "fast_abi.h"

typedef unsigned long size_t;
long rb_call(long nr, const uint64_t* a, uint64_t* slow);

/* rb_entry: called by a trampoline (red zone already skipped) with the syscall number in rax and
 * its arguments in rdi, rsi, rdx, r10, r8, r9. Returns the result in rax and keeps every other
 * register and the flags as a `syscall` would (rcx and r11 are clobbered, as the kernel does).
 *
 * A call left to the tracer (rb_call sets `slow` and returns the number) is issued from
 * rb_slow_site with every register but rip and rsp as the program had them at its own `syscall`:
 * a replay paused there shows the program's registers once rip and rsp are put back (the engine's
 * FastPath::program_view: rsp is 8 + 128 below the program's, the return address into the
 * trampoline on top). */
__asm__(
    ".section .text.entry,\"ax\",@progbits\n"
    ".globl rb_entry\n"
    "rb_entry:\n"
    "  pushfq\n"
    "  push %r9\n  push %r8\n  push %r10\n  push %rdx\n  push %rsi\n  push %rdi\n"
    "  push %rbx\n"
    "  push $0\n" /* the slow flag */
    "  mov %rsp, %rbx\n"
    "  lea 16(%rbx), %rsi\n"
    "  mov %rbx, %rdx\n"
    "  mov %rax, %rdi\n"
    "  and $-16, %rsp\n"
    "  cld\n"
    "  call rb_call\n"
    "  mov %rbx, %rsp\n"
    "  cmpq $0, (%rsp)\n"
    "  lea 8(%rsp), %rsp\n" /* lea and pop keep the flags of the cmp */
    "  pop %rbx\n"
    "  pop %rdi\n  pop %rsi\n  pop %rdx\n  pop %r10\n  pop %r8\n  pop %r9\n"
    "  jne 1f\n"
    "  popfq\n"
    "  ret\n"
    "1:\n"
    "  popfq\n"
    "  syscall\n"
    ".globl rb_slow_site\n"
    "rb_slow_site:\n"
    "  ret\n"
    /* long rb_sys(long nr, const uint64_t a[6]) from the untraced site */
    ".globl rb_sys\n"
    "rb_sys:\n"
    "  mov %rdi, %rax\n  mov %rsi, %r11\n"
    "  mov (%r11), %rdi\n  mov 8(%r11), %rsi\n  mov 16(%r11), %rdx\n"
    "  mov 24(%r11), %r10\n  mov 32(%r11), %r8\n  mov 40(%r11), %r9\n"
    "  syscall\n"
    ".globl rb_fast_site\n"
    "rb_fast_site:\n"
    "  ret\n"
    ".text\n");

long rb_sys(long nr, const uint64_t* a);

#define SYS_gettid_ 186
#define SYS_kill_ 62
#define SYS_futex_ 202
#define FUTEX_WAIT_ 0
#define EFAULT_ 14
#define SIGUSR2_ 12

static long sys3(long nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3) {
  uint64_t a[6] = {a0, a1, a2, a3, 0, 0};
  return rb_sys(nr, a);
}

static void copy(void* dst, const void* src, size_t n) {
  __asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
}

static void mark_lost(struct rb_fast_header* h, uint64_t seq) {
  uint64_t cur = __atomic_load_n(&h->lossy_seq, __ATOMIC_RELAXED);
  while (seq < cur &&
         !__atomic_compare_exchange_n(&h->lossy_seq, &cur, seq, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
}

static void wake_engine(struct rb_fast_header* h) {
  if (!__atomic_exchange_n(&h->wake_sent, 1, __ATOMIC_ACQ_REL))
    sys3(SYS_kill_, h->engine_pid, SIGUSR2_, 0, 0);
}

/* Reserves `len` bytes; returns the record's address, 0 if the ring stayed full for wait_ns. */
static struct rb_rec* reserve(struct rb_fast_header* h, uint64_t len) {
  uint8_t* ring = (uint8_t*)h + RB_FAST_HEADER_SIZE;
  uint64_t size = h->ring_size, waited = 0;
  for (;;) {
    uint64_t old = __atomic_load_n(&h->head, __ATOMIC_RELAXED);
    uint64_t pos = old & (size - 1);
    uint64_t pad = pos + len > size ? size - pos : 0;
    uint64_t next = old + pad + len;
    if (next - __atomic_load_n(&h->tail, __ATOMIC_ACQUIRE) > size) {
      if (waited >= h->wait_ns) return 0;
      uint32_t gen = __atomic_load_n(&h->drain_gen, __ATOMIC_ACQUIRE);
      wake_engine(h);
      struct {
        long s, ns;
      } ts = {0, 1000000};
      sys3(SYS_futex_, (uint64_t)&h->drain_gen, FUTEX_WAIT_, gen, (uint64_t)&ts);
      waited += 1000000;
      continue;
    }
    if (!__atomic_compare_exchange_n(&h->head, &old, next, 1, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) continue;
    if (pad) {
      struct rb_rec* p = (struct rb_rec*)(ring + pos);
      p->len = (uint32_t)pad;
      __atomic_store_n(&p->state, RB_REC_PAD, __ATOMIC_RELEASE);
    }
    if (next - __atomic_load_n(&h->tail, __ATOMIC_ACQUIRE) > size / 2) wake_engine(h);
    return (struct rb_rec*)(ring + ((old + pad) & (size - 1)));
  }
}

static int same(const uint8_t* a, const uint8_t* b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (a[i] != b[i]) return 0;
  return 1;
}

/* Replay: answers the call from the next serve entry when it is that call (number, compared
 * arguments, input bytes); otherwise the tracer serves it (and decides whether it diverged).
 * Nothing here runs a syscall, and nothing touches the ring after the traced call. */
static long serve(struct rb_fast_header* h, long nr, const uint64_t* a, uint64_t* slow) {
  uint32_t i = __atomic_load_n(&h->serve_done, __ATOMIC_ACQUIRE);
  if (i >= __atomic_load_n(&h->serve_count, __ATOMIC_ACQUIRE)) return *slow = 1, nr;
  uint8_t* ring = (uint8_t*)h + RB_FAST_HEADER_SIZE;
  uint64_t off = h->serve_off;
  if (off >= h->ring_size || h->ring_size - off < sizeof(struct rb_serve)) return *slow = 1, nr;
  struct rb_serve* e = (struct rb_serve*)(ring + off);
  if (e->nr != nr || e->len > h->ring_size - off) return *slow = 1, nr;
  for (int k = 0; k < 6; k++)
    if ((e->cmp_mask >> k & 1) && e->args[k] != a[k]) return *slow = 1, nr;
  uint8_t* p = (uint8_t*)(e + 1);
  for (uint32_t k = 0; k < e->nbufs; k++) {
    struct rb_serve_buf* b = (struct rb_serve_buf*)p;
    p += sizeof *b;
    if (b->dir == RB_DIR_IN && b->len && (!a[b->arg % 6] || !same((const uint8_t*)a[b->arg % 6], p, b->len)))
      return *slow = 1, nr;
    p += (b->len + 7) & ~7U;
  }
  p = (uint8_t*)(e + 1);
  for (uint32_t k = 0; k < e->nbufs; k++) {
    struct rb_serve_buf* b = (struct rb_serve_buf*)p;
    p += sizeof *b;
    if (b->dir == RB_DIR_OUT && b->len && a[b->arg % 6]) copy((void*)a[b->arg % 6], p, b->len);
    p += (b->len + 7) & ~7U;
  }
  for (int k = 0; k < 6; k++) e->actual[k] = a[k];
  h->serve_off = off + e->len;
  __atomic_store_n(&h->serve_done, i + 1, __ATOMIC_RELEASE);
  return e->ret;
}

long rb_call(long nr, const uint64_t* a, uint64_t* slow) {
  struct rb_fast_header* h = (struct rb_fast_header*)RB_FAST_DATA;
  if (h->mode == RB_MODE_SERVE) return serve(h, nr, a, slow);
  if (nr < 0 || nr >= RB_FAST_NR || h->calls[nr].mode != RB_CALL_FAST ||
      __atomic_load_n(&h->all_slow, __ATOMIC_ACQUIRE))
    return *slow = 1, nr;
  const struct rb_call_rule* rule = &h->calls[nr];
  uint64_t seq = __atomic_fetch_add(&h->seq, 1, __ATOMIC_SEQ_CST);
  long ret = rb_sys(nr, a);
  uint32_t tid = __atomic_load_n(&h->single_tid, __ATOMIC_ACQUIRE);
  if (!tid) tid = (uint32_t)sys3(SYS_gettid_, 0, 0, 0, 0);

  uint64_t lens[RB_FAST_BUFS], addrs[RB_FAST_BUFS];
  uint64_t len = sizeof(struct rb_rec);
  uint32_t n = rule->nbufs > RB_FAST_BUFS ? RB_FAST_BUFS : rule->nbufs;
  for (uint32_t i = 0; i < n; i++) {
    const struct rb_buf_rule* r = &rule->bufs[i];
    addrs[i] = a[r->arg % 6];
    lens[i] = 0;
    len += sizeof(struct rb_rec_buf);
    if (!addrs[i]) continue;
    if (r->dir == RB_DIR_OUT && ret < 0) continue;
    if (r->dir == RB_DIR_IN && ret == -EFAULT_) continue;
    lens[i] = rb_buf_size(r, a, ret);
    if (lens[i] > h->max_record) {
      mark_lost(h, seq);
      return ret;
    }
    len += (lens[i] + 7) & ~7ULL;
  }
  if (len > h->max_record) {
    mark_lost(h, seq);
    return ret;
  }
  struct rb_rec* rec = reserve(h, len);
  if (!rec) {
    mark_lost(h, seq);
    return ret;
  }
  rec->len = (uint32_t)len;
  rec->seq = seq;
  rec->nr = (int32_t)nr;
  rec->tid = tid;
  rec->nbufs = n;
  rec->pad = 0;
  rec->ret = ret;
  for (int i = 0; i < 6; i++) rec->args[i] = a[i];
  uint8_t* p = (uint8_t*)(rec + 1);
  for (uint32_t i = 0; i < n; i++) {
    struct rb_rec_buf* b = (struct rb_rec_buf*)p;
    b->addr = addrs[i];
    b->len = (uint32_t)lens[i];
    b->dir = rule->bufs[i].dir;
    p += sizeof *b;
    copy(p, (const void*)addrs[i], lens[i]);
    p += (lens[i] + 7) & ~7ULL;
  }
  __atomic_fetch_add(&h->calls_fast, 1, __ATOMIC_RELAXED);
  __atomic_store_n(&rec->state, RB_REC_CALL, __ATOMIC_RELEASE);
  return ret;
}
