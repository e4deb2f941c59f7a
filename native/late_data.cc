#include "late_data.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <system_error>

#include "tools.h"
#include "tracer.h"

namespace rb {
namespace {

// While sockets linger and the service is alive, arrivals become events at least this often even
// if the service makes no syscall (a live view then sees them; their times are exact anyway).
constexpr int64_t kDrainIntervalNs = 100'000'000;
constexpr size_t kReadChunk = 64 * 1024;

std::string proc_path(pid_t pid, const char* what) {
  return "/proc/" + std::to_string(pid) + "/" + what;
}

// The fd numbers the process has open now.
std::vector<int64_t> open_fds(pid_t pid) {
  std::vector<int64_t> out;
  DIR* d = opendir(proc_path(pid, "fd").c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    long fd = std::strtol(e->d_name, &end, 10);
    if (end != e->d_name && *end == '\0') out.push_back(fd);
  }
  closedir(d);
  return out;
}

std::string fd_link(pid_t pid, int64_t fd) {
  char buf[256];
  std::string path = proc_path(pid, "fd/") + std::to_string(fd);
  ssize_t n = readlink(path.c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

// FD_CLOEXEC, from the "flags:" line of /proc/PID/fdinfo/N (octal open flags).
bool close_on_exec(pid_t pid, int64_t fd) {
  std::ifstream in(proc_path(pid, "fdinfo/") + std::to_string(fd));
  std::string key, value;
  while (in >> key >> value) {
    if (key == "flags:") return (std::strtoul(value.c_str(), nullptr, 8) & O_CLOEXEC) != 0;
  }
  return false;
}

int thread_count(pid_t pid) {
  std::ifstream in(proc_path(pid, "status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::atoi(line.c_str() + 8);
  }
  return -1;
}

bool is_tcp_resource(const std::string& r) { return r.rfind("tcp:", 0) == 0; }

}  // namespace

LateData::~LateData() {
  if (thread_.joinable()) {
    {
      std::lock_guard<std::mutex> l(m_);
      stop_ = true;
    }
    wake();
    thread_.join();
  }
  for (const Watch& w : incoming_) close(w.fd);
  for (auto& [id, s] : sockets_)
    if (s.local >= 0) close(s.local);
  if (pidfd_ >= 0) close(pidfd_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

void LateData::on_entry(pid_t pid, pid_t tid, long nr, const uint64_t args[6],
                        const ResourceOf& resource_of, uint64_t seq) {
  if (!o_.enabled) return;
  Pending p;
  p.nr = nr;
  auto consider = [&](int64_t fd) {
    std::string r = resource_of(fd);
    if (is_tcp_resource(r)) grab(pid, tid, fd, r, p, seq);
  };
  switch (nr) {
    case SYS_close:
      consider(static_cast<int>(args[0]));
      break;
    case SYS_dup2:
    case SYS_dup3:  // newfd is closed first, unless it is oldfd
      if (static_cast<int>(args[0]) != static_cast<int>(args[1])) consider(static_cast<int>(args[1]));
      break;
    case SYS_close_range: {
      if (args[2] & CLOSE_RANGE_CLOEXEC) break;  // only marks them close-on-exec
      uint64_t first = static_cast<uint32_t>(args[0]), last = static_cast<uint32_t>(args[1]);
      for (int64_t fd : open_fds(pid))
        if (static_cast<uint64_t>(fd) >= first && static_cast<uint64_t>(fd) <= last) consider(fd);
      break;
    }
    case SYS_exit:  // ends the process only when it is the last thread
      if (thread_count(pid) != 1) break;
      [[fallthrough]];
    case SYS_exit_group:
      for (int64_t fd : open_fds(pid)) consider(fd);
      break;
    case SYS_execve:
    case SYS_execveat:
      for (int64_t fd : open_fds(pid))
        if (is_tcp_resource(resource_of(fd)) && close_on_exec(pid, fd)) consider(fd);
      break;
    default:
      return;
  }
  auto old = pending_.find(tid);
  if (old != pending_.end()) {  // not expected: a call of this thread that never returned
    for (uint64_t id : old->second.ids) release(id);
    pending_.erase(old);
  }
  if (!p.ids.empty()) pending_[tid] = std::move(p);
}

void LateData::grab(pid_t pid, pid_t tid, int64_t fd, const std::string& resource, Pending& into, uint64_t seq) {
  if (used_ >= o_.max_sockets) return;
  if (pidfd_ < 0 || pidfd_pid_ != pid) {
    if (pidfd_ >= 0) close(pidfd_);
    pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    pidfd_pid_ = pid;
    if (pidfd_ < 0) return;
  }
  int local = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd_, static_cast<int>(fd), 0));
  if (local < 0) return;
  // The fd table says tcp; the socket itself must agree: a connected stream, not a listener, not
  // a connect still in progress. All of these only read state the service shares with us.
  int type = 0, domain = 0, listening = 0;
  socklen_t len = sizeof(int);
  bool ok = getsockopt(local, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
  len = sizeof(int);
  ok = ok && getsockopt(local, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 &&
       (domain == AF_INET || domain == AF_INET6);
  len = sizeof(int);
  ok = ok && getsockopt(local, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && !listening;
  sockaddr_storage peer;
  socklen_t plen = sizeof peer;
  ok = ok && getpeername(local, reinterpret_cast<sockaddr*>(&peer), &plen) == 0;
  struct stat st;
  ok = ok && fstat(local, &st) == 0 && !inodes_.count(st.st_ino);  // one watch per socket
  if (!ok) {
    close(local);
    return;
  }
  uint64_t id = next_id_++;
  Socket& s = sockets_[id];
  s.pid = pid;
  s.tid = tid;
  s.fd = fd;
  s.local = local;
  s.inode = st.st_ino;
  s.resource = resource;
  s.closed_by = seq;
  inodes_.insert(s.inode);
  used_++;
  into.ids.push_back(id);
}

void LateData::release(uint64_t id) {
  auto it = sockets_.find(id);
  if (it == sockets_.end()) return;
  if (it->second.local >= 0) close(it->second.local);
  inodes_.erase(it->second.inode);
  sockets_.erase(it);
  used_--;
}

// Another fd of the service on the same socket (a dup, or one received over a unix socket): the
// service still uses it, and shutting our duplicate down would shut its socket down too. Only
// fds the fd table names like this socket, or does not know, can be such a duplicate.
bool LateData::still_open_in(pid_t pid, const Socket& s, const ResourceOf& resource_of) {
  std::string want = "socket:[" + std::to_string(s.inode) + "]";
  for (int64_t fd : open_fds(pid)) {
    std::string r = resource_of(fd);
    if (r != s.resource && r.rfind("fd:", 0) != 0) continue;
    if (fd_link(pid, fd) == want) return true;
  }
  return false;
}

void LateData::on_return(pid_t tid, int64_t ret, const ResourceOf& resource_of) {
  auto it = pending_.find(tid);
  if (it == pending_.end()) return;
  Pending p = std::move(it->second);
  pending_.erase(it);
  bool closed;
  switch (p.nr) {
    case SYS_close:  // Linux releases the fd even when close reports EINTR or EIO
      closed = ret != -EBADF;
      break;
    case SYS_dup2:
    case SYS_dup3:
      closed = ret >= 0;
      break;
    default:  // close_range, execve
      closed = ret == 0;
      break;
  }
  for (uint64_t id : p.ids) {
    if (closed) arm(id, true, &resource_of);
    else release(id);
  }
}

void LateData::on_process_exit() {
  for (auto& [tid, p] : pending_)
    for (uint64_t id : p.ids) arm(id, false, nullptr);
  pending_.clear();
  if (pidfd_ >= 0) close(pidfd_);
  pidfd_ = -1;
}

void LateData::arm(uint64_t id, bool process_alive, const ResourceOf* resource_of) {
  auto it = sockets_.find(id);
  if (it == sockets_.end()) return;
  Socket& s = it->second;
  if (process_alive && resource_of && still_open_in(s.pid, s, *resource_of)) {
    release(id);
    return;
  }
  if (!thread_.joinable() && !start_thread()) {
    release(id);
    return;
  }
  // The service's fd is gone and ours is the last: the peer now sees a FIN.
  shutdown(s.local, SHUT_WR);
  Watch w;
  w.id = id;
  w.fd = s.local;
  int64_t now = now_ns();
  w.deadline_ns = o_.linger_ms >= (INT64_MAX - now) / 1'000'000 ? INT64_MAX : now + o_.linger_ms * 1'000'000;
  s.local = -1;  // the linger thread owns it now and closes it when done
  lingering_++;
  {
    std::lock_guard<std::mutex> l(m_);
    incoming_.push_back(w);
  }
  wake();
}

bool LateData::start_thread() {
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) return false;
  // Signals are for the tracer thread (its waitpid must see SIGALRM, SIGTERM, SIGUSR1): the
  // thread starts with all of them blocked.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  bool ok = true;
  try {
    thread_ = std::thread(&LateData::thread_main, this);
  } catch (const std::system_error&) {
    ok = false;
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (!ok) {
    close(wake_fd_);
    wake_fd_ = -1;
  }
  return ok;
}

void LateData::wake() {
  if (wake_fd_ < 0) return;
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof one);
}

int64_t LateData::next_deadline() const {
  return lingering_ == 0 ? -1 : last_drain_ns_ + kDrainIntervalNs;
}

void LateData::drain(Output& out, SeqCounter& seq, int64_t t0, int64_t upto_ns) {
  if (upto_ns != INT64_MAX) last_drain_ns_ = upto_ns;
  if (!has_arrivals_.load(std::memory_order_acquire)) return;
  std::vector<Arrival> take;
  {
    std::lock_guard<std::mutex> l(m_);
    while (!arrivals_.empty() && arrivals_.front().at_ns <= upto_ns) {
      take.push_back(std::move(arrivals_.front()));
      arrivals_.pop_front();
    }
    has_arrivals_.store(!arrivals_.empty(), std::memory_order_release);
  }
  for (Arrival& a : take) {
    auto it = sockets_.find(a.id);
    if (it == sockets_.end()) continue;
    const Socket& s = it->second;
    Event e;
    e.seq = seq++;
    e.kind = kLateData;
    e.pid = s.pid;
    e.tid = s.tid;
    e.nr = -1;
    e.args[0] = static_cast<uint64_t>(s.fd);
    e.args[2] = s.closed_by;
    e.resource = s.resource;
    e.enter_ns = a.at_ns - t0;
    if (!a.end) {
      e.name = "late_data";
      e.ret = static_cast<int64_t>(a.bytes.size());
      e.data_out = std::move(a.bytes);
    } else {
      e.name = "late_data_end";
      e.ret = a.ret;
      e.args[1] = a.total;
      e.data_in = a.reason;
      inodes_.erase(s.inode);
      sockets_.erase(it);
      lingering_--;
    }
    out.event(std::move(e));
  }
}

void LateData::finish(Output& out, SeqCounter& seq, int64_t t0) {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> l(m_);
    closing_ = true;
  }
  wake();
  bool stopping = false;
  for (;;) {
    drain(out, seq, t0, INT64_MAX);
    std::unique_lock<std::mutex> l(m_);
    if (done_ && arrivals_.empty()) break;
    cv_.wait_for(l, std::chrono::milliseconds(20), [this] { return !arrivals_.empty() || done_; });
    // Asked to stop (Ctrl-C, the caller went away): end the sockets now, as "stopped".
    if (!stopping && stop_requested()) {
      stopping = true;
      stop_ = true;
      l.unlock();
      wake();
    }
  }
  thread_.join();
  drain(out, seq, t0, INT64_MAX);
}

// --- the linger thread ---

LateData::Arrival LateData::end_of(const Watch& w, int64_t at, const char* reason, int64_t ret) {
  Arrival a;
  a.id = w.id;
  a.at_ns = at;
  a.end = true;
  a.reason = reason;
  a.ret = ret;
  a.total = w.got;
  return a;
}

void LateData::push(std::vector<Arrival>& batch) {
  if (batch.empty()) return;
  {
    std::lock_guard<std::mutex> l(m_);
    for (Arrival& a : batch) arrivals_.push_back(std::move(a));
    has_arrivals_.store(true, std::memory_order_release);
  }
  batch.clear();
  cv_.notify_all();
}

// Reads what is there now, without blocking. `ended`: the socket is done (its end is queued).
void LateData::serve(Watch& w, std::string& buf, std::vector<Arrival>& out, bool& ended) {
  ended = false;
  for (;;) {
    uint64_t room = o_.max_bytes > w.got ? o_.max_bytes - w.got : 0;
    if (room == 0) {
      char c;
      ssize_t n = recv(w.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
      out.push_back(n == 0 ? end_of(w, now_ns(), "eof", 0) : end_of(w, now_ns(), "bytes", kUnfinished));
      ended = true;
      return;
    }
    ssize_t n = recv(w.fd, buf.data(), std::min<uint64_t>(buf.size(), room), MSG_DONTWAIT);
    int64_t at = now_ns();
    if (n > 0) {
      Arrival a;
      a.id = w.id;
      a.at_ns = at;
      a.bytes.assign(buf.data(), static_cast<size_t>(n));
      w.got += static_cast<uint64_t>(n);
      out.push_back(std::move(a));
      continue;
    }
    if (n == 0) {
      out.push_back(end_of(w, at, "eof", 0));
      ended = true;
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    out.push_back(end_of(w, at, "error", -errno));
    ended = true;
    return;
  }
}

void LateData::thread_main() {
  allow_tsc();  // its waits read std::chrono's clock, through the vDSO
  // Off the pinned CPU: the service keeps it, and arrivals are stamped when they come.
  const std::string& mask = original_cpu_mask();
  if (!mask.empty()) syscall(SYS_sched_setaffinity, 0, mask.size(), mask.data());
  std::vector<Watch> active;
  std::vector<Arrival> batch;
  std::vector<pollfd> pfds;
  std::string buf(kReadChunk, '\0');
  for (;;) {
    bool stop, closing;
    {
      std::lock_guard<std::mutex> l(m_);
      active.insert(active.end(), incoming_.begin(), incoming_.end());
      incoming_.clear();
      stop = stop_;
      closing = closing_;
    }
    int64_t now = now_ns();
    std::vector<Watch> keep;
    for (Watch& w : active) {
      bool ended = false;
      if (stop) {
        batch.push_back(end_of(w, now, "stopped", kUnfinished));
        ended = true;
      } else if (now >= w.deadline_ns) {
        serve(w, buf, batch, ended);  // what came by now still counts
        if (!ended) batch.push_back(end_of(w, now, "linger", kUnfinished));
        ended = true;
      }
      if (ended) close(w.fd);
      else keep.push_back(w);
    }
    active.swap(keep);
    push(batch);
    if (active.empty() && (closing || stop)) break;

    pfds.assign(1, pollfd{wake_fd_, POLLIN, 0});
    int64_t next = INT64_MAX;
    for (const Watch& w : active) {
      pfds.push_back(pollfd{w.fd, POLLIN | POLLRDHUP, 0});
      next = std::min(next, w.deadline_ns);
    }
    // Whole milliseconds, rounded up so a deadline is never missed; at most an hour (the loop
    // looks at the deadlines again after every wake-up anyway).
    int timeout = next == INT64_MAX ? -1
                                    : static_cast<int>(std::min<int64_t>((std::max<int64_t>(next - now, 0) + 999'999) / 1'000'000,
                                                                         3'600'000));
    if (poll(pfds.data(), pfds.size(), timeout) < 0) continue;  // EINTR: signals are blocked, but be safe
    if (pfds[0].revents) {
      uint64_t v;
      (void)!read(wake_fd_, &v, sizeof v);
    }
    keep.clear();
    for (size_t i = 0; i < active.size(); i++) {
      Watch& w = active[i];
      bool ended = false;
      if (pfds[i + 1].revents) serve(w, buf, batch, ended);
      if (ended) close(w.fd);
      else keep.push_back(w);
    }
    active.swap(keep);
    push(batch);
  }
  {
    std::lock_guard<std::mutex> l(m_);
    done_ = true;
  }
  cv_.notify_all();
}

}  // namespace rb
