// The recorder tool: its options and its constructor (recorder.cc).
#pragma once
#include <memory>
#include <string>

#include "fast.h"
#include "late_data.h"
#include "output.h"
#include "tracer.h"

namespace rb {

struct RecordOptions {
  bool pinned = true;    // answer sched_getaffinity with the mask from before pinning
  LateDataOptions late;  // keep reading sockets the service closed (late_data.h)
  // Where copies of the files the service maps go, taken when they are mapped (files.h); the
  // caller stores and removes them. Empty: files are only named, to be read by the caller.
  std::string capture_dir;
  // The spool file the engine writes the recording to (output.h); empty: batches go to Node.
  std::string spool;
  Budget budget;
  // An asynchronous signal that lands while its thread runs userspace is held until the
  // thread's next syscall (a boundary replay can find) for at most this long; 0: delivered
  // where it lands.
  int64_t signal_defer_ms = 20;
  // Threads run at once (the log still has one order) instead of one at a time in userspace.
  bool parallel = false;
  // record --fast (fast.h); fast.parallel follows `parallel`.
  FastOptions fast;
};

std::unique_ptr<Tool> make_recorder(Output& out, const RecordOptions& opts);

}  // namespace rb
