#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <chrono>

#include "protocol.h"
#include "tracer.h"

namespace rb {

Output::~Output() {
  stop_syncer();
  if (spool_ >= 0) close(spool_);
}

void Output::start_syncer() {
  // Every signal blocked in it: SIGTERM/SIGINT and the wake-ups are the tracer thread's.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  syncer_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(sync_mu_);
    while (!sync_cv_.wait_for(lock, std::chrono::nanoseconds(kSyncIntervalNs), [this] { return sync_stop_; })) {
      if (fdatasync(spool_) != 0 && errno != EINVAL && sync_err_.load() == 0) sync_err_.store(errno);
    }
  });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void Output::stop_syncer() {
  if (!syncer_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(sync_mu_);
    sync_stop_ = true;
  }
  sync_cv_.notify_all();
  syncer_.join();
}

bool Output::open_spool(const std::string& path, const Budget& budget) {
  spool_ = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (spool_ < 0) return false;
  spool_path_ = path;
  budget_ = budget;
  // Best effort: a disk too full for the reserve still records until its first failed write.
  std::string reserve = path + ".reserve";
  int r = open(reserve.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (r >= 0) {
    if (posix_fallocate(r, 0, kReserveBytes) != 0) unlink(reserve.c_str());
    close(r);
  }
  start_syncer();
  return true;
}

void Output::fail_spool(int err, const char* what) {
  if (spool_failed_) return;
  spool_failed_ = true;
  // The frame cut off mid-way goes, so the file ends at the last whole frame.
  if (ftruncate(spool_, static_cast<off_t>(spool_bytes_)) != 0) {
    // a reader stops before a frame that is not whole anyway
  }
  unlink((spool_path_ + ".reserve").c_str());
  const char* name = strerrorname_np(err);
  std::string why = std::string("spool ") + what + " failed: " + (name ? name : "errno " + std::to_string(err)) +
                    " at event " + std::to_string(spool_events_) + " (" + strerror(err) + "): the " +
                    std::to_string(spool_events_) + " events before it are kept, and the recording (with the service) was stopped there";
  std::string json = error_message("spool_write", why);
  std::string failed = spool_path_ + ".failed";
  int f = open(failed.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (f >= 0) {
    bool ok = write(f, json.data(), json.size()) == static_cast<ssize_t>(json.size());
    if (ok) fdatasync(f);
    close(f);
    if (!ok) unlink(failed.c_str());  // Node heard it: it writes the reason itself
  }
  to_node(kFrameMessage, json.data(), json.size());
  request_stop();
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

bool Output::to_spool(uint32_t type, const void* data, size_t len) {
  if (spool_failed_) return false;
  errno = 0;
  if (!write_frame(spool_, type, data, len)) {
    fail_spool(errno ? errno : EIO, "write");
    return false;
  }
  spool_bytes_ += 8 + len;
  if (int err = sync_err_.load()) {
    fail_spool(err, "sync");
    return false;
  }
  return true;
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
  size_t n = static_cast<size_t>(sent_ - spool_events_);
  if (!to_spool(kFrameEvents, payload.data(), payload.size())) return;
  spool_events_ += n;
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
  stop_syncer();
  if (to_spool(kFrameEnd, "", 0) && fdatasync(spool_) != 0 && errno != EINVAL) fail_spool(errno, "sync");
  close(spool_);
  spool_ = -1;
  unlink((spool_path_ + ".reserve").c_str());
}

}  // namespace rb
