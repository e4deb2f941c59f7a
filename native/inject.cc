#include "inject.h"

#include <cstdlib>
#include <sstream>

#include "output.h"
#include "tools.h"
#include "stream.h"

namespace rb {
namespace {

bool number(const std::string& v, int64_t& out) {
  if (v.empty()) return false;
  char* end = nullptr;
  out = v[0] == '-' ? std::strtoll(v.c_str(), &end, 10) : static_cast<int64_t>(std::strtoull(v.c_str(), &end, 10));
  return end && *end == '\0';
}

}  // namespace

bool parse_injection(const std::string& text, Injection& inj, std::string& err) {
  std::istringstream in(text);
  std::string kind, kv;
  in >> inj.id >> kind;
  if (kind == "delay") inj.kind = Injection::Delay;
  else if (kind == "fail") inj.kind = Injection::Fail;
  else if (kind == "latency") inj.kind = Injection::Latency;
  else if (kind == "timeout") inj.kind = Injection::Timeout;
  else if (kind == "signal") {
    err = "injection " + inj.id + ": signal injections are not supported by this engine yet";
    return false;
  } else {
    err = "injection " + inj.id + ": unknown kind '" + kind + "'";
    return false;
  }
  while (in >> kv) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos) {
      err = "injection " + inj.id + ": '" + kv + "' is not key=value";
      return false;
    }
    std::string k = kv.substr(0, eq), v = percent_decode(kv.substr(eq + 1));
    int64_t n = 0;
    bool num = number(v, n);
    if (k == "syscalls") {
      std::istringstream names(v);
      std::string name;
      while (std::getline(names, name, ',')) if (!name.empty()) inj.syscalls.push_back(name);
    } else if (k == "resource") {
      inj.resource = v;
    } else if (k == "syscall") {
      inj.timeout_syscall = v;
    } else if (!num) {
      if (k != "when") {
        err = "injection " + inj.id + ": " + k + " must be a number, not '" + v + "'";
        return false;
      }
      std::istringstream w(v);
      std::string a, b, c;
      std::getline(w, a, ',');
      std::getline(w, b, ',');
      std::getline(w, c, ',');
      inj.first = std::strtoull(a.c_str(), nullptr, 10);
      inj.last = std::strtoull(b.c_str(), nullptr, 10);
      inj.step = std::strtoull(c.c_str(), nullptr, 10);
      if (inj.first == 0 || inj.step == 0) {
        err = "injection " + inj.id + ": when needs FIRST >= 1 and STEP >= 1";
        return false;
      }
    } else if (k == "pid") inj.pid = n;
    else if (k == "tid") inj.tid = n;
    else if (k.size() == 4 && k.rfind("arg", 0) == 0 && k[3] >= '0' && k[3] <= '5')
      inj.args.push_back({k[3] - '0', static_cast<uint64_t>(n), false});
    else if (k.size() == 8 && k.rfind("argmask", 0) == 0 && k[7] >= '0' && k[7] <= '5')
      inj.args.push_back({k[7] - '0', static_cast<uint64_t>(n), true});
    else if (k == "enter_us") inj.enter_us = n;
    else if (k == "exit_us") inj.exit_us = n;
    else if (k == "errno") inj.err = n;
    else if (k == "retval") {
      inj.has_retval = true;
      inj.retval = n;
    } else if (k == "us") inj.latency_us = n;
    else if (k == "value_us") inj.timeout_us = n;
    else {
      err = "injection " + inj.id + ": unknown key '" + k + "'";
      return false;
    }
  }
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

std::string Injection::json() const {
  static const char* kinds[] = {"delay", "fail", "latency", "timeout"};
  return "{\"id\":" + json_str(id) + ",\"kind\":\"" + kinds[kind] + "\",\"matched\":" + std::to_string(seen) +
         ",\"fired\":" + std::to_string(fired) + "}";
}

}  // namespace rb
