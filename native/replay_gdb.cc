// gdb on a replay: what the gdbserver (gdbserver.h) sees of the paused replay, and software
// breakpoints. (replay_tool.h lists the replayer's files.)
//
// gdb looks at one process: the one whose thread makes the next recorded event. Its threads are
// those stopped under ptrace (at a syscall, waiting for their turn, or at a breakpoint); a thread
// inside a real blocking call is not shown. A breakpoint is an int3 written into the process;
// a thread that hits it is held there and the replay pauses. The schedule is untouched: the
// thread holding the token hit it, and it goes on to its recorded syscall when resumed (from a
// breakpoint still inserted at its address, the original byte runs and the int3 comes back at
// the thread's next syscall).
#include <fcntl.h>
#include <sys/ptrace.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "protocol.h"
#include "replay_tool.h"

namespace rb {

void Replayer::start_gdbserver(int port) {
  std::string err;
  if (!gdb_) {
    auto g = std::make_unique<GdbServer>();
    if (g->start(port, opts_.gdb_netns_fd, opts_.wake, err)) gdb_ = std::move(g);
  }
  out_.message(gdbserver_message(gdb_ ? gdb_->port() : 0, err));
}

// Called by pause(): a gdb waiting on a resume gets its stop reply.
void Replayer::gdb_paused() {
  if (gdb_ && gdb_->waiting()) gdb_->stopped(*this, bp_hit_);
}

pid_t Replayer::gdb_process() {
  if (cursor_ < opts_.log.size()) {
    auto m = rec_to_real_.find(opts_.log[cursor_].tid);
    if (m != rec_to_real_.end())
      if (Thread* t = core_->thread(m->second)) return t->pid();
  }
  if (bp_thread_ >= 0)
    if (Thread* t = core_->thread(bp_thread_)) return t->pid();
  return core_->pid();
}

std::vector<pid_t> Replayer::gdb_threads() {
  std::vector<pid_t> out;
  pid_t proc = gdb_process();
  pid_t first = -1;
  if (bp_thread_ >= 0) first = bp_thread_;
  else if (cursor_ < opts_.log.size()) first = real_of(opts_.log[cursor_].tid);
  for (const auto& [real, h] : held_) {
    Thread* t = core_->thread(real);
    if (!t || t->pid() != proc) continue;
    bool stopped = real == bp_thread_ || (real != running_ && !h.in_flight && (h.at_entry || h.ready || h.delayed_until > 0));
    if (!stopped) continue;
    if (real == first) out.insert(out.begin(), rec_of(real));
    else out.push_back(rec_of(real));
  }
  return out;
}

Thread* Replayer::gdb_thread(pid_t rec) {
  auto threads = gdb_threads();
  if (std::find(threads.begin(), threads.end(), rec) == threads.end()) return nullptr;
  return core_->thread(real_of(rec));
}

bool Replayer::gdb_regs(pid_t rec, user_regs_struct& regs, user_fpregs_struct& fp) {
  Thread* t = gdb_thread(rec);
  if (!t || !t->load_regs()) return false;
  regs = t->regs();
  fast_view(*t, regs);
  if (ptrace(PTRACE_GETFPREGS, t->tid(), nullptr, &fp) != 0) memset(&fp, 0, sizeof fp);
  return true;
}

bool Replayer::gdb_read(pid_t rec, uint64_t addr, size_t len, std::string& out) {
  Thread* t = gdb_thread(rec);
  if (!t) return false;
  out.resize(len);
  // A read that runs into an unmapped page returns what comes before it.
  size_t ok = len;
  while (ok > 0 && !t->read_mem(addr, out.data(), ok)) ok = ok > 64 ? ok / 2 : ok - 1;
  if (ok == 0) return false;
  out.resize(ok);
  fast_view(t->pid(), addr, out);
  if (t->pid() == bp_process_)
    for (const auto& [a, byte] : breakpoints_)
      if (a >= addr && a < addr + ok) out[a - addr] = static_cast<char>(byte);
  return true;
}

std::string Replayer::gdb_thread_info(pid_t rec) {
  pid_t real = real_of(rec);
  auto h = held_.find(real);
  std::string s = real == bp_thread_ ? "at a breakpoint" : h == held_.end() ? "gone" : thread_state(real, h->second);
  if (cursor_ < opts_.log.size() && opts_.log[cursor_].tid == rec)
    s += ", next event: " + opts_.log[cursor_].name + " (seq " + std::to_string(opts_.log[cursor_].seq) + ")";
  return s;
}

std::string Replayer::gdb_resume(bool step) {
  if (finished_) return "exited";
  if (diverged_) return "diverged";
  if (step) {
    fast_unpatch();
    if (step_instruction()) return "";
    step_budget_ = 1;
    if (paused_) {
      paused_ = false;
      rebase();
    }
    release_breakpoint_stop();
    pump();
  } else {
    fast_unpatch();
    resume_replay();
  }
  return "";
}

// Reverse execution, through the checkpoints. reverse-stepi goes from event to event, as a
// forward step does: back to the previous recorded call (or to the first checkpoint, where the
// history begins), by restoring the checkpoint before it and replaying to it. reverse-continue
// with breakpoints stops at the last hit before where the replay stands, as rr does: from the
// nearest checkpoint before, a run with the breakpoints in counts the hits up to here (a hit's
// place is the event cursor and which hit it is since then: the same in every run, the replay
// being deterministic between recorded calls); with one, the checkpoint is restored again and
// the run stops at the last; with none, the same from the checkpoint before, back to the first.
// Without breakpoints, or with no hit in the whole history, it goes to the beginning.
std::string Replayer::gdb_reverse(bool to_start) {
  if (finished_) return "replaybook: the program has ended; reverse execution needs a paused replay";
  if (diverged_ || stream_) return "replaybook: the replay left the recording; it cannot go back";
  if (checkpoints_.empty())
    return "replaybook: no checkpoint to go back to (" + (no_checkpoint_.empty() ? std::string("none taken yet") : no_checkpoint_) + ")";
  if (to_start && !breakpoints_.empty()) {
    HitPos until = here();
    const Checkpoint* best = nullptr;
    for (const auto& c : checkpoints_)
      if (c.cursor < until.cursor) best = &c;
    if (best) {
      rsearch_ = ReverseSearch{};
      rsearch_.phase = ReverseSearch::Scan;
      rsearch_.from = best->seq;
      rsearch_.until = until;
      rsearch_.bps.swap(breakpoints_);
      speed_after_pause_ = opts_.speed;
      opts_.speed = 0;
      pid_t bp_thread = bp_thread_;
      bool bp_hit = bp_hit_;
      std::string err;
      if (reverse_run(err)) return "";
      breakpoints_.swap(rsearch_.bps);
      bp_thread_ = bp_thread;
      bp_hit_ = bp_hit;
      rsearch_ = ReverseSearch{};
      opts_.speed = speed_after_pause_;
      speed_after_pause_ = -1;
      return "replaybook: " + err;
    }
  }
  // The history begins at the first checkpoint (the program's first call, after its exec).
  uint64_t begin = checkpoints_.front().seq;
  size_t at = cursor_;
  while (at > 0 && opts_.log[--at].kind != kSyscall) {
  }
  if (cursor_ == 0 || opts_.log[at].seq < begin || (to_start && opts_.log[cursor_ < opts_.log.size() ? cursor_ : at].seq <= begin)) return "begin";
  uint64_t seq = to_start ? begin : opts_.log[at].seq;
  Checkpoint* best = nullptr;
  for (auto& c : checkpoints_)
    if (c.seq <= seq) best = &c;
  std::string err;
  // The breakpoints (gdb inserts its own too) are taken out while going back, so that the run
  // from the checkpoint passes those in between, and put into the restored process at the pause.
  std::map<uint64_t, uint8_t> bps;
  bps.swap(breakpoints_);
  pid_t bp_thread = bp_thread_;
  bp_thread_ = -1;
  if (!restore(*best, err)) {
    bps.swap(breakpoints_);
    bp_thread_ = bp_thread;
    return "replaybook: " + err;
  }
  bp_hit_ = false;
  rearm_.clear();
  reinsert_ = std::move(bps);
  out_.flush();
  out_.message(restored_message(true, best->seq, seq_, ""));  // the session keeps what it has
  // Replayed as fast as it goes (going back re-waits nothing); the speed comes back at the pause.
  opts_.pause_at = seq;
  speed_after_pause_ = opts_.speed;
  opts_.speed = 0;
  resume_replay();
  return "";
}

// Where the paused replay stands, as a hit's place: at the breakpoint it stopped at; at the
// entry of the next event (after every hit before it); or where its thread has not run since
// the last event was served (a step: before any hit with this cursor).
Replayer::HitPos Replayer::here() const {
  if (bp_hit_ && bp_thread_ >= 0 && hit_at_.cursor == cursor_) return hit_at_;
  bool entry = false;
  if (cursor_ < opts_.log.size()) {
    auto h = held_.find(real_of(opts_.log[cursor_].tid));
    entry = h != held_.end() && h->second.at_entry;
  }
  return {cursor_, entry ? kEntry : 0};
}

// One run of a reverse-continue: the checkpoint restored (gdb's breakpoints are out of the live
// process, as restore wants), the breakpoints put into the copy, and the replay run at full speed
// until the search's place. The stop comes at a breakpoint (on_breakpoint) or at the entry of the
// event at that place (reverse_paused), and reverse_next goes on from there.
bool Replayer::reverse_run(std::string& err) {
  Checkpoint* cp = nullptr;
  for (auto& c : checkpoints_)
    if (c.seq == rsearch_.from) cp = &c;
  if (!cp) {
    err = "the checkpoint to go back to is gone";
    return false;
  }
  breakpoints_.clear();  // the int3s are in the process about to be dropped
  bp_thread_ = -1;
  bp_hit_ = false;
  reinsert_.clear();
  if (!restore(*cp, err)) return false;
  rearm_.clear();
  hit_proc_ = -1;
  Thread* t = core_->thread(held_.begin()->first);
  uint8_t int3 = 0xcc;
  for (const auto& [addr, byte] : rsearch_.bps)
    if (t && t->write_mem(addr, &int3, 1)) {
      breakpoints_[addr] = byte;
      bp_process_ = t->pid();
    }
  out_.flush();
  out_.message(restored_message(true, cp->seq, seq_, ""));
  size_t c = std::min(rsearch_.until.cursor, opts_.log.size() - 1);
  opts_.pause_at = opts_.log[c].seq;
  resume_replay();
  return true;
}

// A pause while a reverse-continue runs: the entry of the event where its run ends is the end of
// a scan (the next step follows at on_timer: restore() must not run inside the schedule's loop);
// anything else (Ctrl-C, or a run to a hit that did not come) ends the search there.
bool Replayer::reverse_paused(const char* why) {
  if (rsearch_.phase == ReverseSearch::Scan && strcmp(why, "until") == 0) {
    paused_ = true;
    step_budget_ = 0;
    rsearch_.due = true;
    return true;
  }
  rsearch_ = ReverseSearch{};
  return false;
}

// After a scan: to its last hit, or a scan from the checkpoint before, or (none left) the
// beginning of the history as without breakpoints.
void Replayer::reverse_next() {
  std::string err;
  if (rsearch_.found) {
    rsearch_.phase = ReverseSearch::Goto;
    rsearch_.until = rsearch_.last;
    rsearch_.found = false;
  } else {
    const Checkpoint* before = nullptr;
    for (const auto& c : checkpoints_)
      if (c.seq < rsearch_.from) before = &c;
    if (!before) {
      // No hit since the history began: there, as reverse-continue goes without breakpoints
      // (they go into the copy at the pause, which gdb is told is the beginning).
      Checkpoint& first = checkpoints_.front();
      breakpoints_.clear();
      bp_thread_ = -1;
      bp_hit_ = false;
      if (restore(first, err)) {
        rearm_.clear();
        reinsert_ = std::move(rsearch_.bps);
        rsearch_ = ReverseSearch{};
        out_.flush();
        out_.message(restored_message(true, first.seq, seq_, ""));
        opts_.pause_at = first.seq;
        resume_replay();
        return;
      }
      rsearch_.bps.clear();
    }
    if (before) {
      for (const auto& c : checkpoints_)
        if (c.seq == rsearch_.from) rsearch_.until = {c.cursor, kEntry};
      rsearch_.from = before->seq;
    }
  }
  if (err.empty() && reverse_run(err)) return;
  out_.message(warning_message("gdb", "reverse-continue stopped: " + err));
  rsearch_ = ReverseSearch{};
  pause("pause");
}

// At the pause after going back: gdb's breakpoints go into the restored process.
void Replayer::reinsert_breakpoints() {
  if (reinsert_.empty() || held_.empty()) return;
  Thread* t = core_->thread(held_.begin()->first);
  uint8_t int3 = 0xcc;
  for (const auto& [addr, byte] : reinsert_)
    if (t && t->write_mem(addr, &int3, 1)) {
      breakpoints_[addr] = byte;
      bp_process_ = t->pid();
    }
  reinsert_.clear();
}

void Replayer::gdb_interrupt() {
  if (!paused_) pause("pause");
}

bool Replayer::gdb_breakpoint(bool insert, uint64_t addr, std::string& err) {
  pid_t proc = gdb_process();
  if (!breakpoints_.empty() && bp_process_ != proc) {
    err = "replaybook: breakpoints are set in another process of the replay";
    return false;
  }
  auto threads = gdb_threads();
  Thread* t = threads.empty() ? nullptr : core_->thread(real_of(threads.front()));
  if (!t) {
    err = "replaybook: no thread of the replayed process is stopped";
    return false;
  }
  auto it = breakpoints_.find(addr);
  if (!insert) {
    if (it == breakpoints_.end()) return true;
    uint8_t b = it->second;
    breakpoints_.erase(it);
    for (auto r = rearm_.begin(); r != rearm_.end();) r = r->second == addr ? rearm_.erase(r) : std::next(r);
    if (!t->write_mem(addr, &b, 1)) {
      err = "replaybook: cannot restore the instruction byte at that address";
      return false;
    }
    return true;
  }
  if (it != breakpoints_.end()) return true;
  fast_unpatch();
  uint8_t b = 0, int3 = 0xcc;
  if (!t->read_mem(addr, &b, 1) || !t->write_mem(addr, &int3, 1)) {
    err = "replaybook: cannot write a breakpoint at that address (not mapped in the replayed process)";
    return false;
  }
  breakpoints_[addr] = b;
  bp_process_ = proc;
  return true;
}

std::string Replayer::gdb_auxv() {
  std::string path = "/proc/" + std::to_string(gdb_process()) + "/auxv", data;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return data;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) data.append(buf, static_cast<size_t>(n));
  close(fd);
  return data;
}

std::string Replayer::gdb_exe() {
  std::string path = "/proc/" + std::to_string(gdb_process()) + "/exe";
  char buf[4096];
  ssize_t n = readlink(path.c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

pid_t Replayer::gdb_pid() { return gdb_process(); }

void Replayer::gdb_detached() {
  // A reverse-continue under way ends with gdb: its run stops where it is, without breakpoints.
  if (rsearch_.phase != ReverseSearch::Off) {
    bool held = rsearch_.due;
    rsearch_ = ReverseSearch{};
    if (held) pause("pause");
  }
  auto threads = gdb_threads();
  Thread* t = threads.empty() ? nullptr : core_->thread(real_of(threads.front()));
  if (!t && bp_thread_ >= 0) t = core_->thread(bp_thread_);
  for (const auto& [addr, b] : breakpoints_)
    if (t) t->write_mem(addr, &b, 1);
  breakpoints_.clear();
  rearm_.clear();
  bp_process_ = -1;
}

// A thread stopped at an int3: ours (the replay pauses, the thread stays there with its pc at
// the breakpoint's address, as gdb expects with swbreak) or the program's own.
// While a reverse-continue runs, the hits before its place are counted (a scan) or passed (on
// the way to the last one), and the first one at or past it ends the run.
bool Replayer::on_breakpoint(Thread& t) {
  fast_account(t.tid() == fast_tid_);
  uint64_t addr = t.ip() - 1;
  if (t.pid() != bp_process_ || !breakpoints_.count(addr)) return false;
  if (hit_proc_ != t.pid() || hit_at_.cursor != cursor_) hit_at_ = {cursor_, 0};
  hit_proc_ = t.pid();
  hit_at_.hit++;
  t.regs().rip = addr;
  t.store_regs();
  if (rsearch_.phase != ReverseSearch::Off && hit_at_ < rsearch_.until) {
    if (rsearch_.phase == ReverseSearch::Scan) {
      rsearch_.found = true;
      rsearch_.last = hit_at_;
    }
    pass_breakpoint(t, addr);
    return true;
  }
  bp_thread_ = t.tid();
  if (rsearch_.phase == ReverseSearch::Scan) {
    paused_ = true;  // the scan reached its place: held here until reverse_next
    rsearch_.due = true;
    return true;
  }
  // A reverse-continue ends at its hit: the place its run was bounded by is no pause any more.
  if (rsearch_.phase != ReverseSearch::Off) opts_.pause_at = UINT64_MAX;
  rsearch_ = ReverseSearch{};
  bp_hit_ = true;
  pause("breakpoint");
  return true;
}

// The replay resumes: a thread held at a breakpoint goes on (running the instruction the int3
// replaced, which comes back at its next syscall).
void Replayer::release_breakpoint_stop() {
  if (bp_thread_ < 0) return;
  Thread* t = core_->thread(bp_thread_);
  bp_thread_ = -1;
  bp_hit_ = false;
  if (!t || !t->load_regs()) return;
  pass_breakpoint(*t, t->ip());
}

// A thread at a breakpoint goes on: the int3 at `addr` (if one is there) gives the instruction
// back for one single step, then returns (on_single_step), so a loop that passes the same place
// again before its next syscall stops there again. A step that enters a syscall (the instruction
// was one) or a signal handler puts it back at that stop instead.
void Replayer::pass_breakpoint(Thread& t, uint64_t addr) {
  auto it = breakpoints_.find(addr);
  if (it == breakpoints_.end()) {
    core_->resume(t, Resume::Continue);
    return;
  }
  uint8_t b = it->second;
  t.write_mem(it->first, &b, 1);
  rearm_[t.tid()] = it->first;
  stepping_.insert(t.tid());
  core_->resume(t, Resume::Step);
}

// gdb's step from a thread held at an instruction (a breakpoint, or its last stepi) is one
// instruction: gdb steps over its own breakpoints that way, and `stepi` goes one instruction.
// A `syscall` instruction steps to that event's end instead, as a step from a syscall stop does.
bool Replayer::step_instruction() {
  if (bp_thread_ < 0 || finished_ || diverged_) return false;
  Thread* t = core_->thread(bp_thread_);
  if (!t || !t->load_regs()) return false;
  pid_t tid = bp_thread_;
  bp_thread_ = -1;
  bp_hit_ = false;
  step_budget_ = 1;
  if (paused_) {
    paused_ = false;
    rebase();
  }
  gdb_step_ = tid;
  uint64_t addr = t->ip();
  auto it = breakpoints_.find(addr);
  if (it != breakpoints_.end()) {
    uint8_t b = it->second;
    t->write_mem(addr, &b, 1);
    rearm_[tid] = addr;
  }
  stepping_.insert(tid);
  core_->resume(*t, Resume::Step);
  return true;
}

// (The step's trap is ours even when gdb has gone meanwhile and taken its breakpoints along.)
bool Replayer::on_single_step(Thread& t) {
  if (!stepping_.erase(t.tid())) return false;
  bool gdb_step = gdb_step_ == t.tid();
  rearm_breakpoints(t);
  if (!gdb_step) {
    core_->resume(t, Resume::Continue);
    return true;
  }
  // Held at the next instruction, as at a breakpoint.
  step_budget_ = 0;
  bp_thread_ = t.tid();
  pause("step");
  return true;
}

void Replayer::rearm_breakpoints(Thread& t) {
  stepping_.erase(t.tid());  // a stop other than the step's ends the step (its resume clears it)
  if (gdb_step_ == t.tid()) gdb_step_ = -1;
  auto r = rearm_.find(t.tid());
  if (r == rearm_.end()) return;
  uint64_t addr = r->second;
  rearm_.erase(r);
  uint8_t int3 = 0xcc;
  if (breakpoints_.count(addr)) t.write_mem(addr, &int3, 1);
}

}  // namespace rb
