#include "tracer.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <ucontext.h>
#include <x86intrin.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "fast.h"

namespace rb {

namespace {
volatile sig_atomic_t g_stop = 0;
volatile sig_atomic_t g_wake = 0;
}  // namespace

void request_stop() { g_stop = 1; }
// SIGALRM only interrupts waitpid (wait_any's deadline); installed without SA_RESTART.
volatile sig_atomic_t g_alarm = 0;  // the alarm fired since wait_any last looked
void on_alarm(int) { g_alarm = 1; }
bool stop_requested() { return g_stop != 0; }

bool SpawnConfig::randomized() const {
  if (fixed_addresses) return false;
  int persona = personality(0xffffffff);
  if (persona != -1 && (persona & ADDR_NO_RANDOMIZE)) return false;
  FILE* f = std::fopen("/proc/sys/kernel/randomize_va_space", "r");
  int level = 2;
  if (f) {
    if (std::fscanf(f, "%d", &level) != 1) level = 2;
    std::fclose(f);
  }
  return level != 0;
}
void request_wake() { g_wake = 1; }

thread_local int64_t t_stop_ns = 0;

int64_t now_ns() {
  struct timespec ts;
  if (own_tsc_trapped()) syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
  else clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

int64_t stop_ns() { return t_stop_ns ? t_stop_ns : now_ns(); }

// ---------------------------------------------------------------------------------------------
// Thread: registers and memory

bool Thread::load_regs() { return ptrace(PTRACE_GETREGS, tid_, nullptr, &regs_) == 0; }
bool Thread::store_regs() { return ptrace(PTRACE_SETREGS, tid_, nullptr, &regs_) == 0; }

void Thread::syscall_args(uint64_t out[6]) const {
  out[0] = regs_.rdi;
  out[1] = regs_.rsi;
  out[2] = regs_.rdx;
  out[3] = regs_.r10;
  out[4] = regs_.r8;
  out[5] = regs_.r9;
}

void Thread::set_arg(int idx, uint64_t value) {
  unsigned long long* regs[6] = {&regs_.rdi, &regs_.rsi, &regs_.rdx, &regs_.r10, &regs_.r8, &regs_.r9};
  if (idx >= 0 && idx < 6) *regs[idx] = value;
}

// Visits [addr+done, addr+len) one aligned tracee word at a time (PTRACE_PEEKDATA), for the
// memory that process_vm_readv/writev refuse.
template <typename F>
bool Thread::each_word(uint64_t addr, size_t len, size_t done, F&& f) {
  while (done < len) {
    uint64_t word_addr = (addr + done) & ~uint64_t(7);
    errno = 0;
    long word = ptrace(PTRACE_PEEKDATA, tid_, reinterpret_cast<void*>(word_addr), nullptr);
    if (errno) return false;
    size_t skip = (addr + done) - word_addr;
    size_t take = std::min<size_t>(8 - skip, len - done);
    if (!f(word_addr, word, skip, done, take)) return false;
    done += take;
  }
  return true;
}

bool MemView::read(uint64_t addr, void* buf, size_t len) const {
  for (const auto& [start, bytes] : ranges) {
    if (addr >= start && addr - start <= bytes.size() && len <= bytes.size() - (addr - start)) {
      std::memcpy(buf, bytes.data() + (addr - start), len);
      return true;
    }
  }
  return false;
}

bool Thread::read_mem(uint64_t addr, void* buf, size_t len) {
  if (len == 0) return true;
  if (view_) return view_->read(addr, buf, len);
  struct iovec local = {buf, len};
  struct iovec remote = {reinterpret_cast<void*>(addr), len};
  ssize_t n = process_vm_readv(tid_, &local, 1, &remote, 1, 0);
  if (n == static_cast<ssize_t>(len)) return true;
  // Fall back to word-sized peeks (pages process_vm_readv refuses, e.g. guard gaps crossing).
  char* out = static_cast<char*>(buf);
  return each_word(addr, len, n > 0 ? static_cast<size_t>(n) : 0,
                   [&](uint64_t, long& word, size_t skip, size_t done, size_t take) {
                     std::memcpy(out + done, reinterpret_cast<char*>(&word) + skip, take);
                     return true;
                   });
}

std::string Thread::read_bytes(uint64_t addr, size_t len) {
  std::string s(len, '\0');
  if (!read_mem(addr, s.data(), len)) s.clear();
  return s;
}

std::string Thread::read_cstr(uint64_t addr, size_t max) {
  std::string out;
  if (!addr) return out;
  char chunk[256];
  while (out.size() < max) {
    // Never read across a page boundary in one go: the next page may be unmapped.
    size_t to_page = 4096 - ((addr + out.size()) & 4095);
    size_t n = std::min(sizeof chunk, to_page);
    if (!read_mem(addr + out.size(), chunk, n)) break;
    void* nul = std::memchr(chunk, 0, n);
    if (nul) {
      out.append(chunk, static_cast<char*>(nul) - chunk);
      return out;
    }
    out.append(chunk, n);
  }
  return out;
}

bool Thread::write_mem(uint64_t addr, const void* data, size_t len) {
  if (len == 0) return true;
  struct iovec local = {const_cast<void*>(data), len};
  struct iovec remote = {reinterpret_cast<void*>(addr), len};
  ssize_t n = process_vm_writev(tid_, &local, 1, &remote, 1, 0);
  if (n == static_cast<ssize_t>(len)) return true;
  // Read-only pages: ptrace pokes may write where process_vm_writev may not.
  const char* in = static_cast<const char*>(data);
  return each_word(addr, len, n > 0 ? static_cast<size_t>(n) : 0,
                   [&](uint64_t word_addr, long& word, size_t skip, size_t done, size_t take) {
                     std::memcpy(reinterpret_cast<char*>(&word) + skip, in + done, take);
                     return ptrace(PTRACE_POKEDATA, tid_, reinterpret_cast<void*>(word_addr),
                                   reinterpret_cast<void*>(word)) == 0;
                   });
}

bool Thread::set_siginfo(const siginfo_t& info) {
  return ptrace(PTRACE_SETSIGINFO, tid_, nullptr, const_cast<siginfo_t*>(&info)) == 0;
}

bool Thread::emulate(int64_t ret) {
  regs_.orig_rax = static_cast<uint64_t>(-1);  // skip the syscall...
  regs_.rax = static_cast<uint64_t>(ret);      // ...and return this instead of -ENOSYS
  return store_regs();
}

bool Thread::back_out() {
  regs_.rax = regs_.orig_rax;                  // the call's number, as the instruction needs it
  regs_.orig_rax = static_cast<uint64_t>(-1);  // skip the syscall (no restart logic either)
  regs_.rip -= 2;                              // `syscall` (0f 05) is two bytes
  return store_regs();
}

// ---------------------------------------------------------------------------------------------
// Injection

namespace {

// Waits for the next stop or exit of `tid`: the waitpid status, -1 on error, or kStopRequested
// when request_stop() interrupted the wait.
constexpr int kStopRequested = -2;
constexpr int kWoken = -3;  // request_wake(): the tool has commands to look at
int wait_stop(pid_t tid) {
  int status = 0;
  while (waitpid(tid, &status, __WALL) < 0) {
    if (errno != EINTR) return -1;
    if (g_stop) return kStopRequested;
  }
  return status;
}

void set_args(user_regs_struct& r, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
              uint64_t a4, uint64_t a5) {
  r.rdi = a0;
  r.rsi = a1;
  r.rdx = a2;
  r.r10 = a3;
  r.r8 = a4;
  r.r9 = a5;
}

}  // namespace

bool is_syscall_stop(int status) {
  return WIFSTOPPED(status) && WSTOPSIG(status) == (SIGTRAP | 0x80);
}

bool is_seccomp_stop(int status) {
  return WIFSTOPPED(status) && (status >> 8) == (SIGTRAP | (PTRACE_EVENT_SECCOMP << 8));
}

Thread::Injector::Injector(Thread& t) : t_(t), saved_(t.regs()) {}

int64_t Thread::Injector::call(long nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
                               uint64_t a4, uint64_t a5) {
  if (failed_) return -EIO;
  user_regs_struct r = saved_;
  set_args(r, a0, a1, a2, a3, a4, a5);
  pid_t tid = t_.tid();
  if (!at_exit_) {
    // At the seccomp stop: the kernel runs whatever syscall the registers now name.
    r.orig_rax = static_cast<uint64_t>(nr);
    if (ptrace(PTRACE_SETREGS, tid, nullptr, &r) != 0 || ptrace(PTRACE_SYSCALL, tid, 0, 0) != 0) {
      failed_ = true;
      return -EIO;
    }
  } else {
    // At a syscall-exit stop: step back onto the `syscall` instruction and enter it again.
    r.rip = saved_.rip - 2;
    r.rax = static_cast<uint64_t>(nr);
    r.orig_rax = static_cast<uint64_t>(nr);
    if (ptrace(PTRACE_SETREGS, tid, nullptr, &r) != 0 || ptrace(PTRACE_CONT, tid, 0, 0) != 0) {
      failed_ = true;
      return -EIO;
    }
    int st = wait_stop(tid);
    if (!is_seccomp_stop(st) || ptrace(PTRACE_SYSCALL, tid, 0, 0) != 0) {
      failed_ = true;
      return -EIO;
    }
  }
  int st = wait_stop(tid);
  if (!is_syscall_stop(st) || !t_.load_regs()) {
    failed_ = true;
    return -EIO;
  }
  at_exit_ = true;
  return static_cast<int64_t>(t_.regs().rax);
}

bool Thread::Injector::finish(int64_t ret) {
  if (failed_) return false;
  t_.regs() = saved_;
  t_.regs().rax = static_cast<uint64_t>(ret);
  if (!at_exit_) t_.regs().orig_rax = static_cast<uint64_t>(-1);
  return t_.store_regs();
}

bool Thread::Injector::rerun() {
  if (failed_) return false;
  t_.regs() = saved_;
  if (at_exit_) {
    t_.regs().rip = saved_.rip - 2;
    t_.regs().rax = saved_.orig_rax;
  }
  return t_.store_regs();
}

// ---------------------------------------------------------------------------------------------
// CPU pinning

namespace {
std::string& mask_storage() {
  static std::string mask = [] {
    std::string m(128, '\0');
    long n = syscall(SYS_sched_getaffinity, 0, m.size(), m.data());
    m.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return m;
  }();
  return mask;
}
}  // namespace

const std::string& original_cpu_mask() { return mask_storage(); }

int pin_to_current_cpu() {
  (void)original_cpu_mask();  // remember the mask before we change it
  int cpu = sched_getcpu();
  if (cpu < 0) return -1;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) return -1;
  return cpu;
}

// ---------------------------------------------------------------------------------------------
// Spawning

namespace {

// The seccomp filter: trap every syscall except the hot memory-only ones the table marks
// Untraced, and anonymous mmap.
std::vector<sock_filter> build_filter(bool fast) {
  std::vector<sock_filter> f;
  f.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)));
  f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0));
  f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE));
  if (fast) FastPath::filter_rules(f);
  f.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)));
  for (const SyscallSpec& s : syscall_table()) {
    if (s.cls != Class::Untraced) continue;
    f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(s.nr), 0, 1));
    f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  }
  // mmap(..., flags & MAP_ANONYMOUS, ...) touches only the process's own memory.
  f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 0, 3));
  f.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[3])));
  f.push_back(BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x20 /* MAP_ANONYMOUS */, 0, 1));
  f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE));
  return f;
}

[[noreturn]] void child_fail(int errfd, const char* what, int err) {
  char buf[512];
  int n = snprintf(buf, sizeof buf, "%s: %s", what, strerror(err));
  if (n > 0) (void)!write(errfd, buf, static_cast<size_t>(n));
  _exit(127);
}

void write_proc_file(int errfd, const char* file, const std::string& text) {
  int fd = open(file, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    std::string what = std::string("cannot write ") + file + " for the user namespace";
    child_fail(errfd, what.c_str(), errno);
  }
  close(fd);
}

// An unprivileged replay: a user namespace mapping the user to itself (the service keeps its
// uid and gid), then a mount namespace owned by it. The capabilities it grants serve the bind
// mounts only; they are gone at execve, since the user is not root in it.
void enter_user_namespace(int errfd, bool netns) {
  uid_t uid = geteuid();
  gid_t gid = getegid();
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS | (netns ? CLONE_NEWNET : 0)) != 0) {
    child_fail(errfd, "cannot create a mount namespace (not root, and no user namespace either: "
                      "run `replaybook doctor`)", errno);
  }
  write_proc_file(errfd, "/proc/self/setgroups", "deny");
  write_proc_file(errfd, "/proc/self/uid_map", std::to_string(uid) + " " + std::to_string(uid) + " 1\n");
  write_proc_file(errfd, "/proc/self/gid_map", std::to_string(gid) + " " + std::to_string(gid) + " 1\n");
}

[[noreturn]] void child_main(const SpawnConfig& cfg, char* const* argv, char* const* envp,
                             const sock_fprog& prog, int errfd) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  // Node ignores SIGPIPE and may block signals: the service gets the defaults it would have.
  for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);

  if (!cfg.bind_mounts.empty()) {
    if (unshare(CLONE_NEWNS) != 0) {
      // Not root: a user namespace of our own gives the capability to mount, in it only.
      if (errno != EPERM) child_fail(errfd, "cannot create a mount namespace", errno);
      enter_user_namespace(errfd, cfg.user_netns);
    }
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
      child_fail(errfd, "cannot make mounts private", errno);
    for (const auto& [blob, path] : cfg.bind_mounts) {
      // A recorded path this machine lacks needs no cover: fds on it are served from the blob.
      if (access(path.c_str(), F_OK) != 0) continue;
      if (mount(blob.c_str(), path.c_str(), nullptr, MS_BIND, nullptr) != 0) {
        std::string what = "cannot put the recorded " + path + " in place";
        child_fail(errfd, what.c_str(), errno);
      }
    }
  }
  if (cfg.stdio_null) {
    int null = open("/dev/null", O_RDWR);
    if (null < 0) child_fail(errfd, "cannot open /dev/null", errno);
    for (int fd = 0; fd < 3; fd++) dup2(null, fd);
    if (null > 2) close(null);
  }
  // Only stdio and the error pipe survive: the service starts with the fds it would have.
  if (errfd > 3) syscall(SYS_close_range, 3, errfd - 1, 0);
  syscall(SYS_close_range, errfd + 1, ~0U, 0);
  if (!cfg.cwd.empty() && chdir(cfg.cwd.c_str()) != 0) {
    std::string what = "cannot enter the working directory " + cfg.cwd;
    child_fail(errfd, what.c_str(), errno);
  }
  // Fixed addresses: a replay's layout is the recording's (docs/services.md).
  if (cfg.fixed_addresses && personality(ADDR_NO_RANDOMIZE) == -1)
    child_fail(errfd, "cannot turn address randomization off", errno);
  // rdtsc/rdtscp fault (SIGSEGV) instead of reading the counter, so tools can answer them.
  if (prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0) != 0) child_fail(errfd, "cannot trap rdtsc (PR_SET_TSC)", errno);
  if (ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) != 0) child_fail(errfd, "ptrace", errno);
  raise(SIGSTOP);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) child_fail(errfd, "no_new_privs", errno);
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
    child_fail(errfd, "seccomp", errno);
  execve(cfg.exe.c_str(), argv, envp);
  child_fail(errfd, "execve", errno);
}

std::vector<char*> c_strings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  for (const std::string& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// Reads the new image's auxiliary vector: hides the vDSO (AT_SYSINFO_EHDR becomes AT_IGNORE,
// so libc makes real clock syscalls, which we trap) and notes where AT_RANDOM's 16 bytes are
// (the kernel's fresh random bytes for every exec: Go seeds its scheduler and map hashes from
// them, so they are part of the recording).
bool read_auxv(Thread& t, uint64_t& at_random) {
  at_random = 0;
  if (!t.load_regs()) return false;
  uint64_t sp = t.regs().rsp;
  uint64_t argc = 0;
  if (!t.read_mem(sp, &argc, 8)) return false;
  uint64_t p = sp + 8 * (argc + 2);  // past argc, argv[], NULL
  uint64_t word = 1;
  for (int i = 0; i < 100000 && word != 0; i++, p += 8)
    if (!t.read_mem(p, &word, 8)) return false;
  for (int i = 0; i < 512; i++, p += 16) {
    uint64_t pair[2];
    if (!t.read_mem(p, pair, 16)) return false;
    if (pair[0] == AT_NULL) return true;
    if (pair[0] == AT_RANDOM) at_random = pair[1];
    if (pair[0] == AT_SYSINFO_EHDR) {
      uint64_t ignore[2] = {AT_IGNORE, 0};
      if (!t.write_mem(p, ignore, 16)) return false;
    }
  }
  return true;
}

}  // namespace

// The executable a process runs, as the kernel names it.
static std::string exe_path(pid_t pid) {
  char buf[4096];
  std::string link = "/proc/" + std::to_string(pid) + "/exe";
  ssize_t n = readlink(link.c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

uint64_t clone_flags(Thread& t, const SyscallSpec& s, const uint64_t args[6]) {
  switch (s.clone) {
    case CloneFlags::Fork: return SIGCHLD;
    case CloneFlags::Vfork: return CLONE_VFORK | CLONE_VM | SIGCHLD;
    case CloneFlags::Struct: {
      uint64_t flags = 0;
      t.read_mem(args[0], &flags, 8);  // clone_args.flags
      return flags;
    }
    case CloneFlags::Arg: break;
  }
  return args[0];
}

namespace {
// The thread group of a thread, from /proc (for a new thread seen before its parent's event).
pid_t tgid_of(pid_t tid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/status", tid);
  FILE* f = fopen(path, "r");
  if (!f) return tid;
  char line[256];
  pid_t tgid = tid;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "Tgid: %d", &tgid) == 1) break;
  fclose(f);
  return tgid;
}
}  // namespace

void Tracer::kill_tracee() {
  for (pid_t p : processes_) kill(p, SIGKILL);
}

bool Tracer::signal_thread(const Thread& t, int sig) {
  return syscall(SYS_tgkill, t.pid(), t.tid(), sig) == 0;
}

Thread& Tracer::add_thread(pid_t tid, pid_t pid, bool fresh) {
  auto& slot = threads_[tid];
  if (!slot) slot = std::make_unique<Thread>(tid, pid);
  slot->fresh_ = fresh;
  if (pid == tid) processes_.insert(pid);
  return *slot;
}

Thread& Tracer::adopt(pid_t pid, pid_t replaces) {
  if (replaces == leader_) leader_ = pid;
  if (tsc_sites_.count(replaces)) tsc_sites_[pid] = tsc_sites_[replaces];
  return add_thread(pid, pid, false);
}

std::vector<pid_t> Tracer::threads_of(pid_t pid) const {
  std::vector<pid_t> out;
  for (const auto& [tid, t] : threads_)
    if (t->pid() == pid) out.push_back(tid);
  return out;
}

void Tracer::forget_process(pid_t pid) {
  for (auto it = threads_.begin(); it != threads_.end();) it = it->second->pid() == pid ? threads_.erase(it) : std::next(it);
  processes_.erase(pid);
  tsc_sites_.erase(pid);
}

bool Tracer::run(const SpawnConfig& cfg, Tool& tool, std::string& error) {
  std::vector<sock_filter> filter = build_filter(cfg.fast);
  sock_fprog prog = {static_cast<unsigned short>(filter.size()), filter.data()};
  std::vector<char*> argv = c_strings(cfg.argv), envp = c_strings(cfg.env);
  int errpipe[2];
  if (pipe2(errpipe, O_CLOEXEC) != 0) {
    error = std::string("pipe: ") + strerror(errno);
    return false;
  }
  pid_t pid = fork();
  if (pid < 0) {
    error = std::string("fork: ") + strerror(errno);
    return false;
  }
  if (pid == 0) {
    close(errpipe[0]);
    child_main(cfg, argv.data(), envp.data(), prog, errpipe[1]);
  }
  close(errpipe[1]);
  leader_ = pid;
  int status = wait_stop(pid);
  if (!WIFSTOPPED(status)) {
    char buf[512] = {0};
    ssize_t n = read(errpipe[0], buf, sizeof buf - 1);
    close(errpipe[0]);
    error = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "the service did not start";
    return false;
  }
  close(errpipe[0]);
  long opts = PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL | PTRACE_O_TRACEEXEC |
              PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK |
              PTRACE_O_TRACEVFORK;
  if (ptrace(PTRACE_SETOPTIONS, pid, nullptr, reinterpret_cast<void*>(opts)) != 0) {
    error = std::string("PTRACE_SETOPTIONS: ") + strerror(errno);
    kill(pid, SIGKILL);
    return false;
  }
  leader_ = pid;
  threads_.clear();
  processes_.clear();
  struct sigaction sa = {};
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, nullptr);
  trap_own_tsc();
  add_thread(pid, pid, false);
  tool.attach(this);
  resume(*threads_[pid], Resume::Continue);
  return loop(tool, error);
}

void Tracer::resume(Thread& t, Resume r, int sig) {
  if (r == Resume::Hold) return;
  if (r == Resume::Kill) {
    kill_tracee();
    return;
  }
  t.awaiting_exit_ = r == Resume::ToExit;
  int req = r == Resume::Step ? PTRACE_SINGLESTEP : t.awaiting_exit_ ? PTRACE_SYSCALL : PTRACE_CONT;
  // ESRCH: the thread died meanwhile (exit_group); its exit is collected by the loop.
  ptrace(static_cast<enum __ptrace_request>(req), t.tid(), 0, sig);
}

Thread* Tracer::thread(pid_t tid) {
  auto it = threads_.find(tid);
  return it == threads_.end() ? nullptr : it->second.get();
}

// Waits for any tracee event until `deadline_ns` (-1: no deadline). Returns the tid, 0 on
// timeout, -1 on error, kStopRequested / kWoken when a signal handler asked for attention.
// An ITIMER_REAL alarm interrupts the blocking waitpid: once at the deadline, and every 20 ms as
// a safety tick, because a signal that lands between our flag checks and waitpid's entry would
// otherwise be missed until the next tracee event. One syscall per stop on the hot path.
pid_t Tracer::wait_any(int64_t deadline_ns, int& status, pid_t only) {
  constexpr int64_t kTickNs = 20000000;
  constexpr int64_t kNearNs = 2000000;  // closer deadlines are polled for, not alarmed
  constexpr int64_t kNapNs = 50000;
  for (bool first = true;; first = false) {
    if (g_stop) return kStopRequested;
    if (g_wake) {
      g_wake = 0;
      return kWoken;
    }
    // An alarm that fired while the tracer was busy woke nothing: the next is a tick away.
    if (g_alarm) {
      g_alarm = 0;
      armed_ns_ = -1;
    }
    // First look: the time of the stop just handled, older only by the tracer's own work since,
    // tells that nothing is due within a tick and saves a clock read per stop. Anything nearer
    // is timed with the clock itself.
    int64_t now = first ? stop_ns() : now_ns();
    if (first && deadline_ns >= 0 && deadline_ns - now < kTickNs + kNearNs) now = now_ns();
    if (deadline_ns >= 0 && now >= deadline_ns) {
      pid_t r = waitpid(only, &status, __WALL | WNOHANG);
      return r;  // an event that is already there, or 0: the deadline passed
    }
    if (deadline_ns >= 0 && deadline_ns - now < kNearNs) {
      // Too near for the alarm: one due before waitpid has started would be lost until the
      // next tick (20 ms late). Poll in short sleeps instead; this only happens at 1x timing,
      // within a couple of milliseconds of a recorded time.
      pid_t r = waitpid(only, &status, __WALL | WNOHANG);
      if (r != 0) return r;
      struct timespec nap = {0, std::min<int64_t>(deadline_ns - now, kNapNs)};
      nanosleep(&nap, nullptr);
      continue;
    }
    int64_t fire = deadline_ns >= 0 ? std::min(deadline_ns, now + kTickNs) : now + kTickNs;
    if (armed_ns_ <= now || fire < armed_ns_) {
      struct itimerval it = {};
      int64_t left = std::max<int64_t>(fire - now, 1000);
      it.it_value.tv_sec = left / 1000000000LL;
      it.it_value.tv_usec = (left % 1000000000LL) / 1000;
      it.it_interval.tv_usec = kTickNs / 1000;
      setitimer(ITIMER_REAL, &it, nullptr);
      armed_ns_ = fire;
    }
    pid_t r = waitpid(only, &status, __WALL);
    if (r >= 0 || errno != EINTR) return r;
  }
}

// A SIGSEGV from rdtsc/rdtscp under PR_TSC_SIGSEGV: the tool answers, the signal is dropped.
// Or a SIGILL from a counter read rewritten to ud2 (tsc.h): answered the same way.
bool Tracer::trap_tsc(Thread& t, Tool& tool) {
  uint8_t code[3] = {0, 0, 0};
  if (!t.load_regs() || !t.read_mem(t.ip(), code, 2)) return false;
  int len = 0;
  bool rdtscp = false;
  const TscSite* site = nullptr;
  if (auto p = tsc_sites_.find(t.pid()); p != tsc_sites_.end())
    if (auto q = p->second.find(t.ip()); q != p->second.end()) site = &q->second;
  if (code[0] == 0x0f && code[1] == 0x0b && site) {
    len = site->len;  // ud2 where the counter read was
    rdtscp = site->rdtscp;
  } else if (code[0] == 0x0f && code[1] == 0x31) {
    len = 2;  // rdtsc
  } else if (code[0] == 0x0f && code[1] == 0x01 && t.read_mem(t.ip() + 2, code + 2, 1) && code[2] == 0xf9) {
    len = 3;  // rdtscp
    rdtscp = true;
  }
  if (!len) return false;
  TscRead r;
  r.rdtscp = rdtscp;
  Resume res = tool.on_tsc(t, r);
  if (res != Resume::Kill) {
    user_regs_struct& g = t.regs();
    g.rax = r.value & 0xffffffffULL;
    g.rdx = r.value >> 32;
    if (r.rdtscp) g.rcx = r.aux;
    g.rip += static_cast<uint64_t>(len);
    t.store_regs();
  }
  resume(t, res);
  return true;
}

bool Tracer::loop(Tool& tool, std::string& error) {
  for (;;) {
    int status = 0;
    pid_t tid = wait_any(tool.next_deadline(), status, tool.only_waitable());
    t_stop_ns = now_ns();
    if (tid == kStopRequested) {
      // Interrupted: kill the tracee and reap it, so nothing outlives the run.
      kill_tracee();
      g_stop = 0;
      continue;
    }
    if (tid == 0) {
      tool.on_timer();
      continue;
    }
    if (tid == kWoken) {
      tool.on_wake();
      continue;
    }
    if (tid < 0) {
      error = std::string("waitpid: ") + strerror(errno);
      return false;
    }
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      auto it = threads_.find(tid);
      if (tid == leader_) root_status_ = status;
      if (it != threads_.end()) {
        std::unique_ptr<Thread> gone = std::move(it->second);
        threads_.erase(it);
        if (gone->pid() == tid) processes_.erase(tid);
        tool.on_thread_exit(*gone, status);
      }
      if (threads_.empty()) {
        tool.on_exit(root_status_);
        leader_ = -1;
        return true;
      }
      continue;
    }
    if (!WIFSTOPPED(status)) continue;
    Thread* tp = thread(tid);
    // A new thread's first stop can come before its parent's clone event.
    if (!tp) tp = &add_thread(tid, tgid_of(tid), true);
    Thread& t = *tp;
    int sig = WSTOPSIG(status);
    int event = status >> 16;
    if (sig == SIGTRAP && event == PTRACE_EVENT_SECCOMP) {
      if (!t.load_regs()) continue;
      SyscallStop stop;
      stop.nr = t.syscall_nr();
      stop.spec = &syscall_spec(stop.nr);
      stop.time_ns = t_stop_ns;
      t.syscall_args(stop.args);
      if (stop.spec->special == Special::Clone) t.clone_flags_ = clone_flags(t, *stop.spec, stop.args);
      resume(t, tool.on_syscall(t, stop));
    } else if (sig == (SIGTRAP | 0x80)) {
      bool was_awaiting = t.awaiting_exit_;
      t.awaiting_exit_ = false;
      resume(t, was_awaiting && t.load_regs() ? tool.on_syscall_exit(t) : Resume::Continue);
    } else if (sig == SIGTRAP && event == PTRACE_EVENT_EXEC) {
      read_auxv(t, t.at_random_);
      tsc_sites_[t.pid()] = patch_tsc_sites(t, exe_path(t.pid()));
      if (t.load_regs()) tool.on_exec(t);
      resume(t, t.awaiting_exit_ ? Resume::ToExit : Resume::Continue);
    } else if (sig == SIGTRAP && (event == PTRACE_EVENT_CLONE || event == PTRACE_EVENT_FORK ||
                                  event == PTRACE_EVENT_VFORK)) {
      // A new thread or process: traced from its first instruction (the options are inherited).
      unsigned long child = 0;
      ptrace(PTRACE_GETEVENTMSG, tid, nullptr, &child);
      pid_t ctid = static_cast<pid_t>(child);
      pid_t cpid = (t.clone_flags_ & CLONE_THREAD) ? t.pid() : ctid;
      // A new process runs a copy of its parent's code, rewritten counter reads included.
      if (cpid != t.pid() && tsc_sites_.count(t.pid())) tsc_sites_[cpid] = tsc_sites_[t.pid()];
      Thread* c = thread(ctid);
      if (!c) c = &add_thread(ctid, cpid, true);  // its initial SIGSTOP is still to come
      tool.on_thread_created(t, *c);
      resume(t, t.awaiting_exit_ ? Resume::ToExit : Resume::Continue);
    } else if (sig == SIGSTOP && t.fresh_) {
      // A new thread's first stop: swallow the SIGSTOP; the tool says when it may run.
      t.fresh_ = false;
      resume(t, tool.on_thread_start(t));
    } else if (event == PTRACE_EVENT_STOP) {
      resume(t, Resume::Continue);
    } else if (event == 0) {
      siginfo_t info = {};
      ptrace(PTRACE_GETSIGINFO, tid, nullptr, &info);
      if (((sig == SIGSEGV && info.si_code == SI_KERNEL) || (sig == SIGILL && info.si_code == ILL_ILLOPN)) &&
          trap_tsc(t, tool))
        continue;
      if (sig == SIGTRAP && info.si_code == SI_KERNEL && t.load_regs() && tool.on_breakpoint(t)) continue;
      if (sig == SIGTRAP && info.si_code == TRAP_TRACE && tool.on_single_step(t)) continue;
      int deliver = t.load_regs() ? tool.on_signal(t, sig, info) : sig;
      resume(t, t.awaiting_exit_ ? Resume::ToExit : Resume::Continue, deliver);
    } else {
      resume(t, Resume::Continue);
    }
  }
}

}  // namespace rb
