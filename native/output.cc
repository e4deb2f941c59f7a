#include "output.h"

#include <fcntl.h>
#include <unistd.h>

#include "protocol.h"
#include "tracer.h"

namespace rb {

Output::~Output() {
  if (spool_ >= 0) close(spool_);
}

bool Output::open_spool(const std::string& path, const Budget& budget) {
  spool_ = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  budget_ = budget;
  last_sync_ns_ = now_ns();
  return spool_ >= 0;
}

void Output::event(Event&& e) {
  pending_bytes_ += e.data_in.size() + e.data_out.size() + e.resource.size() + 64;
  pending_.push_back(std::move(e));
  int64_t now = stop_ns();
  if (pending_.size() >= 8192 || pending_bytes_ >= (8u << 20) || now - last_flush_ns_ >= kFlushIntervalNs) {
    flush();
  }
}

void Output::flush_if_due() {
  int64_t d = flush_deadline();
  if (d >= 0 && now_ns() >= d) flush();
}

void Output::to_node(uint32_t type, const void* data, size_t len) {
  if (node_gone_) return;
  if (!write_frame(fd_, type, data, len)) node_gone_ = true;
}

void Output::to_spool(uint32_t type, const void* data, size_t len) {
  // A write that fails (a full disk) loses this frame: the events counted so far stay readable.
  if (write_frame(spool_, type, data, len)) spool_bytes_ += 8 + len;
  int64_t now = now_ns();
  if (now - last_sync_ns_ >= kSyncIntervalNs) {
    fdatasync(spool_);
    last_sync_ns_ = now;
  }
}

void Output::flush() {
  if (pending_.empty()) return;
  std::string payload = encode_batch(pending_);
  sent_ += pending_.size();
  pending_.clear();
  pending_bytes_ = 0;
  last_flush_ns_ = stop_ns();
  if (spool_ < 0) {
    to_node(kFrameEvents, payload.data(), payload.size());
    return;
  }
  to_spool(kFrameEvents, payload.data(), payload.size());
  std::string progress = spooled_message(sent_, spool_bytes_);
  to_node(kFrameMessage, progress.data(), progress.size());
  check_budget();
}

// The budget is checked between batches: the recording stops within one batch (at most 8192
// events or 8 MiB, and 100 ms) of its limit, plus the calls in flight and the exits that follow.
void Output::check_budget() {
  if (budget_hit_) return;
  const char* what = nullptr;
  uint64_t limit = 0;
  if (budget_.max_events && sent_ >= budget_.max_events) {
    what = "events";
    limit = budget_.max_events;
  } else if (budget_.max_bytes && spool_bytes_ >= budget_.max_bytes) {
    what = "bytes";
    limit = budget_.max_bytes;
  }
  if (!what) return;
  budget_hit_ = true;
  message(budget_message(what, limit));
  request_stop();
}

void Output::message(const std::string& json) {
  flush();  // messages refer to events sent before them
  if (spool_ >= 0) to_spool(kFrameMessage, json.data(), json.size());
  to_node(kFrameMessage, json.data(), json.size());
}

void Output::finish() {
  flush();
  if (spool_ < 0) return;
  write_frame(spool_, kFrameEnd, "", 0);
  fdatasync(spool_);
  close(spool_);
  spool_ = -1;
}

}  // namespace rb
