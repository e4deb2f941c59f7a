// Events cross between the engine and Node in columnar batches, laid out as Arrow lays out its
// buffers (fixed-width columns, then int32 offsets + bytes for variable-width ones), so the addon
// can hand JS typed-array views over one buffer without copying. This header is the only owner of
// that layout and of the frame format on the engine's pipes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace rb {

// kInstruction: an instruction whose result comes from outside the program (rdtsc, rdtscp).
enum EventKind : uint8_t { kSyscall = 0, kSignal = 1, kLateData = 2, kExit = 3, kInstruction = 4 };

struct Event {
  uint64_t seq = 0;
  int32_t pid = 0, tid = 0, nr = -1;
  uint64_t args[6] = {0, 0, 0, 0, 0, 0};
  int64_t ret = 0, enter_ns = 0, dur_ns = 0;
  uint8_t kind = kSyscall;
  std::string name, resource, data_in, data_out;
};

// A replay's recorded events, in seq order. A deque: a log of millions of events grows in small
// blocks, never moved (a vector's doubling held the old and the new array at once, half again
// the log's size), and an event's address stays valid while the log grows. Access by index.
using EventLog = std::deque<Event>;

// Frames: u32 type, u32 payload length, payload.
enum FrameType : uint32_t {
  kFrameConfig = 1,   // JS -> engine: configuration lines (see engine_main.cc)
  kFrameEvents = 2,   // both ways: an event batch
  kFrameMessage = 3,  // engine -> JS: one JSON object
  kFrameEnd = 4,      // JS -> engine: no more recorded events
  kFrameControl = 5,  // JS -> engine: a replay control command (text; see replayer.cc)
};

constexpr size_t kVarColumns = 4;  // name, resource, data_in, data_out

// Pointers into one encoded batch. Every column starts 8-byte aligned relative to the payload.
struct BatchView {
  uint32_t n = 0;
  const uint64_t* seq = nullptr;
  const int32_t* pid = nullptr;
  const int32_t* tid = nullptr;
  const int32_t* nr = nullptr;
  const uint64_t* args = nullptr;  // 6 per event
  const int64_t* ret = nullptr;
  const int64_t* enter_ns = nullptr;
  const int64_t* dur_ns = nullptr;
  const uint8_t* kind = nullptr;
  const int32_t* offsets[kVarColumns] = {};
  const uint8_t* bytes[kVarColumns] = {};
  size_t byte_offset_of(const void* p, const uint8_t* base) const {
    return static_cast<const uint8_t*>(p) - base;
  }
};

// Parses the layout of an encoded batch; returns false if it is truncated or inconsistent.
bool view_batch(const uint8_t* payload, size_t len, BatchView& v);
// Encodes events into a batch payload.
std::string encode_batch(const std::vector<Event>& events);
// Decodes a batch payload, appending to `out`.
bool decode_batch(const uint8_t* payload, size_t len, EventLog& out);

// Pipe I/O for frames (blocking, EINTR-safe). read_frame returns false at EOF.
bool write_frame(int fd, uint32_t type, const void* data, size_t len);
bool read_frame(int fd, uint32_t& type, std::string& payload);

}  // namespace rb
