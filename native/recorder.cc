// The recorder: every trapped syscall becomes an event with its arguments, the bytes handed to
// the kernel, the bytes it returned, its timing and the resource its fd designates.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "capture.h"
#include "tools.h"

namespace rb {
namespace {

std::string readlink_str(const std::string& path) {
  char buf[4096];
  ssize_t n = readlink(path.c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
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

// What an fd designates, as the event log names it: file:/etc/app.conf, tcp:10.0.0.5:443, ...
class FdTable {
 public:
  FdTable() {
    res_[0] = "stdin";
    res_[1] = "stdout";
    res_[2] = "stderr";
  }
  std::string get(int64_t fd) const {
    auto it = res_.find(fd);
    return it != res_.end() ? it->second : "fd:" + std::to_string(fd);
  }
  void set(int64_t fd, const std::string& r) { res_[fd] = r; }
  void erase(int64_t fd) {
    res_.erase(fd);
    proto_.erase(fd);
  }
  // The transport of a socket fd ("tcp", "udp", "unix"), set when the socket is created.
  std::string proto(int64_t fd) const {
    auto it = proto_.find(fd);
    return it != proto_.end() ? it->second : "socket";
  }
  void set_proto(int64_t fd, const std::string& p) { proto_[fd] = p; }

 private:
  std::map<int64_t, std::string> res_;
  std::map<int64_t, std::string> proto_;
};

std::string socket_proto(uint64_t family, uint64_t type) {
  int t = static_cast<int>(type & 0xf);
  if (family == AF_UNIX) return "unix";
  if (family == AF_INET || family == AF_INET6) return t == SOCK_DGRAM ? "udp" : "tcp";
  return "socket";
}

// The peer of a socket in the tracee, read through a duplicate of its fd (pidfd_getfd).
std::string peer_of(pid_t pid, int fd) {
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return {};
  int local = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, fd, 0));
  close(pidfd);
  if (local < 0) return {};
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  std::string out;
  if (getpeername(local, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
    out = format_sockaddr(std::string(reinterpret_cast<char*>(&ss), len));
  close(local);
  return out;
}

class Recorder : public Tool {
 public:
  Recorder(Output& out, const RecordOptions& opts) : out_(out), opts_(opts) {}

  Resume on_syscall(Thread& t, const SyscallStop& stop) override {
    if (t0_ == 0) t0_ = stop.time_ns;
    const SyscallSpec& s = *stop.spec;
    const uint64_t* args = stop.args;
    cur_ = syscall_event(t, s, args, seq_++, stop.time_ns - t0_);
    last_tid_ = t.tid();
    cur_.data_in = capture_in(t, s, args);
    cur_spec_ = &s;
    if (s.cls == Class::Denied) {
      t.emulate(-ENOSYS);
      cur_.ret = -ENOSYS;
      out_.event(std::move(cur_));
      return Resume::Continue;
    }
    if (s.special == Special::Exit) {
      // exit never returns: log it now.
      cur_.resource = "";
      out_.event(std::move(cur_));
      return Resume::Continue;
    }
    return Resume::ToExit;
  }

  void on_unsupported(const std::string& message) override {
    out_.message(error_json("unsupported", message));
  }

  void on_syscall_exit(Thread& t) override {
    const SyscallSpec& s = *cur_spec_;
    int64_t ret = t.syscall_ret();
    cur_.ret = ret;
    cur_.dur_ns = now_ns() - t0_ - cur_.enter_ns;
    if (s.special == Special::Affinity && opts_.pinned && ret > 0) {
      // The service sees the CPUs it had before we pinned it, so its pools keep their size.
      std::string mask = original_cpu_mask();
      mask.resize(static_cast<size_t>(ret), '\0');
      t.write_mem(cur_.args[2], mask.data(), mask.size());
      cur_.data_out = mask;
    } else {
      cur_.data_out = capture_out(t, s, cur_.args, ret);
    }
    cur_.resource = resource_after(t, s, ret);
    out_.event(std::move(cur_));
  }

  void on_exec(Thread& t) override {
    pid_t pid = t.tid();
    std::string exe = readlink_str("/proc/" + std::to_string(pid) + "/exe");
    report_file(exe, "exe");
    // The kernel mapped the ELF interpreter too, without a syscall we could see.
    std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
    std::string line;
    while (std::getline(maps, line)) {
      size_t slash = line.find('/');
      if (slash == std::string::npos) continue;
      std::string path = line.substr(slash);
      if (path != exe) report_file(path, "interp");
    }
  }

  int on_signal(Thread& t, int sig) override {
    Event e;
    e.seq = seq_++;
    e.pid = e.tid = t.tid();
    e.kind = kSignal;
    e.name = signal_name(sig);
    e.ret = sig;
    e.enter_ns = now_ns() - t0_;
    out_.event(std::move(e));
    return sig;
  }

  void on_exit(int status) override {
    Event e;
    e.seq = seq_++;
    e.kind = kExit;
    e.name = "exit";
    e.pid = e.tid = last_tid_;
    e.ret = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    e.enter_ns = t0_ ? now_ns() - t0_ : 0;
    out_.event(std::move(e));
    out_.message("{\"type\":\"exit\"," + exit_status_json(status) + "}");
  }

 private:
  void report_file(const std::string& path, const char* role) {
    if (path.empty() || !files_.insert(path).second) return;
    out_.message("{\"type\":\"file\",\"role\":\"" + std::string(role) +
                 "\",\"path\":" + json_str(path) + "}");
  }

  std::string abs_path(Thread& t, const std::string& path, int64_t dirfd) {
    if (path.empty() || path[0] == '/') return path;
    std::string base = dirfd == AT_FDCWD || dirfd < 0
                           ? readlink_str("/proc/" + std::to_string(t.tid()) + "/cwd")
                           : fds_.get(dirfd);
    if (base.rfind("file:", 0) == 0) base = base.substr(5);
    return base + "/" + path;
  }

  // The event's resource; also keeps the fd table current.
  std::string resource_after(Thread& t, const SyscallSpec& s, int64_t ret) {
    const uint64_t* a = cur_.args;
    std::string res;
    if (s.fd_arg >= 0) res = fds_.get(static_cast<int>(a[s.fd_arg]));
    if (s.path_arg >= 0) {
      std::string path = in_part_for_arg(s, cur_.data_in, s.path_arg);
      int64_t dirfd = s.dirfd_arg >= 0 ? static_cast<int>(a[s.dirfd_arg]) : AT_FDCWD;
      if (path.empty() && dirfd >= 0) res = fds_.get(dirfd);  // AT_EMPTY_PATH
      else res = "file:" + abs_path(t, path, dirfd);
    }
    std::string name = s.name;
    switch (s.fd) {
      case FdEffect::Creates:
      case FdEffect::Accepts:
        if (ret >= 0) {
          std::string r = new_fd_resource(t, s, ret);
          fds_.set(ret, r);
          res = r;
        }
        break;
      case FdEffect::Pair:
        if (ret == 0 && cur_.data_out.size() >= 8) {
          int32_t pair[2];
          std::memcpy(pair, cur_.data_out.data(), 8);
          res = name == "socketpair" ? "socketpair" : "pipe";
          fds_.set(pair[0], res);
          fds_.set(pair[1], res);
        }
        break;
      case FdEffect::Dups:
        if (ret >= 0) fds_.set(ret, fds_.get(static_cast<int>(a[0])));
        break;
      case FdEffect::Closes:
        if (ret == 0 || ret == -EINTR) fds_.erase(static_cast<int>(a[0]));
        break;
      default:
        break;
    }
    if (s.special == Special::Fcntl && ret >= 0 && (a[1] == F_DUPFD || a[1] == F_DUPFD_CLOEXEC))
      fds_.set(ret, res);
    if (name == "connect" || name == "bind") {
      int fd = static_cast<int>(a[0]);
      std::string ep = format_sockaddr(cur_.data_in);
      if (!ep.empty()) {
        res = fds_.proto(fd) + (name == "bind" ? "-listen:" : ":") + ep;
        fds_.set(fd, res);
      }
    } else if (name == "sendto" && a[4]) {
      std::string ep = format_sockaddr(in_part_for_arg(s, cur_.data_in, 4));
      if (!ep.empty()) res = fds_.proto(static_cast<int>(a[0])) + ":" + ep;
    } else if (s.special == Special::Mmap && !(a[3] & MAP_ANONYMOUS) && ret >= 0 &&
               static_cast<int>(a[4]) >= 0) {
      res = fds_.get(static_cast<int>(a[4]));
      if (res.rfind("file:", 0) == 0) report_file(res.substr(5), "mapped");
    } else if (s.special == Special::Execve) {
      res = "file:" + abs_path(t, in_part_for_arg(s, cur_.data_in, 0), AT_FDCWD);
    }
    return res;
  }

  std::string new_fd_resource(Thread& t, const SyscallSpec& s, int64_t fd) {
    std::string name = s.name;
    const uint64_t* a = cur_.args;
    if (name == "socket") {
      std::string proto = socket_proto(a[0], a[1]);
      fds_.set_proto(fd, proto);
      return "socket:" + proto;
    }
    if (s.fd == FdEffect::Accepts) {
      std::string proto = fds_.proto(static_cast<int>(a[0]));
      fds_.set_proto(fd, proto);
      std::string peer = format_sockaddr(split_parts(cur_.data_out, s.n_out)[0]);
      if (peer.empty()) peer = peer_of(t.tid(), static_cast<int>(fd));
      return proto + ":" + (peer.empty() ? "accepted" : peer);
    }
    std::string target = readlink_str("/proc/" + std::to_string(t.tid()) + "/fd/" +
                                      std::to_string(fd));
    if (!target.empty() && target[0] == '/') return "file:" + target;
    if (target.rfind("anon_inode:", 0) == 0) {
      std::string kind = target.substr(11);
      if (!kind.empty() && kind[0] == '[') kind = kind.substr(1, kind.size() - 2);
      return kind;
    }
    return target.empty() ? "fd" : target;
  }

  Output& out_;
  RecordOptions opts_;
  FdTable fds_;
  std::set<std::string> files_;
  Event cur_;
  const SyscallSpec* cur_spec_ = nullptr;
  uint64_t seq_ = 0;
  int64_t t0_ = 0;
  pid_t last_tid_ = 0;
};

}  // namespace

std::unique_ptr<Tool> make_recorder(Output& out, const RecordOptions& opts) {
  return std::make_unique<Recorder>(out, opts);
}

}  // namespace rb
