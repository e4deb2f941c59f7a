// Control commands (one per control frame): pause | resume | step N | speed X|max | until SEQ |
// state | read TID ADDR LEN | stop. The replayer answers with "paused" and "state" / "memory"
// messages; TID is a recorded thread id.
//
// The replayer: each trapped syscall is checked against the next recorded event and, for the
// emulated class, answered from the log (return value and output bytes) without reaching the
// kernel. fds the log created are held in the tracee's real fd table by placeholders at the
// recorded numbers; a mapped file's placeholder is its recorded blob, so mmap maps recorded bytes.
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sched.h>
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include "capture.h"
#include "files.h"
#include "stream.h"
#include "tools.h"

namespace rb {
namespace {

// Scratch page in the tracee for strings handed to injected syscalls. ASLR is off in the
// tracee, and nothing maps this high-but-not-top range by default.
constexpr uint64_t kScratch = 0x700000000000ULL;

bool is_compared_scalar(const SyscallSpec& s, ArgKind k) {
  if (k == ArgKind::Fd || k == ArgKind::Dirfd) return true;
  return k == ArgKind::Int && s.cls != Class::Executed;
}

bool is_compared_bytes(ArgKind k) {
  return k == ArgKind::In || k == ArgKind::Path || k == ArgKind::Str;
}

std::string event_json(const Event& e) {
  std::string args = "[";
  for (int i = 0; i < 6; i++) args += (i ? ",\"" : "\"") + std::to_string(e.args[i]) + "\"";
  args += "]";
  return "{\"name\":" + json_str(e.name) + ",\"nr\":" + std::to_string(e.nr) +
         ",\"args\":" + args + ",\"resource\":" + json_str(e.resource) +
         ",\"data_in\":\"" + base64(e.data_in) + "\"}";
}

// How long the thread owning the next event may take to reach it, beyond the recorded gap,
// before replay reports that it is stuck (e.g. spinning on a lock a held thread owns).
constexpr int64_t kWatchdogNs = 10'000'000'000LL;

// The replayer is a scheduler over threads. As in recording (recorder.cc), threads run their
// userspace one at a time, from a syscall's return to their next syscall's entry: the thread
// whose entry is next in the log gets the token and runs to it; that entry is checked, served
// (emulated, or run for real), and the token moves on. A served blocking call returns after its
// recorded duration while other threads go on. Recorded threads map to replay threads by
// creation order.
class Replayer : public Tool {
 public:
  Replayer(Output& out, ReplayOptions&& opts) : out_(out), opts_(std::move(opts)) {}

  Resume on_syscall(Thread& t, const SyscallStop& stop) override {
    if (t0_ == 0) {
      t0_ = stop.time_ns;
      base_wall_ = t0_;
      last_progress_ns_ = t0_;
      if (opts_.start_paused) pause("start");
      if (!opts_.log.empty()) map(opts_.log.front().tid, t.tid());  // the leader
    }
    if (running_ == t.tid()) running_ = -1;
    Held& h = held_[t.tid()];
    h.at_entry = true;
    h.stop = stop;
    h.actual = syscall_event(t.pid(), t, *stop.spec, stop.args, 0, stop.time_ns - t0_);
    recorded_ids(*stop.spec, h.actual.args);
    h.actual.data_in = capture_in(t, *stop.spec, stop.args);
    if (stream_) {
      h.call = Held::Call{};
      h.call.v_enter = vnow();
      serve_stream(t, h);
      return Resume::Hold;
    }
    pump();
    return Resume::Hold;  // pump() resumes it
  }

  Resume on_syscall_exit(Thread& t) override {
    Held& h = held_[t.tid()];
    if (h.call.real) {
      h.call.real = false;
      int64_t ret = static_cast<int64_t>(t.regs().rax);
      world_->after_real(rec_of(t.pid()), h.call.c, ret);
      finish_stream_call(t, h, ret, "", h.call.resource, false);
      return Resume::Continue;
    }
    if (h.serving) fix_return(t, *h.serving);
    h.serving = nullptr;
    h.in_flight = false;
    // Its syscall returned: it waits for the token (an emulated one, also for its duration).
    if (h.delayed_until == 0) h.ready = true;
    pump();
    return Resume::Hold;
  }

  Resume on_thread_start(Thread& t) override {
    Held& h = held_[t.tid()];
    h.ready = true;
    // A fatal signal may have been sent before this first stop was seen (a child killed right
    // after its fork, before its first syscall).
    run_if_doomed(t, h);
    pump();
    return Resume::Hold;
  }

  void on_unsupported(const std::string& message) override {
    out_.message(error_json("unsupported", message));
  }

  // The new image gets the recorded AT_RANDOM bytes (the execve event's data_out), so what a
  // runtime seeds from them (Go's scheduler and map hashes) takes the recorded paths.
  void on_exec(Thread& t) override {
    scratch_.erase(t.pid());
    auto r = exec_random_.find(t.pid());
    if (r == exec_random_.end()) return;
    if (r->second.size() == 16 && t.at_random()) t.write_mem(t.at_random(), r->second.data(), 16);
    exec_random_.erase(r);
  }

  // Only the signals the log says were delivered reach the program, where they were delivered:
  // those the replayer sends (deliver_signal) get their recorded siginfo back. A fault is the
  // program's own doing and happens again by itself. Anything else the replay raises (a real
  // child's exit, a kill between replayed processes) is dropped: its recorded counterpart is
  // delivered at its recorded place instead.
  int on_signal(Thread& t, int sig, const siginfo_t& info) override {
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
    return sig;
  }

  // rdtsc/rdtscp: the thread runs with the token, so its read is the event at the cursor.
  Resume on_tsc(Thread& t, TscRead& r) override {
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

  void on_thread_created(Thread& parent, Thread& child) override {
    // A forked process starts with its parent's memory, the scratch page included.
    if (child.pid() != parent.pid() && scratch_.count(parent.pid())) scratch_.insert(child.pid());
    if (stream_ && child.pid() != parent.pid()) world_->fork(rec_of(parent.pid()), rec_of(child.pid()));
    auto it = clone_of_.find(parent.tid());
    if (it == clone_of_.end()) return;
    map(static_cast<pid_t>(it->second), child.tid());
    clone_of_.erase(it);
    pump();
  }

  void on_thread_exit(Thread& t, int status) override {
    if (!diverged_) exit_event(t, status);
    held_.erase(t.tid());
    signals_.erase(t.tid());
    if (running_ == t.tid()) running_ = -1;
    if (exiting_ == t.tid()) exiting_ = -1;
    pump();
  }

  int64_t next_deadline() override {
    if (finished_ || diverged_ || t0_ == 0) return -1;
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

  void on_timer() override {
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

  void on_exit(int status) override {
    finished_ = true;
    std::string injections = "[";
    for (const Injection& i : opts_.injections) injections += (injections.size() > 1 ? "," : "") + i.json();
    injections += "]";
    out_.message("{\"type\":\"exit\"," + exit_status_json(status) +
                 ",\"consumed\":" + std::to_string(cursor_) +
                 ",\"log_events\":" + std::to_string(opts_.log.size()) +
                 ",\"policy\":\"" + (stream_ ? "stream" : "strict") + "\"" +
                 ",\"switched_at\":" + (stream_ ? std::to_string(switched_seq_) : "null") +
                 ",\"injections\":" + injections + "}");
  }

 private:
  struct Held {
    // A call served under the stream policy (it may wait, be delayed, or run for real).
    struct Call {
      StreamCall c;
      bool asked = false;          // injections counted
      bool applied = false;        // timeouts patched, exit delays noted
      std::vector<Injection*> fired;
      int64_t v_enter = 0;         // virtual time it was entered
      int64_t wake_wall = 0;       // held until this wall time (a wait at speed > 0, a delay)
      int64_t deadline = -1;       // a wait's timeout, virtual
      int64_t exit_delay_ns = 0;   // delay_exit still to apply
      bool delayed = false;        // delay_enter applied
      bool real = false;           // running for real: finished at its exit stop
      std::string resource;
      int waits = 0;
    } call;
    bool at_entry = false;      // stopped at a syscall entry, not yet served
    bool ready = false;         // stopped after a syscall returned (or new): may get the token
    bool in_flight = false;     // resumed into a real syscall whose exit stop is still to come
    int64_t delayed_until = 0;  // an emulated blocking call returns then
    const Event* serving = nullptr;  // the recorded event whose return fix_return adjusts
    SyscallStop stop{};
    Event actual;
  };

  void map(pid_t recorded, pid_t real) {
    rec_to_real_[recorded] = real;
    real_to_rec_[real] = recorded;
  }
  // Process and thread ids: the program sees the recorded ones (getpid, fork's return...);
  // the kernel needs the real ones (wait4).
  pid_t real_of(pid_t rec) const {
    auto it = rec_to_real_.find(rec);
    return it == rec_to_real_.end() ? rec : it->second;
  }
  pid_t rec_of(pid_t real) const {
    auto it = real_to_rec_.find(real);
    return it == real_to_rec_.end() ? real : it->second;
  }
  // The ids a call hands the kernel (the table's #pid, #tid and #clock arguments), as the
  // recording knew them: the program may hold a real one (a pthread's tid, which the kernel
  // wrote at clone) where production held the recorded one. An id that is a recorded one stays.
  void recorded_ids(const SyscallSpec& s, uint64_t args[6]) const {
    auto recorded = [this](pid_t id) { return rec_to_real_.count(id) ? id : rec_of(id); };
    for (int i = 0; i < s.nargs; i++) {
      ArgRole role = s.args[i].role;
      int32_t v = static_cast<int32_t>(args[i]), w = v;
      if (role == ArgRole::Clock && v < 0) {
        // A CPU clock: ~id << 3 | type (pthread_getcpuclockid, clock_getcpuclockid).
        w = static_cast<int32_t>(~static_cast<uint32_t>(recorded(~(v >> 3))) << 3) | (v & 7);
      } else if (role == ArgRole::Pid || role == ArgRole::Tid) {
        if (v > 0) w = recorded(v);
        else if (v < -1) w = -recorded(-v);  // a process group
      }
      if (w != v) args[i] = (args[i] & ~0xffffffffULL) | static_cast<uint32_t>(w);
    }
  }

  void exit_event(const Thread& t, int status) {
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

  double speed() const { return opts_.speed; }
  int64_t scaled(int64_t ns) const { return speed() > 0 ? static_cast<int64_t>(ns / speed()) : 0; }

  // The virtual clock: recorded time `rec_ns` happens at this wall time. Rebased whenever the
  // replay resumes or changes speed, so a pause does not make it rush to catch up.
  int64_t wall_for(int64_t rec_ns) const { return base_wall_ + scaled(rec_ns - base_rec_); }
  void rebase() {
    base_wall_ = now_ns();
    base_rec_ = prev_enter_ns_;
    last_progress_ns_ = base_wall_;
  }

  bool should_pause(const Event& e) {
    if (paused_) return true;
    if (e.seq >= opts_.pause_at) {
      opts_.pause_at = UINT64_MAX;
      pause("until");
      return true;
    }
    return false;
  }

  void pause(const char* why) {
    paused_ = true;
    step_budget_ = 0;
    const Event* next = cursor_ < opts_.log.size() ? &opts_.log[cursor_] : nullptr;
    out_.message(std::string("{\"type\":\"paused\",\"reason\":\"") + why + "\",\"seq\":" +
                 std::to_string(next ? next->seq : opts_.log.size()) + "}");
  }

  void resume_replay() {
    if (!paused_) return;
    paused_ = false;
    rebase();
    pump();
  }

  void on_wake() override {
    std::string cmd;
    while (opts_.control && opts_.control->pop(cmd)) command(cmd);
  }

  void command(const std::string& line) {
    std::istringstream in(line);
    std::string verb;
    in >> verb;
    if (verb == "pause") {
      if (!paused_) pause("pause");
    } else if (verb == "resume") {
      resume_replay();
    } else if (verb == "step") {
      uint64_t n = 1;
      in >> n;
      step_budget_ = std::max<uint64_t>(n, 1);
      if (paused_) {
        paused_ = false;
        rebase();
      }
      pump();
    } else if (verb == "speed") {
      std::string v;
      in >> v;
      opts_.speed = v == "max" ? 0 : std::strtod(v.c_str(), nullptr);
      rebase();
      pump();
    } else if (verb == "until") {
      in >> opts_.pause_at;
      pump();
    } else if (verb == "state") {
      out_.message(state_json());
    } else if (verb == "read") {
      pid_t rec = 0;
      uint64_t addr = 0, len = 0;
      in >> rec >> addr >> len;
      out_.message(memory_json(rec, addr, std::min<uint64_t>(len, 1 << 20)));
    } else if (verb == "stop") {
      core_->kill_tracee();
    }
  }

  std::string thread_state(pid_t real, const Held& h) const {
    if (real == running_) return "running";
    if (h.at_entry) return "at_syscall";
    if (h.delayed_until > 0) return "in_emulated_call";
    if (h.ready) return "waiting_turn";
    return "in_kernel";
  }

  std::string state_json() {
    const Event* next = cursor_ < opts_.log.size() ? &opts_.log[cursor_] : nullptr;
    std::string threads = "[";
    for (const auto& [rec, real] : rec_to_real_) {
      auto h = held_.find(real);
      if (h == held_.end() || !core_->thread(real)) continue;
      if (threads.size() > 1) threads += ",";
      threads += "{\"tid\":" + std::to_string(rec) + ",\"real_tid\":" + std::to_string(real) +
                 ",\"state\":\"" + thread_state(real, h->second) + "\"}";
    }
    threads += "]";
    std::string regs = "null";
    if (next) {
      auto m = rec_to_real_.find(next->tid);
      Thread* t = m == rec_to_real_.end() ? nullptr : core_->thread(m->second);
      // Any stopped thread's registers can be read; the running one's cannot.
      if (t && t->tid() != running_ && held_.count(t->tid()) && t->load_regs()) {
        const user_regs_struct& r = t->regs();
        auto reg = [](const char* n, unsigned long long v) { return std::string("\"") + n + "\":\"" + std::to_string(v) + "\""; };
        regs = "{" + reg("rip", r.rip) + "," + reg("rsp", r.rsp) + "," + reg("rbp", r.rbp) + "," + reg("rax", r.orig_rax) + "," +
               reg("rdi", r.rdi) + "," + reg("rsi", r.rsi) + "," + reg("rdx", r.rdx) + "," + reg("r10", r.r10) + "," +
               reg("r8", r.r8) + "," + reg("r9", r.r9) + "}";
      }
    }
    return "{\"type\":\"state\",\"paused\":" + std::string(paused_ ? "true" : "false") +
           ",\"seq\":" + std::to_string(next ? next->seq : opts_.log.size()) +
           ",\"served\":" + std::to_string(seq_) + ",\"speed\":" + (speed() > 0 ? std::to_string(speed()) : "\"max\"") +
           ",\"virtual_ns\":\"" + std::to_string(prev_enter_ns_) + "\"" +
           ",\"next\":" + (next ? event_json(*next) : "null") +
           ",\"next_tid\":" + (next ? std::to_string(next->tid) : "null") +
           ",\"threads\":" + threads + ",\"regs\":" + regs + "}";
  }

  std::string memory_json(pid_t rec, uint64_t addr, uint64_t len) {
    auto m = rec_to_real_.find(rec);
    Thread* t = m == rec_to_real_.end() ? nullptr : core_->thread(m->second);
    std::string err;
    std::string bytes;
    if (!t) err = "no thread " + std::to_string(rec);
    else if (m->second == running_) err = "thread " + std::to_string(rec) + " is running; pause first";
    else {
      bytes.resize(len);
      if (!t->read_mem(addr, bytes.data(), len)) err = "cannot read that memory";
    }
    return "{\"type\":\"memory\",\"addr\":\"" + std::to_string(addr) + "\",\"error\":" + (err.empty() ? "null" : json_str(err)) +
           ",\"data\":\"" + (err.empty() ? base64(bytes) : "") + "\"}";
  }

  // Moves the replay forward as far as it can go now, in recorded order.
  void pump() {
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
    while (!finished_ && !diverged_ && !stream_) {
      // A recorded fault (SIGSEGV...) happens again by itself: its thread gets the token and
      // runs into it, as it runs to a syscall (on_signal moves the log past it).
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
      core_->resume(*t, Resume::Continue);
      return;
    }
  }

  // ---- counterfactual replay (docs/injections.md) ----

  // Why the run leaves the strict policy at this call ("" if it does not): an injection fires
  // on it, or (counterfactual runs) the program's call differs from the recorded one.
  std::string departs(Thread& t, Held& h, const Event& e) {
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
  void go_stream(const Event& e, const std::string& reason) {
    stream_ = true;
    switched_seq_ = e.seq;
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
    out_.message("{\"type\":\"policy\",\"policy\":\"stream\",\"seq\":" + std::to_string(e.seq) +
                 ",\"reason\":" + json_str(reason) + "}");
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

  // The virtual clock under the stream policy: the recording's timeline, running at the replay
  // speed (at `max`, only waits move it).
  int64_t vnow() const {
    if (speed() <= 0) return v_base_ + v_skip_;
    return v_base_ + v_skip_ + static_cast<int64_t>((now_ns() - w_base_) * speed());
  }
  int64_t wall_for_v(int64_t vt) const {
    return w_base_ + static_cast<int64_t>((vt - v_base_ - v_skip_) / speed());
  }
  // Holds the thread until virtual time `vt` (a wait, a delay). False: at `max`, time jumped there.
  bool hold_until(Held& h, int64_t vt) {
    if (vt <= vnow()) return false;
    if (speed() <= 0) {
      v_skip_ += vt - vnow();
      return false;
    }
    h.call.wake_wall = std::max<int64_t>(wall_for_v(vt), now_ns() + 1);
    return true;
  }

  // Serves (or goes on serving, after a wait) the call thread `t` is stopped at.
  void serve_stream(Thread& t, Held& h) {
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
            out_.message(error_json("replay_failed", err));
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
            out_.message("{\"type\":\"unrecorded\",\"policy\":\"refuse\",\"name\":" + json_str(s.name) +
                         ",\"tid\":" + std::to_string(call.c.tid) + ",\"reason\":" + json_str(a.why) + "}");
            t.emulate(-a.refuse_errno);
            finish_stream_call(t, h, -a.refuse_errno, "", a.resource);
          } else {
            unrecorded(t, h, a.why);
          }
          return;
        case StreamAnswer::Return: {
          std::string err;
          if (!a.data_out.empty() && a.ret >= 0 && !serve_out(t, s, call.c.args, a.ret, a.data_out, err)) {
            out_.message(error_json("replay_failed", err));
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
  void patch_timeout(Thread& t, Held::Call& call, int64_t us) {
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

  void unrecorded(Thread& t, Held& h, const std::string& why) {
    out_.message("{\"type\":\"unrecorded\",\"policy\":\"error\",\"name\":" + json_str(h.stop.spec->name) +
                 ",\"tid\":" + std::to_string(rec_of(t.tid())) + ",\"reason\":" + json_str(why) + "}");
    unrecorded_ = true;
    core_->kill_tracee();
  }

  // Logs a stream-policy call in the run (times are virtual: the recording's timeline) and lets
  // the thread go on (after any delay_exit).
  void finish_stream_call(Thread& t, Held& h, int64_t ret, const std::string& out, const std::string& resource,
                          bool resume = true) {
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

  // Serves the recorded event `e` to thread `t` waiting at its syscall entry. False on divergence.
  bool serve_event(Thread& t, Held& h, const Event& e) {
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
        out_.message(error_json("replay_failed", err + " (seq " + std::to_string(e.seq) + ")"));
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
      // A thread's exit is complete (its tid cleared, joiners woken) only once it is reaped.
      if (s.special == Special::Exit && t.tid() != core_->pid()) exiting_ = t.tid();
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
      if (!t.store_regs()) return false;
      h.serving = &e;
      h.in_flight = true;
      core_->resume(t, Resume::ToExit);
    } else if (!serve(t, s, e, args, err)) {
      out_.message(error_json("replay_failed", err + " (seq " + std::to_string(e.seq) + ")"));
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

  // Whether the thread of `e` (already served) gets a recorded asynchronous signal before its
  // next recorded call.
  bool signal_follows(const Event& e) const {
    for (size_t i = cursor_; i < opts_.log.size(); i++) {
      const Event& x = opts_.log[i];
      if (x.tid == e.tid && x.kind != kExit) return x.kind == kSignal && !is_recorded_fault(x);
    }
    return false;
  }

  static bool is_restart(int64_t ret) {
    // ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND, ERESTART_RESTARTBLOCK (kernel-internal).
    return ret == -512 || ret == -513 || ret == -514 || ret == -516;
  }

  // wait4(pid) / waitid(P_PID|P_PGID, id) run for real: the kernel needs real process ids.
  void translate_wait_args(Thread& t, const Event& e) {
    user_regs_struct& r = t.regs();
    if (e.nr == SYS_wait4) {
      int32_t pid = static_cast<int32_t>(r.rdi);
      if (pid > 0) r.rdi = static_cast<uint32_t>(real_of(pid));
      else if (pid < -1) r.rdi = static_cast<uint32_t>(-real_of(-pid));
    } else if (r.rdi == P_PID || r.rdi == P_PGID) {
      r.rsi = static_cast<uint32_t>(real_of(static_cast<int32_t>(r.rsi)));
    }
    t.store_regs();
  }

  // At the exit stop of a call that ran for real: the program sees recorded ids and values.
  void fix_return(Thread& t, const Event& e) {
    user_regs_struct& r = t.regs();
    const SyscallSpec& s = syscall_spec(e.nr);
    int64_t ret = static_cast<int64_t>(r.rax);
    if (is_restart(e.ret)) {
      r.rax = static_cast<uint64_t>(e.ret);
      r.orig_rax = static_cast<uint64_t>(e.nr);
      if (!signal_follows(e)) {
        // The signal went to another thread of the process (a process-wide SIGCHLD): with none
        // pending here the kernel would hand ERESTART* to the program. It restarted the call
        // when recorded; restart it the same way (enter it again, or restart_syscall).
        r.rip -= 2;
        r.rax = static_cast<uint64_t>(e.ret == -516 ? SYS_restart_syscall : e.nr);
      }
    } else if (s.special == Special::Clone && ret > 0) {
      // The recorded child id. Memory the kernel wrote the real id into (CLONE_PARENT_SETTID:
      // glibc's pthread tid) is left alone: the child may already have run and exited, and its
      // CLONE_CHILD_CLEARTID zero is what pthread_join waits for.
      r.rax = static_cast<uint64_t>(e.ret);
    } else if (s.special == Special::Wait && ret >= 0) {
      if (e.nr == SYS_wait4) {
        r.rax = static_cast<uint64_t>(rec_of(static_cast<pid_t>(ret)));
      } else if (r.rdx) {
        // The program's own siginfo pointer (rdx survives the syscall): the recorded one is an
        // address of the recording, which differs when its addresses were randomized.
        int32_t pid = 0;  // siginfo_t.si_pid, at offset 16 for SIGCHLD
        if (t.read_mem(r.rdx + 16, &pid, 4) && pid > 0) {
          pid = rec_of(pid);
          t.write_mem(r.rdx + 16, &pid, 4);
        }
      }
    } else {
      return;
    }
    t.store_regs();
  }

  // A recorded asynchronous signal, sent to its thread once that thread's previous call has
  // returned (and, at 1x, not before its recorded time). False: not yet, pump again later.
  bool deliver_signal(const Event& x) {
    if (x.args[1] != 0 || x.data_out.empty()) return true;  // a fault: it recurs by itself
    auto m = rec_to_real_.find(x.tid);
    Thread* t = m == rec_to_real_.end() ? nullptr : core_->thread(m->second);
    if (!t) return true;
    Held& h = held_[t->tid()];
    if (h.delayed_until > 0 || h.in_flight) return false;
    int64_t gate = wall_for(x.enter_ns);
    if (speed() > 0 && now_ns() < gate) {
      gate_ns_ = gate;
      return false;
    }
    int sig = static_cast<int>(x.ret);
    if (!core_->signal_thread(*t, sig)) return true;
    signals_[t->tid()].push_back(&x);
    run_if_doomed(*t, h);
    return true;
  }

  // A signal sent to a ready thread that kills by default ends its process as soon as the thread
  // runs: let it run now, as nothing of the program's own code will execute (it has no turn to
  // wait for). A caught one waits for the thread's turn, so its handler runs where the recorded
  // one did.
  void run_if_doomed(Thread& t, Held& h) {
    auto it = signals_.find(t.tid());
    if (!h.ready || it == signals_.end()) return;
    if (std::none_of(it->second.begin(), it->second.end(),
                     [&](const Event* x) { return kills_by_default(t, static_cast<int>(x->ret)); }))
      return;
    h.ready = false;
    core_->resume(t, Resume::Continue);
  }

  // Neither caught nor ignored by the thread's process, and fatal by default.
  static bool kills_by_default(const Thread& t, int sig) {
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
  void kill_recorded(const Event& x) {
    auto m = rec_to_real_.find(x.pid);
    if (m != rec_to_real_.end() && core_->thread(m->second)) kill(m->second, SIGKILL);
  }

  static bool is_recorded_fault(const Event& x) { return x.kind == kSignal && x.args[1] != 0; }

  void stuck() {
    if (cursor_ >= opts_.log.size()) {
      // The log is done and a thread still runs: it did not end where the recording did.
      out_.message("{\"type\":\"divergence\",\"seq\":" + std::to_string(seq_) + ",\"tid\":0,\"ip\":\"0\",\"reason\":" +
                   json_str("the recorded log ended but the program went on running without a syscall") +
                   ",\"expected\":null,\"actual\":" + event_json(Event{}) + "}");
      diverged_ = true;
      core_->kill_tracee();
      return;
    }
    const Event& e = opts_.log[cursor_];
    std::string why = "thread " + std::to_string(e.tid) + " did not reach its next recorded syscall (" + e.name +
                      ", seq " + std::to_string(e.seq) +
                      ") in time: it may be spinning in userspace on something a held thread owns, which "
                      "syscall replay cannot reproduce";
    Event none;
    none.name = "(none)";
    none.tid = e.tid;
    out_.message("{\"type\":\"divergence\",\"seq\":" + std::to_string(e.seq) + ",\"tid\":" + std::to_string(e.tid) +
                 ",\"ip\":\"0\",\"reason\":" + json_str(why) + ",\"expected\":" + event_json(e) +
                 ",\"actual\":" + event_json(none) + "}");
    diverged_ = true;
    core_->kill_tracee();
  }

  // A futex wait or wake is answered from the log, not run: the schedule already orders the
  // threads as production did (a thread runs userspace only on its turn), and a real wait could
  // block where production's did not (its value changed between the thread's syscall entry and
  // the kernel's check, under a different timing) and wait forever for a wake already spent.
  // Operations with other effects (WAKE_OP writes memory, PI and requeue ones keep kernel state)
  // still run for real.
  static bool answered_futex(const Event& e) {
    if (e.nr != SYS_futex || e.ret == kUnfinished) return false;
    int op = static_cast<int>(e.args[1]) & 0x7f;  // without FUTEX_PRIVATE_FLAG / CLOCK_REALTIME
    return op == 0 /* WAIT */ || op == 1 /* WAKE */ || op == 9 /* WAIT_BITSET */ || op == 10 /* WAKE_BITSET */;
  }

  static bool runs_for_real(const SyscallSpec& s, const Event& e) {
    // fcntl(F_DUPFD*) duplicates a placeholder: the real call yields the recorded number.
    return s.special == Special::Fcntl && (e.args[1] == F_DUPFD || e.args[1] == F_DUPFD_CLOEXEC);
  }

  // Why the program's call differs from the recorded one, or "" when it matches.
  static std::string mismatch(const SyscallSpec& s, const Event& e, const Event& a) {
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

  void diverge(Thread& t, const Event* expected, const Event& actual, const std::string& why) {
    diverged_ = true;
    out_.message("{\"type\":\"divergence\",\"seq\":" + std::to_string(seq_) +
                 ",\"tid\":" + std::to_string(expected ? expected->tid : actual.tid) +
                 ",\"ip\":\"" + std::to_string(t.ip()) + "\",\"reason\":" + json_str(why) +
                 ",\"expected\":" + (expected ? event_json(*expected) : "null") +
                 ",\"actual\":" + event_json(actual) + "}");
    core_->kill_tracee();
  }
  // A value the program hands the kernel to get back later (epoll's user data, often a pointer)
  // differs from the recorded one when addresses do: the recorded value maps to the program's.
  void remember_user_data(const SyscallSpec& s, const Event& e, const Event& actual) {
    int off = user_data_in(s);
    if (off < 0 || e.data_in.size() < static_cast<size_t>(off) + 8 || actual.data_in.size() != e.data_in.size()) return;
    uint64_t rec = 0, now = 0;
    std::memcpy(&rec, e.data_in.data() + off, 8);
    std::memcpy(&now, actual.data_in.data() + off, 8);
    user_data_[{e.pid, rec}] = now;
  }

  // The recorded output with recorded user data turned into the program's own values.
  std::string translated_out(const SyscallSpec& s, const Event& e) const {
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
  bool serve(Thread& t, const SyscallSpec& s, const Event& e, const uint64_t args[6],
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

  // A file-backed mmap (docs/services.md). A file the recording mapped but could not store is
  // named where it matters: its mapping fails here (its placeholder is /dev/null). A file mapped
  // MAP_SHARED and writable is mapped from a copy of its recorded bytes made for this run, which
  // every process of the run that maps it shares (the stored bytes stay read-only). Returns 1
  // when it mapped the file itself (the call is finished), 0 when the call runs as it is, -1 with
  // `err`.
  int map_recorded_file(Thread& t, const Event& e, const uint64_t args[6], std::string& err) {
    if (e.resource.rfind("file:", 0) != 0) return 0;
    std::string path = e.resource.substr(5);
    auto blob = opts_.files.find(path);
    if (blob == opts_.files.end()) {
      if (unstored_warned_.insert(path).second)
        out_.message("{\"type\":\"warning\",\"code\":\"file_not_stored\",\"message\":" +
                     json_str("the program maps " + path + " (seq " + std::to_string(e.seq) +
                              "), whose bytes the recording could not store: that mapping fails in this "
                              "replay, which may diverge from here") + "}");
      return 0;
    }
    if (!(args[3] & MAP_SHARED) || (args[3] & MAP_PRIVATE) || !(args[2] & PROT_WRITE)) return 0;
    std::string& copy = shared_copies_[path];
    if (copy.empty()) {
      int fd = open(blob->second.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        err = "cannot read the recorded " + path + " (" + blob->second + "): " + strerror(errno);
        return -1;
      }
      copy = shared_dir_.copy(fd, err, false);
      close(fd);
      if (copy.empty()) {
        err = "cannot copy the recorded " + path + " for this run: " + err;
        return -1;
      }
    }
    Thread::Injector inj(t);
    int64_t fdflags = inj.call(SYS_fcntl, args[4], F_GETFD);
    if (hold_fd(t, inj, copy, fdflags > 0 && (fdflags & FD_CLOEXEC), static_cast<int>(args[4]), err, O_RDWR) < 0)
      return -1;
    int64_t addr = inj.call(SYS_mmap, args[0], args[1], args[2], args[3], args[4], args[5]);
    if (inj.failed() || !inj.finish(addr)) {
      err = "injecting the mapping of " + path + " into the program failed";
      return -1;
    }
    return 1;
  }

  // Opens `holder` in the program (an injected openat) and moves it to fd `want` (-1: wherever
  // the kernel puts it, the lowest free number). Returns the fd, or -1 with `err`.
  int64_t hold_fd(Thread& t, Thread::Injector& inj, const std::string& holder, bool cloexec, int64_t want,
                  std::string& err, int access = O_RDONLY) {
    if (!scratch_.count(t.pid())) {
      int64_t r = inj.call(SYS_mmap, kScratch, 4096, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, static_cast<uint64_t>(-1), 0);
      if (r != static_cast<int64_t>(kScratch)) {
        err = "could not map the replay scratch page in the program (" + std::to_string(r) + ")";
        return -1;
      }
      scratch_.insert(t.pid());
    }
    if (!t.write_mem(kScratch, holder.c_str(), holder.size() + 1)) {
      err = "could not write into the replay scratch page";
      return -1;
    }
    int64_t k = inj.call(SYS_openat, static_cast<uint64_t>(AT_FDCWD), kScratch, access | (cloexec ? O_CLOEXEC : 0), 0);
    if (k < 0) {
      err = "could not hold fd " + std::to_string(want) + " open (" + strerror(static_cast<int>(-k)) + ")";
      return -1;
    }
    if (want >= 0 && k != want) {
      inj.call(SYS_dup3, static_cast<uint64_t>(k), static_cast<uint64_t>(want), cloexec ? O_CLOEXEC : 0);
      inj.call(SYS_close, static_cast<uint64_t>(k));
      k = want;
    }
    if (inj.failed()) {
      err = "injecting a syscall into the program failed";
      return -1;
    }
    return k;
  }

  // Stream policy: a placeholder at the lowest free fd, which the call then returns.
  int64_t open_placeholder(Thread& t, const std::string& holder, bool cloexec, int64_t want, std::string& err) {
    Thread::Injector inj(t);
    int64_t fd = hold_fd(t, inj, holder, cloexec, want, err);
    if (fd < 0 || !inj.finish(fd)) return -1;
    return fd;
  }

  Output& out_;
  ReplayOptions opts_;
  size_t cursor_ = 0;
  uint64_t seq_ = 0;
  int64_t t0_ = 0;
  int64_t prev_enter_ns_ = 0;
  int64_t gate_ns_ = -1;           // when the event at the cursor may be served
  int64_t base_wall_ = 0, base_rec_ = 0;  // the virtual clock (wall_for)
  bool paused_ = false;
  uint64_t step_budget_ = 0;       // events left to serve before pausing (step N)
  int64_t last_progress_ns_ = 0;   // when an event was last served (for the watchdog)
  int64_t expected_gap_ns_ = 0;    // recorded time to the event at the cursor
  std::set<pid_t> scratch_;        // processes whose image has the scratch page
  bool diverged_ = false;
  bool finished_ = false;
  std::map<pid_t, Held> held_;                  // real tid -> where it is stopped
  pid_t running_ = -1;                          // the thread running userspace now (the token)
  std::map<pid_t, std::string> exec_random_;    // recorded AT_RANDOM of an exec under way
  pid_t exiting_ = -1;                          // a thread whose exit the schedule waits for
  std::map<pid_t, pid_t> rec_to_real_, real_to_rec_;
  std::map<pid_t, std::deque<const Event*>> signals_;  // real tid -> recorded signals sent to it
  // The stream policy, once the run left the log (go_stream).
  bool stream_ = false;
  bool unrecorded_ = false;
  uint64_t switched_seq_ = 0;
  std::unique_ptr<World> world_;
  int64_t v_base_ = 0, v_skip_ = 0, w_base_ = 0;  // the virtual clock (vnow)
  std::map<std::pair<pid_t, uint64_t>, uint64_t> user_data_;  // (recorded pid, recorded value) -> the program's
  std::map<pid_t, int64_t> clone_of_;           // real tid -> recorded tid of the thread it is creating
  CopyDir shared_dir_;                          // this run's copies of files mapped shared and writable
  std::map<std::string, std::string> shared_copies_;  // recorded path -> its copy
  std::set<std::string> unstored_warned_;       // mapped files without stored bytes, named once
};

}  // namespace

std::unique_ptr<Tool> make_replayer(Output& out, ReplayOptions&& opts) {
  return std::make_unique<Replayer>(out, std::move(opts));
}

}  // namespace rb
