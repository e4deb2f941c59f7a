#include "capture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

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
std::string msg_out(Thread& t, const MsgHdr& h, uint64_t received) {
  std::string out = gather(t, read_iovs(t, h.iov, h.iovlen), received);
  append_name_control(t, h, out, false);
  put_u32(out, h.namelen);
  put_u32(out, static_cast<uint32_t>(h.flags));
  put_u64(out, h.controllen);
  return out;
}

std::string msg_out(Thread& t, uint64_t addr, int64_t ret) {
  MsgHdr h;
  if (!read_msghdr(t, addr, h)) return {};
  return msg_out(t, h, ret > 0 ? static_cast<uint64_t>(ret) : 0);
}

// A recorded msghdr result (msg_out's encoding) taken apart.
struct MsgOut {
  std::string payload, name, control;
  uint32_t namelen = 0;  // msg_namelen as the kernel set it
  int32_t flags = 0;
  uint64_t controllen = 0;
};

bool parse_msg_out(const std::string& part, MsgOut& m) {
  if (part.size() < kMsgOutTail) return false;
  size_t tail = part.size() - kMsgOutTail;
  uint32_t name_len = get_u32(part, tail), control_len = get_u32(part, tail + 4);
  if (static_cast<uint64_t>(name_len) + control_len > tail) return false;
  size_t payload_len = tail - name_len - control_len;
  m.payload = part.substr(0, payload_len);
  m.name = part.substr(payload_len, name_len);
  m.control = part.substr(payload_len + name_len, control_len);
  m.namelen = get_u32(part, tail + 8);
  m.flags = static_cast<int32_t>(get_u32(part, tail + 12));
  m.controllen = get_u64(part, tail + 16);
  return true;
}

// Writes a recorded recvmsg result into the program's msghdr. Address and control data are
// served no longer than the buffers the program gave.
bool serve_msg(Thread& t, uint64_t addr, const std::string& part) {
  MsgHdr h;
  MsgOut m;
  if (!parse_msg_out(part, m) || !read_msghdr(t, addr, h)) return false;
  if (!scatter(t, read_iovs(t, h.iov, h.iovlen), m.payload)) return false;
  if (h.name) {
    size_t n = std::min<size_t>(m.name.size(), h.namelen);
    if (!t.write_mem(h.name, m.name.data(), n)) return false;
    if (!t.write_mem(addr + offsetof(MsgHdr, namelen), &m.namelen, 4)) return false;
  }
  if (h.control) {
    size_t n = std::min<size_t>(m.control.size(), h.controllen);
    if (!t.write_mem(h.control, m.control.data(), n)) return false;
  }
  return t.write_mem(addr + offsetof(MsgHdr, controllen), &m.controllen, 8) &&
         t.write_mem(addr + offsetof(MsgHdr, flags), &m.flags, 4);
}

// struct mmsghdr on x86-64 (sendmmsg, recvmmsg): a msghdr and the length the kernel sets.
struct MmsgHdr {
  MsgHdr hdr;
  uint32_t len;  // msg_len
  uint32_t pad;
};
static_assert(sizeof(MmsgHdr) == 64, "struct mmsghdr layout");
constexpr uint64_t kMaxMmsg = 1024;  // UIO_MAXIOV: the kernel handles no more entries in a call

uint64_t mmsg_entry(uint64_t addr, uint64_t i) { return addr + i * sizeof(MmsgHdr); }

// The messages of an mmsghdr array handed to the kernel (sendmmsg): all `vlen` of them, each as
// msg_in encodes it.
std::string mmsg_in(Thread& t, uint64_t addr, uint64_t vlen) {
  std::vector<std::string> parts;
  for (uint64_t i = 0; i < std::min(vlen, kMaxMmsg); i++)
    parts.push_back(msg_in(t, mmsg_entry(addr, i)));
  return join_parts(parts);
}

// The messages the kernel received into an mmsghdr array (recvmmsg): for each of the first
// `count` entries, msg_len then the msghdr as msg_out encodes it (payload up to msg_len).
std::string mmsg_out(Thread& t, uint64_t addr, uint64_t count) {
  count = std::min(count, kMaxMmsg);
  std::vector<MmsgHdr> v(count);
  if (count && !t.read_mem(addr, v.data(), count * sizeof(MmsgHdr))) return {};
  std::vector<std::string> parts;
  for (const MmsgHdr& m : v) {
    std::string part;
    put_u32(part, m.len);
    part += msg_out(t, m.hdr, m.len);
    parts.push_back(std::move(part));
  }
  return join_parts(parts);
}

// The msg_len of the first `count` entries (sendmmsg: the bytes each sent message took).
std::string mmsg_lens(Thread& t, uint64_t addr, uint64_t count) {
  count = std::min(count, kMaxMmsg);
  std::vector<MmsgHdr> v(count);
  if (count && !t.read_mem(addr, v.data(), count * sizeof(MmsgHdr))) return {};
  std::string out;
  for (const MmsgHdr& m : v) put_u32(out, m.len);
  return out;
}

// The recorded entries of an mmsg output: `ret` of them.
std::vector<std::string> split_mmsg(const std::string& part, int64_t ret) {
  uint64_t n = ret > 0 ? std::min(static_cast<uint64_t>(ret), kMaxMmsg) : 0;
  return split_parts(part, n);
}

bool serve_mmsg(Thread& t, uint64_t addr, int64_t ret, const std::string& part) {
  std::vector<std::string> entries = split_mmsg(part, ret);
  for (size_t i = 0; i < entries.size(); i++) {
    const std::string& e = entries[i];
    uint64_t entry = mmsg_entry(addr, i);
    if (e.size() < 4 || !serve_msg(t, entry, e.substr(4)) ||
        !t.write_mem(entry + offsetof(MmsgHdr, len), e.data(), 4))
      return false;
  }
  return true;
}

bool serve_mmsg_lens(Thread& t, uint64_t addr, const std::string& part) {
  for (size_t i = 0; i + 4 <= part.size() && i / 4 < kMaxMmsg; i += 4)
    if (!t.write_mem(mmsg_entry(addr, i / 4) + offsetof(MmsgHdr, len), part.data() + i, 4))
      return false;
  return true;
}

// Appends the fds an SCM_RIGHTS message carries in recorded control data (as the kernel wrote it).
void scm_rights(const std::string& control, std::vector<int>& fds) {
  size_t off = 0;
  while (off + sizeof(cmsghdr) <= control.size()) {
    cmsghdr c;
    std::memcpy(&c, control.data() + off, sizeof c);
    if (c.cmsg_len < sizeof c || c.cmsg_len > control.size() - off) break;
    if (c.cmsg_level == SOL_SOCKET && c.cmsg_type == SCM_RIGHTS) {
      for (size_t p = off + CMSG_LEN(0); p + sizeof(int) <= off + c.cmsg_len; p += sizeof(int)) {
        int fd;
        std::memcpy(&fd, control.data() + p, sizeof fd);
        fds.push_back(fd);
      }
    }
    off += CMSG_ALIGN(c.cmsg_len);
  }
}

std::string read_buffer(Thread& t, const ArgSpec& a, const uint64_t args[6], uint64_t addr,
                        int64_t ret, bool output) {
  if (!addr) return {};
  if (a.kind == ArgKind::Path || a.kind == ArgKind::Str) return t.read_cstr(addr);
  if (a.size == SizeRule::Msg) return output ? msg_out(t, addr, ret) : msg_in(t, addr);
  uint64_t count = ret > 0 ? static_cast<uint64_t>(ret) : 0;
  if (a.size == SizeRule::Mmsg)
    return output ? mmsg_out(t, addr, count) : mmsg_in(t, addr, static_cast<uint32_t>(args[a.ref]));
  if (a.size == SizeRule::MmsgLen) return output ? mmsg_lens(t, addr, count) : std::string();
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
  if (s.moved_part >= 0) parts.emplace_back();  // the recorder reads the moved bytes
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
    } else if (a.size == SizeRule::Mmsg) {
      ok = serve_mmsg(t, addr, ret, part);
    } else if (a.size == SizeRule::MmsgLen) {
      ok = serve_mmsg_lens(t, addr, part);
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

std::vector<int> received_fds(const SyscallSpec& s, int64_t ret, const std::string& data_out) {
  std::vector<int> fds;
  if (s.n_out == 0 || ret < 0) return fds;
  std::vector<std::string> parts = split_parts(data_out, s.n_out);
  size_t k = 0;
  MsgOut m;
  for (int i = 0; i < s.nargs; i++) {
    const ArgSpec& a = s.args[i];
    if (!is_out(a.kind)) continue;
    const std::string& part = parts[k++];
    if (a.size == SizeRule::Msg && parse_msg_out(part, m)) scm_rights(m.control, fds);
    if (a.size != SizeRule::Mmsg) continue;
    for (const std::string& e : split_mmsg(part, ret))
      if (e.size() >= 4 && parse_msg_out(e.substr(4), m)) scm_rights(m.control, fds);
  }
  return fds;
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

std::string with_in_part(const SyscallSpec& s, const std::string& data_in, int idx, const std::string& value) {
  std::vector<std::string> parts = split_parts(data_in, s.n_in);
  size_t k = 0;
  for (int i = 0; i < s.nargs && i != idx; i++)
    if (is_in(s.args[i].kind)) k++;
  if (idx < 0 || idx >= s.nargs || !is_in(s.args[idx].kind) || k >= parts.size()) return data_in;
  parts[k] = value;
  return join_parts(parts);
}

// "127.0.0.1:9000", "[::1]:443", "/run/app.sock"; empty when unknown.
std::string format_sockaddr(const std::string& sa) {
  if (sa.size() < 2) return {};
  sa_family_t fam;
  std::memcpy(&fam, sa.data(), sizeof fam);
  char ip[INET6_ADDRSTRLEN] = {0};
  if (fam == AF_INET && sa.size() >= sizeof(sockaddr_in)) {
    sockaddr_in in;
    std::memcpy(&in, sa.data(), sizeof in);
    inet_ntop(AF_INET, &in.sin_addr, ip, sizeof ip);
    return std::string(ip) + ":" + std::to_string(ntohs(in.sin_port));
  }
  if (fam == AF_INET6 && sa.size() >= sizeof(sockaddr_in6)) {
    sockaddr_in6 in6;
    std::memcpy(&in6, sa.data(), sizeof in6);
    inet_ntop(AF_INET6, &in6.sin6_addr, ip, sizeof ip);
    return "[" + std::string(ip) + "]:" + std::to_string(ntohs(in6.sin6_port));
  }
  if (fam == AF_UNIX) {
    std::string path = sa.substr(2);
    if (!path.empty() && path[0] == '\0') return "@" + path.substr(1, path.find('\0', 1) - 1);
    return path.substr(0, path.find('\0'));
  }
  return {};
}

std::string socket_proto(uint64_t family, uint64_t type) {
  int t = static_cast<int>(type & 0xf);
  if (family == AF_UNIX) return "unix";
  if (family == AF_INET || family == AF_INET6) return t == SOCK_DGRAM ? "udp" : "tcp";
  return "socket";
}

}  // namespace rb
