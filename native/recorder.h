// The recorder tool: its options and its constructor (recorder.cc).
#pragma once
#include <memory>
#include <string>

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
};

std::unique_ptr<Tool> make_recorder(Output& out, const RecordOptions& opts);

}  // namespace rb
