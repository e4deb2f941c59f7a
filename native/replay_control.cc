// Replay control: the verbs of a running replay (pause, resume, step, speed, until, state,
// read, stop), where it pauses, and the state and memory it shows while paused.
// (replay_tool.h lists the replayer's files.)
#include <algorithm>
#include <cstring>

#include "protocol.h"
#include "replay_tool.h"

namespace rb {

bool Replayer::should_pause(const Event& e) {
  if (paused_) return true;
  if (e.seq >= opts_.pause_at) {
    opts_.pause_at = UINT64_MAX;
    pause("until");
    return true;
  }
  return false;
}

void Replayer::pause(const char* why) {
  if (rsearch_.phase != ReverseSearch::Off && reverse_paused(why)) return;  // gdb's reverse-continue goes on
  paused_ = true;
  step_budget_ = 0;
  if (speed_after_pause_ >= 0) {
    opts_.speed = speed_after_pause_;
    speed_after_pause_ = -1;
  }
  const Event* next = cursor_ < opts_.log.size() ? &opts_.log[cursor_] : nullptr;
  out_.message(paused_message(why, next ? next->seq : opts_.log.size()));
  if (strcmp(why, "breakpoint") != 0) bp_hit_ = false;
  gdb_paused();
  // A step back from here is cheap; while a thread is between stops, taken when it stops (pump).
  pause_checkpoint_due_ = cursor_ > 0 && checkpoint(why) == Taken::Later;
  reinsert_breakpoints();            // after going back (gdb), once the checkpoint is taken
}

void Replayer::resume_replay() {
  if (!paused_) return;
  paused_ = false;
  pause_checkpoint_due_ = false;
  rebase();
  release_breakpoint_stop();
  pump();
}

void Replayer::on_wake() {
  std::string cmd;
  while (opts_.control && opts_.control->pop(cmd)) {
    fast_revoke();  // what the program answered itself comes first; the verb may change what it may
    command(cmd);
  }
  if (gdb_) gdb_->poll(*this);
}

void Replayer::command(const std::string& line) {
  ControlVerb v;
  std::string err;
  if (!parse_control(line, v, err)) {
    out_.message(warning_message("bad_control", err));
    // An injections verb is answered either way (the session waits for its answer).
    if (v.kind == ControlVerb::Injections)
      out_.message(restored_message(false, cursor_ < opts_.log.size() ? opts_.log[cursor_].seq : opts_.log.size(), seq_, err));
    return;
  }
  switch (v.kind) {
    case ControlVerb::Pause:
      if (!paused_) pause("pause");
      break;
    case ControlVerb::Resume:
      resume_replay();
      break;
    case ControlVerb::Step:
      step_budget_ = v.n;
      if (paused_) {
        paused_ = false;
        rebase();
      }
      release_breakpoint_stop();
      pump();
      break;
    case ControlVerb::Speed:
      opts_.speed = v.speed;
      rebase();
      pump();
      break;
    case ControlVerb::Until:
      opts_.pause_at = v.seq;
      pump();
      break;
    case ControlVerb::State:
      out_.message(state_json());
      break;
    case ControlVerb::Read:
      out_.message(memory_json(v.tid, v.addr, std::min<uint64_t>(v.len, 1 << 20)));
      break;
    case ControlVerb::Goto:
      goto_checkpoint(v.seq);
      break;
    case ControlVerb::Injections:
      set_injections(std::move(v.injections));
      break;
    case ControlVerb::Gdbserver:
      start_gdbserver(static_cast<int>(v.port));
      break;
    case ControlVerb::Stop:
      core_->kill_tracee();
      break;
  }
}

const char* Replayer::thread_state(pid_t real, const Held& h) const {
  if (real == running_) return "running";
  if (h.at_entry) return "at_syscall";
  if (h.delayed_until > 0) return "in_emulated_call";
  if (h.ready) return "waiting_turn";
  return "in_kernel";
}

std::string Replayer::state_json() {
  StateReport r;
  r.next = cursor_ < opts_.log.size() ? &opts_.log[cursor_] : nullptr;
  r.paused = paused_;
  r.seq = r.next ? r.next->seq : opts_.log.size();
  r.served = seq_;
  r.speed = speed();
  r.virtual_ns = prev_enter_ns_;
  for (const auto& [rec, real] : rec_to_real_) {
    auto h = held_.find(real);
    if (h == held_.end() || !core_->thread(real)) continue;
    r.threads.push_back({rec, real, thread_state(real, h->second)});
  }
  user_regs_struct view;
  if (r.next) {
    auto m = rec_to_real_.find(r.next->tid);
    Thread* t = m == rec_to_real_.end() ? nullptr : core_->thread(m->second);
    // Any stopped thread's registers can be read; the running one's cannot.
    if (t && t->tid() != running_ && held_.count(t->tid()) && t->load_regs()) {
      view = t->regs();
      fast_view(*t, view);
      r.regs = &view;
    }
  }
  return state_message(r);
}

std::string Replayer::memory_json(pid_t rec, uint64_t addr, uint64_t len) {
  auto m = rec_to_real_.find(rec);
  Thread* t = m == rec_to_real_.end() ? nullptr : core_->thread(m->second);
  std::string err;
  std::string bytes;
  if (!t) err = "no thread " + std::to_string(rec);
  else if (m->second == running_) err = "thread " + std::to_string(rec) + " is running; pause first";
  else {
    bytes.resize(len);
    if (!t->read_mem(addr, bytes.data(), len)) err = "cannot read that memory";
    else fast_view(t->pid(), addr, bytes);
  }
  return memory_message(addr, err, bytes);
}

}  // namespace rb
