// Signals in replay: only those the log says were delivered reach the program, at their
// recorded place, with their recorded siginfo.
// (replay_tool.h lists the replayer's files.)
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "replay_tool.h"
#include "tools.h"

namespace rb {

// Only the signals the log says were delivered reach the program, where they were delivered:
// those the replayer sends (deliver_signal) get their recorded siginfo back. A fault is the
// program's own doing and happens again by itself. Anything else the replay raises (a real
// child's exit, a kill between replayed processes) is dropped: its recorded counterpart is
// delivered at its recorded place instead.
int Replayer::on_signal(Thread& t, int sig, const siginfo_t& info) {
  fast_account(false);  // it may have come inside the blob
  // A signal met while stepping over a breakpoint ends the step. Once its instruction has run,
  // the int3 goes back now; before that, at the thread's next syscall (else the thread would
  // stop at the same hit twice, after the handler).
  if (stepping_.erase(t.tid())) {
    auto r = rearm_.find(t.tid());
    if (r != rearm_.end() && t.ip() != r->second) rearm_breakpoints(t);
  }
  if (is_fault(sig, info)) {
    // The recorded fault, where the thread ran into it again: the log moves past it.
    const Event* x = cursor_ < opts_.log.size() ? &opts_.log[cursor_] : nullptr;
    if (!stream_ && x && is_recorded_fault(*x) && x->tid == rec_of(t.tid()) && x->ret == sig) {
      Event e = *x;
      e.seq = seq_++;
      e.enter_ns = now_ns() - t0_;
      out_.event(std::move(e));
      prev_enter_ns_ = x->enter_ns;
      last_progress_ns_ = now_ns();
      cursor_++;
    }
    if (fast_) fast_busy_.insert(t.ip());
    return sig;
  }
  auto it = signals_.find(t.tid());
  if (info.si_code != SI_TKILL || info.si_pid != getpid() || it == signals_.end() || it->second.empty() ||
      it->second.front()->ret != sig)
    return 0;
  const Event& x = *it->second.front();
  it->second.pop_front();
  (void)x;
  siginfo_t recorded;
  if (x.data_out.size() == sizeof recorded) {
    std::memcpy(&recorded, x.data_out.data(), sizeof recorded);
    t.set_siginfo(recorded);
  }
  Event e = x;
  e.seq = seq_++;
  e.enter_ns = now_ns() - t0_;
  out_.event(std::move(e));
  if (fast_) fast_busy_.insert(t.ip());  // a handler may return there: that site is never patched
  return sig;
}

// A recorded asynchronous signal, sent to its thread once that thread's previous call has
// returned (and, at 1x, not before its recorded time unless `now`). False: not yet, pump again
// later.
bool Replayer::deliver_signal(const Event& x, bool now) {
  if (x.args[1] != 0 || x.data_out.empty()) return true;  // a fault: it recurs by itself
  if (sent_early_.erase(&x)) return true;                 // sent with the call it interrupted
  auto m = rec_to_real_.find(x.tid);
  Thread* t = m == rec_to_real_.end() ? nullptr : core_->thread(m->second);
  if (!t) return true;
  Held& h = held_[t->tid()];
  // Not into a call in flight, unless the recording shows this signal interrupting it: a
  // real rt_sigsuspend returns only then.
  if (h.delayed_until > 0 || (h.in_flight && !h.interrupted)) return false;
  int64_t gate = wall_for(x.enter_ns);
  if (!now && speed() > 0 && now_ns() < gate) {
    gate_ns_ = gate;
    return false;
  }
  // Recorded at the thread's next syscall entry: it runs its own code up to there first.
  if (static_cast<SignalAt>(x.args[2]) == SignalAt::NextEntry && !at_next_entry(*t, h)) return false;
  int sig = static_cast<int>(x.ret);
  if (!core_->signal_thread(*t, sig)) return true;
  signals_[t->tid()].push_back(&x);
  if (static_cast<SignalAt>(x.args[2]) == SignalAt::Anywhere) inexact_ = &x;
  run_if_doomed(*t, h);
  return true;
}

// For a signal the recording held until the thread's next syscall entry: true once the thread
// is there, its call backed out (it enters it again after the handler, as it did when
// recorded); until then it gets the token to run up to that entry.
bool Replayer::at_next_entry(Thread& t, Held& h) {
  if (h.backed_out) return true;
  if (h.at_entry) {
    if (!t.back_out()) return true;
    h.at_entry = false;
    h.backed_out = true;
    h.ready = true;  // stopped before its call: the next recorded event of it lets it run
    return true;
  }
  if (h.ready && running_ < 0 && exiting_ < 0 && !paused_) {
    h.ready = false;
    running_ = t.tid();
    core_->resume(t, Resume::Continue);
  }
  return false;
}

// What a divergence report adds when a signal recorded at an arbitrary instruction was
// delivered before it: replay could only deliver it at a syscall boundary.
std::string Replayer::inexact_note() const {
  if (!inexact_) return "";
  return "; signal " + inexact_->name + " was delivered at an arbitrary instruction at record time (no syscall within " +
         std::to_string(inexact_->args[3]) + " ms), and replay delivered it at a syscall boundary";
}

// A signal sent to a ready thread that kills by default ends its process as soon as the thread
// runs: let it run now, as nothing of the program's own code will execute (it has no turn to
// wait for). A caught one waits for the thread's turn, so its handler runs where the recorded
// one did.
void Replayer::run_if_doomed(Thread& t, Held& h) {
  auto it = signals_.find(t.tid());
  if (!h.ready || it == signals_.end()) return;
  if (std::none_of(it->second.begin(), it->second.end(),
                   [&](const Event* x) { return kills_by_default(t, static_cast<int>(x->ret)); }))
    return;
  h.ready = false;
  core_->resume(t, Resume::Continue);
}

// Neither caught nor ignored by the thread's process, and fatal by default.
bool Replayer::kills_by_default(const Thread& t, int sig) {
  switch (sig) {
    case SIGCHLD: case SIGURG: case SIGWINCH: case SIGCONT:
    case SIGSTOP: case SIGTSTP: case SIGTTIN: case SIGTTOU:
      return false;
    default:
      break;
  }
  std::ifstream status("/proc/" + std::to_string(t.tid()) + "/status");
  std::string line;
  uint64_t handled = 0;
  while (std::getline(status, line)) {
    if (line.rfind("SigIgn:", 0) == 0 || line.rfind("SigCgt:", 0) == 0)
      handled |= std::strtoull(line.c_str() + 7, nullptr, 16);
  }
  return !(handled & (1ULL << (sig - 1)));
}

// A process killed by SIGKILL when recorded (nothing to intercept): kill it at that point.
void Replayer::kill_recorded(const Event& x) {
  auto m = rec_to_real_.find(x.pid);
  if (m != rec_to_real_.end() && core_->thread(m->second)) kill(m->second, SIGKILL);
}

}  // namespace rb
