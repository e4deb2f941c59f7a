// The recorder: every trapped syscall becomes an event with its arguments, the bytes handed to
// the kernel, the bytes it returned, its timing and the resource its fd designates (named by
// resources.h).
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <fstream>
#include <set>
#include <sstream>

#include "capture.h"
#include "fast_abi.h"
#include "late_data.h"
#include "protocol.h"
#include "recorder.h"
#include "resources.h"
#include "tools.h"

namespace rb {
namespace {

class Recorder : public Tool {
 public:
  Recorder(Output& out, const RecordOptions& opts) : out_(out), opts_(opts) {
    if (opts_.parallel) {
      serialized_ = false;
      out_.message(warning_message("schedule_parallel",
                                   "threads ran at once (--schedule parallel): the log gives one order of their syscalls, "
                                   "which replay follows, but a replay may diverge where threads shared memory between syscalls"));
    }
    if (opts_.fast.enabled) {
      FastOptions fo = opts_.fast;
      fo.parallel = opts_.parallel;
      auto f = std::make_unique<FastPath>(fo);
      std::string err;
      if (f->init(err)) {
        fast_ = std::move(f);
        seq_.share(fast_->seq_word());
        last_fast_drain_ = now_ns();
      } else {
        out_.message(warning_message("fast_unavailable", "recording through ptrace only: " + err));
      }
    }
  }

  // Threads run their userspace one at a time, from a syscall's return to the next syscall's
  // entry (the token); the order of entries in the log is then the whole schedule, and replay
  // can follow it. A thread blocked in a syscall has given the token up.
  Resume on_syscall(Thread& t, const SyscallStop& stop) override {
    if (t0_ == 0) t0_ = stop.time_ns;
    // Signals held since the thread ran its own code: delivered here, before this call, which it
    // enters again afterwards (not logged now). The thread keeps the token.
    if (deliver_held(t)) return Resume::Continue;
    if (running_ == t.tid()) running_ = -1;
    const SyscallSpec& s = *stop.spec;
    if (fast_) {
      // The handler returns to where its signal interrupted the thread: that place no longer
      // keeps a site from being rewritten (below).
      if (s.has(kSigreturn)) {
        auto f = frames_.find(t.tid());
        if (f != frames_.end() && !f->second.empty()) f->second.pop_back();
      }
      // What the service recorded itself comes first: it happened before this stop.
      drain_fast();
      if (live_.insert(t.tid()).second) threads_changed();
      if (s.special == Special::Clone) {
        // A thread or process may start: from here on the blob asks the kernel which thread it is,
        // and under the serial schedule every call is traced (a blocked call would hold the token).
        fast_->set_threads(0, !opts_.parallel);
      } else if (fast_->reenter_if_patched(t) || (s.has(kFast) && fast_->try_patch(t, busy_ips(t.tid())))) {
        return Resume::Continue;  // re-entered through the patched site: the ring records it
      }
    }
    // Late data: what arrived so far is logged before this call; sockets it closes are duplicated.
    late_.drain(out_, seq_, t0_, stop.time_ns);
    const uint64_t seq = seq_++;
    late_.on_entry(t.pid(), t.tid(), stop.nr, stop.args, late_resource_of(t.pid()), seq);
    const uint64_t* args = stop.args;
    Event ev = syscall_event(t.pid(), t, s, args, seq, stop.time_ns - t0_);
    ev.data_in = capture_in(t, s, args);
    if (s.special == Special::Exit) {
      // exit never returns: log it now. A thread's exit is complete (its tid cleared, joiners
      // woken) only once it is reaped: the token waits for that.
      out_.event(std::move(ev));
      exited_self_.insert(t.tid());
      if (t.tid() != core_->pid()) exiting_ = t.tid();
      // The kernel kills the process's other threads as the call runs: none of them gets the
      // token again, so none can slip in a call before its kill (which would make a replay,
      // where the kill comes first, one event short).
      if (s.has(kGroupExit)) group_exiting_.insert(t.pid());
      grant();
      return Resume::Continue;
    }
    if (s.cls == Class::Denied) t.emulate(-ENOSYS);
    // A copy out of a pipe consumes what it moves: look at the pipe first (moved_bytes).
    std::string peeked = s.flow == Flow::Copy ? peek_pipe(t.tid(), static_cast<int>(args[s.arg_with(ArgRole::CopySrc)])) : "";
    pending_[t.tid()] = Pending{std::move(ev), &s, std::move(peeked), t.ip()};
    grant();
    return Resume::ToExit;
  }

  Resume on_thread_start(Thread& t) override {
    if (t.load_regs()) boundary_[t.tid()] = {t.regs().orig_rax, t.regs().rip, t.regs().rsp};
    ready_.push_back(t.tid());
    grant();
    return Resume::Hold;
  }

  int64_t next_deadline() override {
    int64_t f = earliest_deadline(earliest_deadline(out_.flush_deadline(), late_.next_deadline()), held_deadline());
    if (fast_) f = earliest_deadline(f, last_fast_drain_ + kFastDrainNs);
    if (!serialized_ || running_ < 0 || ready_.empty()) return f;
    int64_t token = running_since_ + kTokenTimeoutNs;
    return f < 0 ? token : std::min(f, token);
  }

  // The service's blob asks for a drain when its ring fills past half (SIGUSR2).
  void on_wake() override { drain_fast(); }

  void on_timer() override {
    release_overdue();
    drain_fast();
    late_.drain(out_, seq_, t0_, now_ns());
    out_.flush_if_due();
    int64_t now = now_ns();
    if (!serialized_ || running_ < 0 || ready_.empty() || now < running_since_ + kTokenTimeoutNs) return;
    // A thread held the token this long without a syscall while others waited. It may be
    // spinning on one of them, or only be starved of CPU on a loaded machine: tell them apart
    // by the CPU time it gets over one more period (only a spinner uses most of it).
    int64_t cpu = cpu_time_ns(running_);
    if (cpu >= 0 && (probe_tid_ != running_ || cpu - probe_cpu_ < (now - probe_at_) / 2)) {
      probe_tid_ = running_;
      probe_cpu_ = cpu;
      probe_at_ = now;
      running_since_ = now;  // look again one period from now
      return;
    }
    // It used the CPU and made no syscall: spinning. Let every thread run from now on rather
    // than hang; replay may then diverge.
    serialized_ = false;
    out_.message(warning_message("not_serialized",
                                 "thread " + std::to_string(running_) +
                                     " ran 1 s without a syscall while other threads waited (spinning?); the rest of "
                                     "this recording lets threads run concurrently, so its replay may diverge"));
    grant();
  }

  void on_unsupported(const std::string& message) override {
    out_.message(error_message("unsupported", message));
  }

  Resume on_syscall_exit(Thread& t) override {
    boundary_[t.tid()] = {t.regs().orig_rax, t.regs().rip, t.regs().rsp};
    auto p = pending_.find(t.tid());
    bool exec = p != pending_.end() && p->second.spec->special == Special::Execve && t.syscall_ret() == 0;
    finish_call(t);
    if (exec && fast_) {
      std::string why;
      if (!fast_->attach(t, why))
        out_.message(warning_message("fast_unavailable", "process " + std::to_string(t.pid()) +
                                                             " records through ptrace only: the fast path's " + why));
    }
    ready_.push_back(t.tid());
    grant();
    return Resume::Hold;
  }

  // Gives the token to the longest-waiting ready thread (all of them once not serialized).
  void grant() {
    while (!ready_.empty() && ((running_ < 0 && exiting_ < 0) || !serialized_)) {
      pid_t next = ready_.front();
      ready_.pop_front();
      Thread* t = core_->thread(next);
      if (!t || group_exiting_.count(t->pid())) continue;  // held until its kill is reaped
      running_ = next;
      running_since_ = stop_ns();
      probe_tid_ = -1;
      core_->resume(*t, Resume::Continue);
    }
  }

  // The calls the service recorded in its own processes since the last look: the same events the
  // ptrace path makes, built by the same code from the buffers the ring carries.
  void drain_fast() {
    if (!fast_) return;
    last_fast_drain_ = now_ns();
    bool ok = fast_->drain([this](const FastCall& c) { record_fast(c); });
    if (!ok && !corrupt_reported_) {
      corrupt_reported_ = true;
      out_.message(warning_message("fast_lossy", "the fast path's ring was found corrupt (" + fast_->corrupt_reason() +
                                                     "): this recording is lossy from seq " + std::to_string(fast_->lossy_from()) +
                                                     "; every later call was recorded through ptrace"));
    }
  }

  void record_fast(const FastCall& c) {
    // The thread ran its own code past its last traced call's return (every call in the ring
    // drained after that return was made after it): it no longer sits there, and that site can
    // be rewritten without it. Without this, threads that take turns at one traced site keep it
    // from ever being patched under the parallel schedule.
    boundary_.erase(c.tid);
    Thread* real = core_->thread(c.tid);
    pid_t pid = real ? real->pid() : c.tid;
    Thread t(c.tid, pid);
    t.regs().orig_rax = static_cast<uint64_t>(c.nr);
    t.regs().rax = static_cast<uint64_t>(c.ret);
    t.set_view(&c.mem);
    const SyscallSpec& s = syscall_spec(c.nr);
    int64_t at = std::max<int64_t>(last_fast_drain_ - t0_, 0);
    Event ev = syscall_event(pid, t, s, c.args, c.seq, at);
    ev.data_in = capture_in(t, s, c.args);
    ev.ret = c.ret;
    ev.data_out = capture_out(t, s, ev.args, c.ret);
    ev.resource = res_.after(t, s, ev);
    out_.event(std::move(ev));
  }

  // Where threads in traced calls resume (a site is not patched under them).
  // Besides threads in traced calls, every other thread resumes where its last call returned
  // (one held for the token sits right after the `syscall` instruction of its site): a site is
  // not rewritten under any of them, nor under a signal handler's return address.
  std::set<uint64_t> busy_ips(pid_t except) const {
    std::set<uint64_t> ips;
    for (const auto& [tid, p] : pending_)
      if (tid != except) ips.insert(p.ip);
    for (const auto& [tid, b] : boundary_)
      if (tid != except) ips.insert(b.rip);
    // A handler's return address, the calling thread's own included: the handler may make its
    // call at the very site its signal interrupted the thread right after.
    for (const auto& [tid, f] : frames_) ips.insert(f.begin(), f.end());
    return ips;
  }

  void threads_changed() {
    pid_t only = live_.size() == 1 ? *live_.begin() : 0;
    fast_->set_threads(only, !opts_.parallel && live_.size() > 1);
  }

  void report_fast() {
    uint64_t lost = fast_->lossy_from();
    if (lost != ~0ull && !corrupt_reported_)
      out_.message(warning_message("fast_lossy", "the fast path lost calls (its ring stayed full longer than --ring-wait-ms, or a "
                                                 "call's buffers were larger than a quarter of the ring): this recording is lossy from seq " +
                                                     std::to_string(lost)));
    out_.message(fast_message(fast_->calls_fast(), fast_->patched_sites(), lost));
  }

  void finish_call(Thread& t) {
    auto it = pending_.find(t.tid());
    if (it == pending_.end()) return;
    Event ev = std::move(it->second.ev);
    const SyscallSpec& s = *it->second.spec;
    std::string peeked = std::move(it->second.peeked);
    pending_.erase(it);
    int64_t ret = t.syscall_ret();
    late_.on_return(t.tid(), ret, late_resource_of(t.pid()));  // what the call closed starts lingering
    ev.ret = ret;
    ev.dur_ns = stop_ns() - t0_ - ev.enter_ns;  // the exit stop
    if (s.special == Special::Affinity && opts_.pinned && ret > 0) {
      // The service sees the CPUs it had before we pinned it, so its pools keep their size.
      std::string mask = original_cpu_mask();
      mask.resize(static_cast<size_t>(ret), '\0');
      t.write_mem(ev.args[2], mask.data(), mask.size());
      ev.data_out = mask;
    } else if (s.special == Special::Execve && ret == 0) {
      auto r = exec_random_.find(t.pid());
      if (r != exec_random_.end()) ev.data_out = std::move(r->second);
      exec_random_.erase(t.pid());
    } else {
      ev.data_out = capture_out(t, s, ev.args, ret);
    }
    if (s.moved_part >= 0 && ret > 0) {
      std::vector<std::string> parts = split_parts(ev.data_out, s.n_out);
      parts[static_cast<size_t>(s.moved_part)] = res_.moved_bytes(t, s, ev.args, ret, peeked);
      ev.data_out = join_parts(parts);
    }
    ev.resource = res_.after(t, s, ev);
    out_.event(std::move(ev));
  }

  // A call still blocked when its thread or the process ended never returned.
  void finish_unreturned(pid_t tid) {
    auto it = pending_.find(tid);
    if (it == pending_.end()) return;
    Event ev = std::move(it->second.ev);
    pending_.erase(it);
    ev.ret = kUnfinished;
    ev.dur_ns = now_ns() - t0_ - ev.enter_ns;
    out_.event(std::move(ev));
  }

  void exit_event(const Thread& t, int status) {
    late_.drain(out_, seq_, t0_, now_ns());
    Event e;
    e.seq = seq_++;
    e.kind = kExit;
    e.name = "exit";
    e.pid = t.pid();
    e.tid = t.tid();
    e.ret = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    e.enter_ns = t0_ ? now_ns() - t0_ : 0;
    out_.event(std::move(e));
  }

  void on_thread_exit(Thread& t, int status) override {
    held_.erase(t.tid());
    reraised_.erase(t.tid());
    boundary_.erase(t.tid());
    frames_.erase(t.tid());
    drain_fast();
    if (fast_) {
      live_.erase(t.tid());
      if (t.pid() == t.tid()) fast_->on_process_exit(t.pid());
      threads_changed();
    }
    finish_unreturned(t.tid());
    // Threads an exit_group (or a fatal signal) ended are reaped in no particular order: their
    // exits are logged with their process's, by tid, so that order is the same in every run.
    if (t.tid() != t.pid() && !exited_self_.count(t.tid())) {
      killed_[t.pid()].emplace(t.tid(), status);
    } else {
      if (t.tid() == t.pid()) {
        for (const auto& [tid, st] : killed_[t.pid()]) exit_event(Thread(tid, t.pid()), st);
        killed_.erase(t.pid());
      }
      exit_event(t, status);
    }
    exited_self_.erase(t.tid());
    if (t.pid() == t.tid()) {
      late_.on_process_exit();  // the sockets its exit closed start lingering
      res_.on_process_exit(t.pid());
      group_exiting_.erase(t.pid());
    }
    ready_.erase(std::remove(ready_.begin(), ready_.end(), t.tid()), ready_.end());
    if (running_ == t.tid()) running_ = -1;
    if (exiting_ == t.tid()) exiting_ = -1;
    grant();
  }

  void on_exec(Thread& t) override {
    pid_t pid = t.tid();
    // The kernel's random bytes for the new image: the execve event's data_out.
    if (t.at_random()) exec_random_[t.pid()] = t.read_bytes(t.at_random(), 16);
    std::string exe = readlink_str("/proc/" + std::to_string(pid) + "/exe");
    res_.report_file(exe, "exe", "/proc/" + std::to_string(pid) + "/exe");
    // The kernel mapped the ELF interpreter too, without a syscall we could see.
    std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
    std::string line;
    while (std::getline(maps, line)) {
      size_t slash = line.find('/');
      if (slash == std::string::npos) continue;
      std::string path = line.substr(slash);
      if (path != exe) res_.report_file(path, "interp", path);
    }
  }

  // A signal at its delivery: logged with its siginfo (data_out) where it happened in the
  // schedule, so replay can deliver it at the same place. Replay cannot stop a thread at an
  // arbitrary instruction (no performance counters), only at syscalls; so an asynchronous signal
  // that lands while its thread runs its own code is held (suppressed here) and delivered at
  // the thread's next syscall entry instead (deliver_held), or after signal_defer_ms where the
  // thread is then (release_overdue, logged as inexact). args[2] says where it was delivered
  // (SignalAt), args[3] the bound in ms for an inexact one.
  int on_signal(Thread& t, int sig, const siginfo_t& info) override {
    int deliver = signal_decision(t, sig, info);
    if (deliver && fast_ && caught(t.pid(), deliver)) frames_[t.tid()].push_back(t.ip());
    return deliver;
  }

  // Whether /proc says the process has a handler for `sig` (SigCgt): a frame will return to
  // where the thread is now.
  static bool caught(pid_t pid, int sig) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line))
      if (line.rfind("SigCgt:", 0) == 0) {
        uint64_t mask = strtoull(line.c_str() + 7, nullptr, 16);
        return sig >= 1 && sig <= 64 && (mask >> (sig - 1)) & 1;
      }
    return true;  // unknown: assume a handler
  }

  int signal_decision(Thread& t, int sig, const siginfo_t& info) {
    if (is_fault(sig, info)) {
      log_signal(t, sig, info, SignalAt::Return);
      return sig;
    }
    auto r = reraised_.find(t.tid());
    if (r != reraised_.end() && !r->second.empty() && info.si_code == SI_TKILL && info.si_pid == getpid()) {
      auto it = std::find_if(r->second.begin(), r->second.end(), [&](const Held& h) { return h.sig == sig; });
      if (it != r->second.end()) {
        Held h = *it;
        r->second.erase(it);
        t.set_siginfo(h.info);  // the program sees who really sent it
        // Raised again past the bound, it may still have waited for a return (a handler's
        // rt_sigreturn, with another handler running): then it is at that boundary.
        log_signal(t, sig, h.info, at_boundary(t) ? SignalAt::Return : h.at);
        return sig;
      }
    }
    if (opts_.signal_defer_ms > 0 && deferrable(sig) && !at_boundary(t)) {
      held_[t.tid()].push_back(Held{sig, info, stop_ns() + opts_.signal_defer_ms * 1000000, SignalAt::NextEntry, cpu_time_ns(t.tid())});
      return 0;
    }
    log_signal(t, sig, info, SignalAt::Return);
    return sig;
  }

  // The time-stamp counter, read here on the same (pinned) CPU, is logged like a clock read.
  Resume on_tsc(Thread& t, TscRead& r) override {
    r.value = read_tsc(r.rdtscp, r.aux);
    Event e;
    e.seq = seq_++;
    e.pid = t.pid();
    e.tid = t.tid();
    e.kind = kInstruction;
    e.name = r.rdtscp ? "rdtscp" : "rdtsc";
    e.ret = static_cast<int64_t>(r.value);
    e.args[0] = r.aux;
    e.enter_ns = now_ns() - t0_;
    out_.event(std::move(e));
    return Resume::Continue;
  }

  // A new process starts with a copy of its parent's fd table.
  void on_thread_created(Thread& parent, Thread& child) override {
    if (child.pid() != parent.pid()) res_.on_fork(parent.pid(), child.pid());
    if (fast_) {
      if (child.pid() != parent.pid()) fast_->on_fork(parent.pid(), child.pid());
      live_.insert(parent.tid());
      live_.insert(child.tid());
      threads_changed();
    }
  }

  void on_exit(int status) override {
    drain_fast();
    if (fast_) report_fast();
    while (!pending_.empty()) finish_unreturned(pending_.begin()->first);
    out_.message(exit_message(status));
    // The service is gone and reaped; the engine ends once its sockets are done (at most the
    // linger time from now).
    late_.finish(out_, seq_, t0_);
  }

 private:
  // Asynchronous signals held until their thread's next syscall (on_signal).
  struct Held {
    int sig;
    siginfo_t info;
    int64_t due_ns;
    SignalAt at;
    int64_t cpu0 = -1;  // the thread's CPU time when held (-1: unknown)
  };
  void log_signal(Thread& t, int sig, const siginfo_t& info, SignalAt at) {
    Event e;
    e.seq = seq_++;
    e.pid = t.pid();
    e.tid = t.tid();
    e.kind = kSignal;
    e.name = signal_name(sig);
    e.ret = sig;
    e.args[0] = static_cast<uint64_t>(static_cast<int64_t>(info.si_code));
    e.args[1] = is_fault(sig, info) ? 1 : 0;
    e.args[2] = static_cast<uint64_t>(at);
    if (at == SignalAt::Anywhere) e.args[3] = static_cast<uint64_t>(opts_.signal_defer_ms);
    e.data_out.assign(reinterpret_cast<const char*>(&info), sizeof info);
    e.enter_ns = now_ns() - t0_;
    out_.event(std::move(e));
  }

  // Stop signals keep their job-control meaning wherever they land.
  static bool deferrable(int sig) {
    return sig != SIGSTOP && sig != SIGTSTP && sig != SIGTTIN && sig != SIGTTOU && sig != SIGCONT && sig != SIGKILL;
  }

  // The thread is where its last logged call returned (or where it started): no instruction of
  // its own has run since. After an interrupt or a fault in userspace orig_rax is -1, after an
  // untraced call (mprotect, sched_yield..., which replay does not see either) its number; a
  // return from rt_sigreturn has -1 too, and is told by its place (rip and rsp).
  bool at_boundary(Thread& t) const {
    auto b = boundary_.find(t.tid());
    const user_regs_struct& r = t.regs();
    // In the fast path's code: the signal came as one of its calls returned, a boundary as good
    // as a traced call's return (the ring orders it; replay serves that call through ptrace).
    if (fast_ && r.rip >= RB_FAST_CODE && r.rip < RB_FAST_CODE + RB_FAST_CODE_SIZE) return true;
    return b != boundary_.end() && b->second.orig_rax == r.orig_rax && b->second.rip == r.rip && b->second.rsp == r.rsp;
  }

  // At a syscall entry: the signals held for this thread are raised again and the call backed
  // out, so they are delivered before it, and it is entered again after their handlers.
  bool deliver_held(Thread& t) {
    auto h = held_.find(t.tid());
    auto r = reraised_.find(t.tid());
    bool held = h != held_.end() && !h->second.empty();
    bool pending = r != reraised_.end() && !r->second.empty();  // raised past the bound, still pending
    if (!held && !pending) return false;
    if (!t.back_out()) return false;
    std::vector<Held>& out = reraised_[t.tid()];
    for (Held& x : out) x.at = SignalAt::NextEntry;  // delivered at this boundary after all
    if (held) {
      raise_held(t.tid(), h->second, SignalAt::NextEntry);
      held_.erase(t.tid());
    }
    running_ = t.tid();
    running_since_ = stop_ns();
    return true;
  }

  // Raises held signals again (tgkill), each standard signal once (pending ones merge).
  void raise_held(pid_t tid, std::vector<Held>& list, SignalAt at) {
    Thread* t = core_->thread(tid);
    std::vector<Held>& out = reraised_[tid];
    for (Held& x : list) {
      bool merged = x.sig < SIGRTMIN && std::any_of(out.begin(), out.end(), [&](const Held& o) { return o.sig == x.sig; });
      if (merged || !t || !core_->signal_thread(*t, x.sig)) continue;
      x.at = at;
      out.push_back(x);
    }
  }

  int64_t held_deadline() const {
    int64_t d = -1;
    for (const auto& [tid, list] : held_)
      for (const Held& x : list) d = d < 0 ? x.due_ns : std::min(d, x.due_ns);
    return d;
  }

  // A thread that made no syscall within the bound gets its signals where it is now.
  // The bound is the thread's own running time, not the clock's: a thread starved of CPU on a
  // loaded machine has not run past its next syscall, only waited for a CPU to reach it.
  void release_overdue() {
    int64_t now = now_ns();
    const int64_t bound = opts_.signal_defer_ms * 1000000;
    for (auto it = held_.begin(); it != held_.end();) {
      bool due = std::any_of(it->second.begin(), it->second.end(), [&](const Held& x) { return x.due_ns <= now; });
      if (due) {
        int64_t cpu = cpu_time_ns(it->first);
        int64_t ran = 0;  // the most CPU time the thread has had since one of them was held
        bool known = cpu >= 0;
        for (const Held& x : it->second) {
          if (x.cpu0 < 0) known = false;
          else ran = std::max(ran, cpu - x.cpu0);
        }
        if (known && ran < bound) {
          for (Held& x : it->second) x.due_ns = now + std::max<int64_t>(bound - ran, 1000000);
          due = false;
        }
      }
      if (!due) {
        ++it;
        continue;
      }
      if (!inexact_warned_) {
        inexact_warned_ = true;
        out_.message(warning_message("signal_inexact",
                                     signal_name(it->second.front().sig) + " reached thread " + std::to_string(it->first) +
                                         " while it made no syscall for " + std::to_string(opts_.signal_defer_ms) +
                                         " ms, so it was delivered at an arbitrary instruction; a replay may diverge there"));
      }
      raise_held(it->first, it->second, SignalAt::Anywhere);
      it = held_.erase(it);
    }
  }

  Output& out_;
  RecordOptions opts_;
  std::map<pid_t, std::vector<Held>> held_;      // per thread: held, not raised yet
  std::map<pid_t, std::vector<Held>> reraised_;  // per thread: raised again, delivery stop to come
  struct Boundary {
    uint64_t orig_rax, rip, rsp;
  };
  std::map<pid_t, Boundary> boundary_;  // per thread: where its last call returned
  // Per thread under --fast: where the signals it is handling interrupted it, innermost last
  // (pushed at delivery to a handler, popped at rt_sigreturn; a handler that longjmps leaves
  // its entry, which only keeps that one place unpatched).
  std::map<pid_t, std::vector<uint64_t>> frames_;
  bool inexact_warned_ = false;
  std::set<pid_t> exited_self_;                    // threads that made their own exit call
  std::set<pid_t> group_exiting_;                  // processes whose exit_group has begun
  std::map<pid_t, std::map<pid_t, int>> killed_;  // per process: threads ended without one, their status
  std::map<pid_t, std::string> exec_random_;  // AT_RANDOM of an exec whose exit stop is to come
  Resources res_{out_, opts_.capture_dir};  // what fds and files are, as the log names them
  struct Pending {
    Event ev;
    const SyscallSpec* spec;
    std::string peeked;  // a copy's source pipe as it was at the call's entry
    uint64_t ip = 0;     // where the thread resumes when the call returns
  };
  std::map<pid_t, Pending> pending_;  // per thread: the call awaiting its return
  // Long enough that a thread starved of CPU on a loaded machine is not taken for a spinner.
  static constexpr int64_t kTokenTimeoutNs = 1'000'000'000;
  // The CPU time a thread has had (ns), from /proc (-1 when unknown).
  int64_t cpu_time_ns(pid_t tid) const {
    std::ifstream f("/proc/" + std::to_string(tid) + "/schedstat");
    int64_t ns = -1;
    if (!(f >> ns)) return -1;
    return ns;
  }
  pid_t probe_tid_ = -1;  // the token holder whose CPU time is being watched
  int64_t probe_cpu_ = 0, probe_at_ = 0;
  std::deque<pid_t> ready_;           // threads waiting for the token, oldest first
  pid_t running_ = -1;                // the thread running userspace now
  pid_t exiting_ = -1;                // a thread whose exit the token waits for
  int64_t running_since_ = 0;
  bool serialized_ = true;
  SeqCounter seq_;
  std::unique_ptr<FastPath> fast_;
  int64_t last_fast_drain_ = 0;
  static constexpr int64_t kFastDrainNs = 50'000'000;
  bool corrupt_reported_ = false;
  std::set<pid_t> live_;  // threads of the tree (kept under --fast only)
  int64_t t0_ = 0;

  // Late data (late_data.h): sockets the service closed, read on after the close.
  LateData late_{opts_.late};
  LateData::ResourceOf late_resource_of(pid_t pid) const {
    return [this, pid](int64_t fd) { return res_.name(pid, fd); };
  }
};

}  // namespace

std::unique_ptr<Tool> make_recorder(Output& out, const RecordOptions& opts) {
  return std::make_unique<Recorder>(out, opts);
}

}  // namespace rb
