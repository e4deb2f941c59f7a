#include "inject.h"

#include "stream.h"

namespace rb {

bool Injection::complete(std::string& err) {
  Injection& inj = *this;
  if (inj.kind == Injection::Latency && inj.resource.empty()) {
    err = "injection " + inj.id + ": latency needs resource=GLOB";
    return false;
  }
  if (inj.kind == Injection::Timeout && inj.timeout_syscall.empty()) {
    err = "injection " + inj.id + ": timeout needs syscall=NAME";
    return false;
  }
  if (inj.kind == Injection::Timeout) {
    const std::string& t = inj.timeout_syscall;
    // Socket timeouts are set with setsockopt(fd, SOL_SOCKET, optname, timeval): the call whose
    // table row has a #sotimeo argument.
    if (t == "SO_RCVTIMEO" || t == "SO_SNDTIMEO") {
      for (const SyscallSpec& s : syscall_table())
        if (s.arg_with(ArgRole::SoTimeout) >= 0) inj.syscalls = {s.name};
    } else {
      inj.syscalls = {t};
    }
    // The C library's select() is the pselect6 syscall, poll() may be ppoll: a timeout named
    // after the function changes whichever variant of it (family:NAME in the table) the
    // program makes.
    for (const SyscallSpec& s : syscall_table())
      if (s.family == t) inj.syscalls.push_back(s.name);
    if (t == "SO_RCVTIMEO" || t == "SO_SNDTIMEO") inj.args.push_back({1, 1 /* SOL_SOCKET */, false});
  }
  return true;
}

bool Injection::selects(const std::string& name, int64_t p, int64_t t, const std::string& res,
                        const uint64_t a[6]) const {
  if (!syscalls.empty()) {
    bool any = false;
    for (const std::string& s : syscalls) any |= s == name;
    if (!any) return false;
  }
  if (pid >= 0 && pid != p) return false;
  if (tid >= 0 && tid != t) return false;
  if (!resource.empty() && !glob_match(resource, res)) return false;
  for (const Arg& x : args)
    if (x.mask ? (a[x.index] & x.value) != x.value : a[x.index] != x.value) return false;
  if (timeout_syscall == "SO_RCVTIMEO" && a[2] != 20 && a[2] != 66) return false;
  if (timeout_syscall == "SO_SNDTIMEO" && a[2] != 21 && a[2] != 67) return false;
  return true;
}

bool Injection::count(long nr, int64_t tid) {
  seen++;
  uint64_t n = ++counters[{nr, tid}];
  if (n < first || (last && n > last)) return false;
  if ((n - first) % step != 0) return false;
  fired++;
  return true;
}

}  // namespace rb
