// The two tools over the tracer core, and the few helpers they share.
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <memory>
#include <string>
#include <vector>

#include "batch.h"
#include "inject.h"
#include "late_data.h"
#include "output.h"
#include "tracer.h"

namespace rb {

struct RecordOptions {
  bool pinned = true;  // answer sched_getaffinity with the mask from before pinning
  LateDataOptions late;  // keep reading sockets the service closed (late_data.h)
  // Where copies of the files the service maps go, taken when they are mapped (files.h); the
  // caller stores and removes them. Empty: files are only named, to be read by the caller.
  std::string capture_dir;
};

// Control commands for a running replay (pause, step, speed...), filled by the engine's input
// thread and drained by the replayer on the tracer thread.
class ControlQueue {
 public:
  void push(std::string cmd) {
    std::lock_guard<std::mutex> l(m_);
    q_.push_back(std::move(cmd));
  }
  bool pop(std::string& cmd) {
    std::lock_guard<std::mutex> l(m_);
    if (q_.empty()) return false;
    cmd = std::move(q_.front());
    q_.pop_front();
    return true;
  }

 private:
  std::mutex m_;
  std::deque<std::string> q_;
};

struct ReplayOptions {
  double speed = 1.0;                              // 0 = as fast as possible
  std::vector<Event> log;                          // the recorded events, in seq order
  std::map<std::string, std::string> files;        // recorded path -> local blob file
  ControlQueue* control = nullptr;                 // commands while the replay runs
  uint64_t pause_at = UINT64_MAX;                  // pause before serving this seq
  bool start_paused = false;
  // Counterfactual replay (docs/injections.md): injections, and whether the program may differ
  // from the log (changed environment, arguments, files or binary): then its first departure
  // switches the run to the stream policy instead of diverging.
  std::vector<Injection> injections;
  bool counterfactual = false;
  int64_t jitter_us = 0;
  uint64_t seed = 0;
  bool refuse_unrecorded = false;  // else an unrecorded interaction ends the run
  std::map<std::string, std::string> edited_files;  // recorded path -> local file with new content
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
// Config values are percent-encoded words (%XX is the byte XX): see engine_main.cc.
std::string percent_decode(const std::string& s);
// A signal the kernel raised for a faulting instruction (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP
// with a positive si_code): it happens again by itself in replay; others are asynchronous.
bool is_fault(int sig, const siginfo_t& info);

}  // namespace rb
