#include "output.h"

#include <cstdio>

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

std::string json_str(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string base64(const std::string& s) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < s.size(); i += 3) {
    uint32_t v = (uint8_t(s[i]) << 16) | (uint8_t(s[i + 1]) << 8) | uint8_t(s[i + 2]);
    out += tbl[v >> 18];
    out += tbl[(v >> 12) & 63];
    out += tbl[(v >> 6) & 63];
    out += tbl[v & 63];
  }
  if (i + 1 == s.size()) {
    uint32_t v = uint8_t(s[i]) << 16;
    out += tbl[v >> 18];
    out += tbl[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == s.size()) {
    uint32_t v = (uint8_t(s[i]) << 16) | (uint8_t(s[i + 1]) << 8);
    out += tbl[v >> 18];
    out += tbl[(v >> 12) & 63];
    out += tbl[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

}  // namespace rb
