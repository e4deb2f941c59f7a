// Replay scheduling: which thread runs next (the token moves in recorded order), when the
// next event may be served (the replay clock), and the watchdog for a thread that never
// reaches its next recorded call.
// (replay_tool.h lists the replayer's files.)
#include <algorithm>

#include "protocol.h"
#include "replay_tool.h"
#include "tools.h"

namespace rb {
namespace {

// How long the thread owning the next event may take to reach it, beyond the recorded gap,
// before replay reports that it is stuck (e.g. spinning on a lock a held thread owns).
constexpr int64_t kWatchdogNs = 10'000'000'000LL;

}  // namespace

int64_t Replayer::next_deadline() {
  if (finished_ || diverged_ || t0_ == 0) return -1;
  if (rsearch_.due) return 0;  // a reverse-continue's next run, at once
  if (paused_) return out_.flush_deadline();
  int64_t d = gate_ns_;
  for (const auto& [tid, h] : held_) {
    if (h.delayed_until > 0) d = d < 0 ? h.delayed_until : std::min(d, h.delayed_until);
    if (h.call.wake_wall > 0) d = d < 0 ? h.call.wake_wall : std::min(d, h.call.wake_wall);
  }
  if (stream_) {
    int64_t f = out_.flush_deadline();
    return d < 0 ? f : f < 0 ? d : std::min(d, f);
  }
  int64_t watchdog = last_progress_ns_ + expected_gap_ns_ + kWatchdogNs;
  d = d < 0 ? watchdog : std::min(d, watchdog);
  int64_t f = out_.flush_deadline();
  return f < 0 ? d : std::min(d, f);
}

// With checkpoints kept (one process, one thread), that thread is the only tracee that can stop.
pid_t Replayer::only_waitable() {
  if (checkpoints_.empty() || held_.size() != 1 || core_->thread_count() != 1) return -1;
  pid_t tid = held_.begin()->first;
  return core_->thread(tid) ? tid : -1;
}

void Replayer::on_timer() {
  fast_account(false);
  if (rsearch_.due) {
    rsearch_.due = false;
    reverse_next();
  }
  out_.flush_if_due();
  int64_t now = now_ns();
  for (auto& [tid, h] : held_) {
    if (h.delayed_until > 0 && h.delayed_until <= now) {
      h.delayed_until = 0;
      if (!h.in_flight) h.ready = true;
    }
  }
  gate_ns_ = -1;
  if (stream_) {
    std::vector<pid_t> due;
    for (auto& [tid, h] : held_)
      if (h.call.wake_wall > 0 && h.call.wake_wall <= now) due.push_back(tid);
    for (pid_t tid : due) {
      Thread* t = core_->thread(tid);
      Held& h = held_[tid];
      h.call.wake_wall = 0;
      if (t) serve_stream(*t, h);
    }
  }
  pump();
  if (!stream_ && !finished_ && !diverged_ && !paused_ && now_ns() > last_progress_ns_ + expected_gap_ns_ + kWatchdogNs) stuck();
}

void Replayer::rebase() {
  base_wall_ = now_ns();
  base_rec_ = prev_enter_ns_;
  last_progress_ns_ = base_wall_;
}

// Moves the replay forward as far as it can go now, in recorded order.
void Replayer::pump() {
  if (stream_) {
    // No schedule to follow: every thread that returned from a call runs on.
    for (auto& [tid, h] : held_) {
      Thread* t = core_->thread(tid);
      if (h.ready && t) {
        h.ready = false;
        core_->resume(*t, Resume::Continue);
      }
    }
    return;
  }
  // A pause whose checkpoint had to wait (a thread was still in a call run for real): taken once
  // every thread is back at a stop, so a step back from the pause stays cheap.
  if (paused_ && pause_checkpoint_due_ && checkpoint("pause") != Taken::Later) pause_checkpoint_due_ = false;
  while (!finished_ && !diverged_ && !stream_) {
    while (cursor_ < opts_.log.size() && opts_.log[cursor_].kind != kSyscall &&
           opts_.log[cursor_].kind != kInstruction && !is_recorded_fault(opts_.log[cursor_])) {
      const Event& x = opts_.log[cursor_];
      if (x.kind == kSignal && !deliver_signal(x)) return;
      if (x.kind == kExit && x.ret == -SIGKILL) kill_recorded(x);
      cursor_++;
    }
    if (cursor_ >= opts_.log.size()) {
      // The log is done; a thread asking for more has left the recording.
      for (auto& [tid, h] : held_) {
        Thread* t = core_->thread(tid);
        if (h.at_entry && t) {
          diverge(*t, nullptr, h.actual, "the program made a syscall after the recorded log ended");
          return;
        }
      }
      return;
    }
    const Event& e = opts_.log[cursor_];
    expected_gap_ns_ = cursor_ > 0 ? scaled(std::max<int64_t>(0, e.enter_ns - prev_enter_ns_)) : 0;
    auto m = rec_to_real_.find(e.tid);
    if (m == rec_to_real_.end()) return;  // that thread does not exist yet
    Thread* t = core_->thread(m->second);
    if (!t) return;
    Held& h = held_[t->tid()];
    if (h.at_entry && is_recorded_fault(e)) {
      diverge(*t, &e, h.actual, "the recorded " + e.name + " (a fault) did not happen again: the thread made a syscall instead");
      return;
    }
    if (h.at_entry) {
      if (should_pause(e)) return;
      int64_t gate = wall_for(e.enter_ns);  // never before its recorded time
      if (speed() > 0 && now_ns() < gate) {
        gate_ns_ = gate;
        return;
      }
      if (cursor_ > 0) maybe_checkpoint();
      if (!serve_event(*t, h, e)) return;
      prev_enter_ns_ = e.enter_ns;
      last_progress_ns_ = stop_ns();
      cursor_++;
      if (step_budget_ > 0 && --step_budget_ == 0) pause("step");
      continue;
    }
    // Give the token to the thread whose entry is next, once it is free and the thread ready.
    if (paused_ || running_ >= 0 || exiting_ >= 0 || !h.ready) return;
    h.ready = false;
    running_ = t->tid();
    fast_fill(*t);
    core_->resume(*t, Resume::Continue);
    return;
  }
}

void Replayer::stuck() {
  if (cursor_ >= opts_.log.size()) {
    // The log is done and a thread still runs: it did not end where the recording did.
    Event none;
    none.name = "(none)";
    out_.message(divergence_message(seq_, 0, 0, "the recorded log ended but the program went on running without a syscall", nullptr, none));
    diverged_ = true;
    core_->kill_tracee();
    return;
  }
  const Event& e = opts_.log[cursor_];
  std::string why = "thread " + std::to_string(e.tid) + " did not reach its next recorded syscall (" + e.name +
                    ", seq " + std::to_string(e.seq) +
                    ") in time: it may be spinning in userspace on something a held thread owns, which "
                    "syscall replay cannot reproduce" + inexact_note();
  Event none;
  none.name = "(none)";
  none.tid = e.tid;
  out_.message(divergence_message(e.seq, e.tid, 0, why, &e, none));
  diverged_ = true;
  core_->kill_tracee();
}

}  // namespace rb
