// Checkpoints: jumps back (and far forward) without replaying from the start.
// (replay_tool.h lists the replayer's files.)
//
// A checkpoint is a fork of the replayed process, made by running fork in its leader thread
// while every thread is held at a known stop, as rr does: the child is the frozen copy (memory,
// fds, the placeholders at their recorded numbers) and never runs; the replay's own state then
// (log position, served count, clocks) is kept alongside, with each thread's state: registers
// (fs_base/gs_base included), FP registers, signal mask, robust list (get_robust_list), the
// address its creating clone asked the kernel to clear at its end (CLONE_CHILD_CLEARTID, seen
// at that clone), its Held place in the schedule and its recorded signals still to deliver.
// To go back, fork the copy again; in the new process, run clone (a thread's flags) once per
// other thread, give each thread its saved state (set_robust_list run in it; one that was at
// its call's seccomp stop enters that call again and stops there), drop the live process, and
// go on from there with the saved state, recorded tids mapped to the new real ones.
//
// Taken at every pause, 256 and 16 events before a jump's target, and while the replay
// runs every 1/64 of the log; at most 64 kept (to_drop says which go). A checkpoint needs every
// thread stopped where the schedule holds it: at its next call's seccomp stop, or waiting for
// its turn after a call or at its start. While one is between stops (in a call run for real,
// in an emulated call's recorded duration) or has a signal pending, the checkpoint waits for a
// later event (Taken::Later). A thread made again also gets back its alternate signal stack,
// rseq registration, name and CPU affinity (ThreadExtras: read at the checkpoint, given back by
// calls run in it). Its scheduling policy, nice value and timers need nothing: replay emulates
// sched_setscheduler, setpriority, timer_create and the like (the policy stays the one every
// thread starts with, which clone copies; timer signals come from the log).
// Writable shared mappings (MAP_SHARED, anonymous or of a file: a fork shares them with the
// copy rather than copying them) have their bytes copied into the checkpoint and written back
// at a restore, up to 64 MiB in all. None for a tree of processes (a fork copies one), under the
// stream policy, or with more shared memory than that: then jumps restart the replay (the
// session says why). With injections, only until one fires (the run leaves the log there, and the
// checkpoints go): a checkpoint keeps their counts, and a restore puts them back, so the run
// fires them at the same calls. The engine is a subreaper once it has a checkpoint: copies and
// the processes forked from them are children of processes that go; it reaps them (reap_orphans).
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include "protocol.h"
#include "replay_tool.h"

namespace rb {

namespace {

constexpr size_t kMaxCheckpoints = 64;
// Writable shared mappings are shared by a fork, not copied: a checkpoint copies their bytes
// itself, up to this much.
constexpr uint64_t kMaxSharedBytes = 64ull << 20;
// Kept free of the evenly spaced ones for those around where the replay pauses (the pause, and
// 16 and 256 events before it): a pass through the whole log then lets none of the even ones go.
constexpr size_t kAroundPause = 4;

int wait_for(pid_t pid) {
  int st = 0;
  while (waitpid(pid, &st, __WALL) < 0)
    if (errno != EINTR) return -1;
  return st;
}

int event_of(int st) { return st >> 16; }

// Runs a syscall in `pid`, stopped with `regs` set up to execute it: at a seccomp stop
// (`at_seccomp`), orig_rax names it; at any other stop, rip is a `syscall` instruction and rax
// the call's number (orig_rax -1). Follows it through its seccomp stop (and its fork or clone
// event) to its syscall-exit stop. Returns the task it made (stopped at its first stop), 0 for
// a call that makes none, or -1; `ret` gets its return value. Outside a seccomp stop, signals
// are dropped: that is a frozen copy (it never runs the program again, its forked copies do, and
// the SIGCHLD of a copy that was replaced is pending there) or a task the caller made or checked
// had none pending. Until the call has entered (its seccomp stop: every call used here is
// trapped), the task is resumed with PTRACE_CONT: PTRACE_SYSCALL after a dropped signal would
// stop it at the syscall's entry, which looks like the exit stop (both SIGTRAP|0x80).
pid_t run_call(pid_t pid, user_regs_struct regs, bool at_seccomp, int64_t* ret = nullptr) {
  if (ptrace(PTRACE_SETREGS, pid, nullptr, &regs) != 0) return -1;
  if (ptrace(at_seccomp ? PTRACE_SYSCALL : PTRACE_CONT, pid, 0, 0) != 0) return -1;
  pid_t child = 0;
  bool entered = at_seccomp;
  for (;;) {
    int st = wait_for(pid);
    if (st < 0 || !WIFSTOPPED(st)) return -1;
    if (event_of(st) == PTRACE_EVENT_FORK || event_of(st) == PTRACE_EVENT_CLONE) {
      unsigned long msg = 0;
      ptrace(PTRACE_GETEVENTMSG, pid, nullptr, &msg);
      child = static_cast<pid_t>(msg);
    } else if (entered && is_syscall_stop(st)) {
      break;
    } else if (is_seccomp_stop(st)) {
      entered = true;
    } else if (!at_seccomp) {
      // a signal (or another stop): dropped (resumed below without it)
    } else {
      return -1;  // a signal in the live process: not a place for a checkpoint
    }
    if (ptrace(entered ? PTRACE_SYSCALL : PTRACE_CONT, pid, 0, 0) != 0) return -1;
  }
  if (ret) {
    user_regs_struct r{};
    if (ptrace(PTRACE_GETREGS, pid, nullptr, &r) != 0) return -1;
    *ret = static_cast<int64_t>(r.rax);
  }
  if (child == 0) return 0;
  int st = wait_for(child);
  if (st < 0 || !WIFSTOPPED(st)) {
    kill(child, SIGKILL);
    return -1;
  }
  return child;
}

// Kills a traced process and reaps each of its threads (the leader last: its end is reported
// only once the others are reaped).
void reap_process(pid_t pid, const std::vector<pid_t>& tids) {
  kill(pid, SIGKILL);
  for (pid_t tid : tids)
    if (tid != pid)
      for (int st = wait_for(tid); st >= 0 && !WIFEXITED(st) && !WIFSIGNALED(st); st = wait_for(tid)) {
      }
  for (int st = wait_for(pid); st >= 0 && !WIFEXITED(st) && !WIFSIGNALED(st); st = wait_for(pid)) {
  }
}

#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31)  // linux/signal.h: disarmed while a handler runs on it
#endif
#ifndef PTRACE_GET_RSEQ_CONFIGURATION
#define PTRACE_GET_RSEQ_CONFIGURATION 0x420f
#endif
// PTRACE_GET_RSEQ_CONFIGURATION's answer (struct ptrace_rseq_configuration, Linux 5.13).
struct RseqConfig {
  uint64_t pointer;
  uint32_t size;
  uint32_t signature;
  uint32_t flags;
  uint32_t pad;
};

// Where a call run in a stopped thread finds its argument bytes: on its own stack, well below
// its stack pointer (past the red zone), where nothing of the program lives. The bytes there are
// put back after the call.
uint64_t stack_scratch(const user_regs_struct& r) { return (r.rsp - 1024) & ~uint64_t{15}; }

// A stopped task goes back to the stop it was held at with `regs`: at its call's seccomp stop
// (the call entered again), or after a call / where it waits for its turn (its registers).
bool back_to_stop(pid_t tid, const user_regs_struct& regs, bool at_entry) {
  if (!at_entry) return ptrace(PTRACE_SETREGS, tid, nullptr, &regs) == 0;
  user_regs_struct back = regs;
  back.rip -= 2;  // the syscall instruction
  back.rax = regs.orig_rax;
  back.orig_rax = static_cast<uint64_t>(-1);
  return ptrace(PTRACE_SETREGS, tid, nullptr, &back) == 0 && ptrace(PTRACE_CONT, tid, 0, 0) == 0 &&
         is_seccomp_stop(wait_for(tid));
}

// Runs call `nr` (trapped by the filter, making no task) in a task held at a known stop (`regs`
// as read there), its arguments a0..a3, and puts it back at that stop. `insn` is a syscall
// instruction of the program. Returns the call's return value, or -1 with `ok` false.
int64_t call_in(pid_t tid, const user_regs_struct& regs, bool at_entry, uint64_t insn, uint64_t nr,
                uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, bool& ok) {
  user_regs_struct r = regs;
  if (at_entry) {
    r.orig_rax = nr;  // at the seccomp stop, the kernel runs what orig_rax names
  } else {
    r.rip = insn;
    r.rax = nr;
    r.orig_rax = static_cast<uint64_t>(-1);
  }
  r.rdi = a0;
  r.rsi = a1;
  r.rdx = a2;
  r.r10 = a3;
  int64_t ret = -1;
  ok = run_call(tid, r, at_entry, &ret) == 0 && back_to_stop(tid, regs, at_entry);
  return ret;
}

// Runs a call the filter lets through (rseq: no seccomp stop) in a task stopped with no signal
// pending, from ptrace's syscall-entry stop to its exit stop. False when it did not run.
bool run_untraced(pid_t tid, user_regs_struct regs, int64_t& ret) {
  if (ptrace(PTRACE_SETREGS, tid, nullptr, &regs) != 0 || ptrace(PTRACE_SYSCALL, tid, 0, 0) != 0) return false;
  for (int stops = 0; stops < 2;) {
    int st = wait_for(tid);
    if (st < 0 || !WIFSTOPPED(st)) return false;
    if (is_syscall_stop(st)) stops++;
    else if (!is_seccomp_stop(st)) return false;
    if (stops < 2 && ptrace(PTRACE_SYSCALL, tid, 0, 0) != 0) return false;
  }
  user_regs_struct out{};
  if (ptrace(PTRACE_GETREGS, tid, nullptr, &out) != 0) return false;
  ret = static_cast<int64_t>(out.rax);
  return true;
}

std::string comm_of(pid_t pid, pid_t tid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/comm");
  std::string name;
  std::getline(f, name);
  return name;
}

// What a thread other than the leader would lose when made again (ThreadExtras), read while it
// is held at its stop: the alternate signal stack by sigaltstack run in it, the rest from outside.
void read_outside(pid_t pid, pid_t tid, ThreadExtras& x) {
  x.comm = comm_of(pid, tid);
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(tid, sizeof set, &set) == 0) {
    const uint8_t* b = reinterpret_cast<const uint8_t*>(&set);
    x.affinity.assign(b, b + sizeof set);
  }
}

// What read_extras did: read; not read, the thread untouched (no checkpoint
// now); or the thread was left unusable by the call run in it (the run cannot go on).
enum class Read { Ok, Untouched, Broken };

Read read_extras(Thread& t, const user_regs_struct& regs, bool at_entry, uint64_t insn, ThreadExtras& x) {
  read_outside(t.pid(), t.tid(), x);
  RseqConfig rc{};
  if (ptrace(static_cast<enum __ptrace_request>(PTRACE_GET_RSEQ_CONFIGURATION), t.tid(), sizeof rc, &rc) > 0 && rc.pointer) {
    x.rseq_ptr = rc.pointer;
    x.rseq_len = rc.size;
    x.rseq_sig = rc.signature;
  }
  uint64_t at = stack_scratch(regs);
  stack_t saved{}, ss{};
  if (!t.read_mem(at, &saved, sizeof saved)) return Read::Untouched;
  bool ok = false;
  int64_t ret = call_in(t.tid(), regs, at_entry, insn, SYS_sigaltstack, 0, at, 0, 0, ok);
  if (!ok) return Read::Broken;
  if (ret == 0 && t.read_mem(at, &ss, sizeof ss)) {
    x.alt_read = true;
    x.alt_sp = reinterpret_cast<uint64_t>(ss.ss_sp);
    x.alt_size = ss.ss_size;
    x.alt_flags = ss.ss_flags;
  }
  return t.write_mem(at, &saved, sizeof saved) && t.load_regs() ? Read::Ok : Read::Broken;
}

// A thread made again by clone in a restored copy (stopped, its saved registers `regs`) gets back
// what it does not inherit: its alternate signal stack, its name and CPU affinity where they are
// not the leader's (clone copies those from it), its rseq registration (the same area, length
// and signature: glibc's sched_getcpu and the program's own rseq users go on reading it).
bool give_extras(pid_t pid, pid_t tid, const user_regs_struct& regs, uint64_t insn, const ThreadExtras& x,
                 const ThreadExtras& leader) {
  const std::string& leader_comm = leader.comm;
  Thread t(tid, pid);
  uint64_t at = stack_scratch(regs);
  char saved[32];
  if (!t.read_mem(at, saved, sizeof saved)) return false;
  bool ok = true;
  if (x.alt_read && !(x.alt_flags & SS_DISABLE)) {
    stack_t ss{};
    ss.ss_sp = reinterpret_cast<void*>(x.alt_sp);
    ss.ss_size = x.alt_size;
    ss.ss_flags = static_cast<int>(static_cast<unsigned>(x.alt_flags) & SS_AUTODISARM);  // SS_ONSTACK only describes where it ran
    bool ran = false;
    ok = t.write_mem(at, &ss, sizeof ss) && call_in(tid, regs, false, insn, SYS_sigaltstack, at, 0, 0, 0, ran) == 0 && ran;
  }
  if (ok && !x.comm.empty() && x.comm != leader_comm) {
    char name[16] = {};
    std::memcpy(name, x.comm.data(), std::min(x.comm.size(), sizeof name - 1));
    bool ran = false;
    ok = t.write_mem(at, name, sizeof name) && call_in(tid, regs, false, insn, SYS_prctl, PR_SET_NAME, at, 0, 0, ran) == 0 && ran;
  }
  if (ok && !x.affinity.empty() && x.affinity != leader.affinity) ok = sched_setaffinity(tid, x.affinity.size(), reinterpret_cast<const cpu_set_t*>(x.affinity.data())) == 0;
  if (ok && x.rseq_ptr) {
    user_regs_struct r = regs;
    r.rip = insn;
    r.rax = SYS_rseq;
    r.orig_rax = static_cast<uint64_t>(-1);
    r.rdi = x.rseq_ptr;
    r.rsi = x.rseq_len;
    r.rdx = 0;
    r.r10 = x.rseq_sig;
    int64_t ret = -1;
    ok = run_untraced(tid, r, ret) && ret == 0;
  }
  return ok && t.write_mem(at, saved, sizeof saved);
}

// The tids of a process, from /proc (the tracer may not have seen a new one's first stop yet).
std::vector<pid_t> tids_of(pid_t pid) {
  std::vector<pid_t> out;
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') out.push_back(static_cast<pid_t>(std::atoi(e->d_name)));
    closedir(d);
  }
  return out;
}

// Whether a thread has a signal pending (its own or its process's): a fork would not copy it.
bool signal_pending(pid_t pid, pid_t tid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if ((line.compare(0, 7, "SigPnd:") == 0 || line.compare(0, 7, "ShdPnd:") == 0) &&
        std::strtoull(line.c_str() + 7, nullptr, 16) != 0)
      return true;
  return false;
}

// A writable MAP_SHARED mapping would be shared by fork, not copied: the checkpoint would change.
// The process's writable shared mappings (a fork shares them with the copy rather than copying
// them): their ranges, and the first one's /proc/PID/maps line to name it.
struct SharedMaps {
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // [start, end)
  uint64_t bytes = 0;
  std::string first;
};

SharedMaps shared_writable(pid_t pid) {
  SharedMaps out;
  std::ifstream f("/proc/" + std::to_string(pid) + "/maps");
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string range, perms;
    in >> range >> perms;
    if (perms.size() < 4 || perms[1] != 'w' || perms[3] != 's') continue;
    uint64_t start = std::strtoull(range.c_str(), nullptr, 16);
    size_t dash = range.find('-');
    uint64_t end = dash == std::string::npos ? start : std::strtoull(range.c_str() + dash + 1, nullptr, 16);
    if (end <= start || FastPath::in_data(start)) continue;  // the serve ring: the engine's (replay_fast.cc)
    out.ranges.emplace_back(start, end);
    out.bytes += end - start;
    if (out.first.empty()) out.first = line;
  }
  return out;
}


int64_t kb_of(pid_t pid, const char* key) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string line;
  size_t n = strlen(key);
  while (std::getline(f, line))
    if (line.compare(0, n, key) == 0) return std::atoll(line.c_str() + n + 1);
  return -1;
}

}  // namespace

// Yes when every thread of the one process is held at a known stop: the one whose call is
// next at its seccomp stop, each other at its own (not served yet) or where it waits for its
// turn (a call served, or new); Later while one is between stops (running, in a real call, in an
// emulated call's recorded duration) or has a signal pending.
Replayer::Taken Replayer::can_checkpoint(std::string& why) {
  if (!no_checkpoint_.empty()) {
    why = no_checkpoint_;
    return Taken::No;
  }
  // With injections, only while the replay still follows the log (none has fired): the
  // checkpoint keeps their counts, and a run resumed from it fires them at the same calls.
  if (stream_ || diverged_ || finished_ || opts_.counterfactual) {
    why = opts_.counterfactual ? "the program runs changed (a counterfactual replay): jumps restart the replay" : "";
    return Taken::No;
  }
  for (const Injection& inj : opts_.injections)
    if (inj.fired > 0) return Taken::No;
  if (!breakpoints_.empty() || bp_thread_ >= 0 || cursor_ >= opts_.log.size() || held_.empty()) return Taken::No;
  pid_t pid = -1;
  for (const auto& [real, h] : held_) {
    Thread* t = core_->thread(real);
    if (!t) return Taken::Later;
    if (pid < 0) pid = t->pid();
    if (t->pid() != pid) {
      why = "the program has several processes (a fork copies one process): jumps restart the replay";
      no_checkpoint_ = why;
      return Taken::No;
    }
  }
  // The tracer sees every clone before the parent's next call: a thread it knows but holds no
  // stop of yet has still to reach its first.
  if (running_ >= 0 || exiting_ >= 0 || !clone_of_.empty() || core_->thread_count() != held_.size() || !held_.count(pid))
    return Taken::Later;
  auto next = rec_to_real_.find(opts_.log[cursor_].tid);
  if (next == rec_to_real_.end() || !held_.count(next->second) || !held_[next->second].at_entry) return Taken::Later;
  for (const auto& [real, h] : held_) {
    bool known = (h.at_entry || h.ready) && !h.in_flight && h.delayed_until == 0 && !h.backed_out && !h.restore_args &&
                 !h.interrupted && !h.call.real && !h.serving;
    if (!known) return Taken::Later;
  }
  for (const auto& [real, h] : held_)
    if (signal_pending(pid, real)) return Taken::Later;
  SharedMaps shared = shared_writable(pid);
  if (shared.bytes > kMaxSharedBytes) {
    why = "the program maps " + std::to_string(shared.bytes >> 20) + " MiB shared and writable (" + shared.first +
          "), more than a checkpoint copies (" + std::to_string(kMaxSharedBytes >> 20) + " MiB; a fork would share it, not copy it): jumps restart the replay";
    no_checkpoint_ = why;
    return Taken::No;
  }
  return Taken::Yes;
}

// Every thread's state is read; the leader runs fork (a fork copies the calling thread alone:
// the others are recreated at a restore) and goes back to the stop it was at.
Replayer::Taken Replayer::checkpoint(const char* why) {
  // A run straight through (replay(), verify's runs) never jumps: forks would cost time and leave
  // frozen copies of the program beside it for nothing.
  if (!opts_.checkpoints) return Taken::No;
  std::string reason;
  Taken can = can_checkpoint(reason);
  if (can != Taken::Yes) {
    if (!reason.empty() && !checkpoint_refused_) {
      checkpoint_refused_ = true;
      out_.message(checkpoint_message(seq_, 0, 0, 0, -1, reason));
    }
    return can;
  }
  uint64_t seq = opts_.log[cursor_].seq;
  for (const auto& c : checkpoints_)
    if (c.seq == seq) return Taken::Yes;  // one is there already
  int64_t t0 = now_ns();
  // The copies' descendants, orphaned when the process they were forked from goes, come to the
  // engine to be reaped (drop_checkpoints), not to whatever adopts orphans on this machine.
  if (!reaper_) reaper_ = prctl(PR_SET_CHILD_SUBREAPER, 1) == 0;
  Thread* next = core_->thread(real_of(opts_.log[cursor_].tid));
  if (!next || !next->load_regs()) return Taken::No;
  Checkpoint c;
  c.insn = next->regs().rip - 2;  // it stopped at its call's seccomp stop, after the instruction
  pid_t pid = next->pid();
  std::vector<pid_t> order{pid};
  for (const auto& [real, h] : held_)
    if (real != pid) order.push_back(real);
  for (pid_t tid : order) {
    Thread* t = core_->thread(tid);
    Task k;
    k.real = tid;
    uint64_t head = 0;
    size_t len = 0;
    if (!t || !t->load_regs() || ptrace(PTRACE_GETFPREGS, tid, nullptr, &k.fp) != 0 ||
        ptrace(PTRACE_GETSIGMASK, tid, sizeof k.sigmask, &k.sigmask) != 0 ||
        syscall(SYS_get_robust_list, tid, &head, &len) != 0)
      return Taken::No;
    k.regs = t->regs();
    if (tid == pid) read_outside(pid, tid, k.extras);
    else if (Read r = read_extras(*t, k.regs, held_[tid].at_entry, c.insn, k.extras); r != Read::Ok) {
      if (r == Read::Broken) {
        out_.message(error_message("checkpoint", "a checkpoint failed and left the replayed process unusable"));
        core_->kill_tracee();
      }
      return Taken::No;
    }
    k.robust_head = head;
    k.robust_len = len;
    if (auto ct = clear_tid_.find(tid); ct != clear_tid_.end()) k.clear_tid = ct->second;
    k.held = held_[tid];
    if (auto sg = signals_.find(tid); sg != signals_.end()) k.signals = sg->second;
    c.tasks.push_back(std::move(k));
  }
  // Memory the copy shares with the live process: its bytes as they are now.
  for (const auto& [start, end] : shared_writable(pid).ranges) {
    std::string bytes(end - start, '\0');
    if (!next->read_mem(start, bytes.data(), bytes.size())) return Taken::Later;  // e.g. a file shorter than its mapping
    c.shared.emplace_back(start, std::move(bytes));
  }
  const Task& lead = c.tasks[0];
  user_regs_struct r = lead.regs;
  pid_t child;
  if (lead.held.at_entry) {
    r.orig_rax = SYS_fork;  // at the seccomp stop, the kernel runs what orig_rax names
    child = run_call(pid, r, true);
  } else {
    r.rip = c.insn;
    r.rax = SYS_fork;
    r.orig_rax = static_cast<uint64_t>(-1);
    child = run_call(pid, r, false);
  }
  // The leader goes back to its stop: the seccomp stop of the same syscall (entered again), or
  // where it waits for its turn, its registers as they were.
  bool ok = back_to_stop(pid, lead.regs, lead.held.at_entry) && core_->thread(pid)->load_regs();
  if (!ok) {
    // The live process is lost: the run cannot go on.
    if (child > 0) kill(child, SIGKILL);
    out_.message(error_message("checkpoint", "a checkpoint failed and left the replayed process unusable"));
    core_->kill_tracee();
    return Taken::No;
  }
  if (child <= 0) {
    no_checkpoint_ = "the replayed process could not be forked for a checkpoint: jumps restart the replay";
    return Taken::No;
  }
  c.proc = child;
  fast_checkpointed(pid, child);
  c.cursor = cursor_;
  c.served = seq_;
  c.seq = seq;
  c.prev_enter_ns = prev_enter_ns_;
  c.rec_to_real = rec_to_real_;
  c.scratch = scratch_.count(pid) > 0;
  for (const Injection& inj : opts_.injections) c.injections.push_back({inj.seen, inj.fired, inj.counters});
  int64_t shared_kb = 0;  // the copy's memory besides its Pss
  for (const auto& [start, bytes] : c.shared) shared_kb += static_cast<int64_t>(bytes.size() / 1024);
  auto at = checkpoints_.begin();
  while (at != checkpoints_.end() && at->seq < seq) ++at;
  checkpoints_.insert(at, std::move(c));
  int64_t dropped = -1;
  if (checkpoints_.size() > kMaxCheckpoints) {
    size_t drop = to_drop(seq);
    dropped = static_cast<int64_t>(checkpoints_[drop].seq);
    kill(checkpoints_[drop].proc, SIGKILL);
    wait_for(checkpoints_[drop].proc);
    checkpoints_.erase(checkpoints_.begin() + static_cast<long>(drop));
    reap_orphans();
  }
  (void)why;
  int64_t pss = kb_of(child, "Pss:");
  out_.message(checkpoint_message(seq, checkpoints_.size(), (now_ns() - t0) / 1000, pss < 0 ? pss : pss + shared_kb, dropped, ""));
  return Taken::Yes;
}

// Which checkpoint to let go when one too many are kept, the replay standing at `here`: the one
// whose loss leaves the smallest gap between its neighbours, a gap near `here` counting as if
// it were wider, by near_span (1/1024 of the log) over the distance. So the kept ones lie about evenly over the log
// (a jump anywhere replays at most about 1/64 of it) and more densely around where the replay
// stands (a step back, or a jump near here, replays a few events), as rr keeps them. Never the
// first, nor the one at `here`, nor the one just before it (taken for a step back).
// Events between evenly spaced checkpoints: the log over the checkpoints it may keep.
size_t Replayer::spacing() const { return std::max<size_t>(opts_.log.size() / (kMaxCheckpoints - kAroundPause), 1000); }

size_t Replayer::to_drop(uint64_t here) const {
  const uint64_t near_span = std::max<uint64_t>(opts_.log.size() / (16 * kMaxCheckpoints), 256);
  size_t drop = 1;
  double least = 0;
  bool any = false;
  for (size_t i = 1; i + 1 < checkpoints_.size(); i++) {
    uint64_t s = checkpoints_[i].seq;
    uint64_t d = s > here ? s - here : here - s;
    if (d == 0 || (s < here && i + 1 < checkpoints_.size() && checkpoints_[i + 1].seq >= here)) continue;
    double gap = static_cast<double>(checkpoints_[i + 1].seq - checkpoints_[i - 1].seq);
    double cost = gap * std::max(1.0, static_cast<double>(near_span) / static_cast<double>(d));
    if (!any || cost < least) {
      least = cost;
      drop = i;
      any = true;
    }
  }
  return drop;
}

// While the replay runs: one every 1/64 of the log, and on the way to where a jump pauses, 256
// and 16 events before it (those it passes), so that a step back from there replays at most 16
// events and a jump near there a few hundred.
void Replayer::maybe_checkpoint() {
  if (!no_checkpoint_.empty()) return;
  uint64_t seq = opts_.log[cursor_].seq;
  if (opts_.pause_at != UINT64_MAX && seq < opts_.pause_at) {
    if (near_target_ != opts_.pause_at) {
      near_target_ = opts_.pause_at;
      near_level_ = UINT64_MAX;
    }
    for (uint64_t k : {16, 256})
      if (seq + k >= opts_.pause_at) {
        if (k < near_level_) {
          if (checkpoint("near") != Taken::Later) near_level_ = k;  // else tried again at the next event
          return;
        }
        break;
      }
  }
  if (cursor_ < next_checkpoint_) return;
  if (checkpoint("spaced") != Taken::Later) next_checkpoint_ = cursor_ + spacing();
}

// Goes to the nearest checkpoint at or before `seq` when that saves replaying: backward always,
// forward when it is ahead of where the replay stands. Answers with a restored message.
void Replayer::goto_checkpoint(uint64_t seq) {
  uint64_t now = cursor_ < opts_.log.size() ? opts_.log[cursor_].seq : opts_.log.size();
  Checkpoint* best = nullptr;
  for (auto& c : checkpoints_)
    if (c.seq <= seq) best = &c;
  std::string err;
  if (!best || (seq >= now && best->seq <= now)) {
    out_.message(restored_message(false, now, seq_, best || seq >= now ? "" : no_checkpoint_.empty() ? "no checkpoint before that event" : no_checkpoint_));
    return;
  }
  if (!restore(*best, err)) {
    out_.message(restored_message(false, now, seq_, err));
    return;
  }
  out_.flush();
  out_.message(restored_message(true, best->seq, seq_, ""));
}

// Replaces the injection set of a paused replay that still follows the log: back to the latest
// checkpoint at or before where it stands whose past (log events [0, its seq), served exactly
// as recorded) would not have fired any of the new injections, with their counts over that past;
// the caller runs forward from there (until). The checkpoints past the first call the new set
// fires at are let go, the others get the new counts. Answers with a restored message (not
// restored, the set unchanged: no such checkpoint; the session then restarts the replay).
void Replayer::set_injections(std::vector<Injection> list) {
  uint64_t now = cursor_ < opts_.log.size() ? opts_.log[cursor_].seq : opts_.log.size();
  auto refuse = [&](const std::string& why) { out_.message(restored_message(false, now, seq_, why)); };
  if (!paused_ || stream_ || diverged_ || finished_) {
    refuse(stream_ || diverged_ ? "the replay left the log: injections change with a restart" : "pause the replay first");
    return;
  }
  // Where the new set would fire first, counting as departs() does on the events served from
  // the log (syscalls after the first); the counts at each checkpoint on the way.
  for (Injection& inj : list) {
    inj.seen = inj.fired = 0;
    inj.counters.clear();
  }
  std::vector<std::vector<Checkpoint::Counts>> at(checkpoints_.size());
  size_t next = 0;  // the next checkpoint (by cursor) to note counts for
  size_t fires = opts_.log.size();
  bool first = true;
  for (size_t i = 0; i <= cursor_ && i < opts_.log.size() && fires == opts_.log.size(); i++) {
    for (; next < checkpoints_.size() && checkpoints_[next].cursor == i; next++)
      for (const Injection& inj : list) at[next].push_back({inj.seen, inj.fired, inj.counters});
    const Event& e = opts_.log[i];
    if (e.kind != kSyscall) continue;
    if (first) {
      first = false;  // the spawn's exec: served before any injection is asked
      continue;
    }
    for (Injection& inj : list) {
      if (inj.kind == Injection::Latency) {
        if (!e.resource.empty() && glob_match(inj.resource, e.resource)) fires = i;
      } else if (inj.selects(e.name, e.pid, e.tid, e.resource, e.args) && inj.count(e.nr, e.tid)) {
        fires = i;
      }
    }
  }
  Checkpoint* best = nullptr;
  for (size_t k = 0; k < checkpoints_.size(); k++)
    if (checkpoints_[k].seq <= now && checkpoints_[k].cursor <= fires && k < next) best = &checkpoints_[k];
  if (!best) {
    refuse(checkpoints_.empty() ? (no_checkpoint_.empty() ? "no checkpoint" : no_checkpoint_)
                                : "no checkpoint before the first call the new injections change");
    return;
  }
  std::string err;
  if (!restore(*best, err)) {
    refuse(err);
    return;
  }
  // The new set, with its counts where the checkpoint stands; the others get theirs, or go.
  size_t b = static_cast<size_t>(best - checkpoints_.data());
  opts_.injections = std::move(list);
  for (size_t i = 0; i < opts_.injections.size(); i++) {
    opts_.injections[i].seen = at[b][i].seen;
    opts_.injections[i].fired = at[b][i].fired;
    opts_.injections[i].counters = at[b][i].counters;
  }
  uint64_t best_seq = best->seq;
  std::vector<Checkpoint> kept;
  for (size_t k = 0; k < checkpoints_.size(); k++) {
    if (k < next && checkpoints_[k].cursor <= fires) {
      checkpoints_[k].injections = std::move(at[k]);
      kept.push_back(std::move(checkpoints_[k]));
    } else {
      kill(checkpoints_[k].proc, SIGKILL);
      wait_for(checkpoints_[k].proc);
    }
  }
  checkpoints_ = std::move(kept);
  out_.flush();
  out_.message(restored_message(true, best_seq, seq_, ""));
}

namespace {

// A thread of a restored copy (stopped: the copy's first stop, or a clone's exit stop) gets its
// saved state: robust list (set_robust_list run in it), FP registers, signal mask, registers;
// one held at its call's seccomp stop enters that call again and stops there, as it was.
bool settle(pid_t tid, const user_regs_struct& regs, const user_fpregs_struct& fp, uint64_t mask, uint64_t head,
            size_t len, bool at_entry, uint64_t insn) {
  if (head) {
    user_regs_struct r = regs;
    r.rip = insn;
    r.rax = SYS_set_robust_list;
    r.orig_rax = static_cast<uint64_t>(-1);
    r.rdi = head;
    r.rsi = len;
    int64_t ret = -1;
    if (run_call(tid, r, false, &ret) != 0 || ret != 0) return false;
  }
  user_fpregs_struct f = fp;
  if (ptrace(PTRACE_SETFPREGS, tid, nullptr, &f) != 0 || ptrace(PTRACE_SETSIGMASK, tid, sizeof mask, &mask) != 0)
    return false;
  user_regs_struct r = regs;
  if (!at_entry) return ptrace(PTRACE_SETREGS, tid, nullptr, &r) == 0;
  r.rip -= 2;
  r.rax = regs.orig_rax;
  r.orig_rax = static_cast<uint64_t>(-1);
  return ptrace(PTRACE_SETREGS, tid, nullptr, &r) == 0 && ptrace(PTRACE_CONT, tid, 0, 0) == 0 &&
         is_seccomp_stop(wait_for(tid));
}

}  // namespace

// A new copy of the checkpoint (fork run in the frozen one), its other threads made again with
// clone run in it, each given its saved state; the live process goes and the copy takes its
// place, every per-thread structure moved to the new tids.
bool Replayer::restore(Checkpoint& c, std::string& err) {
  if (bp_thread_ >= 0 || !breakpoints_.empty()) {
    err = "the replay has breakpoints a checkpoint does not have";
    return false;
  }
  pid_t live_pid = -1;
  for (const auto& [real, h] : held_) {
    Thread* t = core_->thread(real);
    if (!t) continue;
    if (live_pid >= 0 && t->pid() != live_pid) {
      err = "the replay has processes a checkpoint does not have";
      return false;
    }
    live_pid = t->pid();
  }
  if (live_pid < 0 || !core_->thread(live_pid) || core_->threads_of(live_pid).size() != core_->thread_count()) {
    err = live_pid < 0 ? "no live process" : "the replay has processes a checkpoint does not have";
    return false;
  }
  const Task& lead = c.tasks[0];
  user_regs_struct r = lead.regs;
  r.rip = c.insn;
  r.rax = SYS_fork;
  r.orig_rax = static_cast<uint64_t>(-1);
  errno = 0;
  pid_t fresh = run_call(c.proc, r, false);
  if (fresh <= 0) {
    err = std::string("the checkpoint could not be forked (") + strerror(errno) + ")";
    return false;
  }
  std::vector<pid_t> made{fresh};
  for (size_t i = 1; i < c.tasks.size(); i++) {
    // The thread again: clone with the flags of a thread (pthread_create's), on no stack of its
    // own (it runs no instruction before its registers are set).
    const Task& k = c.tasks[i];
    user_regs_struct cr = lead.regs;
    cr.rip = c.insn;
    cr.rax = SYS_clone;
    cr.orig_rax = static_cast<uint64_t>(-1);
    cr.rdi = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
             (k.clear_tid ? CLONE_CHILD_CLEARTID : 0);
    cr.rsi = 0;
    cr.rdx = 0;
    cr.r10 = k.clear_tid;
    cr.r8 = 0;
    pid_t tid = run_call(fresh, cr, false);
    if (tid <= 0) break;
    made.push_back(tid);
  }
  bool ok = made.size() == c.tasks.size();
  for (size_t i = 0; ok && i < made.size(); i++) {
    const Task& k = c.tasks[i];
    ok = (i == 0 || give_extras(fresh, made[i], k.regs, c.insn, k.extras, lead.extras)) &&
         settle(made[i], k.regs, k.fp, k.sigmask, k.robust_head, k.robust_len, k.held.at_entry, c.insn);
  }
  if (!ok) {
    reap_process(fresh, made);
    err = "the checkpoint's copy could not be given its threads back";
    return false;
  }
  // Shared memory as it was then (the live process, the copy and the new process share it).
  Thread copy(fresh, fresh);
  for (const auto& [start, bytes] : c.shared)
    if (!copy.write_mem(start, bytes.data(), bytes.size())) {
      reap_process(fresh, made);
      err = "the checkpoint's shared memory could not be written back";
      return false;
    }
  // The live process leaves the run unreported; the copy takes its place.
  std::vector<pid_t> old = tids_of(live_pid);
  for (pid_t tid : core_->threads_of(live_pid))
    if (std::find(old.begin(), old.end(), tid) == old.end()) old.push_back(tid);
  core_->adopt(fresh, live_pid);
  for (size_t i = 1; i < made.size(); i++) core_->adopt_thread(made[i], fresh);
  core_->forget_process(live_pid);
  fast_restored(c.proc, fresh, live_pid);
  reap_process(live_pid, old);
  reap_orphans();
  for (pid_t tid : made) core_->thread(tid)->load_regs();
  for (pid_t tid : old) {
    exited_self_.erase(tid);
    clear_tid_.erase(tid);
  }
  killed_.erase(live_pid);
  clone_of_.clear();
  held_.clear();
  signals_.clear();
  std::map<pid_t, pid_t> now;  // tid in the checkpoint's process -> tid in the copy
  for (size_t i = 0; i < made.size(); i++) {
    const Task& k = c.tasks[i];
    now[k.real] = made[i];
    held_[made[i]] = k.held;
    held_[made[i]].call = Held::Call{};
    if (!k.signals.empty()) signals_[made[i]] = k.signals;
    if (k.clear_tid) clear_tid_[made[i]] = k.clear_tid;
  }
  rec_to_real_.clear();
  real_to_rec_.clear();
  for (const auto& [rec, real] : c.rec_to_real) map(rec, now.count(real) ? now[real] : real);
  scratch_.erase(live_pid);
  if (c.scratch) scratch_.insert(fresh);
  // The injections count from where they stood then (none had fired: the run followed the log).
  for (size_t i = 0; i < opts_.injections.size() && i < c.injections.size(); i++) {
    opts_.injections[i].seen = c.injections[i].seen;
    opts_.injections[i].fired = c.injections[i].fired;
    opts_.injections[i].counters = c.injections[i].counters;
  }
  cursor_ = c.cursor;
  seq_ = c.served;
  prev_enter_ns_ = c.prev_enter_ns;
  running_ = -1;
  exiting_ = -1;
  step_budget_ = 0;
  gate_ns_ = -1;
  bp_hit_ = false;
  rearm_.clear();
  paused_ = true;
  next_checkpoint_ = cursor_ + spacing();
  rebase();
  return true;
}

// While the replay goes on: reaps the orphans that came to the engine (a process restored from a
// copy that went, a copy whose process went), none of them a tracee the stop loop follows.
void Replayer::reap_orphans() {
  if (!reaper_) return;
  for (;;) {
    siginfo_t si{};
    if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT | __WALL) != 0 || si.si_pid == 0) return;
    if (core_->thread(si.si_pid) || si.si_code == CLD_TRAPPED || si.si_code == CLD_STOPPED) return;  // the stop loop's
    if (waitpid(si.si_pid, nullptr, __WALL | WNOHANG) <= 0) return;
  }
}

// Lets every checkpoint go while the replay goes on: each copy is killed and reaped here.
void Replayer::release_checkpoints() {
  for (auto& c : checkpoints_) {
    kill(c.proc, SIGKILL);
    wait_for(c.proc);
  }
  checkpoints_.clear();
}

// At the run's end: killed first, all at once, then reaped, so that no copy outlives the engine
// as a zombie (left to whatever adopts it).
void Replayer::drop_checkpoints() {
  for (auto& c : checkpoints_) kill(c.proc, SIGKILL);
  for (auto& c : checkpoints_) wait_for(c.proc);
  checkpoints_.clear();
  // A copy is the child of the process it was forked from, a restored process the child of a
  // copy: once those are gone they come to the engine (a subreaper since its first checkpoint),
  // which reaps them here, the run being over (none is left running: a second at most).
  if (!reaper_) return;
  reap_orphans();
  for (int i = 0; i < 1000; i++) {
    int st = 0;
    pid_t r = waitpid(-1, &st, __WALL | WNOHANG);
    if (r < 0) break;  // no child left
    if (r == 0) usleep(1000);
  }
}

}  // namespace rb
