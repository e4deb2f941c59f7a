// The replayer tool: its options, the queue its control verbs arrive on, and its constructor
// (replayer.cc and the replay_*.cc files).
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "batch.h"
#include "inject.h"
#include "output.h"
#include "tracer.h"

namespace rb {

// Control verbs for a running replay (one per control frame, protocol.h), filled by the
// engine's input thread and drained by the replayer on the tracer thread.
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
  EventLog log;                                    // the recorded events, in seq order
  std::map<std::string, std::string> files;        // recorded path -> local blob file
  ControlQueue* control = nullptr;                 // commands while the replay runs
  uint64_t pause_at = UINT64_MAX;                  // pause before serving this seq
  bool start_paused = false;
  bool checkpoints = true;  // kept for jumps; a run straight through takes none
  // At --speed max, simple recorded calls are answered inside the program (replay_fast.cc)
  // rather than through a ptrace stop each.
  bool in_process = true;
  // Counterfactual replay (docs/injections.md): injections, and whether the program may differ
  // from the log (changed environment, arguments, files or binary): then its first departure
  // switches the run to the stream policy instead of diverging.
  std::vector<Injection> injections;
  bool counterfactual = false;
  int64_t jitter_us = 0;
  uint64_t seed = 0;
  bool refuse_unrecorded = false;  // else an unrecorded interaction ends the run
  std::map<std::string, std::string> edited_files;  // recorded path -> local file with new content
  // The gdbserver (gdbserver.h): the network namespace it listens in (the engine's own, before
  // the replay isolated it; -1: the current one) and how its reader wakes the tracer thread.
  int gdb_netns_fd = -1;
  void (*wake)() = nullptr;
};

std::unique_ptr<Tool> make_replayer(Output& out, ReplayOptions&& opts);

}  // namespace rb
