// Injections as the engine reads them: one config line each (protocol.h parses it),
//   inject ID KIND key=value ...      values percent-encoded
// KIND is delay | fail | latency | timeout. Selector keys (all optional, all must match):
//   syscalls=NAME,NAME   pid=N   tid=N (recorded ids)   resource=GLOB (`*` any run, `?` one)
//   argI=V (I in 0..5: the argument equals V)   argmaskI=V (every bit of V is set in it)
//   when=FIRST,LAST,STEP (strace's when=FIRST..LAST+STEP; LAST 0 = no end), counted per
//   injection, syscall and thread over the calls the rest of the selector matches
// Action keys: delay: enter_us=N exit_us=N;  fail: errno=N (the call returns -N) or retval=N;
// latency: us=N (inbound data on resource=GLOB arrives N µs later);
// timeout: syscall=NAME value_us=N (the call's timeout becomes N µs, -1 = none; only calls
// whose own timeout is finite and positive are changed).
// src/engine/protocol.ts writes these lines; src/inject/types.ts documents the model.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace rb {

struct Injection {
  enum Kind { Delay, Fail, Latency, Timeout } kind = Delay;
  std::string id;
  // selector
  std::vector<std::string> syscalls;
  int64_t pid = -1, tid = -1;
  std::string resource;  // glob; empty: any
  struct Arg {
    int index;
    uint64_t value;
    bool mask;  // all bits of value set, rather than equal
  };
  std::vector<Arg> args;
  uint64_t first = 1, last = 0, step = 1;
  // action
  int64_t enter_us = 0, exit_us = 0;
  int64_t err = 0;
  bool has_retval = false;
  int64_t retval = 0;
  int64_t latency_us = 0;
  std::string timeout_syscall;
  int64_t timeout_us = -1;
  // state
  uint64_t seen = 0;   // calls the selector matched so far
  uint64_t fired = 0;  // times the action applied
  std::map<std::pair<long, int64_t>, uint64_t> counters;  // (syscall, thread) -> calls matched

  // Does the call match the selector? (No counting.)
  bool selects(const std::string& name, int64_t pid, int64_t tid, const std::string& resource,
               const uint64_t args[6]) const;
  // Counts a selected call; true when `when` says this occurrence fires.
  bool count(long nr, int64_t tid);
  // Checks a parsed injection and resolves what a timeout's name covers; false with `err` set.
  bool complete(std::string& err);
};

}  // namespace rb
