// The recorder tool: its options and its constructor (recorder.cc).
#pragma once
#include <memory>

#include "late_data.h"
#include "output.h"
#include "tracer.h"

namespace rb {

struct RecordOptions {
  bool pinned = true;    // answer sched_getaffinity with the mask from before pinning
  LateDataOptions late;  // keep reading sockets the service closed (late_data.h)
};

std::unique_ptr<Tool> make_recorder(Output& out, const RecordOptions& opts);

}  // namespace rb
