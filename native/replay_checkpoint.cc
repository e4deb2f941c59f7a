// Checkpoints: jumps back (and far forward) without replaying from the start.
// (replay_tool.h lists the replayer's files.)
//
// A checkpoint is a fork of the replayed process, made by running fork in it where it is
// stopped at a syscall's seccomp stop (its next recorded event), as rr does: the child is the
// frozen copy (memory, fds, the placeholders at their recorded numbers) and never runs; the
// replay's own state then (log position, served count, clocks, the thread's place) is kept
// alongside. To go back, fork the copy again, give the new process the thread's registers at
// that seccomp stop, drop the live process, and go on from there with the saved state.
//
// Taken at every pause, 256 and 16 events before a jump's target, and while the replay
// runs every 1/64 of the log; at most 64 kept (to_drop says which go). Only
// for one process with one thread (fork copies the calling thread alone), outside the stream
// policy, with no writable shared mapping (fork would share it, not copy it): otherwise no
// checkpoint is taken and jumps restart the replay (the session says why). With injections,
// only until one fires (the run leaves the log there, and the checkpoints go): a checkpoint keeps
// their counts, and a restore puts them back, so the run fires them at the same calls.
#include <fcntl.h>
#include <signal.h>
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

// Runs fork in `pid`, stopped with `regs` set up to execute it; follows it through its
// seccomp stop and fork event to its syscall-exit stop. Returns the child (stopped at its
// first stop), or -1. In a checkpoint (not `at_seccomp`), signals are dropped: it never runs
// the program again (its forked copies do), and the SIGCHLD of a copy that was replaced is
// pending there. Until the fork has entered (its seccomp stop), a checkpoint is resumed with
// PTRACE_CONT: PTRACE_SYSCALL after a dropped signal would stop it at the syscall's entry,
// which looks like the exit stop (both SIGTRAP|0x80), before any fork.
pid_t run_fork(pid_t pid, user_regs_struct regs, bool at_seccomp) {
  if (at_seccomp) regs.orig_rax = SYS_fork;  // the kernel runs what orig_rax names
  if (ptrace(PTRACE_SETREGS, pid, nullptr, &regs) != 0) return -1;
  if (ptrace(at_seccomp ? PTRACE_SYSCALL : PTRACE_CONT, pid, 0, 0) != 0) return -1;
  pid_t child = -1;
  bool entered = at_seccomp;
  for (;;) {
    int st = wait_for(pid);
    if (st < 0 || !WIFSTOPPED(st)) return -1;
    if (event_of(st) == PTRACE_EVENT_FORK) {
      unsigned long msg = 0;
      ptrace(PTRACE_GETEVENTMSG, pid, nullptr, &msg);
      child = static_cast<pid_t>(msg);
    } else if (entered && is_syscall_stop(st)) {
      break;
    } else if (is_seccomp_stop(st)) {
      entered = true;
    } else if (!at_seccomp) {
      // a signal (or another stop) for the frozen copy: dropped (resumed below without it)
    } else {
      return -1;  // a signal in the live process: not a place for a checkpoint
    }
    if (ptrace(entered ? PTRACE_SYSCALL : PTRACE_CONT, pid, 0, 0) != 0) return -1;
  }
  if (child < 0) return -1;
  int st = wait_for(child);
  if (st < 0 || !WIFSTOPPED(st)) {
    kill(child, SIGKILL);
    return -1;
  }
  return child;
}

// A writable MAP_SHARED mapping would be shared by fork, not copied: the checkpoint would change.
std::string shared_writable(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/maps");
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string range, perms;
    in >> range >> perms;
    if (perms.size() >= 4 && perms[1] == 'w' && perms[3] == 's') return line;
  }
  return "";
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

bool Replayer::can_checkpoint(Thread*& t, std::string& why) {
  t = nullptr;
  if (!no_checkpoint_.empty()) {
    why = no_checkpoint_;
    return false;
  }
  // With injections, only while the replay still follows the log (none has fired): the
  // checkpoint keeps their counts, and a run resumed from it fires them at the same calls.
  if (stream_ || diverged_ || finished_ || opts_.counterfactual) {
    why = opts_.counterfactual ? "the program runs changed (a counterfactual replay): jumps restart the replay" : "";
    return false;
  }
  for (const Injection& inj : opts_.injections)
    if (inj.fired > 0) return false;
  if (!breakpoints_.empty() || bp_thread_ >= 0 || cursor_ >= opts_.log.size()) return false;
  if (held_.size() != 1) {
    why = "the program has several threads or processes (a fork copies only the calling thread): jumps restart the replay";
    no_checkpoint_ = why;
    return false;
  }
  auto& [real, h] = *held_.begin();
  t = core_->thread(real);
  if (!t || !h.at_entry || real == running_ || rec_of(real) != opts_.log[cursor_].tid) return false;
  // The tracer sees every clone before the parent's next call: its count is the process's.
  if (core_->thread_count() != 1 || t->pid() != t->tid()) {
    why = "the program has several threads: jumps restart the replay";
    no_checkpoint_ = why;
    return false;
  }
  std::string shared = shared_writable(t->pid());
  if (!shared.empty()) {
    why = "the program maps memory shared and writable (" + shared + "), which a fork would share, not copy: jumps restart the replay";
    no_checkpoint_ = why;
    return false;
  }
  return true;
}

void Replayer::checkpoint(const char* why) {
  // A run straight through (replay(), verify's runs) never jumps: forks would cost time and leave
  // frozen copies of the program beside it for nothing.
  if (!opts_.checkpoints) return;
  Thread* t = nullptr;
  std::string reason;
  if (!can_checkpoint(t, reason)) {
    if (!reason.empty() && !checkpoint_refused_) {
      checkpoint_refused_ = true;
      out_.message(checkpoint_message(seq_, 0, 0, 0, -1, reason));
    }
    return;
  }
  uint64_t seq = opts_.log[cursor_].seq;
  for (const auto& c : checkpoints_)
    if (c.seq == seq) return;  // one is there already
  int64_t t0 = now_ns();
  if (!t->load_regs()) return;
  user_regs_struct saved = t->regs();
  pid_t child = run_fork(t->tid(), saved, true);
  // The live thread goes back to its seccomp stop for the same syscall: re-enter it.
  user_regs_struct back = saved;
  back.rip -= 2;  // the syscall instruction
  back.rax = saved.orig_rax;
  bool ok = ptrace(PTRACE_SETREGS, t->tid(), nullptr, &back) == 0 && ptrace(PTRACE_CONT, t->tid(), 0, 0) == 0;
  ok = ok && is_seccomp_stop(wait_for(t->tid())) && t->load_regs();
  if (!ok) {
    // The live process is lost: the run cannot go on.
    if (child > 0) kill(child, SIGKILL);
    out_.message(error_message("checkpoint", "a checkpoint failed and left the replayed process unusable"));
    core_->kill_tracee();
    return;
  }
  if (child < 0) {
    no_checkpoint_ = "the replayed process could not be forked for a checkpoint: jumps restart the replay";
    return;
  }
  Checkpoint c;
  c.proc = child;
  c.regs = saved;
  c.cursor = cursor_;
  c.served = seq_;
  c.seq = seq;
  c.prev_enter_ns = prev_enter_ns_;
  c.real = t->pid();
  c.held = held_.begin()->second;
  c.rec_to_real = rec_to_real_;
  c.scratch = scratch_.count(t->pid()) > 0;
  if (auto s = signals_.find(t->tid()); s != signals_.end()) c.signals = s->second;
  for (const Injection& inj : opts_.injections) c.injections.push_back({inj.seen, inj.fired, inj.counters});
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
  }
  (void)why;
  out_.message(checkpoint_message(seq, checkpoints_.size(), (now_ns() - t0) / 1000, kb_of(child, "Pss:"), dropped, ""));
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
          near_level_ = k;
          checkpoint("near");
          return;
        }
        break;
      }
  }
  if (cursor_ < next_checkpoint_) return;
  next_checkpoint_ = cursor_ + spacing();
  checkpoint("spaced");
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

bool Replayer::restore(Checkpoint& c, std::string& err) {
  if (held_.size() != 1 || bp_thread_ >= 0 || !breakpoints_.empty()) {
    err = "the replay has threads or breakpoints a checkpoint does not have";
    return false;
  }
  pid_t live = held_.begin()->first;
  Thread* lt = core_->thread(live);
  if (!lt) {
    err = "no live process";
    return false;
  }
  // A new copy of the checkpoint: fork run in it, from the syscall instruction it stopped at.
  user_regs_struct r = c.regs;
  r.rip -= 2;
  r.rax = SYS_fork;
  r.orig_rax = static_cast<uint64_t>(-1);
  errno = 0;
  pid_t fresh = run_fork(c.proc, r, false);
  if (fresh < 0) {
    err = std::string("the checkpoint could not be forked (") + strerror(errno) + ")";
    return false;
  }
  // The copy enters the recorded syscall again and stops at its seccomp stop, as the thread was.
  r = c.regs;
  r.rip -= 2;
  r.rax = c.regs.orig_rax;
  r.orig_rax = static_cast<uint64_t>(-1);
  if (ptrace(PTRACE_SETREGS, fresh, nullptr, &r) != 0 || ptrace(PTRACE_CONT, fresh, 0, 0) != 0 || !is_seccomp_stop(wait_for(fresh))) {
    kill(fresh, SIGKILL);
    err = "the checkpoint's copy did not reach its syscall";
    return false;
  }
  // The live process leaves the run unreported; the copy takes its place.
  pid_t live_pid = lt->pid();
  Thread& nt = core_->adopt(fresh, live_pid);
  core_->forget_process(live_pid);
  kill(live_pid, SIGKILL);
  for (int st = wait_for(live_pid); st >= 0 && !WIFEXITED(st) && !WIFSIGNALED(st); st = wait_for(live_pid)) {
  }
  nt.load_regs();
  held_.clear();
  held_[fresh] = c.held;
  rec_to_real_.clear();
  real_to_rec_.clear();
  for (const auto& [rec, real] : c.rec_to_real) map(rec, real == c.real ? fresh : real);
  scratch_.erase(live_pid);
  if (c.scratch) scratch_.insert(fresh);
  signals_.clear();
  if (!c.signals.empty()) signals_[fresh] = c.signals;
  // The injections count from where they stood then (none had fired: the run followed the log).
  held_[fresh].call = Held::Call{};
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

// Lets every checkpoint go while the replay goes on: each copy is killed and reaped here.
void Replayer::release_checkpoints() {
  for (auto& c : checkpoints_) {
    kill(c.proc, SIGKILL);
    wait_for(c.proc);
  }
  checkpoints_.clear();
}

void Replayer::drop_checkpoints() {
  for (auto& c : checkpoints_) kill(c.proc, SIGKILL);
  checkpoints_.clear();
}

}  // namespace rb
