#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "capture.h"

namespace rb {

bool glob_match(const std::string& p, const std::string& t) {
  size_t pi = 0, ti = 0, star = std::string::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == t[ti])) {
      pi++;
      ti++;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
    } else if (star != std::string::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') pi++;
  return pi == p.size();
}

namespace {

bool is_read(const SyscallSpec& s) { return s.flow == Flow::Read || s.flow == Flow::ReadAt; }

// The byte offset of st_size in the struct an out buffer with `role` holds, or -1.
int size_offset(ArgRole role) { return role == ArgRole::Stat ? 48 : role == ArgRole::Statx ? 40 : -1; }

// The first out buffer holding a stat-like struct, or none.
ArgRole stat_role(const SyscallSpec& s) {
  for (int i = 0; i < s.nargs; i++)
    if (size_offset(s.args[i].role) >= 0) return s.args[i].role;
  return ArgRole::None;
}

int64_t ts_ns(const std::string& b) {
  if (b.size() < 16) return -1;
  int64_t sec, nsec;
  std::memcpy(&sec, b.data(), 8);
  std::memcpy(&nsec, b.data() + 8, 8);
  return sec * 1000000000LL + nsec;
}

std::string ts_bytes(int64_t ns) {
  int64_t v[2] = {ns / 1000000000LL, ns % 1000000000LL};
  return std::string(reinterpret_cast<const char*>(v), 16);
}

// setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO[_NEW], timeval): the timeout in ns (0: none), or -1
// when the call is something else.
int64_t rcvtimeo_of(const SyscallSpec& s, const uint64_t a[6], const std::string& data_in) {
  if (s.arg_with(ArgRole::SoTimeout) < 0 || a[1] != SOL_SOCKET || (a[2] != 20 && a[2] != 66) || data_in.size() < 16) return -1;
  int64_t tv[2];
  std::memcpy(tv, data_in.data(), 16);
  return tv[0] * 1000000000LL + tv[1] * 1000;
}

// Does the recorded resource `r` name `path`? The recording made paths absolute: a relative
// one names the recorded path that ends with it.
bool names_path(const std::string& r, const std::string& path) {
  if (r == "file:" + path) return true;
  return !path.empty() && path[0] != '/' && r.size() > path.size() + 5 &&
         r.compare(r.size() - path.size(), path.size(), path) == 0 && r[r.size() - path.size() - 1] == '/';
}

}  // namespace

World::World(const EventLog& log, const std::map<std::string, std::string>& files)
    : log_(log), files_(files) {
  for (const Event& e : log_) pid_of_tid_[e.tid] = e.pid;
  pid_t root = log_.empty() ? 0 : log_.front().pid;
  const char* stdio[3] = {"stdin", "stdout", "stderr"};
  for (int fd = 0; fd < 3; fd++) fds_[root][fd] = Binding{new_stream(stdio[fd], -1), stdio[fd], false};
  for (size_t i = 0; i < log_.size(); i++) {
    const Event& e = log_[i];
    if (e.kind == kSyscall) by_key_[{e.name, e.resource}].push_back(i);
    walk_index_ = i;
    walk(e, true);
  }
}

int World::new_stream(const std::string& resource, int seq) {
  Stream s;
  s.resource = resource;
  s.file = resource.rfind("file:", 0) == 0;
  if (s.file) s.path = resource.substr(5);
  s.created_seq = seq;
  streams_.push_back(std::move(s));
  return static_cast<int>(streams_.size()) - 1;
}

World::Binding* World::binding(pid_t pid, int fd) {
  auto p = fds_.find(pid);
  if (p == fds_.end()) return nullptr;
  auto b = p->second.find(fd);
  return b == p->second.end() ? nullptr : &b->second;
}

std::string World::resource_of(pid_t pid, int fd) const {
  auto p = fds_.find(pid);
  if (p == fds_.end()) return {};
  auto b = p->second.find(fd);
  return b == p->second.end() ? std::string() : b->second.resource;
}

// Applies one recorded event to the fd tables. `build`: also collect the streams' inbound data
// (the first pass over the whole log); otherwise only consume it (moving to a start point).
void World::walk(const Event& e, bool build) {
  size_t idx = walk_index_;
  auto& fds = fds_[e.pid];
  if (e.kind == kLateData) {
    int fd = static_cast<int>(e.args[0]);
    int st = -1;
    // The socket the fd named when the call in args[2] closed it; for recordings without it,
    // the socket the fd still names (closed by exit), else the one it named when closed.
    auto by = closed_by_.find({e.args[2], fd});
    if (e.args[2] && by != closed_by_.end()) {
      st = by->second;
    } else {
      if (auto* b = binding(e.pid, fd)) st = b->stream;
      auto c = closed_.find({e.pid, fd});
      if (st < 0 && c != closed_.end()) st = c->second;
    }
    if (st < 0 || !build) return;
    // late_data: bytes; late_data_end: ret 0 is the peer's EOF (an error or a bound: unknown).
    if (e.name == "late_data" && e.ret > 0) streams_[st].in.push_back(Chunk{e.enter_ns, e.data_out});
    else if (e.name == "late_data_end" && e.ret == 0) streams_[st].eof_at = e.enter_ns;
    return;
  }
  if (e.kind == kInstruction && build) tsc_.push_back({e.enter_ns, static_cast<uint64_t>(e.ret)});
  if (e.kind != kSyscall) return;
  const SyscallSpec& s = syscall_spec(e.nr);
  if (build && (s.fd == FdEffect::Closes || s.fd == FdEffect::Dups || s.special == Special::Exit ||
                s.special == Special::Execve || s.fd == FdEffect::CloseRange)) {
    // What every fd named when this call (maybe) closed it: late data names the call.
    for (const auto& [fd, b] : fds) if (b.stream >= 0) closed_by_[{e.seq, fd}] = b.stream;
  }
  const int64_t ret = e.ret;
  const uint64_t* a = e.args;
  if (s.special == Special::Clone && ret > 0) {
    auto c = pid_of_tid_.find(static_cast<pid_t>(ret));
    if (c != pid_of_tid_.end() && c->second != e.pid) fds_[c->second] = fds;
    return;
  }
  auto create = [&](int fd, const std::string& res) {
    int st;
    if (build) {
      st = new_stream(res, static_cast<int>(e.seq));
      created_at_[idx * 2] = st;
    } else {
      auto it = created_at_.find(idx * 2);
      st = it == created_at_.end() ? new_stream(res, static_cast<int>(e.seq)) : it->second;
    }
    fds[fd] = Binding{st, res, false};
  };
  switch (s.fd) {
    case FdEffect::Creates:
    case FdEffect::Accepts:
      if (ret >= 0) create(static_cast<int>(ret), e.resource);
      return;
    case FdEffect::Pair:
      if (ret == 0 && e.data_out.size() >= 8) {
        int32_t pair[2];
        std::memcpy(pair, e.data_out.data(), 8);
        std::string res = s.has(kNet) ? "socketpair" : "pipe";
        // Both ends: created_at_ keys idx*2 (first) and idx*2+1 (second).
        for (int k = 0; k < 2; k++) {
          int st;
          if (build) {
            st = new_stream(res, static_cast<int>(e.seq));
            created_at_[idx * 2 + static_cast<size_t>(k)] = st;
          } else {
            st = created_at_[idx * 2 + static_cast<size_t>(k)];
          }
          fds[pair[k]] = Binding{st, res, false};
        }
      }
      return;
    case FdEffect::Dups: {
      if (ret < 0) return;
      auto it = fds.find(static_cast<int>(a[0]));
      if (it != fds.end()) fds[static_cast<int>(ret)] = it->second;
      return;
    }
    case FdEffect::Closes: {
      if (ret != 0 && ret != -EINTR) return;
      auto it = fds.find(static_cast<int>(a[0]));
      if (it != fds.end()) {
        closed_[{e.pid, static_cast<int>(a[0])}] = it->second.stream;
        fds.erase(it);
      }
      return;
    }
    default:
      break;
  }
  if (s.special == Special::Fcntl && ret >= 0 && (a[1] == F_DUPFD || a[1] == F_DUPFD_CLOEXEC)) {
    auto it = fds.find(static_cast<int>(a[0]));
    if (it != fds.end()) fds[static_cast<int>(ret)] = it->second;
    return;
  }
  if (s.fd_arg < 0) {
    if (build && s.handler == Handler::Clock && ret == 0)
      clocks_[static_cast<int>(a[0])].push_back({e.enter_ns, ts_ns(e.data_out)});
    if (build && s.handler == Handler::ClockTv && ret == 0 && e.data_out.size() >= 16) {
      std::vector<std::string> p = split_parts(e.data_out, s.n_out);
      if (p[0].size() >= 16) {
        int64_t tv[2];
        std::memcpy(tv, p[0].data(), 16);
        clocks_[CLOCK_REALTIME].push_back({e.enter_ns, tv[0] * 1000000000LL + tv[1] * 1000});
      }
    }
    return;
  }
  if (s.handler == Handler::EpollCtl && ret == 0) {
    auto& list = epoll_[{e.pid, static_cast<int>(a[0])}];
    uint32_t ev = 0;
    uint64_t data = 0;
    if (e.data_in.size() >= 12) {
      std::memcpy(&ev, e.data_in.data(), 4);
      std::memcpy(&data, e.data_in.data() + 4, 8);
    }
    if (a[1] == 2 /* EPOLL_CTL_DEL */) list.erase(static_cast<int>(a[2]));
    else list[static_cast<int>(a[2])] = {ev, data};
    return;
  }
  Binding* b = binding(e.pid, static_cast<int>(a[s.fd_arg]));
  if (!b || b->stream < 0) return;
  Stream& st = streams_[b->stream];
  if (s.handler == Handler::Connect) {
    st.resource = b->resource = e.resource;
    if (build) connect_at_[idx] = b->stream;
    return;
  }
  if (s.special == Special::Fcntl && a[1] == F_SETFL) b->nonblock = (a[2] & O_NONBLOCK) != 0;
  if (ret == 0 && rcvtimeo_of(s, a, e.data_in) >= 0) b->rcvtimeo_ns = rcvtimeo_of(s, a, e.data_in);
  if (s.handler == Handler::Lseek && ret >= 0) st.pos = static_cast<uint64_t>(ret);
  if (size_offset(stat_role(s)) >= 0 && ret == 0 && st.file && build) {
    std::vector<std::string> p = split_parts(e.data_out, s.n_out);
    const size_t off = static_cast<size_t>(size_offset(stat_role(s)));
    if (!p.empty() && p[0].size() >= off + 8) {
      int64_t size;
      std::memcpy(&size, p[0].data() + off, 8);
      content_[st.path].size = size;
    }
  }
  if (!is_read(s) || ret < 0) return;
  std::string bytes = split_parts(e.data_out, std::max<size_t>(s.n_out, 1))[0];
  bytes.resize(std::min<size_t>(bytes.size(), static_cast<size_t>(ret)));
  uint64_t offset = s.flow == Flow::ReadAt ? a[s.arg_with(ArgRole::Offset)] : st.pos;
  if (st.file) {
    if (build) {
      FileContent& fc = content_[st.path];
      if (fc.bytes.size() < offset + bytes.size()) {
        fc.bytes.resize(offset + bytes.size());
        fc.known.resize(offset + bytes.size(), false);
      }
      std::memcpy(&fc.bytes[offset], bytes.data(), bytes.size());
      std::fill(fc.known.begin() + static_cast<long>(offset), fc.known.begin() + static_cast<long>(offset + bytes.size()), true);
      if (ret == 0 && e.args[2] > 0 && fc.size < 0) fc.size = static_cast<int64_t>(offset);
    }
    if (s.flow != Flow::ReadAt) st.pos += bytes.size();
    return;
  }
  if (build) {
    if (ret > 0) st.in.push_back(Chunk{e.enter_ns + e.dur_ns, bytes});
    else if (e.args[2] > 0 && st.eof_at < 0) st.eof_at = e.enter_ns + e.dur_ns;
  } else {
    // Consumed in the recording: advance past these bytes.
    size_t left = bytes.size();
    while (left > 0 && st.chunk < st.in.size()) {
      size_t n = std::min(left, st.in[st.chunk].bytes.size() - st.off);
      st.off += n;
      left -= n;
      if (st.off == st.in[st.chunk].bytes.size()) {
        st.chunk++;
        st.off = 0;
      }
    }
  }
}

void World::start(size_t cursor) {
  // Rebuild the fd tables from scratch up to the cursor, consuming what was read.
  pid_t root = log_.empty() ? 0 : log_.front().pid;
  fds_.clear();
  closed_.clear();
  for (int fd = 0; fd < 3; fd++) fds_[root][fd] = Binding{fd, streams_[fd].resource, false};
  for (Stream& s : streams_) {
    s.chunk = s.off = 0;
    s.pos = 0;
    s.opened_late = 0;
  }
  for (size_t i = 0; i < cursor && i < log_.size(); i++) {
    walk_index_ = i;
    walk(log_[i], false);
  }
  start_ = cursor;
  used_.clear();
}

void World::add_latency(const std::string& glob, int64_t ns) {
  for (Stream& s : streams_)
    if (glob_match(glob, s.resource)) s.shift += ns;
}

void World::set_jitter(int64_t max_ns, uint64_t seed) {
  jitter_ns_ = max_ns;
  seed_ = seed;
  if (max_ns <= 0) return;
  // One draw per arrival, in log order: the same seed gives the same run.
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> d(0, max_ns);
  for (Stream& s : streams_) {
    if (s.file) continue;
    int64_t extra = 0;
    for (Chunk& c : s.in) {
      extra = std::max(extra, d(rng));  // arrivals keep their order
      c.at += extra;
    }
    if (s.eof_at >= 0) s.eof_at += extra;
  }
}

void World::fork(pid_t parent, pid_t child) { fds_[child] = fds_[parent]; }

int64_t World::arrival(const Stream& s, size_t i) const { return s.in[i].at + s.shift + s.opened_late; }

bool World::readable(const Stream& s, int64_t vnow) const {
  if (s.chunk < s.in.size()) return arrival(s, s.chunk) <= vnow;
  return s.eof_at >= 0 && s.eof_at + s.shift + s.opened_late <= vnow;
}

int64_t World::next_arrival(const Stream& s) const {
  if (s.chunk < s.in.size()) return arrival(s, s.chunk);
  return s.eof_at >= 0 ? s.eof_at + s.shift + s.opened_late : -1;
}

std::string World::take(Stream& s, size_t count, int64_t vnow) {
  std::string out;
  if (s.resource.rfind("udp", 0) == 0 || s.resource.rfind("socketpair", 0) == 0) {
    // Datagrams: one message per read, whatever does not fit is lost (as the kernel does).
    if (s.chunk < s.in.size() && arrival(s, s.chunk) <= vnow) {
      out = s.in[s.chunk].bytes.substr(s.off, count);
      s.chunk++;
      s.off = 0;
    }
    return out;
  }
  while (out.size() < count && s.chunk < s.in.size() && arrival(s, s.chunk) <= vnow) {
    const std::string& b = s.in[s.chunk].bytes;
    size_t n = std::min(count - out.size(), b.size() - s.off);
    out.append(b, s.off, n);
    s.off += n;
    if (s.off == b.size()) {
      s.chunk++;
      s.off = 0;
    }
  }
  return out;
}

StreamAnswer World::read(const StreamCall& c, int fd, size_t count, int64_t offset) {
  StreamAnswer a;
  Binding* b = binding(c.pid, fd);
  if (!b) {
    a.ret = -EBADF;
    return a;
  }
  a.resource = b->resource;
  if (b->stream < 0) return fallback(c, b->resource);
  Stream& s = streams_[b->stream];
  if (s.file) {
    FileContent& fc = content_[s.path];
    uint64_t pos = offset >= 0 ? static_cast<uint64_t>(offset) : s.pos;
    if (fc.size >= 0 && pos >= static_cast<uint64_t>(fc.size)) {
      a.ret = 0;
      return a;
    }
    size_t n = 0;
    while (n < count && pos + n < fc.known.size() && fc.known[pos + n] &&
           (fc.size < 0 || pos + n < static_cast<uint64_t>(fc.size)))
      n++;
    if (n == 0 && count > 0) {
      a.kind = StreamAnswer::Unrecorded;
      a.why = "a read of " + s.path + " at offset " + std::to_string(pos) + " that the recording never read";
      a.refuse_errno = EIO;
      return a;
    }
    a.ret = static_cast<int64_t>(n);
    a.data_out = fc.bytes.substr(pos, n);
    if (offset < 0) s.pos = pos + n;
    return a;
  }
  if (count == 0) return a;
  if (s.chunk < s.in.size() && arrival(s, s.chunk) <= c.vnow) {
    a.data_out = take(s, count, c.vnow);
    a.ret = static_cast<int64_t>(a.data_out.size());
    if (c.spec->n_out > 1) {
      std::vector<std::string> parts(c.spec->n_out);
      parts[0] = a.data_out;  // no source address: the peer is the connected one
      a.data_out = join_parts(parts);
    }
    return a;
  }
  if (readable(s, c.vnow)) return a;  // end of stream: 0
  if (b->nonblock) {
    a.ret = -EAGAIN;
    return a;
  }
  int64_t next = next_arrival(s);
  if (b->rcvtimeo_ns > 0) {
    // SO_RCVTIMEO: the read gives up with EAGAIN when nothing arrived in time.
    int64_t deadline = c.deadline >= 0 ? c.deadline : c.vnow + b->rcvtimeo_ns;
    if (deadline <= c.vnow) {
      a.ret = -EAGAIN;
      return a;
    }
    a.kind = StreamAnswer::Wait;
    a.wake = next < 0 ? deadline : std::min(next, deadline);
    a.deadline = deadline;
    return a;
  }
  if (next < 0) {
    a.kind = StreamAnswer::Unrecorded;
    a.why = "a read on " + s.resource + " past everything recorded on it (in production it would wait for data " +
            "nobody recorded)";
    a.refuse_errno = ECONNRESET;
    return a;
  }
  a.kind = StreamAnswer::Wait;
  a.wake = next;
  return a;
}

StreamAnswer World::poll(const StreamCall& c, bool ppoll) {
  StreamAnswer a;
  size_t n = static_cast<size_t>(c.args[1]);
  std::vector<std::string> in = split_parts(c.data_in, std::max<size_t>(c.spec->n_in, 1));
  std::string fds = in[0];
  if (fds.size() < n * 8) {
    a.ret = -EFAULT;
    return a;
  }
  int64_t timeout_ns = -1;
  if (ppoll) {
    if (in.size() > 1 && in[1].size() >= 16) timeout_ns = ts_ns(in[1]);
  } else if (static_cast<int32_t>(c.args[2]) >= 0) {
    timeout_ns = static_cast<int64_t>(static_cast<int32_t>(c.args[2])) * 1000000LL;
  }
  int64_t deadline = wait_deadline(c, timeout_ns);
  int ready = 0;
  int64_t wake = -1;
  for (size_t i = 0; i < n; i++) {
    struct pollfd p;
    std::memcpy(&p, fds.data() + i * 8, 8);
    p.revents = 0;
    if (p.fd >= 0) {
      if (!binding(c.pid, p.fd)) {
        p.revents = POLLNVAL;
      } else {
        if (a.resource.empty()) a.resource = resource_of(c.pid, p.fd);
        if ((p.events & (POLLIN | POLLRDNORM)) && fd_readable(c.pid, p.fd, c.vnow, wake))
          p.revents |= static_cast<short>(p.events & (POLLIN | POLLRDNORM));
        if (p.events & (POLLOUT | POLLWRNORM)) p.revents |= static_cast<short>(p.events & (POLLOUT | POLLWRNORM));
      }
      if (p.revents) ready++;
    }
    std::memcpy(&fds[i * 8], &p, 8);
  }
  return wait_result(c, a, ready, fds, wake, deadline);  // the pollfd array with revents
}

StreamAnswer World::sleep(const StreamCall& c) {
  StreamAnswer a;
  std::vector<std::string> in = split_parts(c.data_in, std::max<size_t>(c.spec->n_in, 1));
  int64_t len = ts_ns(in[0]);
  if (len < 0) {
    a.ret = -EFAULT;
    return a;
  }
  int64_t deadline = c.deadline;
  if (deadline < 0) {
    bool abs = c.spec->handler == Handler::SleepClock && (c.args[1] & TIMER_ABSTIME);
    if (abs) {
      // An absolute time on the program's clock: back to the recording's timeline.
      int clk = static_cast<int>(c.args[0]);
      deadline = c.vnow + (len - clock_value(clk, c.vnow));
    } else {
      deadline = c.vnow + len;
    }
  }
  if (deadline <= c.vnow) return a;
  a.kind = StreamAnswer::Wait;
  a.wake = a.deadline = deadline;
  return a;
}

int64_t World::clock_value(int clk, int64_t vnow) const {
  auto it = clocks_.find(clk);
  if (it == clocks_.end() || it->second.empty()) {
    it = clocks_.find(CLOCK_MONOTONIC);
    if (it == clocks_.end() || it->second.empty()) return vnow;
  }
  const auto& v = it->second;
  // The last anchor at or before vnow (else the first): the clock runs at the virtual rate.
  auto up = std::upper_bound(v.begin(), v.end(), std::make_pair(vnow, INT64_MAX));
  const auto& ref = up == v.begin() ? v.front() : *(up - 1);
  return ref.second + (vnow - ref.first);
}

uint64_t World::tsc(int64_t vnow) const {
  if (tsc_.empty()) return static_cast<uint64_t>(vnow);
  const auto& first = tsc_.front();
  const auto& last = tsc_.back();
  double rate = last.first - first.first > 1000000 ? static_cast<double>(last.second - first.second) / static_cast<double>(last.first - first.first) : 1.0;
  auto up = std::upper_bound(tsc_.begin(), tsc_.end(), std::make_pair(vnow, UINT64_MAX));
  const auto& ref = up == tsc_.begin() ? tsc_.front() : *(up - 1);
  return ref.second + static_cast<uint64_t>(std::max<double>(0, static_cast<double>(vnow - ref.first) * rate));
}

StreamAnswer World::clock(const StreamCall& c) {
  StreamAnswer a;
  if (c.spec->handler == Handler::Clock) {
    a.data_out = ts_bytes(clock_value(static_cast<int>(c.args[0]), c.vnow));
  } else if (c.spec->handler == Handler::ClockTv) {
    int64_t v = clock_value(CLOCK_REALTIME, c.vnow);
    int64_t tv[2] = {v / 1000000000LL, (v % 1000000000LL) / 1000};
    a.data_out = join_parts({std::string(reinterpret_cast<const char*>(tv), 16), std::string()});
  } else {  // time
    int64_t sec = clock_value(CLOCK_REALTIME, c.vnow) / 1000000000LL;
    a.ret = sec;
    if (c.args[0]) a.data_out = std::string(reinterpret_cast<const char*>(&sec), 8);
  }
  return a;
}

StreamAnswer World::connect(const StreamCall& c) {
  StreamAnswer a;
  int fd = static_cast<int>(c.args[0]);
  Binding* b = binding(c.pid, fd);
  if (!b) {
    a.ret = -EBADF;
    return a;
  }
  std::string proto = b->resource.rfind("socket:", 0) == 0 ? b->resource.substr(7) : "tcp";
  std::string ep = proto + ":" + format_sockaddr(c.data_in);
  a.resource = ep;
  // The next recorded connection to the same endpoint that has not been answered yet.
  for (const auto& [idx, st] : connect_at_) {
    if (idx < start_ || used_.count(idx) || log_[idx].resource != ep) continue;
    used_.insert(idx);
    b->stream = st;
    b->resource = ep;
    streams_[st].resource = ep;
    // The peer answers a connection, not a clock: what it sent comes as long after this connect
    // as it came after the recorded one (a run that waited longer before connecting gets its
    // answers that much later).
    streams_[st].opened_late = c.vnow - log_[idx].enter_ns;
    a.ret = log_[idx].ret;
    return a;
  }
  a.kind = StreamAnswer::Unrecorded;
  a.why = "a connection to " + ep + ", which the recording never made";
  a.refuse_errno = ECONNREFUSED;
  return a;
}

StreamAnswer World::open(const StreamCall& c) {
  StreamAnswer a;
  std::string path = in_part_for_arg(*c.spec, c.data_in, c.spec->path_arg);
  std::string res = "file:" + path;
  a.resource = res;
  auto matches = [&](const std::string& r) { return names_path(r, path); };
  const Event* rec = nullptr;
  for (size_t i = start_; i < log_.size() && !rec; i++)
    if (!used_.count(i) && log_[i].name == c.spec->name && matches(log_[i].resource)) {
      used_.insert(i);
      rec = &log_[i];
    }
  if (!rec)
    for (size_t i = 0; i < log_.size(); i++)
      if (log_[i].kind == kSyscall && syscall_spec(log_[i].nr).fd == FdEffect::Creates && matches(log_[i].resource))
        rec = &log_[i];
  if (!rec) {
    a.kind = StreamAnswer::Unrecorded;
    a.why = "an open of " + path + ", a file the recording never opened";
    a.refuse_errno = ENOENT;
    return a;
  }
  if (rec->ret < 0) {
    a.ret = rec->ret;
    return a;
  }
  a.kind = StreamAnswer::CreateFd;
  a.resource = rec->resource;
  auto f = files_.find(rec->resource.substr(5));
  a.placeholder = f == files_.end() ? "/dev/null" : f->second;
  a.cloexec = c.spec->cloexec_arg >= 0 && (c.args[c.spec->cloexec_arg] & c.spec->cloexec_mask);
  return a;
}

void World::bind_created(pid_t pid, int fd, const StreamCall& c, const StreamAnswer& a) {
  // An accepted connection is the recorded one; a socket or a file opened again starts afresh
  // (a file reads the same recorded content from offset 0).
  int st = a.stream >= 0 ? a.stream : new_stream(a.resource, -1);
  Binding b{st, a.resource, false};
  // The argument that carries O_CLOEXEC (SOCK_CLOEXEC) carries O_NONBLOCK (SOCK_NONBLOCK) too.
  static_assert(SOCK_NONBLOCK == O_NONBLOCK, "one flag bit for both");
  if (c.spec->cloexec_arg >= 0) b.nonblock = (c.args[c.spec->cloexec_arg] & O_NONBLOCK) != 0;
  fds_[pid][fd] = b;
}

StreamAnswer World::accept(const StreamCall& c) {
  StreamAnswer a;
  Binding* b = binding(c.pid, static_cast<int>(c.args[0]));
  if (!b) {
    a.ret = -EBADF;
    return a;
  }
  a.resource = b->resource;
  for (size_t i = start_; i < log_.size(); i++) {
    const Event& e = log_[i];
    if (used_.count(i) || e.kind != kSyscall || syscall_spec(e.nr).fd != FdEffect::Accepts || e.pid != c.pid ||
        e.args[0] != c.args[0])
      continue;
    if (e.ret < 0) {
      used_.insert(i);
      a.ret = e.ret;
      return a;
    }
    int64_t at = e.enter_ns + e.dur_ns;  // the connection came in then
    if (at > c.vnow) {
      if (b->nonblock) {
        a.ret = -EAGAIN;
        return a;
      }
      a.kind = StreamAnswer::Wait;
      a.wake = at;
      return a;
    }
    used_.insert(i);
    auto st = created_at_.find(i * 2);
    a.kind = StreamAnswer::CreateFd;
    a.placeholder = "/dev/null";
    a.stream = st == created_at_.end() ? -1 : st->second;
    a.resource = e.resource;
    a.cloexec = c.spec->cloexec_arg >= 0 && (c.args[c.spec->cloexec_arg] & c.spec->cloexec_mask);
    return a;
  }
  a.kind = StreamAnswer::Unrecorded;
  a.why = "an accept on " + b->resource + " beyond the connections recorded";
  a.refuse_errno = EAGAIN;
  return a;
}

void World::after_real(pid_t pid, const StreamCall& c, int64_t ret) {
  const SyscallSpec& s = *c.spec;
  auto& fds = fds_[pid];
  if (s.fd == FdEffect::Closes && ret == 0) {
    fds.erase(static_cast<int>(c.args[0]));
    epoll_.erase({pid, static_cast<int>(c.args[0])});
  } else if ((s.fd == FdEffect::Dups || (s.special == Special::Fcntl && (c.args[1] == F_DUPFD || c.args[1] == F_DUPFD_CLOEXEC))) &&
             ret >= 0) {
    auto it = fds.find(static_cast<int>(c.args[0]));
    if (it != fds.end()) fds[static_cast<int>(ret)] = it->second;
  }
}

// The resource the log names a path by: the recording made paths absolute, so a relative one
// is the recorded path of the same call that ends with it.
std::string World::recorded_path(const std::string& name, const std::string& path) const {
  if (path.empty() || path[0] == '/') return "file:" + path;
  for (const auto& [key, idx] : by_key_)
    if (key.first == name && names_path(key.second, path)) return key.second;
  return "file:" + path;
}

StreamAnswer World::fallback(const StreamCall& c, const std::string& resource) {
  StreamAnswer a;
  a.resource = resource;
  auto it = by_key_.find({c.spec->name, resource});
  if (it == by_key_.end() && resource.empty()) it = by_key_.find({c.spec->name, std::string()});
  if (it != by_key_.end()) {
    const Event* pick = nullptr;
    for (size_t i : it->second)
      if (i >= start_ && !used_.count(i)) {
        used_.insert(i);
        pick = &log_[i];
        break;
      }
    if (!pick) pick = &log_[it->second.back()];  // asked again: the same answer
    a.ret = pick->ret;
    a.data_out = pick->data_out;
    // An edited file has its new size.
    if (resource.rfind("file:", 0) == 0 && edited_.count(resource.substr(5)) && a.ret == 0) {
      int off = size_offset(stat_role(*c.spec));
      std::vector<std::string> parts = split_parts(a.data_out, std::max<size_t>(c.spec->n_out, 1));
      if (off >= 0 && parts[0].size() >= static_cast<size_t>(off + 8)) {
        int64_t size = content_[resource.substr(5)].size;
        std::memcpy(&parts[0][static_cast<size_t>(off)], &size, 8);
        a.data_out = c.spec->n_out > 1 ? join_parts(parts) : parts[0];
      }
    }
    return a;
  }
  if (resource == "stdin" || resource == "stdout" || resource == "stderr") {
    // The replay's own stdio (a capture, /dev/null underneath) answers what production's was
    // never asked (fstat, isatty): output is captured whatever it is.
    a.kind = StreamAnswer::RunReal;
    return a;
  }
  a.kind = StreamAnswer::Unrecorded;
  a.why = std::string(c.spec->name) + (resource.empty() ? "" : " on " + resource) + ", which the recording never made";
  a.refuse_errno = ENOSYS;
  return a;
}

void World::edit_file(const std::string& path, const std::string& bytes) {
  FileContent& fc = content_[path];
  fc.bytes = bytes;
  fc.known.assign(bytes.size(), true);
  fc.size = static_cast<int64_t>(bytes.size());
  edited_.insert(path);
}

bool World::fd_readable(pid_t pid, int fd, int64_t vnow, int64_t& wake) {
  Binding* b = binding(pid, fd);
  if (!b || b->stream < 0) return false;
  const Stream& s = streams_[b->stream];
  if (s.file || readable(s, vnow)) return true;
  int64_t next = next_arrival(s);
  if (next >= 0) wake = wake < 0 ? next : std::min(wake, next);
  return false;
}

bool World::fd_writable(pid_t pid, int fd) { return binding(pid, fd) != nullptr; }

// How a wait ends: `ready` fds (with `out`, the call's output) or its timeout; else it waits for
// the next arrival (`wake`) or the deadline; with neither, nothing recorded will ever wake it.
StreamAnswer World::wait_result(const StreamCall& c, StreamAnswer a, int ready, const std::string& out, int64_t wake,
                                int64_t deadline) const {
  if (ready > 0 || (deadline >= 0 && deadline <= c.vnow)) {
    a.ret = ready;
    a.data_out = out;
    return a;
  }
  if (wake < 0 && deadline < 0) {
    a.kind = StreamAnswer::Unrecorded;
    a.why = std::string(c.spec->name) + " without a timeout on fds where nothing recorded arrives (in production it " +
            "would wait for data nobody recorded)";
    a.refuse_errno = EINTR;
    return a;
  }
  a.kind = StreamAnswer::Wait;
  a.wake = wake < 0 ? deadline : deadline < 0 ? wake : std::min(wake, deadline);
  a.deadline = deadline;
  return a;
}

int64_t World::wait_deadline(const StreamCall& c, int64_t timeout_ns) const {
  return c.deadline >= 0 ? c.deadline : timeout_ns >= 0 ? c.vnow + timeout_ns : -1;
}

StreamAnswer World::select(const StreamCall& c, bool pselect) {
  StreamAnswer a;
  int nfds = static_cast<int>(c.args[0]);
  std::vector<std::string> in = split_parts(c.data_in, c.spec->n_in);
  int64_t timeout_ns = -1;
  if (in.size() > 3 && in[3].size() >= 16) {
    int64_t t[2];
    std::memcpy(t, in[3].data(), 16);
    timeout_ns = t[0] * 1000000000LL + (pselect ? t[1] : t[1] * 1000);
  }
  int64_t deadline = wait_deadline(c, timeout_ns);
  std::vector<std::string> out(c.spec->n_out);
  int ready = 0;
  int64_t wake = -1;
  for (int set = 0; set < 3; set++) {
    std::string bits = set < static_cast<int>(in.size()) ? in[set] : std::string();
    std::string res(bits.size(), '\0');
    for (int fd = 0; fd < nfds && static_cast<size_t>(fd / 8) < bits.size(); fd++) {
      if (!(bits[fd / 8] & (1 << (fd % 8)))) continue;
      bool r = set == 0 ? fd_readable(c.pid, fd, c.vnow, wake) : set == 1 ? fd_writable(c.pid, fd) : false;
      if (a.resource.empty()) a.resource = resource_of(c.pid, fd);
      if (r) {
        res[fd / 8] = static_cast<char>(res[fd / 8] | (1 << (fd % 8)));
        ready++;
      }
    }
    out[static_cast<size_t>(set)] = res;
  }
  if (in.size() > 3 && in[3].size() >= 16 && out.size() > 3) {  // the time left, as Linux writes it
    int64_t left = deadline < 0 ? 0 : std::max<int64_t>(0, deadline - c.vnow);
    int64_t t[2] = {left / 1000000000LL, pselect ? left % 1000000000LL : (left % 1000000000LL) / 1000};
    out[3] = std::string(reinterpret_cast<const char*>(t), 16);
  }
  return wait_result(c, a, ready, join_parts(out), wake, deadline);
}

StreamAnswer World::epoll_ctl(const StreamCall& c) {
  StreamAnswer a;
  int epfd = static_cast<int>(c.args[0]), fd = static_cast<int>(c.args[2]);
  if (!binding(c.pid, epfd) || !binding(c.pid, fd)) {
    a.ret = -EBADF;
    return a;
  }
  a.resource = resource_of(c.pid, fd);
  auto& list = epoll_[{c.pid, epfd}];
  uint32_t ev = 0;
  uint64_t data = 0;
  if (c.data_in.size() >= 12) {
    std::memcpy(&ev, c.data_in.data(), 4);
    std::memcpy(&data, c.data_in.data() + 4, 8);
  }
  bool has = list.count(fd) > 0;
  if (c.args[1] == 1 /* ADD */) {
    if (has) a.ret = -EEXIST;
    else list[fd] = {ev, data};
  } else if (c.args[1] == 2 /* DEL */) {
    if (!has) a.ret = -ENOENT;
    else list.erase(fd);
  } else {
    if (!has) a.ret = -ENOENT;
    else list[fd] = {ev, data};
  }
  return a;
}

StreamAnswer World::epoll_wait(const StreamCall& c) {
  StreamAnswer a;
  int epfd = static_cast<int>(c.args[0]);
  int maxevents = static_cast<int>(c.args[2]);
  int32_t ms = static_cast<int32_t>(c.args[3]);
  int64_t deadline = wait_deadline(c, ms >= 0 ? ms * 1000000LL : -1);
  auto& list = epoll_[{c.pid, epfd}];
  std::string out;
  int ready = 0;
  int64_t wake = -1;
  for (const auto& [fd, ev] : list) {
    if (ready >= maxevents) break;
    uint32_t got = 0;
    if ((ev.first & 0x001 /* EPOLLIN */) && fd_readable(c.pid, fd, c.vnow, wake)) got |= 0x001;
    if ((ev.first & 0x004 /* EPOLLOUT */) && fd_writable(c.pid, fd)) got |= 0x004;
    if (a.resource.empty()) a.resource = resource_of(c.pid, fd);
    if (!got) continue;
    char entry[12];
    std::memcpy(entry, &got, 4);
    std::memcpy(entry + 4, &ev.second, 8);
    out.append(entry, 12);
    ready++;
  }
  return wait_result(c, a, ready, out, wake, deadline);
}

StreamAnswer World::call(const StreamCall& c) {
  const SyscallSpec& s = *c.spec;
  StreamAnswer a;
  if (s.cls == Class::Executed || s.cls == Class::Untraced) {
    a.kind = StreamAnswer::RunReal;
    if (s.fd_arg >= 0) a.resource = resource_of(c.pid, static_cast<int>(c.args[s.fd_arg]));
    return a;
  }
  if (s.cls == Class::Denied) {
    a.ret = -ENOSYS;
    return a;
  }
  switch (s.handler) {
    case Handler::Read: return read(c, static_cast<int>(c.args[0]), static_cast<size_t>(c.args[2]), -1);
    case Handler::Pread:
      return read(c, static_cast<int>(c.args[0]), static_cast<size_t>(c.args[2]), static_cast<int64_t>(c.args[s.arg_with(ArgRole::Offset)]));
    case Handler::Poll: return poll(c, false);
    case Handler::Ppoll: return poll(c, true);
    case Handler::Select: return select(c, false);
    case Handler::Pselect: return select(c, true);
    case Handler::EpollCtl: return epoll_ctl(c);
    case Handler::EpollWait: return epoll_wait(c);
    case Handler::Sleep: case Handler::SleepClock: return sleep(c);
    case Handler::Accept: return accept(c);
    case Handler::Clock: case Handler::ClockTv: case Handler::ClockS: return clock(c);
    case Handler::Connect: return connect(c);
    case Handler::Open: return open(c);
    default: break;
  }
  if (s.flow == Flow::Write || s.flow == Flow::WriteAt) {
    int fd = static_cast<int>(c.args[0]);
    Binding* b = binding(c.pid, fd);
    if (!b) {
      a.ret = -EBADF;
      return a;
    }
    a.resource = b->resource;
    std::string bytes = split_parts(c.data_in, std::max<size_t>(s.n_in, 1))[0];
    a.ret = static_cast<int64_t>(bytes.size());
    return a;
  }
  if (s.handler == Handler::Socket) {
    a.kind = StreamAnswer::CreateFd;
    a.placeholder = "/dev/null";
    a.cloexec = (c.args[1] & SOCK_CLOEXEC) != 0;
    a.resource = "socket:" + socket_proto(c.args[0], c.args[1]);
    return a;
  }
  if (s.special == Special::Fcntl && (c.args[1] == F_SETFL || c.args[1] == F_GETFL)) {
    Binding* b = binding(c.pid, static_cast<int>(c.args[0]));
    if (!b) {
      a.ret = -EBADF;
      return a;
    }
    a.resource = b->resource;
    if (c.args[1] == F_SETFL) b->nonblock = (c.args[2] & O_NONBLOCK) != 0;
    else a.ret = O_RDWR | (b->nonblock ? O_NONBLOCK : 0);
    return a;
  }
  if (s.handler == Handler::Lseek) {
    Binding* b = binding(c.pid, static_cast<int>(c.args[0]));
    if (!b || b->stream < 0 || !streams_[b->stream].file) return fallback(c, b ? b->resource : std::string());
    Stream& st = streams_[b->stream];
    int64_t size = content_[st.path].size;
    int64_t off = static_cast<int64_t>(c.args[1]);
    int whence = static_cast<int>(c.args[2]);
    int64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? static_cast<int64_t>(st.pos) : size;
    if (whence == SEEK_END && size < 0) return fallback(c, b->resource);
    if (base + off < 0) {
      a.ret = -EINVAL;
      return a;
    }
    st.pos = static_cast<uint64_t>(base + off);
    a.ret = base + off;
    a.resource = b->resource;
    return a;
  }
  if (s.handler == Handler::Pid || s.handler == Handler::Tid) {
    a.ret = s.handler == Handler::Pid ? c.pid : c.tid;  // the recorded ids, as everywhere in a replay
    return a;
  }
  if (s.handler == Handler::Sockopt || s.handler == Handler::Shutdown) {
    Binding* b = binding(c.pid, static_cast<int>(c.args[0]));
    a.resource = b ? b->resource : std::string();
    int64_t t = rcvtimeo_of(s, c.args, c.data_in);
    if (b && t >= 0) b->rcvtimeo_ns = t;
    return a;  // accepted: nothing the program reads back depends on it here
  }
  std::string res;
  if (s.fd_arg >= 0) res = resource_of(c.pid, static_cast<int>(c.args[s.fd_arg]));
  if (s.path_arg >= 0) {
    std::string path = in_part_for_arg(s, c.data_in, s.path_arg);
    if (path.empty() && s.dirfd_arg >= 0) res = resource_of(c.pid, static_cast<int>(c.args[s.dirfd_arg]));  // AT_EMPTY_PATH
    else res = recorded_path(s.name, path);
  }
  return fallback(c, res);
}

}  // namespace rb
