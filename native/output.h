// The engine's output channel: events leave in batches (by count or every 100 ms so a live view
// can follow), messages as single JSON objects (written by protocol.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "batch.h"

namespace rb {

class Output {
 public:
  explicit Output(int fd) : fd_(fd) {}
  void event(Event&& e);
  void message(const std::string& json);
  void flush();
  uint64_t events_sent() const { return sent_; }
  // When pending events are due to leave even if no further event comes (-1: none pending), so
  // a live view is never more than ~100 ms behind while the program waits.
  int64_t flush_deadline() const { return pending_.empty() ? -1 : last_flush_ns_ + kFlushIntervalNs; }
  void flush_if_due();
  static constexpr int64_t kFlushIntervalNs = 100000000;

 private:
  int fd_;
  std::vector<Event> pending_;
  size_t pending_bytes_ = 0;
  int64_t last_flush_ns_ = 0;
  uint64_t sent_ = 0;
};

}  // namespace rb
