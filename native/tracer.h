// The tracer core: spawns the service under ptrace with a seccomp filter, owns the stop loop,
// registers, tracee memory and syscall injection. Tools (recorder, replayer) own policy only, in
// the manner of reverie's Tool: they see syscall stops, never waitpid bookkeeping.
#pragma once
#include <signal.h>
#include <sys/types.h>
#include <sys/user.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "syscalls.h"
#include "tsc.h"

namespace rb {

// waitpid statuses: a syscall stop (PTRACE_O_TRACESYSGOOD: entry or exit), a seccomp stop.
bool is_syscall_stop(int status);
bool is_seccomp_stop(int status);

int64_t now_ns();  // CLOCK_MONOTONIC
// When the tracer thread's wait last returned (the stop, timer or wake being handled): one clock
// read per stop, shared by everything that handles it (now_ns() before the first one).
int64_t stop_ns();


// Async-signal-safe: the stop loop kills and reaps the tracee, then returns as on its exit.
void request_stop();
bool stop_requested();
// Async-signal-safe: the stop loop calls Tool::on_wake (e.g. control commands arrived).
void request_wake();

struct SpawnConfig {
  std::string exe;                 // what to execve
  std::vector<std::string> argv, env;
  std::string cwd;
  bool pin = true;                 // run tracer and tracee on one CPU
  bool stdio_null = false;         // replay: the tracee's stdio is /dev/null (output is captured)
  // Replay: bind-mount local blob files over the recorded paths in a private mount namespace,
  // so the kernel's own loading at execve (executable, ELF interpreter) uses recorded bytes.
  std::vector<std::pair<std::string, std::string>> bind_mounts;  // (blob file, recorded path)
  // ASLR off for the tracee (personality ADDR_NO_RANDOMIZE, inherited by everything it starts).
  // Replay: always, so runs are alike and the layout is the recording's. Record: unless asked to
  // keep randomization (record --aslr), so that the replay's layout is the recording's.
  bool fixed_addresses = false;
  // Replay as a user other than root: the network namespace is made with the user namespace.
  bool user_netns = false;
  // record --fast: the seccomp filter lets the fast path's own syscall instruction through (fast.h).
  bool fast = false;

  // Whether a tree spawned with `fixed_addresses` runs with its address space randomized: not
  // when the flag is set, this process's personality already has ADDR_NO_RANDOMIZE (setarch -R),
  // or the kernel randomizes nothing (kernel.randomize_va_space = 0).
  bool randomized() const;
};

// Tracee memory captured elsewhere (the fast path's ring, fast.h): a Thread with a view reads
// from it instead of the process, so the capture code works on it unchanged.
struct MemView {
  std::vector<std::pair<uint64_t, std::string>> ranges;  // (address, bytes)
  bool read(uint64_t addr, void* buf, size_t len) const;
};

// A stopped tracee thread: registers, arguments, memory, emulation and injection.
class Thread {
 public:
  Thread(pid_t tid, pid_t pid) : tid_(tid), pid_(pid) {}
  pid_t tid() const { return tid_; }
  // The process (thread group) it belongs to.
  pid_t pid() const { return pid_; }

  bool load_regs();
  bool store_regs();
  user_regs_struct& regs() { return regs_; }
  long syscall_nr() const { return static_cast<long>(regs_.orig_rax); }
  void syscall_args(uint64_t out[6]) const;
  // Sets syscall argument `idx` (0-5) in the loaded registers; store_regs() writes it back.
  void set_arg(int idx, uint64_t value);
  int64_t syscall_ret() const { return static_cast<int64_t>(regs_.rax); }
  uint64_t ip() const { return regs_.rip; }
  // The address of the 16 AT_RANDOM bytes of the image it last exec'd (0: unknown).
  uint64_t at_random() const { return at_random_; }

  bool read_mem(uint64_t addr, void* buf, size_t len);
  // Reads come from `v` (not the process) while it is set.
  void set_view(const MemView* v) { view_ = v; }
  std::string read_bytes(uint64_t addr, size_t len);
  std::string read_cstr(uint64_t addr, size_t max = 1 << 16);
  bool write_mem(uint64_t addr, const void* data, size_t len);

  // At a signal-delivery stop: the siginfo the program's handler will see.
  bool set_siginfo(const siginfo_t& info);

  // At a seccomp stop: do not run the syscall; it returns `ret`.
  bool emulate(int64_t ret);
  // At a seccomp stop: do not run the syscall; the thread goes back onto its `syscall`
  // instruction, to enter the same call again when it next runs. Signals pending then are
  // delivered before it does: at the syscall boundary, with no instruction of the program run.
  bool back_out();

  // Runs extra syscalls in the tracee while it is at a seccomp stop. The first call replaces
  // the syscall being entered; later ones rewind to the same `syscall` instruction. finish()
  // then makes the original syscall return `ret` as if it had run.
  class Injector {
   public:
    explicit Injector(Thread& t);
    int64_t call(long nr, uint64_t a0 = 0, uint64_t a1 = 0, uint64_t a2 = 0, uint64_t a3 = 0,
                 uint64_t a4 = 0, uint64_t a5 = 0);
    bool finish(int64_t ret);
    // Re-enter the original syscall (it will stop at seccomp again) instead of finishing.
    bool rerun();
    bool failed() const { return failed_; }

   private:
    Thread& t_;
    user_regs_struct saved_;
    bool at_exit_ = false;
    bool failed_ = false;
  };

 private:
  friend class Tracer;
  template <typename F>
  bool each_word(uint64_t addr, size_t len, size_t done, F&& f);
  pid_t tid_;
  pid_t pid_;
  user_regs_struct regs_{};
  uint64_t clone_flags_ = 0;    // of the clone/fork/vfork it is in (set at its seccomp stop)
  uint64_t at_random_ = 0;      // where its image's AT_RANDOM bytes are (set at exec)
  bool awaiting_exit_ = false;  // resumed with PTRACE_SYSCALL to see the syscall return
  bool fresh_ = false;          // a new thread whose initial SIGSTOP is still to come
  const MemView* view_ = nullptr;
};

// What the core knows at a syscall's seccomp stop, handed to the tool.
struct SyscallStop {
  long nr;
  const SyscallSpec* spec;
  uint64_t args[6];
  int64_t time_ns;  // CLOCK_MONOTONIC when the stop was seen
};

// A trapped rdtsc/rdtscp (PR_SET_TSC): the tool supplies what it reads.
struct TscRead {
  bool rdtscp = false;  // also sets ecx (the processor id, IA32_TSC_AUX)
  uint64_t value = 0;
  uint32_t aux = 0;
};

enum class Resume {
  Continue,  // let the thread run until its next trapped syscall
  ToExit,    // also stop when the syscall returns (on_syscall_exit is called)
  Hold,      // leave the thread stopped; the tool resumes it later (Tracer::resume)
  Step,      // run one instruction (a breakpoint's own), then stop: Tool::on_single_step
  Kill,      // the tool gave up: kill the traced process
};

class Tracer;

class Tool {
 public:
  virtual ~Tool() = default;
  void attach(Tracer* core) { core_ = core; }
  // A trapped syscall at its seccomp stop (Untraced ones never reach the tool).
  virtual Resume on_syscall(Thread& t, const SyscallStop& stop) = 0;
  // After Resume::ToExit: the syscall returned. Continue, or Hold to resume the thread later.
  virtual Resume on_syscall_exit(Thread& t) = 0;
  // After a successful execve replaced the image (auxv is already patched).
  virtual void on_exec(Thread&) {}
  // A signal is about to be delivered (`info` as the kernel queued it); return the signal to
  // deliver (0 to suppress).
  virtual int on_signal(Thread&, int sig, const siginfo_t& /*info*/) { return sig; }
  // The thread stopped at an int3 (SIGTRAP from the kernel): true when the tool owns that
  // breakpoint and holds the thread (it resumes it later); false delivers the signal.
  virtual bool on_breakpoint(Thread&) { return false; }
  // The single instruction a Resume::Step ran is done (SIGTRAP, TRAP_TRACE). Return false if the
  // step is not the tool's: the trap then goes to on_signal as any other signal.
  virtual bool on_single_step(Thread&) { return false; }
  // The thread executed rdtsc/rdtscp (trapped: the service runs with PR_TSC_SIGSEGV). Fill `r`
  // and Continue; the core puts it in the registers and steps past the instruction.
  virtual Resume on_tsc(Thread&, TscRead&) { return Resume::Kill; }
  // Every traced thread and process has ended; `status` is the first process's (exit code, or
  // killing signal). on_thread_exit has been called for each thread, this one included.
  virtual void on_exit(int status) = 0;
  // The program did something this version cannot follow (the core kills it afterwards).
  virtual void on_unsupported(const std::string& message) = 0;
  // A thread or a process started (clone, fork, vfork; child.pid() != parent.pid() for a
  // process): the parent's clone event, and the new thread's first stop (in either order; it
  // runs no code before on_thread_start lets it).
  virtual void on_thread_created(Thread& /*parent*/, Thread& /*child*/) {}
  virtual Resume on_thread_start(Thread& /*t*/) { return Resume::Continue; }
  // A thread ended (for a process's leader, t.tid() == t.pid(), the whole process has ended).
  virtual void on_thread_exit(Thread& /*t*/, int /*status*/) {}
  // The tool's next timer (CLOCK_MONOTONIC ns), or -1; on_timer runs when it is due.
  virtual int64_t next_deadline() { return -1; }
  virtual void on_timer() {}
  // request_wake() was called (from a signal handler).
  virtual void on_wake() {}
  // The only tracee that can stop next, or -1 (any). waitpid(-1) looks at every traced task,
  // and frozen checkpoint copies are traced tasks that never stop again: waiting for the one
  // thread that runs costs the same however many copies are kept.
  virtual pid_t only_waitable() { return -1; }

 protected:
  Tracer* core_ = nullptr;
};

class Tracer {
 public:
  // Spawns the command and runs the stop loop until the process is gone. Returns false with
  // `error` set if the command could not be started.
  bool run(const SpawnConfig& cfg, Tool& tool, std::string& error);
  void kill_tracee();
  // The first process's id (the one spawned; others are its descendants).
  pid_t pid() const { return leader_; }
  // Sends a signal to one thread (tgkill), e.g. a recorded asynchronous signal in replay.
  bool signal_thread(const Thread& t, int sig);
  // Resumes a stopped thread (one the tool held, or the one at hand), delivering `sig`.
  void resume(Thread& t, Resume r, int sig = 0);
  Thread* thread(pid_t tid);
  size_t thread_count() const { return threads_.size(); }
  // Checkpoints (replay_checkpoint.cc) make processes outside the stop loop: a process forked
  // from a checkpoint joins the run in place of `replaces` (its first process too, if that one
  // was), stopped; a process dropped leaves it without an exit being reported.
  Thread& adopt(pid_t pid, pid_t replaces);
  // A thread made in such a process (it is stopped; the tool resumes it).
  Thread& adopt_thread(pid_t tid, pid_t pid) { return add_thread(tid, pid, false); }
  // The threads of a traced process the core knows (tids).
  std::vector<pid_t> threads_of(pid_t pid) const;
  void forget_process(pid_t pid);

 private:
  bool loop(Tool& tool, std::string& error);
  pid_t wait_any(int64_t deadline_ns, int& status, pid_t only = -1);
  Thread& add_thread(pid_t tid, pid_t pid, bool fresh);
  bool trap_tsc(Thread& t, Tool& tool);
  // Counter reads rewritten to ud2 (tsc.h), per process, by address.
  std::map<pid_t, std::map<uint64_t, TscSite>> tsc_sites_;
  pid_t leader_ = -1;
  int root_status_ = 0;    // the first process's exit status, once it has ended
  std::set<pid_t> processes_;  // live traced processes
  int64_t armed_ns_ = -1;  // when the wait_any alarm fires (-1: disarmed)
  std::map<pid_t, std::unique_ptr<Thread>> threads_;
};

// The clone flags of a clone/clone3/fork/vfork at its seccomp stop (fork: SIGCHLD; vfork:
// CLONE_VFORK | CLONE_VM | SIGCHLD).
uint64_t clone_flags(Thread& t, const SyscallSpec& s, const uint64_t args[6]);

// CPU pinning: pins the calling process to the CPU it runs on; returns that CPU (-1 on error).
int pin_to_current_cpu();
// The affinity mask the engine had when it started, before pinning (raw kernel cpumask bytes).
const std::string& original_cpu_mask();

}  // namespace rb
