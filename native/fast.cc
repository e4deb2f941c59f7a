// record --fast, the engine's half (fast.h; the service's half is fast_blob.c).
#include "fast.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/ipc.h>
#include <sys/ptrace.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <optional>

#include "fast_abi.h"
#include "gen/fast_blob.inc"
#include "syscalls.h"

namespace rb {
namespace {

constexpr uint64_t kTrampPage = 0x10000;
constexpr int kShmRdonly = 010000, kShmExec = 0100000;
constexpr int64_t kStallNs = 2'000'000'000;  // a record left unfinished this long: given up on

// A buffer rule for the blob, from a table argument; false when the blob cannot capture it
// (the syscall then stays on the ptrace path).
bool buf_rule(const ArgSpec& a, int i, rb_buf_rule& r) {
  if (a.at >= 0) return false;
  if (a.kind == ArgKind::In) r.dir = RB_DIR_IN;
  else if (a.kind == ArgKind::Out) r.dir = RB_DIR_OUT;
  else return false;
  r.arg = static_cast<uint8_t>(i);
  r.ref = a.ref;
  r.n = a.n;
  switch (a.size) {
    case SizeRule::Fixed: r.size = RB_SIZE_FIXED; break;
    case SizeRule::Arg: r.size = RB_SIZE_ARG; break;
    case SizeRule::Ret: r.size = RB_SIZE_RET; break;
    case SizeRule::RetMax: r.size = RB_SIZE_RETMAX; break;
    default: return false;
  }
  return true;
}

// The blob's rule for a syscall: fast only for `fast` rows without special handling whose every
// buffer is a plain one.
rb_call_rule call_rule(const SyscallSpec& s) {
  rb_call_rule c{};
  if (!s.has(kFast) || s.special != Special::None || s.flow == Flow::Copy || s.nr < 0 || s.nr >= RB_FAST_NR)
    return c;
  for (int i = 0; i < s.nargs; i++) {
    const ArgSpec& a = s.args[i];
    bool buffer = a.kind == ArgKind::In || a.kind == ArgKind::Out || a.kind == ArgKind::InOut ||
                  a.kind == ArgKind::Path || a.kind == ArgKind::Str;
    if (!buffer) continue;
    if (c.nbufs == RB_FAST_BUFS || !buf_rule(a, i, c.bufs[c.nbufs])) return rb_call_rule{};
    c.nbufs++;
  }
  c.mode = RB_CALL_FAST;
  return c;
}

// Length of one instruction that may follow a `syscall` in a patched site and be executed from
// the trampoline instead: register-only compares, tests and moves, and short conditional jumps
// (relocated). 0: not one of those.
size_t movable_insn(const uint8_t* b, bool& jcc) {
  jcc = false;
  if (b[0] == 0x48 && b[1] == 0x3d) return 6;                   // cmp $imm32, %rax
  if (b[0] == 0x3d) return 5;                                   // cmp $imm32, %eax
  if (b[0] == 0x85 && b[1] >= 0xc0) return 2;                   // test %r32, %r32
  if ((b[0] & 0xf0) == 0x40 && b[1] == 0x85 && b[2] >= 0xc0) return 3;  // test %r64, %r64
  if (b[0] == 0x89 && b[1] >= 0xc0) return 2;                   // mov %r32, %r32
  if ((b[0] & 0xf0) == 0x40 && b[1] == 0x89 && b[2] >= 0xc0) return 3;  // mov %r64, %r64
  if ((b[0] & 0xf0) == 0x70) {                                  // jcc rel8
    jcc = true;
    return 2;
  }
  return 0;
}

void put32(std::string& s, int32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }
void put64(std::string& s, uint64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); }

bool fits_rel32(uint64_t from, uint64_t to) {
  int64_t d = static_cast<int64_t>(to - from);
  return d > INT32_MIN / 2 && d < INT32_MAX / 2;
}

// Runs a syscall in a thread stopped at a syscall-exit stop whose ip is not after a `syscall`
// instruction (right after execve): two bytes at ip become `syscall` for the call, then are put
// back. Returns false if the thread did not come back to us.
class ExitInjector {
 public:
  explicit ExitInjector(Thread& t) : t_(t), saved_(t.regs()) {
    ok_ = t_.read_mem(saved_.rip, orig_, 2);
    static const uint8_t sc[2] = {0x0f, 0x05};
    ok_ = ok_ && t_.write_mem(saved_.rip, sc, 2);
  }
  ~ExitInjector() {
    if (!gone_) {
      t_.write_mem(saved_.rip, orig_, 2);
      t_.regs() = saved_;
      t_.store_regs();
    }
  }
  bool call(long nr, uint64_t a0, uint64_t a1, uint64_t a2, int64_t& ret) {
    if (!ok_) return false;
    user_regs_struct r = saved_;
    r.rax = r.orig_rax = static_cast<uint64_t>(nr);
    r.rdi = a0;
    r.rsi = a1;
    r.rdx = a2;
    pid_t tid = t_.tid();
    if (ptrace(PTRACE_SETREGS, tid, nullptr, &r) != 0 || ptrace(PTRACE_SYSCALL, tid, 0, 0) != 0) return ok_ = false;
    for (int stops = 0;;) {
      int st = 0;
      if (waitpid(tid, &st, __WALL) < 0) {
        if (errno == EINTR) continue;  // the tracer's alarm tick
        return ok_ = false;
      }
      if (WIFEXITED(st) || WIFSIGNALED(st)) {
        gone_ = true;
        return ok_ = false;
      }
      if (!WIFSTOPPED(st)) continue;
      if (WSTOPSIG(st) == (SIGTRAP | 0x80) && ++stops == 2) break;
      // Entry and seccomp stops: on to the exit. A signal now is left pending for later.
      ptrace(PTRACE_SYSCALL, tid, 0, 0);
    }
    if (ptrace(PTRACE_GETREGS, tid, nullptr, &r) != 0) return ok_ = false;
    ret = static_cast<int64_t>(r.rax);
    return true;
  }

 private:
  Thread& t_;
  user_regs_struct saved_;
  uint8_t orig_[2] = {0, 0};
  bool ok_ = false, gone_ = false;
};

}  // namespace

FastPath::~FastPath() {
  if (code_) shmdt(code_);
  if (hdr_) shmdt(hdr_);
}

bool FastPath::init(std::string& error) {
  code_id_ = shmget(IPC_PRIVATE, RB_FAST_CODE_SIZE, IPC_CREAT | 0600);
  data_id_ = shmget(IPC_PRIVATE, RB_FAST_HEADER_SIZE + opts_.ring_bytes, IPC_CREAT | 0600);
  if (code_id_ < 0 || data_id_ < 0) {
    error = std::string("cannot create the shared ring (SysV shm): ") + strerror(errno);
    return false;
  }
  void* code = shmat(code_id_, nullptr, 0);
  void* data = shmat(data_id_, nullptr, 0);
  // Removed now: the segments go away with the last process attached to them.
  shmctl(code_id_, IPC_RMID, nullptr);
  shmctl(data_id_, IPC_RMID, nullptr);
  if (code == reinterpret_cast<void*>(-1) || data == reinterpret_cast<void*>(-1)) {
    error = std::string("cannot attach the shared ring: ") + strerror(errno);
    return false;
  }
  code_ = code;
  std::memcpy(code_, kFastBlob, sizeof kFastBlob);
  hdr_ = static_cast<rb_fast_header*>(data);
  ring_ = static_cast<uint8_t*>(data) + RB_FAST_HEADER_SIZE;
  static_assert(sizeof(rb_fast_header) <= RB_FAST_HEADER_SIZE, "header fits");
  std::memset(hdr_, 0, sizeof *hdr_);
  hdr_->magic = RB_FAST_MAGIC;
  hdr_->ring_size = opts_.ring_bytes;
  hdr_->lossy_seq = ~0ull;
  hdr_->wait_ns = static_cast<uint64_t>(opts_.ring_wait_ms) * 1000000u;
  hdr_->max_record = opts_.ring_bytes / 4;
  hdr_->engine_pid = static_cast<uint32_t>(getpid());
  hdr_->mode = opts_.serve ? RB_MODE_SERVE : RB_MODE_RECORD;
  for (const SyscallSpec& s : syscall_table())
    if (s.nr >= 0 && s.nr < RB_FAST_NR) hdr_->calls[s.nr] = call_rule(s);
  return true;
}

uint64_t* FastPath::seq_word() { return hdr_ ? &hdr_->seq : nullptr; }

void FastPath::filter_rules(std::vector<sock_filter>& f) {
  const uint64_t site = RB_FAST_CODE + kFastSiteOff;
  f.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, instruction_pointer) + 4));
  f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(site >> 32), 0, 3));
  f.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, instruction_pointer)));
  f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(site), 0, 1));
  f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
}

bool FastPath::attach(Thread& t, std::string& why) {
  Process& p = procs_[t.pid()];
  p = Process{};
  if (!hdr_) return false;
  ExitInjector inj(t);
  int64_t code = 0, data = 0;
  if (!inj.call(SYS_shmat, static_cast<uint64_t>(code_id_), RB_FAST_CODE, kShmRdonly | kShmExec, code) ||
      code != static_cast<int64_t>(RB_FAST_CODE)) {
    why = "its code could not be attached (" + std::string(code < 0 ? strerror(static_cast<int>(-code)) : "address in use") + ")";
    return false;
  }
  if (!inj.call(SYS_shmat, static_cast<uint64_t>(data_id_), RB_FAST_DATA, 0, data) ||
      data != static_cast<int64_t>(RB_FAST_DATA)) {
    int64_t ignored;
    inj.call(SYS_shmdt, RB_FAST_CODE, 0, 0, ignored);
    why = "its ring could not be attached (" + std::string(data < 0 ? strerror(static_cast<int>(-data)) : "address in use") + ")";
    return false;
  }
  p.attached = true;
  return true;
}

void FastPath::set_threads(pid_t only_tid, bool all_slow) {
  if (!hdr_) return;
  __atomic_store_n(&hdr_->single_tid, static_cast<uint32_t>(only_tid), __ATOMIC_RELEASE);
  __atomic_store_n(&hdr_->all_slow, (all_slow || !corrupt_.empty()) ? 1u : 0u, __ATOMIC_RELEASE);
}

void FastPath::on_fork(pid_t parent, pid_t child) {
  auto it = procs_.find(parent);
  if (it != procs_.end()) procs_[child] = it->second;
}

void FastPath::on_process_exit(pid_t pid) { procs_.erase(pid); }

// Room for `need` bytes of trampoline within a rel32 jump of `site`: a page the process has,
// or one mapped now (the syscall at hand is replaced by the mmap; `inj` is then set).
uint64_t FastPath::tramp_space(Thread& t, Process& p, uint64_t site, size_t need, Thread::Injector*& inj) {
  for (auto& [start, used] : p.tramps)
    if (used + need <= kTrampPage && fits_rel32(site, start) && fits_rel32(site, start + kTrampPage)) {
      uint64_t at = start + used;
      used += need;
      return at;
    }
  if (inj) return 0;
  // One injected call only: it replaces the syscall at hand (a second one would be re-entered
  // from the exit stop, and anonymous mmap runs untraced). A hint the kernel honours when the
  // range is free; a page it puts out of reach is not used. Far from where the program's own
  // mappings go next: the kernel hands out addresses top-down just below the libraries, so a
  // page there would move every later mapping (thread stacks, malloc arenas) and a replay's
  // pointers with it. 768 MiB below the site (fits_rel32 keeps within 1 GiB) is not reached by a
  // program of ordinary size; a site in a low executable (static, non-PIE) gets its page 256 MiB
  // above, past its heap's start.
  inj = new Thread::Injector(t);
  uint64_t base = site & ~(kTrampPage - 1);
  uint64_t hint = base < (1ull << 32) ? base + 0x10000000 : base - 0x30000000;
  int64_t got = inj->call(SYS_mmap, hint, kTrampPage, 7 /* rwx */, 0x22 /* private|anon */, static_cast<uint64_t>(-1), 0);
  if (inj->failed() || (got < 0 && got > -4096)) return 0;
  uint64_t at = static_cast<uint64_t>(got);
  if (!fits_rel32(site, at) || !fits_rel32(site, at + kTrampPage)) return 0;
  p.tramps.emplace_back(at, need);
  return at;
}

// Where the process's threads blocked in a syscall will return (/proc/TID/syscall names the
// call's user pc while it is blocked; "running" otherwise). The engine sees only the calls it
// traces: a thread blocked in an untraced call (futex through a generic syscall() wrapper, say)
// at a site must keep that site from being rewritten under it too.
static void blocked_pcs(pid_t pid, pid_t except, std::set<uint64_t>& out) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/task/";
  // A small /proc file of the task, NUL-terminated in `buf`; false when it cannot be read.
  auto read_task = [&](const char* tid, const char* file, char* buf, size_t size) {
    int fd = open((dir + tid + "/" + file).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0) return false;
    buf[n] = 0;
    return true;
  };
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9' || atoi(e->d_name) == except) continue;
    char buf[256], stat[512];
    if (!read_task(e->d_name, "syscall", buf, sizeof buf)) continue;
    // "NR a0 a1 a2 a3 a4 a5 SP PC" or "-1 SP PC": the pc is the last field.
    char* last = strrchr(buf, ' ');
    if (!last || strncmp(buf, "running", 7) == 0) continue;
    // Stopped for the tracer (state 't' in its stat; the name before it may hold spaces and
    // parentheses) in a call: a traced call, which the engine sees (its entry sends it back
    // through the patch, its return is among the traced calls' return addresses).
    if (buf[0] != '-' && read_task(e->d_name, "stat", stat, sizeof stat)) {
      const char* paren = strrchr(stat, ')');
      if (paren && paren[1] == ' ' && paren[2] == 't') continue;
    }
    out.insert(strtoull(last + 1, nullptr, 16));
  }
  closedir(d);
}

void FastPath::rewind(Thread& t, uint64_t start) {
  user_regs_struct& r = t.regs();
  r.rax = r.orig_rax;
  r.orig_rax = static_cast<uint64_t>(-1);  // skip the syscall at this stop
  r.rip = start;
  t.store_regs();
}

bool FastPath::reenter_if_patched(Thread& t) {
  auto pit = procs_.find(t.pid());
  if (pit == procs_.end() || pit->second.patched.empty()) return false;
  const uint64_t start = t.ip() - 2;
  if (!pit->second.patched.count(start)) return false;
  rewind(t, start);
  return true;
}

bool FastPath::program_view(Thread& t, user_regs_struct& r) const {
  if (r.rip != RB_FAST_CODE + kSlowSiteOff) return false;
  auto pit = procs_.find(t.pid());
  uint64_t ret = 0;
  if (pit == procs_.end() || !t.read_mem(r.rsp, &ret, sizeof ret)) return false;
  auto site = pit->second.returns.find(ret);
  if (site == pit->second.returns.end()) return false;
  r.rip = r.rcx = site->second + 2;
  r.rsp += 8 + 128;  // the trampoline's call and the red zone it skipped
  return true;
}

void FastPath::original_code(pid_t pid, uint64_t addr, char* buf, size_t len) const {
  auto pit = procs_.find(pid);
  if (pit == procs_.end()) return;
  for (const auto& [start, bytes] : pit->second.patched)
    for (size_t i = 0; i < bytes.size(); i++)
      if (start + i >= addr && start + i < addr + len) buf[start + i - addr] = bytes[i];
}

bool FastPath::unpatch(Thread& t) {
  auto pit = procs_.find(t.pid());
  if (pit == procs_.end()) return true;
  Process& p = pit->second;
  p.frozen = true;
  bool ok = true;
  for (auto it = p.patched.begin(); it != p.patched.end();) {
    if (!t.write_mem(it->first, it->second.data(), it->second.size())) {
      ok = false;
      ++it;
      continue;
    }
    it = p.patched.erase(it);
  }
  return ok;
}

bool FastPath::try_patch(Thread& t, const std::set<uint64_t>& busy_traced) {
  auto pit = procs_.find(t.pid());
  if (!hdr_ || pit == procs_.end() || !pit->second.attached || !corrupt_.empty()) return false;
  Process& p = pit->second;
  const uint64_t after = t.ip();  // right after the `syscall` instruction
  const uint64_t start = after - 2;
  if (p.frozen || p.done.count(start)) return false;
  if (after >= RB_FAST_CODE && after < RB_FAST_CODE + RB_FAST_CODE_SIZE) return false;
  uint8_t code[24];
  if (!t.read_mem(start, code, sizeof code) || code[0] != 0x0f || code[1] != 0x05) {
    p.done.insert(start);
    return false;
  }
  // The region: `syscall` and the movable instructions after it, at least a jmp rel32 long.
  struct Piece {
    size_t off, len;
    bool jcc;
  };
  std::vector<Piece> pieces;
  size_t len = 2;
  while (len < 5) {
    bool jcc = false;
    size_t n = movable_insn(code + len, jcc);
    if (!n) {
      p.done.insert(start);  // not a shape we know: this site stays on the ptrace path
      return false;
    }
    pieces.push_back({len, n, jcc});
    len += n;
  }
  // A thread in a call at this site (traced, or blocked in an untraced one) resumes inside the
  // region: try again later.
  std::set<uint64_t> busy = busy_traced;
  blocked_pcs(t.pid(), t.tid(), busy);
  for (uint64_t ip : busy)
    if (ip > start && ip < start + len) return false;

  std::string tr;
  tr += std::string("\x48\x8d\x64\x24\x80", 5);      // lea -0x80(%rsp),%rsp (the red zone)
  size_t call_at = tr.size();
  tr += std::string("\xff\x15\0\0\0\0", 6);          // call *entry(%rip)
  tr += std::string("\x48\x8d\xa4\x24\x80\x00\x00\x00", 8);  // lea 0x80(%rsp),%rsp
  std::vector<std::pair<size_t, uint64_t>> rel;      // (offset of a rel32, absolute target)
  for (const Piece& pc : pieces) {
    if (pc.jcc) {
      uint64_t target = start + pc.off + 2 + static_cast<int8_t>(code[pc.off + 1]);
      tr += static_cast<char>(0x0f);
      tr += static_cast<char>(0x80 | (code[pc.off] & 0x0f));
      rel.emplace_back(tr.size(), target);
      put32(tr, 0);
    } else {
      tr.append(reinterpret_cast<const char*>(code + pc.off), pc.len);
    }
  }
  tr += static_cast<char>(0xe9);  // jmp back past the region
  rel.emplace_back(tr.size(), start + len);
  put32(tr, 0);
  while (tr.size() % 8) tr += static_cast<char>(0xcc);
  size_t lit = tr.size();
  put64(tr, RB_FAST_CODE + kFastEntryOff);

  Thread::Injector* inj = nullptr;
  uint64_t at = tramp_space(t, p, start, tr.size(), inj);
  std::unique_ptr<Thread::Injector> own(inj);
  if (!at) {
    p.done.insert(start);
    if (own) own->rerun();
    return own != nullptr;
  }
  int32_t disp = static_cast<int32_t>(static_cast<int64_t>(lit) - static_cast<int64_t>(call_at + 6));
  std::memcpy(&tr[call_at + 2], &disp, 4);
  for (auto& [off, target] : rel) {
    int32_t d = static_cast<int32_t>(static_cast<int64_t>(target - (at + off + 4)));
    std::memcpy(&tr[off], &d, 4);
  }
  std::string patch(len, static_cast<char>(0xcc));
  patch[0] = static_cast<char>(0xe9);
  int32_t d = static_cast<int32_t>(static_cast<int64_t>(at - (start + 5)));
  std::memcpy(&patch[1], &d, 4);
  bool ok = t.write_mem(at, tr.data(), tr.size()) && t.write_mem(start, patch.data(), patch.size());
  p.done.insert(start);
  if (ok) {
    patched_++;
    p.patched[start].assign(reinterpret_cast<const char*>(code), len);
    p.returns[at + call_at + 6] = start;
  }
  // The call at hand (replaced by the mmap, if one was needed) is entered again, through the
  // patched site: this thread would otherwise return into the rewritten bytes.
  if (own) return own->rerun(), true;
  if (!ok) return false;
  rewind(t, start);
  return true;
}

bool FastPath::drain(const std::function<void(const FastCall&)>& fn) {
  if (!hdr_ || !corrupt_.empty()) return corrupt_.empty();
  const uint64_t size = opts_.ring_bytes;
  auto corrupt = [&](const std::string& why) {
    corrupt_ = why;
    lossy_ = std::min(lossy_, last_seq_ + 1);
    __atomic_store_n(&hdr_->all_slow, 1u, __ATOMIC_RELEASE);
    hdr_->wait_ns = 0;
    return false;
  };
  uint64_t head = __atomic_load_n(&hdr_->head, __ATOMIC_ACQUIRE);
  if (head - tail_ > size) return corrupt("its head is beyond its end");
  bool moved = false;
  while (tail_ < head) {
    uint64_t pos = tail_ & (size - 1);
    rb_rec* rec = reinterpret_cast<rb_rec*>(ring_ + pos);
    uint32_t state = __atomic_load_n(&rec->state, __ATOMIC_ACQUIRE);
    if (state == 0) {
      int64_t now = now_ns();
      if (!stalled_since_) stalled_since_ = now;
      else if (now - stalled_since_ > kStallNs) return corrupt("a record was never finished");
      break;
    }
    stalled_since_ = 0;
    uint64_t len = rec->len;
    if (len < 8 || len % 8 || pos + len > size || tail_ + len > head) return corrupt("a record has a bad length");
    if (state == RB_REC_CALL) {
      if (len < sizeof(rb_rec)) return corrupt("a record is too short");
      rb_rec h;
      std::memcpy(&h, rec, sizeof h);
      if (h.nr < 0 || h.nr >= RB_FAST_NR || call_rule(syscall_spec(h.nr)).mode != RB_CALL_FAST || h.nbufs > RB_FAST_BUFS)
        return corrupt("a record names a call the fast path does not make");
      FastCall c;
      c.seq = h.seq;
      c.nr = h.nr;
      c.tid = static_cast<pid_t>(h.tid);
      c.ret = h.ret;
      std::memcpy(c.args, h.args, sizeof c.args);
      uint64_t off = sizeof(rb_rec);
      for (uint32_t i = 0; i < h.nbufs; i++) {
        rb_rec_buf b;
        if (off + sizeof b > len) return corrupt("a record's buffer is outside it");
        std::memcpy(&b, ring_ + pos + off, sizeof b);
        off += sizeof b;
        uint64_t padded = (static_cast<uint64_t>(b.len) + 7) & ~7ull;
        if (padded > len - off) return corrupt("a record's buffer is outside it");
        c.mem.ranges.emplace_back(b.addr, std::string(reinterpret_cast<const char*>(ring_ + pos + off), b.len));
        off += padded;
      }
      last_seq_ = std::max(last_seq_, h.seq);
      fn(c);
    } else if (state != RB_REC_PAD) {
      return corrupt("a record has an unknown state");
    }
    std::memset(rec, 0, len);
    tail_ += len;
    moved = true;
  }
  if (moved) {
    __atomic_store_n(&hdr_->tail, tail_, __ATOMIC_RELEASE);
    __atomic_fetch_add(&hdr_->drain_gen, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &hdr_->drain_gen, FUTEX_WAKE, INT32_MAX, nullptr, nullptr, 0);
  }
  __atomic_store_n(&hdr_->wake_sent, 0u, __ATOMIC_RELEASE);
  return true;
}

uint64_t FastPath::lossy_from() const {
  uint64_t blob = hdr_ ? __atomic_load_n(&hdr_->lossy_seq, __ATOMIC_ACQUIRE) : ~0ull;
  return std::min(lossy_, blob);
}

rb_call_rule FastPath::rule(const SyscallSpec& s) { return call_rule(s); }

bool FastPath::in_data(uint64_t addr) { return addr >= RB_FAST_DATA && addr < RB_FAST_DATA + (1ull << 32); }

void FastPath::serve_clear() {
  serve_offs_.clear();
  serve_end_ = 0;
  if (!hdr_) return;
  __atomic_store_n(&hdr_->serve_count, 0u, __ATOMIC_RELEASE);
  __atomic_store_n(&hdr_->serve_done, 0u, __ATOMIC_RELEASE);
  hdr_->serve_off = 0;
}

bool FastPath::serve_add(int nr, uint32_t cmp_mask, const uint64_t args[6], int64_t ret, const std::vector<ServeBuf>& bufs) {
  if (!hdr_) return false;
  uint64_t len = sizeof(rb_serve);
  for (const ServeBuf& b : bufs) len += sizeof(rb_serve_buf) + ((b.bytes.size() + 7) & ~7ull);
  if (len > UINT32_MAX || serve_end_ + len > opts_.ring_bytes) return false;
  uint8_t* p = ring_ + serve_end_;
  rb_serve e{};
  e.len = static_cast<uint32_t>(len);
  e.nr = nr;
  e.cmp_mask = cmp_mask;
  e.nbufs = static_cast<uint32_t>(bufs.size());
  e.ret = ret;
  std::memcpy(e.args, args, sizeof e.args);
  std::memcpy(p, &e, sizeof e);
  p += sizeof e;
  for (const ServeBuf& b : bufs) {
    rb_serve_buf h{};
    h.len = static_cast<uint32_t>(b.bytes.size());
    h.arg = static_cast<uint8_t>(b.arg);
    h.dir = b.in ? RB_DIR_IN : RB_DIR_OUT;
    std::memcpy(p, &h, sizeof h);
    p += sizeof h;
    std::memcpy(p, b.bytes.data(), b.bytes.size());
    p += (b.bytes.size() + 7) & ~7ull;
  }
  serve_offs_.push_back(serve_end_);
  serve_end_ += len;
  return true;
}

void FastPath::serve_publish() {
  if (hdr_) __atomic_store_n(&hdr_->serve_count, static_cast<uint32_t>(serve_offs_.size()), __ATOMIC_RELEASE);
}

uint32_t FastPath::serve_done() const {
  if (!hdr_) return 0;
  uint32_t n = __atomic_load_n(&hdr_->serve_done, __ATOMIC_ACQUIRE);
  return std::min<uint32_t>(n, static_cast<uint32_t>(serve_offs_.size()));
}

void FastPath::serve_actual(uint32_t i, uint64_t args[6]) const {
  if (i >= serve_offs_.size()) return;
  std::memcpy(args, ring_ + serve_offs_[i] + offsetof(rb_serve, actual), 6 * sizeof(uint64_t));
}

void FastPath::serve_revoke() {
  if (hdr_) __atomic_store_n(&hdr_->serve_count, __atomic_load_n(&hdr_->serve_done, __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
}

uint64_t FastPath::calls_fast() const { return hdr_ ? __atomic_load_n(&hdr_->calls_fast, __ATOMIC_RELAXED) : 0; }

}  // namespace rb
