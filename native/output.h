// The engine's output channel: events leave in batches (by count or every 100 ms so a live view
// can follow), messages as single JSON objects (written by protocol.h).
//
// A recording with a spool file (`spool PATH` in the config) writes its batches and messages
// there instead, as the same frames, and Node only hears how far it got ('spooled' messages):
// the engine, not Node, owns the recording, so it goes on when Node dies (an SSH session
// dropped), and the next replaybook process ingests the file (src/record/live.ts). The file ends
// with an END frame once the recording is over; a file without one was cut short.
//
// A spool write that fails (a full disk, EIO, a quota) is never silent: the engine truncates the
// frame it could not finish, frees the room it kept aside when it opened the file (PATH.reserve,
// so what follows fits on a full disk), writes why into PATH.failed, tells Node (an error message
// with code spool_write) and stops the recording as an interruption does: the service is killed
// (it cannot run on untraced) and the events written before the failure are the recording.
#pragma once
#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
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
  // A spool write or sync failed: nothing more goes to the spool (see the top of this file).
  bool spool_failed() const { return spool_failed_; }
  // Room kept aside next to the spool file for what must still be written once its disk is full.
  static constexpr off_t kReserveBytes = 256 * 1024;
  // When pending events are due to leave even if no further event comes (-1: none pending), so
  // a live view is never more than ~100 ms behind while the program waits.
  int64_t flush_deadline() const { return pending_.empty() ? -1 : last_flush_ns_ + kFlushIntervalNs; }
  void flush_if_due();
  static constexpr int64_t kFlushIntervalNs = 100000000;
  // The spool file is synced about this often (and at the end): a machine crash loses at most
  // about a second of the recording, a crash of the engine or of Node nothing. The periodic sync
  // runs on a thread of its own: a sync that waits for the disk must not keep the tracer from
  // the service's stops or from draining the fast path's ring (record --fast).
  static constexpr int64_t kSyncIntervalNs = 1000000000;

 private:
  // A frame to Node; once Node is gone (EPIPE) nothing more is sent there.
  void to_node(uint32_t type, const void* data, size_t len);
  // False (and the recording stopped) when the write or a periodic sync failed.
  bool to_spool(uint32_t type, const void* data, size_t len);
  void fail_spool(int err, const char* what);
  void check_budget();
  int fd_;
  bool node_gone_ = false;
  int spool_ = -1;
  uint64_t spool_bytes_ = 0;
  // Events whose batch is in the spool file in full.
  uint64_t spool_events_ = 0;
  bool spool_failed_ = false;
  std::string spool_path_;
  void start_syncer();
  void stop_syncer();
  std::thread syncer_;
  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  bool sync_stop_ = false;
  // errno of a periodic sync that failed (0: none), seen by the tracer thread at its next write.
  std::atomic<int> sync_err_{0};
  Budget budget_;
  bool budget_hit_ = false;
  std::vector<Event> pending_;
  size_t pending_bytes_ = 0;
  int64_t last_flush_ns_ = 0;
  uint64_t sent_ = 0;
};

}  // namespace rb
