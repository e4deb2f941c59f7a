#include "tools.h"

#include <signal.h>
#include <string.h>

namespace rb {

Event syscall_event(pid_t pid, Thread& t, const SyscallSpec& s, const uint64_t args[6], uint64_t seq,
                    int64_t enter_ns) {
  Event e;
  e.seq = seq;
  e.pid = pid;
  e.tid = t.tid();
  e.nr = static_cast<int32_t>(t.syscall_nr());
  for (int i = 0; i < 6; i++) e.args[i] = args[i];
  e.enter_ns = enter_ns;
  e.kind = kSyscall;
  e.name = s.name;
  return e;
}

std::string signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "SIG" + std::to_string(sig);
}

bool is_fault(int sig, const siginfo_t& info) {
  return info.si_code > 0 && (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGTRAP);
}

}  // namespace rb
