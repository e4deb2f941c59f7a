// Counterfactual replay (docs/injections.md): where a run leaves the log, and the stream
// policy serving its calls from then on (injections, waits on the virtual clock).
// (replay_tool.h lists the replayer's files.)
#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>

#include "capture.h"
#include "protocol.h"
#include "replay_tool.h"

namespace rb {

// ---- counterfactual replay (docs/injections.md) ----
// Why the run leaves the strict policy at this call ("" if it does not): an injection fires
// on it, or (counterfactual runs) the program's call differs from the recorded one.
std::string Replayer::departs(Thread& t, Held& h, const Event& e) {
  const SyscallSpec& s = *h.stop.spec;
  bool same = e.nr == h.actual.nr;
  const std::string& res = same ? e.resource : std::string();
  for (Injection& inj : opts_.injections) {
    if (inj.kind == Injection::Latency) {
      // Data on the resource arrives later from the first call that touches it.
      if (inj.fired == 0 && !e.resource.empty() && glob_match(inj.resource, e.resource)) {
        inj.seen++;
        inj.fired++;
        return "latency " + inj.id + " on " + e.resource;
      }
      continue;
    }
    if (!inj.selects(s.name, e.pid, e.tid, res, h.stop.args)) continue;
    h.call.asked = true;  // counted here, applied by serve_stream
    if (inj.count(s.nr, e.tid)) h.call.fired.push_back(&inj);
  }
  if (!h.call.fired.empty())
    return "injection " + h.call.fired.front()->id + " fired at " + s.name + " (seq " + std::to_string(e.seq) + ")";
  for (const auto& [path, local] : opts_.edited_files)
    if (e.resource == "file:" + path) return "the program uses " + path + ", whose content was edited";
  // Jitter varies when the outside answers: it starts with the first call on the network.
  if (opts_.jitter_us > 0 && (e.resource.rfind("tcp:", 0) == 0 || e.resource.rfind("udp:", 0) == 0 ||
                              e.resource.rfind("unix:", 0) == 0 || ((s.has(kBlocks) || s.flow == Flow::Read || s.flow == Flow::ReadAt) && e.resource.empty())))
    return std::string("jitter from the first call on the network (") + s.name + " " + e.resource + ")";
  if (opts_.counterfactual) {
    std::string why = mismatch(s, e, h.actual);
    if (!why.empty()) return "the program departed from the recording: " + why;
  }
  (void)t;
  return "";
}

// Switches the run to the stream policy just before log[cursor_] (`e`).
void Replayer::go_stream(const Event& e, const std::string& reason) {
  stream_ = true;
  switched_seq_ = e.seq;
  // The checkpoints (taken while an injection had yet to fire) go: off the log the replay no
  // longer pauses at events, and their frozen copies, children of the program, stay out of the
  // calls it now makes for real (a wait for any child). A jump back restarts the replay.
  release_checkpoints();
  world_ = std::make_unique<World>(opts_.log, opts_.files);
  world_->start(cursor_);
  for (const Injection& inj : opts_.injections)
    if (inj.kind == Injection::Latency) world_->add_latency(inj.resource, inj.latency_us * 1000);
  if (opts_.jitter_us > 0) world_->set_jitter(opts_.jitter_us * 1000, opts_.seed);
  for (const auto& [path, local] : opts_.edited_files) {
    std::ifstream f(local, std::ios::binary);
    world_->edit_file(path, std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()));
  }
  v_base_ = e.enter_ns;
  v_skip_ = 0;
  w_base_ = now_ns();
  out_.message(policy_message(e.seq, reason));
  // Threads waiting for their turn run on; those at a call are served by the stream policy.
  std::vector<pid_t> at_call;
  for (auto& [tid, h] : held_) {
    Thread* t = core_->thread(tid);
    if (!t) continue;
    if (h.ready) {
      h.ready = false;
      core_->resume(*t, Resume::Continue);
    } else if (h.at_entry && tid != running_) {
      at_call.push_back(tid);
    }
  }
  running_ = -1;
  for (pid_t tid : at_call) {
    Thread* t = core_->thread(tid);
    Held& h = held_[tid];
    if (!t || !h.at_entry || opts_.log[cursor_].tid == rec_of(tid)) continue;  // the caller's
    h.call.v_enter = vnow();
    serve_stream(*t, h);
  }
}

// Holds the thread until virtual time `vt` (a wait, a delay). False: at `max`, time jumped there.
bool Replayer::hold_until(Held& h, int64_t vt) {
  if (vt <= vnow()) return false;
  if (speed() <= 0) {
    v_skip_ += vt - vnow();
    return false;
  }
  h.call.wake_wall = std::max<int64_t>(wall_for_v(vt), now_ns() + 1);
  return true;
}

// Serves (or goes on serving, after a wait) the call thread `t` is stopped at.
void Replayer::serve_stream(Thread& t, Held& h) {
  Held::Call& call = h.call;
  const SyscallSpec& s = *h.stop.spec;
  if (!call.c.spec) {
    call.c.spec = &s;
    std::copy(h.stop.args, h.stop.args + 6, call.c.args);
    call.c.pid = rec_of(t.pid());
    call.c.tid = rec_of(t.tid());
    call.c.data_in = h.actual.data_in;
  }
  if (!call.asked) {
    call.asked = true;
    std::string res;
    if (s.fd_arg >= 0) res = world_->resource_of(call.c.pid, static_cast<int>(call.c.args[s.fd_arg]));
    for (Injection& inj : opts_.injections)
      if (inj.kind != Injection::Latency && inj.selects(s.name, call.c.pid, call.c.tid, res, call.c.args) &&
          inj.count(s.nr, call.c.tid))
        call.fired.push_back(&inj);
  }
  if (!call.applied) {
    call.applied = true;
    for (Injection* inj : call.fired) {
      if (inj->kind == Injection::Timeout) patch_timeout(t, call, inj->timeout_us);
      if (inj->kind == Injection::Delay) call.exit_delay_ns += inj->exit_us * 1000;
    }
  }
  if (!call.delayed) {
    call.delayed = true;
    int64_t d = 0;
    for (Injection* inj : call.fired)
      if (inj->kind == Injection::Delay) d += inj->enter_us * 1000;
    if (d > 0 && hold_until(h, vnow() + d)) return;
  }
  for (Injection* inj : call.fired) {
    if (inj->kind != Injection::Fail) continue;
    int64_t ret = inj->has_retval ? inj->retval : -inj->err;
    t.emulate(ret);
    finish_stream_call(t, h, ret, "", world_->resource_of(call.c.pid, s.fd_arg >= 0 ? static_cast<int>(call.c.args[s.fd_arg]) : -1));
    return;
  }
  for (;;) {
    call.c.vnow = vnow();
    call.c.deadline = call.deadline;
    StreamAnswer a = world_->call(call.c);
    call.resource = a.resource;
    switch (a.kind) {
      case StreamAnswer::Wait:
        call.deadline = a.deadline;
        if (++call.waits > 100000) {
          unrecorded(t, h, std::string(s.name) + " kept waiting without anything arriving");
          return;
        }
        if (hold_until(h, a.wake)) return;
        continue;
      case StreamAnswer::RunReal:
        if (s.special == Special::Exit) {
          finish_stream_call(t, h, 0, "", a.resource, false);
          core_->resume(t, Resume::Continue);
          return;
        }
        call.real = true;
        core_->resume(t, Resume::ToExit);
        return;
      case StreamAnswer::CreateFd: {
        std::string err;
        int64_t fd = open_placeholder(t, a.placeholder, a.cloexec, -1, err);
        if (fd < 0) {
          out_.message(error_message("replay_failed", err));
          diverged_ = true;
          core_->kill_tracee();
          return;
        }
        world_->bind_created(call.c.pid, static_cast<int>(fd), call.c, a);
        finish_stream_call(t, h, fd, "", a.resource);
        return;
      }
      case StreamAnswer::Unrecorded:
        if (opts_.refuse_unrecorded) {
          out_.message(unrecorded_message(true, s.name, call.c.tid, a.why));
          t.emulate(-a.refuse_errno);
          finish_stream_call(t, h, -a.refuse_errno, "", a.resource);
        } else {
          unrecorded(t, h, a.why);
        }
        return;
      case StreamAnswer::Return: {
        std::string err;
        if (!a.data_out.empty() && a.ret >= 0 && !serve_out(t, s, call.c.args, a.ret, a.data_out, err)) {
          out_.message(error_message("replay_failed", err));
          diverged_ = true;
          core_->kill_tracee();
          return;
        }
        t.emulate(a.ret);
        finish_stream_call(t, h, a.ret, a.data_out, a.resource);
        return;
      }
    }
  }
}

// The call's timeout becomes `us` (-1: none) when its own is finite and positive. Where the
// timeout is comes from the table: an #ms argument (rounded up to milliseconds), or a
// #timespec, #timeval or #sotimeo buffer in the call's input.
void Replayer::patch_timeout(Thread& t, Held::Call& call, int64_t us) {
  const SyscallSpec& s = *call.c.spec;
  int64_t ms = us < 0 ? -1 : (us + 999) / 1000;
  int idx = s.arg_with(ArgRole::TimeoutMs);
  if (idx >= 0) {
    if (static_cast<int32_t>(call.c.args[idx]) <= 0) return;
    call.c.args[idx] = static_cast<uint64_t>(ms);
    t.set_arg(idx, static_cast<uint64_t>(ms));
    t.store_regs();
    return;
  }
  ArgRole role = ArgRole::None;
  for (ArgRole r : {ArgRole::Timespec, ArgRole::Timeval, ArgRole::SoTimeout})
    if ((idx = s.arg_with(r)) >= 0) {
      role = r;
      break;
    }
  if (idx < 0) return;
  const size_t part = static_cast<size_t>(s.in_part(idx));
  const bool timeval = role != ArgRole::Timespec;
  std::vector<std::string> parts = split_parts(call.c.data_in, std::max<size_t>(s.n_in, 1));
  if (parts.size() <= part || parts[part].size() < 16) return;  // no timeout: left alone
  int64_t old[2];
  std::memcpy(old, parts[part].data(), 16);
  if (old[0] <= 0 && old[1] <= 0) return;  // 0: poll and return (or none, for sockets)
  int64_t v[2] = {us < 0 ? 0 : us / 1000000, us < 0 ? 0 : timeval ? us % 1000000 : (us % 1000000) * 1000};
  // No timeout at all: a wait's pointer becomes NULL; a socket option's zero means none.
  if (us < 0 && role != ArgRole::SoTimeout) parts[part].clear();
  else parts[part] = std::string(reinterpret_cast<const char*>(v), 16);
  call.c.data_in = join_parts(parts);
}

void Replayer::unrecorded(Thread& t, Held& h, const std::string& why) {
  out_.message(unrecorded_message(false, h.stop.spec->name, rec_of(t.tid()), why));
  unrecorded_ = true;
  core_->kill_tracee();
}

// Logs a stream-policy call in the run (times are virtual: the recording's timeline) and lets
// the thread go on (after any delay_exit).
void Replayer::finish_stream_call(Thread& t, Held& h, int64_t ret, const std::string& out, const std::string& resource,
                        bool resume) {
  Event ev = h.actual;
  ev.seq = seq_++;
  ev.pid = rec_of(t.pid());
  ev.tid = rec_of(t.tid());
  ev.ret = ret;
  ev.data_out = out;
  ev.resource = resource;
  int64_t v = vnow();
  if (h.call.exit_delay_ns > 0) {
    int64_t d = h.call.exit_delay_ns;
    h.call.exit_delay_ns = 0;
    if (speed() <= 0) v_skip_ += d;
    else h.delayed_until = now_ns() + static_cast<int64_t>(d / speed());
    v += d;
  }
  ev.enter_ns = h.call.v_enter;
  ev.dur_ns = v - h.call.v_enter;
  out_.event(std::move(ev));
  h.at_entry = false;
  h.call = Held::Call{};
  if (!resume) return;
  if (h.delayed_until > 0) return;  // on_timer makes it ready, pump resumes it
  core_->resume(t, Resume::Continue);
}

}  // namespace rb
