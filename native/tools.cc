#include "tools.h"

#include <signal.h>
#include <string.h>
#include <cstdlib>
#include <sys/wait.h>

#include "capture.h"

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

std::string error_json(const std::string& code, const std::string& message) {
  return "{\"type\":\"error\",\"code\":" + json_str(code) + ",\"message\":" + json_str(message) +
         "}";
}

std::string percent_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::strtol(s.substr(i + 1, 2).c_str(), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "SIG" + std::to_string(sig);
}

bool is_fault(int sig, const siginfo_t& info) {
  return info.si_code > 0 && (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGTRAP);
}

std::string exit_status_json(int status) {
  if (WIFEXITED(status))
    return "\"exit_code\":" + std::to_string(WEXITSTATUS(status)) + ",\"signal\":null";
  return "\"exit_code\":null,\"signal\":" + json_str(signal_name(WTERMSIG(status)));
}

}  // namespace rb
