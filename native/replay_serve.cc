// Serving from the log: the program's call is checked against the recorded event, then
// answered from it (emulated) or run for real; a mismatch is a divergence.
// (replay_tool.h lists the replayer's files.)
#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>

#include <algorithm>
#include <cstring>

#include "capture.h"
#include "protocol.h"
#include "replay_tool.h"
#include "tools.h"

namespace rb {
namespace {

bool is_compared_scalar(const SyscallSpec& s, ArgKind k) {
  if (k == ArgKind::Fd || k == ArgKind::Dirfd) return true;
  return k == ArgKind::Int && s.cls != Class::Executed;
}

bool is_compared_bytes(ArgKind k) {
  return k == ArgKind::In || k == ArgKind::Path || k == ArgKind::Str;
}

}  // namespace

// Serves the recorded event `e` to thread `t` waiting at its syscall entry. False on divergence.
bool Replayer::serve_event(Thread& t, Held& h, const Event& e) {
  if (seq_ > 0) {
    std::string departure = departs(t, h, e);
    if (!departure.empty()) {
      go_stream(e, departure);
      h.call.v_enter = vnow();
      serve_stream(t, h);
      return false;
    }
  }
  const SyscallSpec& s = *h.stop.spec;
  const uint64_t* args = h.stop.args;
  Event actual = std::move(h.actual);
  h.at_entry = false;
  actual.seq = seq_;
  // The first execve is ours (the spawn); its path is what we were told to run.
  std::string why = seq_ == 0 ? (e.nr == actual.nr ? "" : "the first event is not an exec")
                              : mismatch(s, e, actual);
  actual.resource = e.resource;
  // The spawn runs the recorded executable, from its recorded path or from its blob.
  if (seq_ == 0 && why.empty()) actual.data_in = e.data_in;
  // Runs speak of the recorded process and thread ids, so runs and recording line up.
  actual.pid = e.pid;
  actual.tid = e.tid;
  if (!why.empty()) {
    diverge(t, &e, actual, why);
    return false;
  }
  seq_++;
  remember_user_data(s, e, actual);
  int64_t serve_start = stop_ns();  // the call's entry stop
  actual.enter_ns = serve_start - t0_;
  actual.ret = e.ret;
  actual.data_out = e.data_out;
  bool real = (s.cls == Class::Executed || s.cls == Class::Untraced || runs_for_real(s, e)) && !answered_futex(e);
  if (real && s.special == Special::Mmap) {
    std::string err;
    int mapped = map_recorded_file(t, e, args, err);
    if (mapped < 0) {
      out_.message(error_message("replay_failed", err + " (seq " + std::to_string(e.seq) + ")"));
      diverged_ = true;
      core_->kill_tracee();
      return false;
    }
    if (mapped > 0) {  // mapped by injection: served like an emulated call
      h.ready = true;
      actual.dur_ns = stop_ns() - serve_start;
      out_.event(std::move(actual));
      return true;
    }
  }
  if (real) {
    // Runs for real: memory, signals, exit, exec, threads, fd duplication on placeholders.
    // Its return is watched, so the thread waits for the token before running on.
    if (s.special == Special::Execve) {
      scratch_.erase(t.pid());
      exec_random_[t.pid()] = e.data_out;
    }
    if (s.special == Special::Clone) clone_of_[t.tid()] = e.ret;
    if (s.special == Special::Clone || s.special == Special::Wait) h.serving = &e;
    if (s.special == Special::Wait) translate_wait_args(t, e);
    h.in_flight = s.special != Special::Exit;
    // A real wait for a signal (rt_sigsuspend...) returns only when the recorded signal comes.
    h.interrupted = is_restart(e.ret) || e.ret == -EINTR;
    // A thread's exit is complete (its tid cleared, joiners woken) only once it is reaped.
    if (s.special == Special::Exit && t.tid() != core_->pid()) exiting_ = t.tid();
    if (s.special == Special::Exit) exited_self_.insert(t.tid());
    actual.dur_ns = 0;
    out_.event(std::move(actual));
    core_->resume(t, s.special == Special::Exit ? Resume::Continue : Resume::ToExit);
    return true;
  }
  if (e.ret == kUnfinished) {
    // It never returned in production: the process ended while it was blocked. The thread
    // stays parked in it and goes when the process does.
    actual.dur_ns = 0;
    out_.event(std::move(actual));
    return true;
  }
  std::string err;
  if (s.cls == Class::Denied) {
    t.emulate(-ENOSYS);
  } else if (is_restart(e.ret)) {
    // A signal interrupted it. The kernel decides between EINTR and a restart (SA_RESTART,
    // restart_syscall) only for a syscall that really ran, at its return: run a harmless one
    // in its place, and at its exit stop put back the recorded call and its ERESTART* value;
    // the recorded signal is delivered before the thread runs on (deliver_signal).
    t.regs().orig_rax = SYS_getppid;
    // A call that waited with a signal mask of its own (pselect6, ppoll, epoll_pwait) let the
    // recorded signal in through it: wait the same way, in rt_sigsuspend with that mask and the
    // signal already sent, so the kernel delivers it under that mask and restores the
    // program's own afterwards, as it did when recorded. At 1x too the signal is sent now,
    // ahead of its recorded time: sent later, a real child's SIGCHLD let in by that mask could
    // end the wait first (it is dropped, and the call restarted), and once the call is over
    // the program's own mask keeps the recorded one blocked. The thread still runs on only
    // after the call's recorded duration (delayed_until below).
    int m = s.arg_with(ArgRole::SigMask), ref = s.arg_with(ArgRole::SigMaskRef);
    uint64_t mask = m >= 0 ? args[m] : 0;
    if (ref >= 0 && args[ref] && !t.read_mem(args[ref], &mask, 8)) mask = 0;
    const Event* x = mask ? next_signal_of(e) : nullptr;
    if (x && deliver_signal(*x, true)) {
      sent_early_.insert(x);
      t.regs().orig_rax = SYS_rt_sigsuspend;
      t.regs().rdi = mask;
      t.regs().rsi = 8;
      h.restore_args = true;
    }
    if (!t.store_regs()) return false;
    h.serving = &e;
    h.in_flight = true;
    core_->resume(t, Resume::ToExit);
  } else if (!serve(t, s, e, args, err)) {
    out_.message(error_message("replay_failed", err + " (seq " + std::to_string(e.seq) + ")"));
    diverged_ = true;
    core_->kill_tracee();
    return false;
  }
  // Blocking calls take their recorded duration; other threads go on meanwhile.
  // Never sooner than its recorded duration, even when the replay runs behind production.
  int64_t returns_at = serve_start + scaled(e.dur_ns);
  if (speed() > 0 && returns_at - now_ns() > 20000) {
    h.delayed_until = returns_at;
    actual.dur_ns = returns_at - serve_start;
  } else {
    h.ready = !h.in_flight;
    actual.dur_ns = (speed() > 0 ? now_ns() : stop_ns()) - serve_start;
  }
  out_.event(std::move(actual));
  return true;
}

bool Replayer::is_restart(int64_t ret) {
  // ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND, ERESTART_RESTARTBLOCK (kernel-internal).
  return ret == -512 || ret == -513 || ret == -514 || ret == -516;
}

// A futex wait or wake is answered from the log, not run: the schedule already orders the
// threads as production did (a thread runs userspace only on its turn), and a real wait could
// block where production's did not (its value changed between the thread's syscall entry and
// the kernel's check, under a different timing) and wait forever for a wake already spent.
// Operations with other effects (WAKE_OP writes memory, PI and requeue ones keep kernel state)
// still run for real.
bool Replayer::answered_futex(const Event& e) {
  if (e.nr != SYS_futex || e.ret == kUnfinished) return false;
  int op = static_cast<int>(e.args[1]) & 0x7f;  // without FUTEX_PRIVATE_FLAG / CLOCK_REALTIME
  return op == 0 /* WAIT */ || op == 1 /* WAKE */ || op == 9 /* WAIT_BITSET */ || op == 10 /* WAKE_BITSET */;
}

bool Replayer::runs_for_real(const SyscallSpec& s, const Event& e) {
  // fcntl(F_DUPFD*) duplicates a placeholder: the real call yields the recorded number.
  return s.special == Special::Fcntl && (e.args[1] == F_DUPFD || e.args[1] == F_DUPFD_CLOEXEC);
}

// Why the program's call differs from the recorded one, or "" when it matches.
std::string Replayer::mismatch(const SyscallSpec& s, const Event& e, const Event& a) {
  if (e.nr != a.nr)
    return std::string("expected ") + e.name + ", the program called " + a.name;
  for (int i = 0; i < s.nargs; i++) {
    if (is_compared_scalar(s, s.args[i].kind) && !arg_not_compared(s, i, e.args) && e.args[i] != a.args[i])
      return std::string(s.name) + " argument " + std::to_string(i + 1) + " differs: recorded " +
             std::to_string(e.args[i]) + ", now " + std::to_string(a.args[i]);
  }
  bool has_bytes = false;
  for (int i = 0; i < s.nargs; i++) has_bytes |= is_compared_bytes(s.args[i].kind);
  if (has_bytes && !same_input(s, e.data_in, a.data_in))
    return std::string(s.name) + " hands the kernel different bytes than were recorded";
  return "";
}

void Replayer::diverge(Thread& t, const Event* expected, const Event& actual, const std::string& why) {
  diverged_ = true;
  out_.message(divergence_message(seq_, expected ? expected->tid : actual.tid, t.ip(), why + inexact_note(), expected, actual));
  core_->kill_tracee();
}

// A value the program hands the kernel to get back later (epoll's user data, often a pointer)
// differs from the recorded one when addresses do: the recorded value maps to the program's.
void Replayer::remember_user_data(const SyscallSpec& s, const Event& e, const Event& actual) {
  int off = user_data_in(s);
  if (off < 0 || e.data_in.size() < static_cast<size_t>(off) + 8 || actual.data_in.size() != e.data_in.size()) return;
  uint64_t rec = 0, now = 0;
  std::memcpy(&rec, e.data_in.data() + off, 8);
  std::memcpy(&now, actual.data_in.data() + off, 8);
  user_data_[{e.pid, rec}] = now;
}

// The recorded output with recorded user data turned into the program's own values.
std::string Replayer::translated_out(const SyscallSpec& s, const Event& e) const {
  auto [size, off] = user_data_out(s);
  if (size == 0 || user_data_.empty()) return e.data_out;
  std::string out = e.data_out;
  for (size_t at = 0; at + size <= out.size(); at += size) {
    uint64_t rec = 0;
    std::memcpy(&rec, out.data() + at + off, 8);
    auto it = user_data_.find({e.pid, rec});
    if (it != user_data_.end()) std::memcpy(&out[at + off], &it->second, 8);
  }
  return out;
}

// Answers an emulated syscall from the log: placeholders for created fds, then output bytes
// and the return value.
bool Replayer::serve(Thread& t, const SyscallSpec& s, const Event& e, const uint64_t args[6],
           std::string& err) {
  const std::string data_out = translated_out(s, e);
  std::vector<int64_t> new_fds;
  if ((s.fd == FdEffect::Creates || s.fd == FdEffect::Accepts) && e.ret >= 0) {
    new_fds.push_back(e.ret);
  } else if (s.fd == FdEffect::Pair && e.ret == 0 && e.data_out.size() >= 8) {
    int32_t pair[2];
    std::memcpy(pair, e.data_out.data(), 8);
    new_fds = {pair[0], pair[1]};
  }
  for (int fd : received_fds(s, e.ret, e.data_out)) new_fds.push_back(fd);  // SCM_RIGHTS
  if (new_fds.empty()) {
    if (!serve_out(t, s, args, e.ret, data_out, err)) return false;
    return t.emulate(e.ret);
  }
  bool cloexec = s.cloexec_arg >= 0 && (args[s.cloexec_arg] & s.cloexec_mask);
  std::string holder = "/dev/null";
  if (e.resource.rfind("file:", 0) == 0) {
    auto it = opts_.files.find(e.resource.substr(5));
    if (it != opts_.files.end()) holder = it->second;  // mapped later: the recorded bytes
  }
  Thread::Injector inj(t);
  for (int64_t fd : new_fds)
    if (hold_fd(t, inj, holder, cloexec, fd, err) < 0) return false;
  if (!serve_out(t, s, args, e.ret, data_out, err)) return false;
  return inj.finish(e.ret);
}

}  // namespace rb
