// record --fast: hot syscalls recorded inside the service's own processes (docs/fast-path.md).
//
// The engine attaches a small code blob (fast_blob.c) and a shared ring into every process after
// its execve. When a syscall of the table's `fast` trait reaches its seccomp stop from a call site
// of a known shape (`syscall` followed by a compare, test or short jump, as libc's wrappers are),
// the site is rewritten to jump to a trampoline that calls the blob: from then on that site's
// calls run untraced and are appended to the ring, which the recorder drains into the same event
// stream as the ptrace path's events, in one order (seq from a counter in the shared header).
// Everything else, and every site that does not match, keeps going through ptrace.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "syscalls.h"
#include "tracer.h"

struct rb_fast_header;
struct rb_call_rule;
struct sock_filter;

namespace rb {

struct FastOptions {
  bool enabled = false;
  bool parallel = false;       // threads run at once: the fast path stays on with several threads
  int64_t ring_wait_ms = 10;   // how long a thread waits for room in a full ring
  uint64_t ring_bytes = 16u << 20;
  // Replay: the blob answers calls from serve entries the engine fills from the log
  // (docs/fast-path.md, "Replay"), instead of recording them.
  bool serve = false;
};

// A buffer of a serve entry: bytes the call must hand in (in), or bytes copied to it (out).
struct ServeBuf {
  int arg;
  bool in;
  std::string bytes;
};

// One call read back from the ring.
struct FastCall {
  uint64_t seq;
  int nr;
  pid_t tid;
  int64_t ret;
  uint64_t args[6];
  MemView mem;  // its buffers as they were after the call
};

class FastPath {
 public:
  explicit FastPath(const FastOptions& o) : opts_(o) {}
  ~FastPath();
  // Creates the shared segments; false with `error` when this machine cannot (no SysV shm).
  bool init(std::string& error);
  // The shared seq counter (the engine takes its events' numbers from it too).
  uint64_t* seq_word();

  // A process that just exec'd (at its execve's syscall-exit stop): attach blob and ring.
  // Returns false (and the process stays on the ptrace path) when its address space refused.
  bool attach(Thread& t, std::string& why);
  // At a seccomp stop of a `fast` syscall: patch its call site when it has a known shape and no
  // other thread is inside it (`busy`: the return addresses of threads in ptrace-path calls).
  // Returns true when the thread was sent back to re-run the call through the patched site
  // (the stop must then not be recorded: the call will be, from the ring).
  bool try_patch(Thread& t, const std::set<uint64_t>& busy);
  // At any syscall stop: a call entered at a site that has been patched since (its stop was
  // queued while another thread patched it) would return into the rewritten bytes. It is sent
  // back to enter again through the patch (true; the stop must not be recorded).
  bool reenter_if_patched(Thread& t);
  // What a debugger sees. A thread stopped at the blob's traced `syscall` (a call the blob left to
  // the tracer) has the program's registers but rip and rsp: program_view puts those (and rcx, the
  // return address a `syscall` leaves) back as they are at the program's own `syscall`, so a
  // paused replay looks the same patched or not. False when the thread is not there.
  bool program_view(Thread& t, user_regs_struct& r) const;
  // Memory of process `pid` read at `addr`: the patched sites' own bytes in place of the patch.
  void original_code(pid_t pid, uint64_t addr, char* buf, size_t len) const;
  // The process of thread `t` (stopped) gets its own code back at every patched site, and no
  // site is patched in it again: a debugger stepping instructions or setting breakpoints sees the
  // program as it is. Threads inside the blob return through their trampolines, which stay.
  bool unpatch(Thread& t);
  // Threads in the tree changed: the only thread (or 0), whether all calls must be traced.
  void set_threads(pid_t only_tid, bool all_slow);
  void on_fork(pid_t parent, pid_t child);
  void on_process_exit(pid_t pid);

  // Reads every committed record and hands it to `fn` in ring order. Returns false once the ring
  // was found corrupt (from then on every call is traced; `lossy_from` says where loss began).
  bool drain(const std::function<void(const FastCall&)>& fn);
  // The first seq whose call was lost (full ring, oversized record, corrupt ring); ~0 if none.
  uint64_t lossy_from() const;
  std::string corrupt_reason() const { return corrupt_; }
  uint64_t calls_fast() const;
  size_t patched_sites() const { return patched_; }

  // The blob's rule for a syscall (fast_abi.h): mode RB_CALL_FAST when it handles it in-process.
  static rb_call_rule rule(const SyscallSpec& s);

  // Replay (FastOptions::serve): the serve ring. serve_clear empties it (its thread stopped, not
  // inside the blob); serve_add appends an entry (false: no room); serve_publish hands the entries
  // added since serve_clear to the blob. serve_done: how many the blob answered so far, never more
  // than were handed out (the ring is the service's to scribble on); serve_actual: the arguments
  // entry i was called with. serve_revoke: no later entry is answered (one being answered still is).
  void serve_clear();
  bool serve_add(int nr, uint32_t cmp_mask, const uint64_t args[6], int64_t ret, const std::vector<ServeBuf>& bufs);
  void serve_publish();
  uint32_t serve_done() const;
  void serve_actual(uint32_t i, uint64_t args[6]) const;
  void serve_revoke();
  // The data segment's address range in the service (checkpoints leave it out of their copies).
  static bool in_data(uint64_t addr);

  // Seccomp filter rules (tracer.cc inserts them after the arch check): the blob's own
  // `syscall` instruction runs untraced.
  static void filter_rules(std::vector<sock_filter>& f);

 private:
  struct Process {
    bool attached = false;
    std::vector<std::pair<uint64_t, uint64_t>> tramps;  // pages: (start, bytes used)
    std::set<uint64_t> done;                            // sites patched or refused
    std::map<uint64_t, std::string> patched;            // sites patched: start -> the bytes replaced
    std::map<uint64_t, uint64_t> returns;               // a trampoline's return address -> its site
    bool frozen = false;                                // unpatched: no site is patched again
  };
  // Sends the thread at a syscall stop back to `start` to enter the call again (skipping it now).
  static void rewind(Thread& t, uint64_t start);
  uint64_t tramp_space(Thread& t, Process& p, uint64_t site, size_t need, Thread::Injector*& inj);
  FastOptions opts_;
  int code_id_ = -1, data_id_ = -1;
  void* code_ = nullptr;
  rb_fast_header* hdr_ = nullptr;
  uint8_t* ring_ = nullptr;
  uint64_t tail_ = 0;          // the engine's own copy: the service may scribble on the header's
  int64_t stalled_since_ = 0;  // when the record at tail_ was first seen uncommitted
  std::string corrupt_;
  uint64_t lossy_ = ~0ull;
  uint64_t last_seq_ = 0;
  size_t patched_ = 0;
  std::map<pid_t, Process> procs_;
  std::vector<uint64_t> serve_offs_;  // ring offsets of the serve entries handed out (or being added)
  uint64_t serve_end_ = 0;
};

}  // namespace rb
