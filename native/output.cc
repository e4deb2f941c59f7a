#include "output.h"

#include "tracer.h"

namespace rb {

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

void Output::flush() {
  if (pending_.empty()) return;
  std::string payload = encode_batch(pending_);
  write_frame(fd_, kFrameEvents, payload.data(), payload.size());
  sent_ += pending_.size();
  pending_.clear();
  pending_bytes_ = 0;
  last_flush_ns_ = stop_ns();
}

void Output::message(const std::string& json) {
  flush();  // messages refer to events sent before them
  write_frame(fd_, kFrameMessage, json.data(), json.size());
}

}  // namespace rb
