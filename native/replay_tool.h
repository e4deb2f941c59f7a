// The replayer tool's class, shared by its rooms (replayer.h has its options, make_replayer):
//   replayer.cc              the Tool handlers: each stop of the tracer core, handed to a room
//   replay_control.cc        control: the verbs of a running replay, pausing, state and memory
//   replay_schedule.cc       scheduling: which thread runs next, the replay clock, the watchdog
//   replay_serve.cc          serving from the log: each call checked against its event, then answered
//   replay_stream.cc         counterfactual replay: leaving the log, the stream policy serving calls
//   replay_signals.cc        signals: recorded signals delivered where they were
//   replay_placeholders.cc   placeholders: virtual fds held open at their recorded numbers
//   replay_ids.cc            identity: recorded pids/tids for the program, real ones for the kernel
//   replay_gdb.cc            gdb: the gdbserver's view of the paused replay, software breakpoints
//   replay_checkpoint.cc     checkpoints: forked copies of the replayed process, to jump back to
//   replay_fast.cc           in-process serving: simple calls answered inside the program at max speed
// Private to the replay_*.cc files and replayer.cc.
#pragma once
#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "fast.h"
#include "files.h"
#include "gdbserver.h"
#include "replayer.h"
#include "stream.h"
#include "tracer.h"

namespace rb {

// What a thread made again by clone at a checkpoint's restore does not inherit from the
// process's leader (whose copy is a fork, which keeps them): its alternate signal stack
// (sigaltstack run in it), its rseq registration (PTRACE_GET_RSEQ_CONFIGURATION), its name
// (/proc/PID/task/TID/comm) and its CPU affinity. Read at the checkpoint, given back by calls
// run in the new thread (replay_checkpoint.cc).
struct ThreadExtras {
  bool alt_read = false;      // sigaltstack's answer below was read
  uint64_t alt_sp = 0;
  uint64_t alt_size = 0;
  int alt_flags = SS_DISABLE;
  uint64_t rseq_ptr = 0;      // 0: none registered (or the kernel cannot say)
  uint32_t rseq_len = 0;
  uint32_t rseq_sig = 0;
  std::string comm;           // "": not read
  std::vector<uint8_t> affinity;  // sched_getaffinity's mask; empty: not read
};

// The replayer is a scheduler over threads. As in recording (recorder.cc), threads run their
// userspace one at a time, from a syscall's return to their next syscall's entry: the thread
// whose entry is next in the log gets the token and runs to it; that entry is checked, served
// (emulated, or run for real), and the token moves on. A served blocking call returns after its
// recorded duration while other threads go on. Recorded threads map to replay threads by
// creation order.
class Replayer : public Tool, public GdbTarget {
 public:
  Replayer(Output& out, ReplayOptions&& opts) : out_(out), opts_(std::move(opts)) {}
  // replayer.cc
  Resume on_syscall(Thread& t, const SyscallStop& stop) override;
  Resume on_syscall_exit(Thread& t) override;
  Resume on_thread_start(Thread& t) override;
  void on_unsupported(const std::string& message) override;
  void on_exec(Thread& t) override;
  Resume on_tsc(Thread& t, TscRead& r) override;
  void on_thread_created(Thread& parent, Thread& child) override;
  void on_thread_exit(Thread& t, int status) override;
  void on_exit(int status) override;
  // replay_schedule.cc
  int64_t next_deadline() override;
  void on_timer() override;
  pid_t only_waitable() override;
  // replay_signals.cc
  int on_signal(Thread& t, int sig, const siginfo_t& info) override;
  // replay_gdb.cc
  bool on_breakpoint(Thread& t) override;
  bool on_single_step(Thread& t) override;
  std::string gdb_reverse(bool to_start) override;
  void reinsert_breakpoints();
  std::vector<pid_t> gdb_threads() override;
  bool gdb_regs(pid_t rec, user_regs_struct& regs, user_fpregs_struct& fp) override;
  bool gdb_read(pid_t rec, uint64_t addr, size_t len, std::string& out) override;
  std::string gdb_thread_info(pid_t rec) override;
  std::string gdb_resume(bool step) override;
  void gdb_interrupt() override;
  bool gdb_breakpoint(bool insert, uint64_t addr, std::string& err) override;
  std::string gdb_auxv() override;
  std::string gdb_exe() override;
  pid_t gdb_pid() override;
  void gdb_detached() override;

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
    bool backed_out = false;    // its syscall entry was backed out for signals to come before it
    bool restore_args = false;  // a substitute call (rt_sigsuspend) changed its argument registers
    bool interrupted = false;   // in flight in a real call the recording shows a signal interrupting
    int64_t delayed_until = 0;  // an emulated blocking call returns then
    const Event* serving = nullptr;  // the recorded event whose return fix_return adjusts
    SyscallStop stop{};
    Event actual;
  };

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
  std::set<pid_t> exited_self_;                    // real tids that made their own exit call
  std::map<pid_t, std::map<pid_t, int>> killed_;  // real pid -> recorded tid -> status: ended by another's exit_group
  const Event* inexact_ = nullptr;
  std::set<const Event*> sent_early_;  // recorded signals sent with the call they interrupted  // the last signal delivered here that was recorded at an arbitrary instruction
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
  // gdb (replay_gdb.cc)
  std::unique_ptr<GdbServer> gdb_;
  std::map<uint64_t, uint8_t> breakpoints_;     // address -> the byte int3 replaced
  pid_t bp_process_ = -1;                       // the process the breakpoints are in (real pid)
  std::map<uint64_t, uint8_t> reinsert_;        // breakpoints to put back at the pause after a reverse
  pid_t bp_thread_ = -1;                        // a thread held at an instruction: a breakpoint, or gdb's stepi (real tid)
  pid_t gdb_step_ = -1;                         // the thread gdb single-steps from there (real tid)
  bool bp_hit_ = false;                         // the last pause was a breakpoint's
  std::map<pid_t, uint64_t> rearm_;             // real tid -> breakpoint to put back once it has stepped over it
  std::set<pid_t> stepping_;                    // real tids single-stepping over a breakpoint's instruction
  // Where a breakpoint hit happens: the event cursor then, and which hit it is since the cursor
  // got there (hits are deterministic between recorded calls). kEntry: at the event's syscall
  // entry, after every hit that comes before it.
  static constexpr uint64_t kEntry = UINT64_MAX;
  struct HitPos {
    size_t cursor = 0;
    uint64_t hit = 0;
    bool operator<(const HitPos& o) const { return cursor != o.cursor ? cursor < o.cursor : hit < o.hit; }
  };
  pid_t hit_proc_ = -1;                         // the process hit_at_ counts in (a restore makes a new one)
  HitPos hit_at_;                               // the last hit there
  // reverse-continue with breakpoints (replay_gdb.cc): scans forward from a checkpoint before
  // `until` for hits, then runs to the last one; or scans from the checkpoint before that.
  struct ReverseSearch {
    enum Phase { Off, Scan, Goto } phase = Off;
    uint64_t from = 0;                          // the checkpoint's seq the run started from
    HitPos until;                               // hits before this count (Goto: the hit to stop at)
    bool found = false;                         // Scan: a hit before `until` was seen...
    HitPos last;                                // ...the last one
    std::map<uint64_t, uint8_t> bps;            // gdb's breakpoints, put into each restored copy
    bool due = false;                           // a run ended: the next step comes at on_timer
  } rsearch_;
  // Checkpoints (replay_checkpoint.cc): a frozen fork of the process, and the replay's state then.
  // Each thread as it stood (the leader first: the frozen copy is its fork; the others are
  // cloned again at a restore and given this state).
  struct Task {
    pid_t real = -1;            // its tid in the live process then
    user_regs_struct regs{};    // fs_base/gs_base included
    user_fpregs_struct fp{};
    uint64_t sigmask = 0;
    uint64_t robust_head = 0;   // get_robust_list
    size_t robust_len = 0;
    uint64_t clear_tid = 0;     // CLONE_CHILD_CLEARTID address of the clone that made it (0: none)
    ThreadExtras extras;        // the leader: its name and affinity only (what clone copies)
    Held held;
    std::deque<const Event*> signals;
  };
  struct Checkpoint {
    pid_t proc = -1;            // the frozen copy (real pid, one thread: the leader's)
    std::vector<Task> tasks;    // [0] the leader
    std::vector<std::pair<uint64_t, std::string>> shared;  // writable shared mappings' bytes then
    uint64_t insn = 0;          // a `syscall` instruction in the program (a thread stopped after it)
    size_t cursor = 0;
    uint64_t served = 0;        // seq_
    uint64_t seq = 0;           // of the next event
    int64_t prev_enter_ns = 0;
    std::map<pid_t, pid_t> rec_to_real;
    bool scratch = false;
    // Each injection's counts then (by index in opts_.injections): none has fired yet.
    struct Counts {
      uint64_t seen = 0, fired = 0;
      std::map<std::pair<long, int64_t>, uint64_t> counters;
    };
    std::vector<Counts> injections;
  };
  // Whether a checkpoint was taken: not now but maybe at a later event (a thread was between
  // stops), or not at all.
  enum class Taken { Yes, No, Later };
  bool reaper_ = false;                         // the engine adopts orphans (PR_SET_CHILD_SUBREAPER)
  std::map<pid_t, uint64_t> clear_tid_;         // real tid -> its clone's CLONE_CHILD_CLEARTID address
  std::vector<Checkpoint> checkpoints_;         // by seq
  size_t next_checkpoint_ = 0;                  // cursor at which the next spaced one is due
  std::string no_checkpoint_;                   // why this replay cannot take them ("" when it can)
  bool checkpoint_refused_ = false;             // that reason was sent
  uint64_t near_target_ = UINT64_MAX;           // the jump target ones were taken before
  double speed_after_pause_ = -1;               // the speed to go back to after a reverse (gdb)
  uint64_t near_level_ = UINT64_MAX;            // how far before it the last one was
  bool pause_checkpoint_due_ = false;           // the pause's checkpoint waits for a thread to stop
  // In-process serving (replay_fast.cc): the blob and its serve ring, and the entries handed out.
  std::unique_ptr<FastPath> fast_;
  bool fast_failed_ = false;
  pid_t fast_tid_ = -1;         // the real thread entries were handed to (-1: none outstanding)
  size_t fast_from_ = 0;        // the cursor then: entry i is the event at fast_from_ + i
  uint32_t fast_handed_ = 0;    // entries handed out
  uint32_t fast_accounted_ = 0; // entries already turned into events
  uint64_t fast_served_ = 0;    // events answered in-process in this run
  std::set<uint64_t> fast_busy_;  // where signals interrupted the program: handlers return there
  bool fast_off_ = false;         // a debugger runs the program: its sites are unpatched, none patched again

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
  double speed() const { return opts_.speed; }
  int64_t scaled(int64_t ns) const { return speed() > 0 ? static_cast<int64_t>(ns / speed()) : 0; }
  // The virtual clock: recorded time `rec_ns` happens at this wall time. Rebased whenever the
  // replay resumes or changes speed, so a pause does not make it rush to catch up.
  int64_t wall_for(int64_t rec_ns) const { return base_wall_ + scaled(rec_ns - base_rec_); }
  // The virtual clock under the stream policy: the recording's timeline, running at the replay
  // speed (at `max`, only waits move it).
  int64_t vnow() const {
    if (speed() <= 0) return v_base_ + v_skip_;
    return v_base_ + v_skip_ + static_cast<int64_t>((now_ns() - w_base_) * speed());
  }
  int64_t wall_for_v(int64_t vt) const {
    return w_base_ + static_cast<int64_t>((vt - v_base_ - v_skip_) / speed());
  }

  // replayer.cc
  void exit_event(const Thread& t, int status);

  // replay_control.cc
  bool should_pause(const Event& e);
  void pause(const char* why);
  void resume_replay();
  void on_wake() override;
  void command(const std::string& line);
  const char* thread_state(pid_t real, const Held& h) const;
  std::string state_json();
  std::string memory_json(pid_t rec, uint64_t addr, uint64_t len);

  // replay_gdb.cc
  void start_gdbserver(int port);
  void gdb_paused();
  void release_breakpoint_stop();
  void rearm_breakpoints(Thread& t);
  Thread* gdb_thread(pid_t rec);
  pid_t gdb_process();
  void pass_breakpoint(Thread& t, uint64_t addr);
  bool step_instruction();
  HitPos here() const;
  bool reverse_run(std::string& err);
  bool reverse_paused(const char* why);
  void reverse_next();

  // replay_checkpoint.cc
  Taken can_checkpoint(std::string& why);
  Taken checkpoint(const char* why);
  void maybe_checkpoint();
  size_t to_drop(uint64_t here) const;
  size_t spacing() const;
  void goto_checkpoint(uint64_t seq);
  void set_injections(std::vector<Injection> list);
  bool restore(Checkpoint& c, std::string& err);
  void drop_checkpoints();
  void release_checkpoints();
  void reap_orphans();

  // replay_fast.cc
  void fast_attach(Thread& t);
  bool fast_patch(Thread& t, const SyscallSpec& s);
  bool fast_entry(const Event& e, pid_t tid, uint32_t& mask, std::vector<ServeBuf>& bufs) const;
  void fast_fill(Thread& t);
  void fast_account(bool stopped);
  void fast_revoke();
  void fast_checkpointed(pid_t live, pid_t copy);
  void fast_restored(pid_t copy, pid_t fresh, pid_t live);
  void fast_unpatch();
  void fast_unpatch(Thread& t);
  void fast_view(Thread& t, user_regs_struct& r) const;
  void fast_view(pid_t pid, uint64_t addr, std::string& bytes) const;

  // replay_schedule.cc
  void rebase();
  void pump();
  void stuck();
  static bool is_recorded_fault(const Event& x) { return x.kind == kSignal && x.args[1] != 0; }

  // replay_serve.cc
  bool serve_event(Thread& t, Held& h, const Event& e);
  static bool is_restart(int64_t ret);
  bool signal_follows(const Event& e) const;
  const Event* next_signal_of(const Event& e) const;
  int map_recorded_file(Thread& t, const Event& e, const uint64_t args[6], std::string& err);
  static bool answered_futex(const Event& e);
  static bool runs_for_real(const SyscallSpec& s, const Event& e);
  static std::string mismatch(const SyscallSpec& s, const Event& e, const Event& a);
  void diverge(Thread& t, const Event* expected, const Event& actual, const std::string& why);
  void remember_user_data(const SyscallSpec& s, const Event& e, const Event& actual);
  std::string translated_out(const SyscallSpec& s, const Event& e) const;
  bool serve(Thread& t, const SyscallSpec& s, const Event& e, const uint64_t args[6],
             std::string& err);

  // replay_stream.cc
  std::string departs(Thread& t, Held& h, const Event& e);
  void go_stream(const Event& e, const std::string& reason);
  bool hold_until(Held& h, int64_t vt);
  void serve_stream(Thread& t, Held& h);
  void patch_timeout(Thread& t, Held::Call& call, int64_t us);
  void unrecorded(Thread& t, Held& h, const std::string& why);
  void finish_stream_call(Thread& t, Held& h, int64_t ret, const std::string& out, const std::string& resource,
                          bool resume = true);

  // replay_signals.cc
  bool deliver_signal(const Event& x, bool now = false);
  bool at_next_entry(Thread& t, Held& h);
  std::string inexact_note() const;
  void run_if_doomed(Thread& t, Held& h);
  static bool kills_by_default(const Thread& t, int sig);
  void kill_recorded(const Event& x);

  // replay_placeholders.cc
  int64_t hold_fd(Thread& t, Thread::Injector& inj, const std::string& holder, bool cloexec, int64_t want,
                  std::string& err, int access = O_RDONLY);
  int64_t open_placeholder(Thread& t, const std::string& holder, bool cloexec, int64_t want, std::string& err);

  // replay_ids.cc
  void recorded_ids(const SyscallSpec& s, uint64_t args[6]) const;
  // The same for a thread id inside the call's input (the table's tid_in: a sigevent's).
  void recorded_input_id(const SyscallSpec& s, std::string& data_in) const;
  std::string recorded_proc_path(const std::string& path) const;
  void translate_wait_args(Thread& t, const Event& e);
  void fix_return(Thread& t, const Event& e);
};

}  // namespace rb
