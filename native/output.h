// The engine's output channel: events leave in batches (by count or every 100 ms so a live view
// can follow), messages as single JSON objects (written by protocol.h).
//
// A recording with a spool file (`spool PATH` in the config) writes its batches and messages
// there instead, as the same frames, and Node only hears how far it got ('spooled' messages):
// the engine, not Node, owns the recording, so it goes on when Node dies (an SSH session
// dropped), and the next replaybook process ingests the file (src/record/live.ts). The file ends
// with an END frame once the recording is over; a file without one was cut short.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "batch.h"

namespace rb {

// Where a recording stops on its own: after this many events, or this many bytes in the spool
// file (0: no limit). The recorder then stops the service as an interruption does.
struct Budget {
  uint64_t max_events = 0;
  uint64_t max_bytes = 0;
};

class Output {
 public:
  explicit Output(int fd) : fd_(fd) {}
  ~Output();
  // Writes batches and messages to the spool file at `path` (appending) from now on. False with
  // errno set if it cannot be opened.
  bool open_spool(const std::string& path, const Budget& budget);
  bool spooling() const { return spool_ >= 0; }
  void event(Event&& e);
  void message(const std::string& json);
  void flush();
  // The recording is over: pending events, then the END frame, synced to disk.
  void finish();
  uint64_t events_sent() const { return sent_; }
  // When pending events are due to leave even if no further event comes (-1: none pending), so
  // a live view is never more than ~100 ms behind while the program waits.
  int64_t flush_deadline() const { return pending_.empty() ? -1 : last_flush_ns_ + kFlushIntervalNs; }
  void flush_if_due();
  static constexpr int64_t kFlushIntervalNs = 100000000;
  // The spool file is synced at most this often (and at the end): a machine crash loses at most
  // about a second of the recording, a crash of the engine or of Node nothing.
  static constexpr int64_t kSyncIntervalNs = 1000000000;

 private:
  // A frame to Node; once Node is gone (EPIPE) nothing more is sent there.
  void to_node(uint32_t type, const void* data, size_t len);
  void to_spool(uint32_t type, const void* data, size_t len);
  void check_budget();
  int fd_;
  bool node_gone_ = false;
  int spool_ = -1;
  uint64_t spool_bytes_ = 0;
  int64_t last_sync_ns_ = 0;
  Budget budget_;
  bool budget_hit_ = false;
  std::vector<Event> pending_;
  size_t pending_bytes_ = 0;
  int64_t last_flush_ns_ = 0;
  uint64_t sent_ = 0;
};

}  // namespace rb
