// The replayer: each trapped syscall is checked against the next recorded event and, for the
// emulated class, answered from the log (return value and output bytes) without reaching the
// kernel. fds the log created are held in the tracee's real fd table by placeholders at the
// recorded numbers; a mapped file's placeholder is its recorded blob, so mmap maps recorded bytes.
//
// This file has the Tool handlers; the replay_*.cc files have the rest, one concern each
// (replay_tool.h lists them).
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "capture.h"
#include "protocol.h"
#include "replay_tool.h"
#include "tools.h"

namespace rb {

Resume Replayer::on_syscall(Thread& t, const SyscallStop& stop) {
  if (t0_ == 0) {
    t0_ = stop.time_ns;
    base_wall_ = t0_;
    last_progress_ns_ = t0_;
    if (opts_.start_paused) pause("start");
    if (!opts_.log.empty()) map(opts_.log.front().tid, t.tid());  // the leader
  }
  fast_account(t.tid() == fast_tid_);
  // A call the program's blob can answer from now on: entered again through its patched site.
  if (fast_patch(t, *stop.spec)) return Resume::Continue;
  if (running_ == t.tid()) running_ = -1;
  rearm_breakpoints(t);
  Held& h = held_[t.tid()];
  h.at_entry = true;
  h.backed_out = false;
  h.stop = stop;
  h.actual = syscall_event(t.pid(), t, *stop.spec, stop.args, 0, stop.time_ns - t0_);
  recorded_ids(*stop.spec, h.actual.args);
  h.actual.data_in = capture_in(t, *stop.spec, stop.args);
  recorded_input_id(*stop.spec, h.actual.data_in);
  if (stop.spec->path_arg >= 0) {
    const int p = stop.spec->path_arg;
    std::string path = in_part_for_arg(*stop.spec, h.actual.data_in, p), rec = recorded_proc_path(path);
    if (rec != path) h.actual.data_in = with_in_part(*stop.spec, h.actual.data_in, p, rec);
  }
  if (stream_) {
    h.call = Held::Call{};
    h.call.v_enter = vnow();
    serve_stream(t, h);
    return Resume::Hold;
  }
  pump();
  return Resume::Hold;  // pump() resumes it
}

Resume Replayer::on_syscall_exit(Thread& t) {
  Held& h = held_[t.tid()];
  if (h.call.real) {
    h.call.real = false;
    int64_t ret = static_cast<int64_t>(t.regs().rax);
    world_->after_real(rec_of(t.pid()), h.call.c, ret);
    finish_stream_call(t, h, ret, "", h.call.resource, false);
    return Resume::Continue;
  }
  if (h.restore_args) {  // the program's own arguments back in their registers
    t.regs().rdi = h.stop.args[0];
    t.regs().rsi = h.stop.args[1];
    h.restore_args = false;
  }
  if (h.serving) fix_return(t, *h.serving);
  if (h.stop.spec && h.stop.spec->special == Special::Execve && t.syscall_ret() == 0) fast_attach(t);
  h.serving = nullptr;
  h.in_flight = false;
  h.interrupted = false;
  // Its syscall returned: it waits for the token (an emulated one, also for its duration).
  if (h.delayed_until == 0) h.ready = true;
  pump();
  return Resume::Hold;
}

Resume Replayer::on_thread_start(Thread& t) {
  Held& h = held_[t.tid()];
  h.ready = true;
  // A fatal signal may have been sent before this first stop was seen (a child killed right
  // after its fork, before its first syscall).
  run_if_doomed(t, h);
  pump();
  return Resume::Hold;
}

void Replayer::on_unsupported(const std::string& message) {
  out_.message(error_message("unsupported", message));
}

// The new image gets the recorded AT_RANDOM bytes (the execve event's data_out), so what a
// runtime seeds from them (Go's scheduler and map hashes) takes the recorded paths.
void Replayer::on_exec(Thread& t) {
  scratch_.erase(t.pid());
  auto r = exec_random_.find(t.pid());
  if (r == exec_random_.end()) return;
  if (r->second.size() == 16 && t.at_random()) t.write_mem(t.at_random(), r->second.data(), 16);
  exec_random_.erase(r);
}

// rdtsc/rdtscp: the thread runs with the token, so its read is the event at the cursor.
Resume Replayer::on_tsc(Thread& t, TscRead& r) {
  fast_account(t.tid() == fast_tid_);
  const Event* e = cursor_ < opts_.log.size() ? &opts_.log[cursor_] : nullptr;
  Event actual;
  actual.kind = kInstruction;
  actual.name = r.rdtscp ? "rdtscp" : "rdtsc";
  actual.pid = rec_of(t.pid());
  actual.tid = rec_of(t.tid());
  if (stream_) {
    // The counter follows the virtual clock.
    r.value = world_->tsc(vnow());
    actual.seq = seq_++;
    actual.ret = static_cast<int64_t>(r.value);
    actual.enter_ns = vnow();
    out_.event(std::move(actual));
    return Resume::Continue;
  }
  if (!e || e->kind != kInstruction || e->tid != actual.tid || e->name != actual.name) {
    diverge(t, e, actual, "the program read the time-stamp counter (" + actual.name + ") where the recording " +
                              (e ? "made " + e->name : "had ended"));
    return Resume::Kill;
  }
  r.value = static_cast<uint64_t>(e->ret);
  r.aux = static_cast<uint32_t>(e->args[0]);
  actual.seq = seq_++;
  actual.ret = e->ret;
  actual.args[0] = e->args[0];
  actual.enter_ns = now_ns() - t0_;
  out_.event(std::move(actual));
  prev_enter_ns_ = e->enter_ns;
  last_progress_ns_ = now_ns();
  cursor_++;
  // A served event like any other for `step N`: pausing here holds the thread (stopped, its
  // registers readable) until the schedule gives it its turn again.
  if (step_budget_ > 0 && --step_budget_ == 0) {
    pause("step");
    if (running_ == t.tid()) running_ = -1;
    held_[t.tid()].ready = true;
    return Resume::Hold;
  }
  return Resume::Continue;
}

void Replayer::on_thread_created(Thread& parent, Thread& child) {
  if (fast_ && child.pid() != parent.pid()) fast_->on_fork(parent.pid(), child.pid());
  // A forked process starts with its parent's memory, the scratch page included.
  if (child.pid() != parent.pid() && scratch_.count(parent.pid())) scratch_.insert(child.pid());
  if (stream_ && child.pid() != parent.pid()) world_->fork(rec_of(parent.pid()), rec_of(child.pid()));
  // Where the kernel clears the new thread's tid when it ends (the joiners' futex): a
  // checkpoint's copy recreates the thread with it.
  if (child.pid() == parent.pid()) {
    auto p = held_.find(parent.tid());
    if (p != held_.end() && p->second.stop.spec) {
      const SyscallStop& st = p->second.stop;
      uint64_t ctid = 0;
      if (clone_flags(parent, *st.spec, st.args) & CLONE_CHILD_CLEARTID) {
        if (st.nr == SYS_clone3) parent.read_mem(st.args[0] + 16, &ctid, 8);  // clone_args.child_tid
        else ctid = st.args[3];
      }
      if (ctid) clear_tid_[child.tid()] = ctid;
    }
  }
  auto it = clone_of_.find(parent.tid());
  if (it == clone_of_.end()) return;
  map(static_cast<pid_t>(it->second), child.tid());
  clone_of_.erase(it);
  pump();
}

void Replayer::on_thread_exit(Thread& t, int status) {
  fast_account(t.tid() == fast_tid_);
  if (fast_ && t.tid() == t.pid()) fast_->on_process_exit(t.pid());
  // As the recorder does: the exits of threads an exit_group ended come with their process's,
  // by recorded tid (they are reaped in no particular order).
  if (t.tid() != t.pid() && !exited_self_.count(t.tid())) {
    killed_[t.pid()].emplace(rec_of(t.tid()), status);
  } else if (!diverged_) {
    if (t.tid() == t.pid())
      for (const auto& [rec, st] : killed_[t.pid()]) exit_event(Thread(real_of(rec), t.pid()), st);
    exit_event(t, status);
  }
  if (t.tid() == t.pid()) killed_.erase(t.pid());
  exited_self_.erase(t.tid());
  held_.erase(t.tid());
  signals_.erase(t.tid());
  clear_tid_.erase(t.tid());
  if (running_ == t.tid()) running_ = -1;
  if (exiting_ == t.tid()) exiting_ = -1;
  pump();
}

void Replayer::on_exit(int status) {
  fast_account(true);
  finished_ = true;
  ReplayReport r;
  r.consumed = cursor_;
  r.log_events = opts_.log.size();
  r.stream = stream_;
  r.switched_at = switched_seq_;
  r.in_process = fast_served_;
  r.injections = &opts_.injections;
  out_.message(replay_exit_message(status, r));
  if (gdb_) gdb_->exited(status);
  drop_checkpoints();
}

void Replayer::exit_event(const Thread& t, int status) {
  Event e;
  e.seq = seq_++;
  e.kind = kExit;
  e.name = "exit";
  e.pid = rec_of(t.pid());
  e.tid = rec_of(t.tid());
  e.ret = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  e.enter_ns = stream_ ? vnow() : t0_ ? now_ns() - t0_ : 0;  // stream policy: virtual time
  out_.event(std::move(e));
}

std::unique_ptr<Tool> make_replayer(Output& out, ReplayOptions&& opts) {
  return std::make_unique<Replayer>(out, std::move(opts));
}

}  // namespace rb
