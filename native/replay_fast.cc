// In-process serving: at --speed max (and the untimed runs of jumps), recorded calls of the one
// running thread are answered inside the program by the fast path's blob (fast.h, serve mode)
// from entries the engine fills from the log, instead of a ptrace round trip each. The engine
// then turns every answered entry into the same replayed event the ptrace path would have made.
// (replay_tool.h lists the replayer's files; docs/fast-path.md, "Replay", says why and how.)
#include <cstring>

#include "capture.h"
#include "fast_abi.h"
#include "protocol.h"
#include "replay_tool.h"
#include "tools.h"

namespace rb {
namespace {

constexpr uint32_t kMaxServed = 4096;     // entries per fill: bounds how late an asynchronous pause lands
constexpr uint64_t kServeRing = 1u << 20;  // bytes of entries

}  // namespace

// At a successful execve's exit stop: the blob and the serve ring into the new image.
void Replayer::fast_attach(Thread& t) {
  if (!opts_.in_process) return;
  if (!fast_) {
    if (fast_failed_) return;
    FastOptions fo;
    fo.serve = true;
    fo.ring_bytes = kServeRing;
    auto f = std::make_unique<FastPath>(fo);
    std::string err;
    if (!f->init(err)) {
      fast_failed_ = true;
      out_.message(warning_message("in_process_unavailable", "every call is served through ptrace: " + err));
      return;
    }
    fast_ = std::move(f);
  }
  std::string why;
  if (!fast_->attach(t, why))
    out_.message(warning_message("in_process_unavailable", "process " + std::to_string(t.pid()) +
                                                                " is served through ptrace only: the fast path's " + why));
}

// At the seccomp stop of a call the blob can answer: its call site is patched (as the recorder
// patches it) and the thread sent back through it. True when it was (the stop is not served).
bool Replayer::fast_patch(Thread& t, const SyscallSpec& s) {
  if (!fast_ || fast_off_ || stream_ || seq_ == 0) return false;
  if (FastPath::rule(s).mode != RB_CALL_FAST) return false;
  // As the recorder: not a site a signal handler will return into (kept for the whole run), nor
  // one another thread will resume inside: held at a call there, waiting for its turn after
  // one, or in a call run for real (its place is where its last stop left it).
  std::set<uint64_t> busy = fast_busy_;
  for (const auto& [real, h] : held_) {
    Thread* o = real == t.tid() ? nullptr : core_->thread(real);
    if (o && o->pid() == t.pid()) busy.insert(o->ip());
  }
  return fast_->try_patch(t, busy);
}

// Whether the blob can answer `e` for the thread recorded as `tid`, and its entry: the compared
// arguments, the bytes the call must hand in, the bytes it gets back. Everything else (calls
// the tracer must run, fds it creates, ids it translates, restarts) stays on the ptrace path.
bool Replayer::fast_entry(const Event& e, pid_t tid, uint32_t& mask, std::vector<ServeBuf>& bufs) const {
  if (e.kind != kSyscall || e.tid != tid || e.ret == kUnfinished || is_restart(e.ret)) return false;
  const SyscallSpec& s = syscall_spec(e.nr);
  rb_call_rule rule = FastPath::rule(s);
  if (rule.mode != RB_CALL_FAST || s.cls != Class::Emulated || runs_for_real(s, e) || answered_futex(e)) return false;
  if (s.fd == FdEffect::Creates || s.fd == FdEffect::Accepts || s.fd == FdEffect::Pair || s.path_arg >= 0) return false;
  if (user_data_in(s) >= 0 || !address_fields_in(s).empty() || input_tid(s, e.data_in)) return false;
  // User data handed back (epoll_wait's): only where the program's values are the recorded ones
  // (the same addresses, as a replay without --aslr has them), so the bytes are the log's.
  if (user_data_out(s).first != 0 && translated_out(s, e) != e.data_out) return false;
  mask = 0;
  for (int i = 0; i < s.nargs; i++) {
    ArgKind k = s.args[i].kind;
    bool compared = k == ArgKind::Fd || k == ArgKind::Dirfd || k == ArgKind::Int;
    if (!compared || arg_not_compared(s, i, e.args)) continue;
    ArgRole role = s.args[i].role;
    if (role == ArgRole::Pid || role == ArgRole::Tid) return false;  // the program may hold a real id
    if (role == ArgRole::Clock && static_cast<int32_t>(e.args[i]) < 0) return false;
    mask |= 1u << i;
  }
  std::vector<std::string> ins = split_parts(e.data_in, s.n_in);
  std::vector<std::string> outs = e.ret >= 0 ? split_parts(e.data_out, s.n_out) : std::vector<std::string>(s.n_out);
  size_t in_k = 0, out_k = 0;
  bufs.clear();
  for (uint32_t b = 0; b < rule.nbufs; b++) {
    const rb_buf_rule& r = rule.bufs[b];
    if (r.dir == RB_DIR_IN) {
      if (in_k >= ins.size()) return false;
      const std::string& part = ins[in_k++];
      // Exactly the bytes the call hands in (a buffer capped when recorded is left to ptrace).
      if (part.size() != rb_buf_size(&r, e.args, 0)) return false;
      bufs.push_back({r.arg, true, part});
    } else {
      if (out_k >= outs.size()) return false;
      bufs.push_back({r.arg, false, outs[out_k++]});
    }
  }
  return in_k == ins.size() && out_k == outs.size();
}

// Before thread `t` gets the token at --speed max: the recorded calls it makes next, up to the
// first that is not its own or not simple, or the next point the replay must stop at (a pause
// target, a checkpoint, the end of the log), become serve entries.
void Replayer::fast_fill(Thread& t) {
  if (!fast_) return;
  fast_->serve_clear();
  fast_tid_ = -1;
  fast_handed_ = fast_accounted_ = 0;
  if (speed() > 0 || stream_ || paused_ || step_budget_ > 0 || !opts_.injections.empty() || opts_.counterfactual ||
      gdb_ || !breakpoints_.empty() || rsearch_.phase != ReverseSearch::Off || cursor_ == 0 || signals_.count(t.tid()))
    return;
  const pid_t tid = rec_of(t.tid());
  const bool spaced = opts_.checkpoints && no_checkpoint_.empty();
  uint32_t mask = 0;
  std::vector<ServeBuf> bufs;
  size_t j = cursor_;
  for (; j < opts_.log.size() && j - cursor_ < kMaxServed; j++) {
    const Event& e = opts_.log[j];
    if (opts_.pause_at != UINT64_MAX && e.seq + 256 >= opts_.pause_at) break;  // near checkpoints, the pause
    if (spaced && j >= next_checkpoint_) break;
    // What comes right after it (a signal delivered there, a counter read, an exit, another
    // thread's call) needs the thread stopped after the call, as the ptrace path has it: a
    // thread that ran on from its last entry would run code that was recorded after the other
    // threads' next events, and change memory they read before it.
    if (j + 1 >= opts_.log.size() || opts_.log[j + 1].kind != kSyscall || opts_.log[j + 1].tid != e.tid) break;
    if (!fast_entry(e, tid, mask, bufs) || !fast_->serve_add(e.nr, mask, e.args, e.ret, bufs)) break;
  }
  if (j == cursor_) return;
  fast_->serve_publish();
  fast_tid_ = t.tid();
  fast_from_ = cursor_;
  fast_handed_ = static_cast<uint32_t>(j - cursor_);
}

// The entries the blob answered since the last look become replayed events, as the ptrace path
// makes them, and the cursor moves past them. `stopped`: the thread is at a stop (not inside the
// blob), so the entries it did not take are taken back.
void Replayer::fast_account(bool stopped) {
  if (!fast_ || fast_tid_ < 0) return;
  uint32_t done = std::min(fast_->serve_done(), fast_handed_);
  int64_t now = now_ns();
  for (uint32_t i = fast_accounted_; i < done && cursor_ == fast_from_ + i; i++) {
    const Event& e = opts_.log[cursor_];
    Event a;
    a.seq = seq_++;
    a.kind = kSyscall;
    a.nr = e.nr;
    a.name = e.name;
    fast_->serve_actual(i, a.args);
    recorded_ids(syscall_spec(e.nr), a.args);
    a.pid = e.pid;
    a.tid = e.tid;
    a.ret = e.ret;
    a.data_in = e.data_in;  // the blob compared the program's bytes with these
    a.data_out = e.data_out;
    a.resource = e.resource;
    a.enter_ns = now - t0_;
    out_.event(std::move(a));
    prev_enter_ns_ = e.enter_ns;
    last_progress_ns_ = now;
    cursor_++;
    fast_served_++;
    fast_accounted_ = i + 1;
  }
  if (stopped) {
    fast_->serve_revoke();
    fast_tid_ = -1;
  }
}

// A pause, a step or a change of speed or target: entries not answered yet are not any more
// (at most the one being answered now still is, and is accounted at the thread's next stop).
void Replayer::fast_revoke() {
  if (!fast_ || fast_tid_ < 0) return;
  fast_->serve_revoke();
  fast_account(false);
}

// A checkpoint's copy was forked from `live`: its patched sites and trampolines are the live
// process's now.
void Replayer::fast_checkpointed(pid_t live, pid_t copy) {
  if (fast_) fast_->on_fork(live, copy);
}

// A restore made `fresh` from the checkpoint's copy in place of `live`: no entries are handed out
// (the ring is shared with the copy and was left as the live process used it).
void Replayer::fast_restored(pid_t copy, pid_t fresh, pid_t live) {
  if (!fast_) return;
  fast_->on_fork(copy, fresh);
  fast_->on_process_exit(live);
  if (fast_off_) {
    Thread w(fresh, fresh);  // the copy's memory has the sites patched when it was taken
    fast_unpatch(w);
  }
  fast_->serve_clear();
  fast_tid_ = -1;
  fast_handed_ = fast_accounted_ = 0;
}

// A debugger is about to run the program (continue, step, a breakpoint): every patched site of
// every process gets the program's own code back, and no call is served in-process any more, so
// instructions stepped and breakpoints set are the program's. Reading a paused replay (registers,
// memory, backtraces) needs none of this: fast_view shows it as unpatched.
void Replayer::fast_unpatch() {
  if (!fast_ || fast_off_) return;
  fast_off_ = true;
  fast_revoke();
  std::set<pid_t> done;
  for (const auto& [real, h] : held_) {
    Thread* t = core_->thread(real);
    if (!t || real == running_ || done.count(t->pid())) continue;
    done.insert(t->pid());
    fast_unpatch(*t);
  }
}

// The process of `t` (stopped) gets its own code back; a site that cannot be written is said.
void Replayer::fast_unpatch(Thread& t) {
  if (!fast_->unpatch(t))
    out_.message(warning_message("in_process_unpatch", "process " + std::to_string(t.pid()) +
                                                           " keeps a patched call site: gdb may step through replaybook's trampoline there"));
}

// Registers and memory as a debugger or a cell reads them: a thread paused in a call the blob
// left to the tracer shows the program's own call site and stack, patched code its own bytes.
void Replayer::fast_view(Thread& t, user_regs_struct& r) const {
  if (fast_) fast_->program_view(t, r);
}

void Replayer::fast_view(pid_t pid, uint64_t addr, std::string& bytes) const {
  if (fast_) fast_->original_code(pid, addr, bytes.data(), bytes.size());
}

}  // namespace rb
