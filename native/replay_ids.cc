// Process and thread ids: the program sees the recorded ones, the kernel needs the real ones
// (calls that run for real get their arguments and results translated).
// (replay_tool.h lists the replayer's files.)
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cstring>

#include "replay_tool.h"

namespace rb {

// A path naming a process or a thread by id under /proc (/proc/PID/..., /proc/PID/task/TID/...,
// /proc/self/task/TID/...), as the recording knew it: glibc names a thread by the tid the
// kernel wrote into its pthread (pthread_setname_np writes /proc/self/task/TID/comm), a real id
// in replay.
std::string Replayer::recorded_proc_path(const std::string& path) const {
  if (path.rfind("/proc/", 0) != 0) return path;
  auto recorded = [this](const std::string& id) {
    if (id.empty() || id.size() > 9 || id.find_first_not_of("0123456789") != std::string::npos) return id;
    pid_t v = static_cast<pid_t>(std::stol(id));
    return std::to_string(rec_to_real_.count(v) ? v : rec_of(v));
  };
  std::string out = "/proc";
  size_t at = 5;  // the '/' before the first component
  for (int i = 0; at < path.size() && path[at] == '/'; i++) {
    size_t end = path.find('/', at + 1);
    std::string c = path.substr(at + 1, end == std::string::npos ? std::string::npos : end - at - 1);
    bool id_slot = i == 0 || (i == 2 && path.compare(path.find('/', 6) + 1, 5, "task/") == 0);
    out += "/" + (id_slot ? recorded(c) : c);
    if (end == std::string::npos) return out;
    at = end;
  }
  return out + path.substr(at);
}

// wait4(pid) / waitid(P_PID|P_PGID, id) run for real: the kernel needs real process ids.
void Replayer::translate_wait_args(Thread& t, const Event& e) {
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

// The ids a call hands the kernel (the table's #pid, #tid and #clock arguments), as the
// recording knew them: the program may hold a real one (a pthread's tid, which the kernel
// wrote at clone) where production held the recorded one. An id that is a recorded one stays.
void Replayer::recorded_ids(const SyscallSpec& s, uint64_t args[6]) const {
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

void Replayer::recorded_input_id(const SyscallSpec& s, std::string& data_in) const {
  const char* at = input_tid(s, data_in);
  if (!at) return;
  int32_t v;
  std::memcpy(&v, at, 4);
  if (v <= 0 || rec_to_real_.count(v)) return;
  int32_t w = rec_of(v);
  std::memcpy(&data_in[static_cast<size_t>(at - data_in.data())], &w, 4);
}

// Whether the thread of `e` (already served) gets a recorded asynchronous signal before its
// next recorded call.
bool Replayer::signal_follows(const Event& e) const {
  for (size_t i = cursor_; i < opts_.log.size(); i++) {
    const Event& x = opts_.log[i];
    if (x.tid == e.tid && x.kind != kExit) return x.kind == kSignal && !is_recorded_fault(x);
  }
  return false;
}

// The recorded asynchronous signal the thread of `e` (the event at the cursor) gets before its
// next recorded call, or null.
const Event* Replayer::next_signal_of(const Event& e) const {
  for (size_t i = cursor_ + 1; i < opts_.log.size(); i++) {
    const Event& x = opts_.log[i];
    if (x.tid == e.tid && x.kind != kExit) return x.kind == kSignal && !is_recorded_fault(x) ? &x : nullptr;
  }
  return nullptr;
}

// At the exit stop of a call that ran for real: the program sees recorded ids and values.
void Replayer::fix_return(Thread& t, const Event& e) {
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

}  // namespace rb
