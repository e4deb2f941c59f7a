#include "batch.h"

#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace rb {
namespace {

size_t pad8(size_t n) { return (n + 7) & ~size_t(7); }

template <typename T>
void put(std::string& out, const T* p, size_t count) {
  out.append(reinterpret_cast<const char*>(p), count * sizeof(T));
  out.resize(pad8(out.size()), '\0');
}

template <typename T, typename F>
void put_column(std::string& out, const std::vector<Event>& ev, F get) {
  std::vector<T> col;
  col.reserve(ev.size());
  for (const Event& e : ev) col.push_back(get(e));
  put(out, col.data(), col.size());
}

const std::string& var_field(const Event& e, size_t i) {
  switch (i) {
    case 0: return e.name;
    case 1: return e.resource;
    case 2: return e.data_in;
    default: return e.data_out;
  }
}

std::string& var_field(Event& e, size_t i) {
  return const_cast<std::string&>(var_field(static_cast<const Event&>(e), i));
}

}  // namespace

std::string encode_batch(const std::vector<Event>& ev) {
  std::string out;
  uint32_t header[2] = {static_cast<uint32_t>(ev.size()), 0};
  put(out, header, 2);
  put_column<uint64_t>(out, ev, [](const Event& e) { return e.seq; });
  put_column<int32_t>(out, ev, [](const Event& e) { return e.pid; });
  put_column<int32_t>(out, ev, [](const Event& e) { return e.tid; });
  put_column<int32_t>(out, ev, [](const Event& e) { return e.nr; });
  std::vector<uint64_t> args;
  args.reserve(ev.size() * 6);
  for (const Event& e : ev) args.insert(args.end(), e.args, e.args + 6);
  put(out, args.data(), args.size());
  put_column<int64_t>(out, ev, [](const Event& e) { return e.ret; });
  put_column<int64_t>(out, ev, [](const Event& e) { return e.enter_ns; });
  put_column<int64_t>(out, ev, [](const Event& e) { return e.dur_ns; });
  put_column<uint8_t>(out, ev, [](const Event& e) { return e.kind; });
  for (size_t c = 0; c < kVarColumns; c++) {
    std::vector<int32_t> offsets;
    offsets.reserve(ev.size() + 1);
    int32_t off = 0;
    offsets.push_back(0);
    for (const Event& e : ev) {
      off += static_cast<int32_t>(var_field(e, c).size());
      offsets.push_back(off);
    }
    put(out, offsets.data(), offsets.size());
    for (const Event& e : ev) out += var_field(e, c);
    out.resize(pad8(out.size()), '\0');
  }
  return out;
}

bool view_batch(const uint8_t* p, size_t len, BatchView& v) {
  size_t pos = 0;
  auto take = [&](size_t bytes) -> const uint8_t* {
    if (pos + bytes > len) return nullptr;
    const uint8_t* at = p + pos;
    pos = pad8(pos + bytes);
    return at;
  };
  const uint8_t* hdr = take(8);
  if (!hdr) return false;
  std::memcpy(&v.n, hdr, 4);
  size_t n = v.n;
  if (!(v.seq = reinterpret_cast<const uint64_t*>(take(n * 8)))) return false;
  if (!(v.pid = reinterpret_cast<const int32_t*>(take(n * 4)))) return false;
  if (!(v.tid = reinterpret_cast<const int32_t*>(take(n * 4)))) return false;
  if (!(v.nr = reinterpret_cast<const int32_t*>(take(n * 4)))) return false;
  if (!(v.args = reinterpret_cast<const uint64_t*>(take(n * 48)))) return false;
  if (!(v.ret = reinterpret_cast<const int64_t*>(take(n * 8)))) return false;
  if (!(v.enter_ns = reinterpret_cast<const int64_t*>(take(n * 8)))) return false;
  if (!(v.dur_ns = reinterpret_cast<const int64_t*>(take(n * 8)))) return false;
  if (!(v.kind = take(n))) return false;
  for (size_t c = 0; c < kVarColumns; c++) {
    const int32_t* offs = reinterpret_cast<const int32_t*>(take((n + 1) * 4));
    if (!offs) return false;
    for (size_t i = 0; i < n; i++)
      if (offs[i + 1] < offs[i]) return false;
    if (offs[0] != 0) return false;
    v.offsets[c] = offs;
    v.bytes[c] = take(static_cast<size_t>(offs[n]));
    if (!v.bytes[c] && offs[n] != 0) return false;
    if (!v.bytes[c]) v.bytes[c] = p + pos;
  }
  return true;
}

bool decode_batch(const uint8_t* p, size_t len, EventLog& out) {
  BatchView v;
  if (!view_batch(p, len, v)) return false;
  for (uint32_t i = 0; i < v.n; i++) {
    Event e;
    e.seq = v.seq[i];
    e.pid = v.pid[i];
    e.tid = v.tid[i];
    e.nr = v.nr[i];
    std::memcpy(e.args, v.args + 6 * i, sizeof e.args);
    e.ret = v.ret[i];
    e.enter_ns = v.enter_ns[i];
    e.dur_ns = v.dur_ns[i];
    e.kind = v.kind[i];
    for (size_t c = 0; c < kVarColumns; c++) {
      const char* b = reinterpret_cast<const char*>(v.bytes[c]);
      var_field(e, c).assign(b + v.offsets[c][i], v.offsets[c][i + 1] - v.offsets[c][i]);
    }
    out.push_back(std::move(e));
  }
  return true;
}

namespace {
bool write_all(int fd, const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t w = ::write(fd, p, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    len -= static_cast<size_t>(w);
  }
  return true;
}

// Returns bytes read; short only at EOF or error.
size_t read_all(int fd, void* data, size_t len) {
  char* p = static_cast<char*>(data);
  size_t got = 0;
  while (got < len) {
    ssize_t r = ::read(fd, p + got, len - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  return got;
}
}  // namespace

bool write_frame(int fd, uint32_t type, const void* data, size_t len) {
  uint32_t hdr[2] = {type, static_cast<uint32_t>(len)};
  return write_all(fd, hdr, sizeof hdr) && write_all(fd, data, len);
}

bool read_frame(int fd, uint32_t& type, std::string& payload) {
  uint32_t hdr[2];
  if (read_all(fd, hdr, sizeof hdr) != sizeof hdr) return false;
  type = hdr[0];
  payload.resize(hdr[1]);
  return read_all(fd, payload.data(), hdr[1]) == hdr[1];
}

}  // namespace rb
