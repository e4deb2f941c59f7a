#include "capture.h"

#include <cstring>

namespace rb {
namespace {

constexpr size_t kMaxBuffer = 256u << 20;  // a corrupt size never makes us read gigabytes

bool is_in(ArgKind k) {
  return k == ArgKind::In || k == ArgKind::InOut || k == ArgKind::Path || k == ArgKind::Str;
}
bool is_out(ArgKind k) { return k == ArgKind::Out || k == ArgKind::InOut; }

struct Iov {
  uint64_t base, len;
};

std::vector<Iov> read_iovs(Thread& t, uint64_t addr, uint64_t count) {
  std::vector<Iov> v;
  if (!addr || count == 0 || count > 1024) return v;
  v.resize(count);
  if (!t.read_mem(addr, v.data(), count * sizeof(Iov))) v.clear();
  return v;
}

// The iovecs of a struct msghdr: msg_iov at offset 16, msg_iovlen at 24.
std::vector<Iov> msg_iovs(Thread& t, uint64_t msghdr) {
  uint64_t hdr[4];
  if (!msghdr || !t.read_mem(msghdr, hdr, sizeof hdr)) return {};
  return read_iovs(t, hdr[2], hdr[3]);
}

std::string gather(Thread& t, const std::vector<Iov>& iovs, uint64_t limit) {
  std::string out;
  for (const Iov& v : iovs) {
    if (out.size() >= limit) break;
    uint64_t n = std::min<uint64_t>(v.len, limit - out.size());
    out += t.read_bytes(v.base, n);
  }
  return out;
}

bool scatter(Thread& t, const std::vector<Iov>& iovs, const std::string& data) {
  size_t off = 0;
  for (const Iov& v : iovs) {
    if (off >= data.size()) break;
    size_t n = std::min<size_t>(v.len, data.size() - off);
    if (!t.write_mem(v.base, data.data() + off, n)) return false;
    off += n;
  }
  return off == data.size();
}

uint32_t read_u32(Thread& t, uint64_t addr) {
  uint32_t v = 0;
  if (addr) t.read_mem(addr, &v, 4);
  return v;
}

// Size of a plain buffer argument, evaluated now (entry for inputs, exit for outputs).
uint64_t plain_size(Thread& t, const ArgSpec& a, const uint64_t args[6], int64_t ret) {
  switch (a.size) {
    case SizeRule::Fixed: return a.n;
    case SizeRule::Arg: return args[a.ref] * a.n;
    case SizeRule::Ret: return ret > 0 ? static_cast<uint64_t>(ret) * a.n : 0;
    case SizeRule::ValueRes: return read_u32(t, args[a.ref]);
    case SizeRule::FdSet: return (std::min<uint64_t>(args[a.ref], 1 << 20) + 63) / 64 * 8;
    case SizeRule::Ioctl: {
      int n = ioctl_out_size(args[1]);
      return n > 0 ? static_cast<uint64_t>(n) : 0;
    }
    default: return 0;
  }
}

std::string read_buffer(Thread& t, const ArgSpec& a, const uint64_t args[6], uint64_t addr,
                        int64_t ret, bool output) {
  if (!addr) return {};
  if (a.kind == ArgKind::Path || a.kind == ArgKind::Str) return t.read_cstr(addr);
  if (a.size == SizeRule::Iov || a.size == SizeRule::Msg) {
    std::vector<Iov> iovs =
        a.size == SizeRule::Iov ? read_iovs(t, addr, args[a.ref]) : msg_iovs(t, addr);
    uint64_t limit = output ? (ret > 0 ? static_cast<uint64_t>(ret) : 0) : kMaxBuffer;
    return gather(t, iovs, limit);
  }
  uint64_t n = std::min<uint64_t>(plain_size(t, a, args, ret), kMaxBuffer);
  return t.read_bytes(addr, n);
}

}  // namespace

std::string join_parts(const std::vector<std::string>& parts) {
  if (parts.size() == 1) return parts[0];
  std::string out;
  for (const std::string& p : parts) {
    uint32_t n = static_cast<uint32_t>(p.size());
    out.append(reinterpret_cast<const char*>(&n), 4);
    out += p;
  }
  return out;
}

std::vector<std::string> split_parts(const std::string& data, size_t n) {
  std::vector<std::string> parts(n);
  if (n == 1) {
    parts[0] = data;
    return parts;
  }
  size_t off = 0;
  for (size_t i = 0; i < n && off + 4 <= data.size(); i++) {
    uint32_t len;
    std::memcpy(&len, data.data() + off, 4);
    off += 4;
    len = static_cast<uint32_t>(std::min<size_t>(len, data.size() - off));
    parts[i] = data.substr(off, len);
    off += len;
  }
  return parts;
}

std::string capture_in(Thread& t, const SyscallSpec& s, const uint64_t args[6]) {
  if (s.n_in == 0) return {};
  std::vector<std::string> parts;
  for (int i = 0; i < s.nargs; i++) {
    const ArgSpec& a = s.args[i];
    if (is_in(a.kind)) parts.push_back(read_buffer(t, a, args, args[i], 0, false));
  }
  return join_parts(parts);
}

std::string capture_out(Thread& t, const SyscallSpec& s, const uint64_t args[6], int64_t ret) {
  if (s.n_out == 0 || ret < 0) return {};
  std::vector<std::string> parts;
  for (int i = 0; i < s.nargs; i++) {
    const ArgSpec& a = s.args[i];
    if (is_out(a.kind)) parts.push_back(read_buffer(t, a, args, args[i], ret, true));
  }
  return join_parts(parts);
}

bool serve_out(Thread& t, const SyscallSpec& s, const uint64_t args[6], int64_t ret,
               const std::string& data_out, std::string& error) {
  if (s.n_out == 0 || ret < 0) return true;
  std::vector<std::string> parts = split_parts(data_out, s.n_out);
  size_t k = 0;
  for (int i = 0; i < s.nargs; i++) {
    const ArgSpec& a = s.args[i];
    if (!is_out(a.kind)) continue;
    const std::string& part = parts[k++];
    uint64_t addr = args[i];
    if (!addr || part.empty()) continue;
    bool ok;
    if (a.size == SizeRule::Iov) ok = scatter(t, read_iovs(t, addr, args[a.ref]), part);
    else if (a.size == SizeRule::Msg) ok = scatter(t, msg_iovs(t, addr), part);
    else ok = t.write_mem(addr, part.data(), part.size());
    if (!ok) {
      error = std::string("could not write the recorded result of ") + s.name +
              " into the program's memory";
      return false;
    }
  }
  return true;
}

std::string in_part_for_arg(const SyscallSpec& s, const std::string& data_in, int idx) {
  std::vector<std::string> parts = split_parts(data_in, s.n_in);
  size_t k = 0;
  for (int i = 0; i < s.nargs; i++) {
    if (!is_in(s.args[i].kind)) continue;
    if (i == idx) return k < parts.size() ? parts[k] : std::string();
    k++;
  }
  return {};
}

}  // namespace rb
