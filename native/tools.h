// The two tools over the tracer core, and the few helpers they share.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "batch.h"
#include "output.h"
#include "tracer.h"

namespace rb {

struct RecordOptions {
  bool pinned = true;  // answer sched_getaffinity with the mask from before pinning
};

struct ReplayOptions {
  double speed = 1.0;                              // 0 = as fast as possible
  std::vector<Event> log;                          // the recorded events, in seq order
  std::map<std::string, std::string> files;        // recorded path -> local blob file
};

std::unique_ptr<Tool> make_recorder(Output& out, const RecordOptions& opts);
std::unique_ptr<Tool> make_replayer(Output& out, ReplayOptions&& opts);

// --- shared by both tools ---

// The event for a syscall at its seccomp stop (no result yet).
Event syscall_event(pid_t pid, Thread& t, const SyscallSpec& s, const uint64_t args[6], uint64_t seq,
                    int64_t enter_ns);
// An event's ret when the call never returned: the process ended while it was blocked.
constexpr int64_t kUnfinished = INT64_MIN;
// {"type":"error","code":..,"message":..}
std::string error_json(const std::string& code, const std::string& message);
// Exit status as (exit_code or null, signal name or null) JSON members.
std::string exit_status_json(int status);
std::string signal_name(int sig);

}  // namespace rb
