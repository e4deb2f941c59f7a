// The GDB remote serial protocol server (gdbserver.h): framing on a reader thread, packets
// answered on the tracer thread.
#include "gdbserver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

namespace rb {

namespace {

// The registers of the target description, in `g` packet order.
struct Reg {
  const char* name;
  int bits;
  const char* type;
  const char* feature;  // core | sse | linux | segments
};

const Reg kRegs[] = {
    {"rax", 64, "int64", "core"},     {"rbx", 64, "int64", "core"},     {"rcx", 64, "int64", "core"},
    {"rdx", 64, "int64", "core"},     {"rsi", 64, "int64", "core"},     {"rdi", 64, "int64", "core"},
    {"rbp", 64, "data_ptr", "core"},  {"rsp", 64, "data_ptr", "core"},  {"r8", 64, "int64", "core"},
    {"r9", 64, "int64", "core"},      {"r10", 64, "int64", "core"},     {"r11", 64, "int64", "core"},
    {"r12", 64, "int64", "core"},     {"r13", 64, "int64", "core"},     {"r14", 64, "int64", "core"},
    {"r15", 64, "int64", "core"},     {"rip", 64, "code_ptr", "core"},  {"eflags", 32, "int32", "core"},
    {"cs", 32, "int32", "core"},      {"ss", 32, "int32", "core"},      {"ds", 32, "int32", "core"},
    {"es", 32, "int32", "core"},      {"fs", 32, "int32", "core"},      {"gs", 32, "int32", "core"},
    {"st0", 80, "i387_ext", "core"},  {"st1", 80, "i387_ext", "core"},  {"st2", 80, "i387_ext", "core"},
    {"st3", 80, "i387_ext", "core"},  {"st4", 80, "i387_ext", "core"},  {"st5", 80, "i387_ext", "core"},
    {"st6", 80, "i387_ext", "core"},  {"st7", 80, "i387_ext", "core"},  {"fctrl", 32, "int", "core"},
    {"fstat", 32, "int", "core"},     {"ftag", 32, "int", "core"},      {"fiseg", 32, "int", "core"},
    {"fioff", 32, "int", "core"},     {"foseg", 32, "int", "core"},     {"fooff", 32, "int", "core"},
    {"fop", 32, "int", "core"},       {"xmm0", 128, "uint128", "sse"},  {"xmm1", 128, "uint128", "sse"},
    {"xmm2", 128, "uint128", "sse"},  {"xmm3", 128, "uint128", "sse"},  {"xmm4", 128, "uint128", "sse"},
    {"xmm5", 128, "uint128", "sse"},  {"xmm6", 128, "uint128", "sse"},  {"xmm7", 128, "uint128", "sse"},
    {"xmm8", 128, "uint128", "sse"},  {"xmm9", 128, "uint128", "sse"},  {"xmm10", 128, "uint128", "sse"},
    {"xmm11", 128, "uint128", "sse"}, {"xmm12", 128, "uint128", "sse"}, {"xmm13", 128, "uint128", "sse"},
    {"xmm14", 128, "uint128", "sse"}, {"xmm15", 128, "uint128", "sse"}, {"mxcsr", 32, "int", "sse"},
    {"orig_rax", 64, "int", "linux"}, {"fs_base", 64, "int", "segments"}, {"gs_base", 64, "int", "segments"},
};
constexpr size_t kNumRegs = sizeof(kRegs) / sizeof(kRegs[0]);

const char kHex[] = "0123456789abcdef";

std::string hex(const void* p, size_t n) {
  const uint8_t* b = static_cast<const uint8_t*>(p);
  std::string s;
  s.reserve(n * 2);
  for (size_t i = 0; i < n; i++) {
    s += kHex[b[i] >> 4];
    s += kHex[b[i] & 15];
  }
  return s;
}

std::string hex_text(const std::string& t) { return hex(t.data(), t.size()); }

std::string hex_num(uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v));
  return buf;
}

bool parse_hex(const std::string& s, uint64_t& v) {
  if (s.empty() || s.size() > 16) return false;
  v = 0;
  for (char c : s) {
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return false;
    v = v * 16 + static_cast<uint64_t>(d);
  }
  return true;
}

// A thread id in a packet: hex, or -1 (all) / 0 (any).
pid_t parse_tid(const std::string& s) {
  if (s == "-1" || s == "0" || s.empty()) return 0;
  std::string t = s;
  if (t[0] == 'p') {  // multiprocess form p<pid>.<tid>
    auto dot = t.find('.');
    t = dot == std::string::npos ? "0" : t.substr(dot + 1);
    if (t == "-1") return 0;
  }
  uint64_t v = 0;
  return parse_hex(t, v) ? static_cast<pid_t>(v) : 0;
}

bool starts(const std::string& s, const char* prefix) { return s.compare(0, strlen(prefix), prefix) == 0; }

// An error reply gdb shows as text (E.<message>).
std::string error_reply(const std::string& why) { return "E." + why; }

const char kNoWrites[] =
    "replaybook: the replay is read-only; changing memory or registers would make it depart from the recording";

}  // namespace

std::string gdb_target_xml() {
  std::string x =
      "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target version=\"1.0\">\n"
      "<architecture>i386:x86-64</architecture>\n<osabi>GNU/Linux</osabi>\n";
  const char* features[][2] = {{"core", "org.gnu.gdb.i386.core"},
                               {"sse", "org.gnu.gdb.i386.sse"},
                               {"linux", "org.gnu.gdb.i386.linux"},
                               {"segments", "org.gnu.gdb.i386.segments"}};
  for (auto& f : features) {
    x += std::string("<feature name=\"") + f[1] + "\">\n";
    for (size_t i = 0; i < kNumRegs; i++) {
      if (strcmp(kRegs[i].feature, f[0]) != 0) continue;
      x += std::string("  <reg name=\"") + kRegs[i].name + "\" bitsize=\"" + std::to_string(kRegs[i].bits) +
           "\" type=\"" + kRegs[i].type + "\" regnum=\"" + std::to_string(i) + "\"";
      if (i >= 24 && i < 40) x += " group=\"float\"";
      if (strcmp(kRegs[i].feature, "sse") == 0) x += " group=\"vector\"";
      if (strcmp(kRegs[i].name, "orig_rax") == 0) x += " group=\"system\"";
      x += "/>\n";
    }
    x += "</feature>\n";
  }
  return x + "</target>\n";
}

bool GdbServer::start(int port, int netns_fd, void (*wake)(), std::string& err) {
  wake_ = wake;
  // The socket is made in the namespace gdb runs in, not the replay's (isolated) one: a thread
  // of its own enters it, so the engine's other threads stay where they are.
  int fd = -1, e = 0;
  std::thread([&] {
    if (netns_fd >= 0 && setns(netns_fd, CLONE_NEWNET) != 0) {
      e = errno;
      return;
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) e = errno;
  }).join();
  if (fd < 0) {
    err = std::string("cannot make the gdbserver socket: ") + strerror(e);
    return false;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // loopback only: the replay's memory is private
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 1) != 0) {
    err = "cannot listen on 127.0.0.1:" + std::to_string(port) + ": " + strerror(errno);
    close(fd);
    return false;
  }
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  listen_fd_ = fd;
  std::thread([this] { reader(); }).detach();
  return true;
}

// One connection at a time: acknowledges each well-formed packet and queues it for the tracer.
void GdbServer::reader() {
  for (;;) {
    int c = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn_ = c;
    std::string buf;
    char chunk[4096];
    for (;;) {
      ssize_t n = read(c, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      buf.append(chunk, static_cast<size_t>(n));
      for (;;) {
        size_t i = 0;
        while (i < buf.size() && buf[i] != '$' && buf[i] != '\x03') i++;
        if (i == buf.size()) {
          buf.clear();
          break;
        }
        if (buf[i] == '\x03') {
          buf.erase(0, i + 1);
          std::lock_guard<std::mutex> l(m_);
          in_.push_back("\x03");
          continue;
        }
        size_t hash = buf.find('#', i);
        if (hash == std::string::npos || hash + 2 >= buf.size()) {
          buf.erase(0, i);
          break;
        }
        std::string payload = buf.substr(i + 1, hash - i - 1);
        buf.erase(0, hash + 3);
        if (::write(c, "+", 1) < 0) break;
        // Escaped bytes (}x) only appear in binary packets, which this server does not take.
        std::lock_guard<std::mutex> l(m_);
        in_.push_back(std::move(payload));
      }
      if (wake_) wake_();
    }
    {
      std::lock_guard<std::mutex> l(m_);
      in_.push_back("\x04");
    }
    if (wake_) wake_();
    // The tracer thread closes it once it has seen the end (no reply goes to a reused fd).
    while (conn_ == c) usleep(1000);
  }
}

void GdbServer::send(const std::string& payload) {
  int c = conn_;
  if (c < 0) return;
  uint8_t sum = 0;
  for (char ch : payload) sum = static_cast<uint8_t>(sum + static_cast<uint8_t>(ch));
  std::string frame = "$" + payload + "#" + kHex[sum >> 4] + kHex[sum & 15];
  size_t off = 0;
  while (off < frame.size()) {
    ssize_t n = ::write(c, frame.data() + off, frame.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

void GdbServer::poll(GdbTarget& t) {
  for (;;) {
    std::string p;
    {
      std::lock_guard<std::mutex> l(m_);
      if (in_.empty()) return;
      p = std::move(in_.front());
      in_.pop_front();
    }
    handle(t, p);
  }
}

pid_t GdbServer::current(GdbTarget& t) {
  auto threads = t.gdb_threads();
  for (pid_t x : threads)
    if (x == general_) return x;
  return threads.empty() ? 0 : threads.front();
}

std::string GdbServer::stop_reply(GdbTarget& t, int sig, bool breakpoint) {
  auto threads = t.gdb_threads();
  char s[8];
  snprintf(s, sizeof s, "T%02x", sig);
  std::string r = s;
  if (breakpoint) r += "swbreak:;";
  if (!threads.empty()) r += "thread:" + hex_num(static_cast<uint64_t>(threads.front())) + ";";
  general_ = 0;
  return r;
}

void GdbServer::stopped(GdbTarget& t, bool breakpoint) {
  if (!waiting_) return;
  waiting_ = false;
  // A reverse-continue that stopped at a breakpoint is not at the beginning.
  send(stop_reply(t, 5, breakpoint) + (to_begin_ && !breakpoint ? "replaylog:begin;" : ""));
  to_begin_ = false;
}

void GdbServer::exited(int status) {
  if (conn_ < 0) return;
  char s[8];
  if (WIFSIGNALED(status)) snprintf(s, sizeof s, "X%02x", WTERMSIG(status));
  else snprintf(s, sizeof s, "W%02x", WEXITSTATUS(status) & 0xff);
  // Sent whether or not gdb waits: a program that ended has nothing more to show.
  waiting_ = false;
  send(s);
}

std::string GdbServer::regs_hex(GdbTarget& t, pid_t rec, bool& ok) {
  user_regs_struct g{};
  user_fpregs_struct f{};
  ok = t.gdb_regs(rec, g, f);
  if (!ok) return "";
  const uint64_t gp[] = {g.rax, g.rbx, g.rcx, g.rdx, g.rsi, g.rdi, g.rbp, g.rsp, g.r8,  g.r9,  g.r10,
                         g.r11, g.r12, g.r13, g.r14, g.r15, g.rip};
  std::string s;
  for (uint64_t v : gp) s += hex(&v, 8);
  const uint32_t seg[] = {static_cast<uint32_t>(g.eflags), static_cast<uint32_t>(g.cs), static_cast<uint32_t>(g.ss),
                          static_cast<uint32_t>(g.ds),     static_cast<uint32_t>(g.es), static_cast<uint32_t>(g.fs),
                          static_cast<uint32_t>(g.gs)};
  for (uint32_t v : seg) s += hex(&v, 4);
  for (int i = 0; i < 8; i++) s += hex(reinterpret_cast<const uint8_t*>(f.st_space) + 16 * i, 10);
  // fxsave keeps an abridged tag word (a bit per register: in use); gdb wants the full one.
  uint32_t tag = 0;
  for (int i = 0; i < 8; i++) tag |= ((f.ftw >> i) & 1 ? 0u : 3u) << (2 * i);
  const uint32_t fp[] = {f.cwd, f.swd, tag, static_cast<uint32_t>(f.rip >> 32), static_cast<uint32_t>(f.rip),
                         static_cast<uint32_t>(f.rdp >> 32), static_cast<uint32_t>(f.rdp), f.fop};
  for (uint32_t v : fp) s += hex(&v, 4);
  s += hex(f.xmm_space, 256);
  s += hex(&f.mxcsr, 4);
  s += hex(&g.orig_rax, 8);
  s += hex(&g.fs_base, 8);
  s += hex(&g.gs_base, 8);
  return s;
}

// A qXfer read of `data` at "OFFSET,LENGTH" (hex).
std::string GdbServer::xfer(const std::string& data, const std::string& offlen) {
  auto comma = offlen.find(',');
  uint64_t off = 0, len = 0;
  if (comma == std::string::npos || !parse_hex(offlen.substr(0, comma), off) || !parse_hex(offlen.substr(comma + 1), len))
    return "E01";
  if (off >= data.size()) return "l";
  std::string part = data.substr(off, len);
  // Binary data: escape #, $, } and * (0x7d then the byte xor 0x20).
  std::string out = off + len >= data.size() ? "l" : "m";
  for (char c : part) {
    if (c == '#' || c == '$' || c == '}' || c == '*') {
      out += '}';
      out += static_cast<char>(c ^ 0x20);
    } else {
      out += c;
    }
  }
  return out;
}

void GdbServer::handle(GdbTarget& t, const std::string& p) {
  if (p == "\x04") {
    t.gdb_detached();
    waiting_ = false;
    general_ = 0;
    int c = conn_.exchange(-1);
    if (c >= 0) close(c);
    return;
  }
  if (p == "\x03") {
    if (waiting_) t.gdb_interrupt();  // the pause that follows sends the stop reply
    return;
  }
  if (waiting_) return;  // gdb sends nothing else while the replay runs
  std::string r;
  if (starts(p, "qSupported")) {
    r = "PacketSize=20000;qXfer:features:read+;qXfer:auxv:read+;qXfer:exec-file:read+;swbreak+;vContSupported+;ReverseStep+;ReverseContinue+";
  } else if (p == "?") {
    r = stop_reply(t, 5, false);
  } else if (p == "vMustReplyEmpty" || starts(p, "qTStatus") || starts(p, "qTfV") || starts(p, "qTfP") || p == "!") {
    r = "";
  } else if (starts(p, "qAttached")) {
    r = "1";  // attached to a running replay: quitting gdb detaches, never kills
  } else if (p == "qSymbol::") {
    r = "OK";
  } else if (starts(p, "qOffsets")) {
    r = "";
  } else if (p == "qfThreadInfo") {
    r = "m";
    for (pid_t x : t.gdb_threads()) r += (r.size() > 1 ? "," : "") + hex_num(static_cast<uint64_t>(x));
    if (r == "m") r = "l";
  } else if (p == "qsThreadInfo") {
    r = "l";
  } else if (p == "qC") {
    r = "QC" + hex_num(static_cast<uint64_t>(current(t)));
  } else if (starts(p, "qThreadExtraInfo,")) {
    r = hex_text(t.gdb_thread_info(parse_tid(p.substr(17))));
  } else if (p[0] == 'H') {
    if (p.size() > 1 && p[1] == 'g') general_ = parse_tid(p.substr(2));
    r = "OK";
  } else if (p[0] == 'T') {
    pid_t x = parse_tid(p.substr(1));
    r = "E01";
    for (pid_t y : t.gdb_threads())
      if (y == x) r = "OK";
  } else if (p == "g") {
    bool ok = false;
    r = regs_hex(t, current(t), ok);
    if (!ok) r = error_reply("replaybook: the thread's registers cannot be read (it is running)");
  } else if (p[0] == 'p') {
    uint64_t n = 0;
    bool ok = false;
    std::string all = parse_hex(p.substr(1), n) && n < kNumRegs ? regs_hex(t, current(t), ok) : "";
    if (ok) {
      size_t off = 0;
      for (size_t i = 0; i < n; i++) off += static_cast<size_t>(kRegs[i].bits / 4);
      r = all.substr(off, static_cast<size_t>(kRegs[n].bits / 4));
    } else {
      r = "E01";
    }
  } else if (p[0] == 'G' || p[0] == 'P' || p[0] == 'M' || p[0] == 'X') {
    r = error_reply(kNoWrites);
  } else if (p[0] == 'm') {
    auto comma = p.find(',');
    uint64_t addr = 0, len = 0;
    std::string bytes;
    if (comma != std::string::npos && parse_hex(p.substr(1, comma - 1), addr) && parse_hex(p.substr(comma + 1), len) &&
        t.gdb_read(current(t), addr, std::min<uint64_t>(len, 8192), bytes))
      r = hex(bytes.data(), bytes.size());
    else
      r = "E14";  // EFAULT
  } else if (starts(p, "qXfer:features:read:target.xml:")) {
    r = xfer(gdb_target_xml(), p.substr(32));
  } else if (starts(p, "qXfer:auxv:read::")) {
    r = xfer(t.gdb_auxv(), p.substr(17));
  } else if (starts(p, "qXfer:exec-file:read:")) {
    auto colon = p.find(':', 21);
    r = colon == std::string::npos ? "E01" : xfer(t.gdb_exe(), p.substr(colon + 1));
  } else if (starts(p, "qXfer:")) {
    r = "";
  } else if (p == "vCont?") {
    r = "vCont;c;C;s;S";
  } else if (starts(p, "vCont;") || p[0] == 'c' || p[0] == 's' || p[0] == 'C' || p[0] == 'S') {
    // Any thread's step is one event of the replay; anything else continues it.
    bool step = p[0] == 's' || p[0] == 'S' || p.find(";s") != std::string::npos || p.find(";S") != std::string::npos;
    // The pause may come before gdb_resume returns (at speed max a step is served right there):
    // it replies then, so gdb must be waiting already.
    waiting_ = true;
    std::string why = t.gdb_resume(step);
    if (why.empty()) return;
    waiting_ = false;
    r = why == "exited" ? "W00" : stop_reply(t, 5, false);
  } else if (p == "bs" || p == "bc") {
    // Reverse: back one event, or to the last breakpoint hit before here, else the first event
    // (docs/gdb.md); gdb shows "No more reverse-execution history" at the first event.
    waiting_ = true;  // the pause may come at once (the checkpoint is the place): it replies
    to_begin_ = p == "bc";
    std::string why = t.gdb_reverse(p == "bc");
    if (why.empty()) return;
    waiting_ = false;
    to_begin_ = false;
    r = why == "begin" ? stop_reply(t, 5, false) + "replaylog:begin;" : error_reply(why);
  } else if (p[0] == 'Z' || p[0] == 'z') {
    // Z0,ADDR,KIND: software breakpoints only (hardware ones and watchpoints: unsupported).
    auto c1 = p.find(','), c2 = p.find(',', c1 == std::string::npos ? 0 : c1 + 1);
    uint64_t addr = 0;
    std::string err;
    if (p.size() < 2 || p[1] != '0') r = "";
    else if (c1 == std::string::npos || c2 == std::string::npos || !parse_hex(p.substr(c1 + 1, c2 - c1 - 1), addr)) r = "E01";
    else r = t.gdb_breakpoint(p[0] == 'Z', addr, err) ? "OK" : error_reply(err);
  } else if (p[0] == 'D' || p == "vKill" || starts(p, "vKill;")) {
    t.gdb_detached();
    r = "OK";
  } else if (p == "k") {
    t.gdb_detached();  // no reply to k; the replay stays, paused
    return;
  } else if (starts(p, "qRcmd,")) {
    r = hex_text("replaybook: no monitor commands; use the notebook or the CLI to move the replay\n");
    r = "O" + r;
    send(r);
    r = "OK";
  } else {
    r = "";  // unsupported
  }
  send(r);
}

}  // namespace rb
