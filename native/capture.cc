#include "capture.h"

#include <sys/socket.h>

#include <algorithm>
#include <cstddef>
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

// struct msghdr on x86-64.
struct MsgHdr {
  uint64_t name;        // msg_name
  uint32_t namelen;     // msg_namelen
  uint32_t pad;
  uint64_t iov;         // msg_iov
  uint64_t iovlen;      // msg_iovlen
  uint64_t control;     // msg_control
  uint64_t controllen;  // msg_controllen
  int32_t flags;        // msg_flags
  uint32_t pad2;
};
static_assert(sizeof(MsgHdr) == 56, "struct msghdr layout");
constexpr uint64_t kMaxControl = 1 << 16;

bool read_msghdr(Thread& t, uint64_t addr, MsgHdr& h) {
  return addr && t.read_mem(addr, &h, sizeof h);
}

void put_u32(std::string& s, uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }
void put_u64(std::string& s, uint64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); }
uint32_t get_u32(const std::string& s, size_t off) {
  uint32_t v;
  std::memcpy(&v, s.data() + off, 4);
  return v;
}
uint64_t get_u64(const std::string& s, size_t off) {
  uint64_t v;
  std::memcpy(&v, s.data() + off, 8);
  return v;
}

// Zeroes the bytes of a socket address that the kernel ignores: what follows the NUL of a unix
// path (glibc passes sizeof(sockaddr_un) with stack garbage after the path) and sin_zero.
void normalize_sockaddr(std::string& sa) {
  if (sa.size() < sizeof(sa_family_t)) return;
  sa_family_t family;
  std::memcpy(&family, sa.data(), sizeof family);
  size_t keep = sa.size();
  if (family == AF_UNIX && sa.size() > 2 && sa[2] != '\0') {
    size_t nul = sa.find('\0', 2);
    if (nul != std::string::npos) keep = nul;
  } else if (family == AF_INET && sa.size() >= 16) {
    keep = 8;  // family, port, address; then sin_zero
  }
  std::fill(sa.begin() + static_cast<std::ptrdiff_t>(keep), sa.end(), '\0');
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

// Zeroes the bytes of a struct flock handed to fcntl that the kernel ignores: the padding after
// l_whence and after l_pid, and l_pid itself for process locks (sqlite leaves it unset; open file
// description locks require it to be 0, so there it stays).
void normalize_flock(std::string& fl, uint64_t cmd) {
  if (fl.size() != 32) return;
  std::fill(fl.begin() + 4, fl.begin() + 8, '\0');
  bool ofd = cmd == 36 || cmd == 37 || cmd == 38;  // F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW
  std::fill(fl.begin() + (ofd ? 28 : 24), fl.end(), '\0');
}

uint64_t known(int n) { return n > 0 ? static_cast<uint64_t>(n) : 0; }

// Size of a plain buffer argument, evaluated now (entry for inputs, exit for outputs).
uint64_t plain_size(Thread& t, const ArgSpec& a, const uint64_t args[6], int64_t ret,
                    bool output) {
  uint64_t r = ret > 0 ? static_cast<uint64_t>(ret) : 0;
  switch (a.size) {
    case SizeRule::Fixed: return a.n;
    case SizeRule::Arg: return args[a.ref] * a.n;
    case SizeRule::Ret: return r * a.n;
    case SizeRule::RetMax: return std::min<uint64_t>(r, args[a.ref]);
    case SizeRule::ValueRes: return read_u32(t, args[a.ref]);
    case SizeRule::Sockaddr: return args[a.ref];
    case SizeRule::FdSet: return (std::min<uint64_t>(args[a.ref], 1 << 20) + 63) / 64 * 8;
    case SizeRule::Ioctl: return known(output ? ioctl_out_size(args[1]) : ioctl_in_size(args[1]));
    case SizeRule::Fcntl: return known(output ? fcntl_out_size(args[1]) : fcntl_in_size(args[1]));
    default: return 0;
  }
}

// Appends msg_name's and msg_control's bytes to `out`, then their lengths (u32 each).
void append_name_control(Thread& t, const MsgHdr& h, std::string& out, bool normalize_name) {
  std::string name = h.name ? t.read_bytes(h.name, std::min<uint64_t>(h.namelen, 4096)) : "";
  if (normalize_name) normalize_sockaddr(name);
  std::string control =
      h.control ? t.read_bytes(h.control, std::min<uint64_t>(h.controllen, kMaxControl)) : "";
  out += name;
  out += control;
  put_u32(out, static_cast<uint32_t>(name.size()));
  put_u32(out, static_cast<uint32_t>(control.size()));
}

// A struct msghdr handed to the kernel (sendmsg): payload, address, control data, their lengths.
std::string msg_in(Thread& t, uint64_t addr) {
  MsgHdr h;
  if (!read_msghdr(t, addr, h)) return {};
  std::string out = gather(t, read_iovs(t, h.iov, h.iovlen), kMaxBuffer);
  append_name_control(t, h, out, true);
  return out;
}

// A struct msghdr the kernel filled (recvmsg): the payload it received, the address and control
// data it wrote and the fields it set.
constexpr size_t kMsgOutTail = 24;
std::string msg_out(Thread& t, uint64_t addr, int64_t ret) {
  MsgHdr h;
  if (!read_msghdr(t, addr, h)) return {};
  uint64_t received = ret > 0 ? static_cast<uint64_t>(ret) : 0;
  std::string out = gather(t, read_iovs(t, h.iov, h.iovlen), received);
  append_name_control(t, h, out, false);
  put_u32(out, h.namelen);
  put_u32(out, static_cast<uint32_t>(h.flags));
  put_u64(out, h.controllen);
  return out;
}

// Writes a recorded recvmsg result into the program's msghdr. Address and control data are
// served no longer than the buffers the program gave.
bool serve_msg(Thread& t, uint64_t addr, const std::string& part) {
  MsgHdr h;
  if (part.size() < kMsgOutTail || !read_msghdr(t, addr, h)) return false;
  size_t tail = part.size() - kMsgOutTail;
  uint32_t name_len = get_u32(part, tail), control_len = get_u32(part, tail + 4);
  if (static_cast<uint64_t>(name_len) + control_len > tail) return false;
  size_t payload_len = tail - name_len - control_len;
  if (!scatter(t, read_iovs(t, h.iov, h.iovlen), part.substr(0, payload_len))) return false;
  if (h.name) {
    size_t n = std::min<size_t>(name_len, h.namelen);
    if (!t.write_mem(h.name, part.data() + payload_len, n)) return false;
    uint32_t namelen = get_u32(part, tail + 8);
    if (!t.write_mem(addr + offsetof(MsgHdr, namelen), &namelen, 4)) return false;
  }
  if (h.control) {
    size_t n = std::min<size_t>(control_len, h.controllen);
    if (!t.write_mem(h.control, part.data() + payload_len + name_len, n)) return false;
  }
  uint64_t controllen = get_u64(part, tail + 16);
  int32_t flags = static_cast<int32_t>(get_u32(part, tail + 12));
  return t.write_mem(addr + offsetof(MsgHdr, controllen), &controllen, 8) &&
         t.write_mem(addr + offsetof(MsgHdr, flags), &flags, 4);
}

std::string read_buffer(Thread& t, const ArgSpec& a, const uint64_t args[6], uint64_t addr,
                        int64_t ret, bool output) {
  if (!addr) return {};
  if (a.kind == ArgKind::Path || a.kind == ArgKind::Str) return t.read_cstr(addr);
  if (a.size == SizeRule::Msg) return output ? msg_out(t, addr, ret) : msg_in(t, addr);
  if (a.size == SizeRule::Iov) {
    uint64_t limit = output ? (ret > 0 ? static_cast<uint64_t>(ret) : 0) : kMaxBuffer;
    return gather(t, read_iovs(t, addr, args[a.ref]), limit);
  }
  uint64_t n = std::min<uint64_t>(plain_size(t, a, args, ret, output), kMaxBuffer);
  std::string bytes = t.read_bytes(addr, n);
  if (a.size == SizeRule::Sockaddr) normalize_sockaddr(bytes);
  if (a.size == SizeRule::Fcntl && !output) normalize_flock(bytes, args[1]);
  return bytes;
}

// Where a buffer argument lives: its own value, or the argument it names with @aK.
uint64_t buffer_addr(const ArgSpec& a, const uint64_t args[6], int i) {
  return a.at >= 0 ? args[a.at] : args[i];
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
    if (is_in(a.kind)) parts.push_back(read_buffer(t, a, args, buffer_addr(a, args, i), 0, false));
  }
  return join_parts(parts);
}

std::string capture_out(Thread& t, const SyscallSpec& s, const uint64_t args[6], int64_t ret) {
  if (s.n_out == 0 || ret < 0) return {};
  std::vector<std::string> parts;
  for (int i = 0; i < s.nargs; i++) {
    const ArgSpec& a = s.args[i];
    if (is_out(a.kind))
      parts.push_back(read_buffer(t, a, args, buffer_addr(a, args, i), ret, true));
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
    uint64_t addr = buffer_addr(a, args, i);
    if (!addr || part.empty()) continue;
    bool ok;
    if (a.size == SizeRule::Iov) {
      ok = scatter(t, read_iovs(t, addr, args[a.ref]), part);
    } else if (a.size == SizeRule::Msg) {
      ok = serve_msg(t, addr, part);
    } else if (a.size == SizeRule::ValueRes) {
      // A truncated address: the kernel wrote no more than the buffer the program passed in
      // (its length is still unchanged at the stop), though it reports the full length.
      ok = t.write_mem(addr, part.data(), std::min<size_t>(part.size(), read_u32(t, args[a.ref])));
    } else {
      ok = t.write_mem(addr, part.data(), part.size());
    }
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
