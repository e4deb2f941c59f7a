// What the service's fds and files are, as the event log names them (see resources.h).
#include "resources.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "capture.h"
#include "protocol.h"

namespace rb {
namespace {

// The socket address a sending call names its destination with (sendto's), or -1.
int destination_arg(const SyscallSpec& s) {
  if (s.flow != Flow::Write) return -1;
  for (int i = 0; i < s.nargs; i++)
    if (s.args[i].kind == ArgKind::In && s.args[i].size == SizeRule::Sockaddr) return i;
  return -1;
}

}  // namespace

std::string readlink_str(const std::string& path) {
  char buf[4096];
  ssize_t n = readlink(path.c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

namespace {

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

}  // namespace

// What a pipe of the tracee holds now, without taking it out: the pipe, opened for reading
// through /proc (either end of it), is tee'd into a pipe of ours as large as it. Empty when `fd`
// is not a pipe.
std::string peek_pipe(pid_t tid, int fd) {
  struct stat st;
  std::string link = "/proc/" + std::to_string(tid) + "/fd/" + std::to_string(fd);
  if (stat(link.c_str(), &st) != 0 || !S_ISFIFO(st.st_mode)) return {};
  int local = open(link.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (local < 0) return {};
  std::string out;
  int p[2];
  if (pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0) {
    int size = fcntl(local, F_GETPIPE_SZ);
    if (size > 0) fcntl(p[1], F_SETPIPE_SZ, size);
    ssize_t n = tee(local, p[1], static_cast<size_t>(size > 0 ? size : 65536), SPLICE_F_NONBLOCK);
    if (n > 0) {
      out.resize(static_cast<size_t>(n));
      ssize_t got = read(p[0], out.data(), out.size());
      out.resize(got > 0 ? static_cast<size_t>(got) : 0);
    }
    close(p[0]);
    close(p[1]);
  }
  close(local);
  return out;
}

void Resources::report_file(const std::string& path, const char* role, const std::string& source) {
  if (path.empty() || !files_.insert(path).second) return;
  std::string err, copy;
  if (!capture_dir_.empty()) {
    int fd = open(source.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) err = std::string("cannot open it: ") + strerror(errno);
    else copy = copies_.copy(fd, err);
    if (fd >= 0) close(fd);
  }
  out_.message(file_message(role, path, !capture_dir_.empty(), copy, err));
}

std::string Resources::abs_path(Thread& t, const std::string& path, int64_t dirfd) {
  FdTable& fds = fds_[t.pid()];
  if (path.empty() || path[0] == '/') return path;
  std::string base = dirfd == AT_FDCWD || dirfd < 0
                         ? readlink_str("/proc/" + std::to_string(t.tid()) + "/cwd")
                         : fds.get(dirfd);
  if (base.rfind("file:", 0) == 0) base = base.substr(5);
  return base + "/" + path;
}

std::string Resources::moved_bytes(Thread& t, const SyscallSpec& s, const uint64_t* a, int64_t ret, const std::string& peeked) {
  const uint64_t n = std::min<uint64_t>(static_cast<uint64_t>(ret), kMaxMoved);
  for (int end : {s.arg_with(ArgRole::CopySrc), s.arg_with(ArgRole::CopyDst)}) {
    std::string fd = "/proc/" + std::to_string(t.tid()) + "/fd/" + std::to_string(static_cast<int>(a[end]));
    struct stat st;
    if (stat(fd.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    int64_t after = -1;
    bool has_off = end + 1 < s.nargs && s.args[end + 1].kind == ArgKind::InOut && s.args[end + 1].n == 8;
    if (has_off && a[end + 1]) {
      t.read_mem(a[end + 1], &after, 8);
    } else {
      std::ifstream info("/proc/" + std::to_string(t.tid()) + "/fdinfo/" + std::to_string(static_cast<int>(a[end])));
      std::string key;
      while (info >> key && key != "pos:") {}
      if (!(info >> after)) after = -1;
    }
    if (after < ret) continue;
    int f = open(fd.c_str(), O_RDONLY | O_CLOEXEC);
    if (f < 0) continue;
    std::string bytes(n, '\0');
    ssize_t got = pread(f, bytes.data(), n, after - ret);
    close(f);
    if (got < 0) continue;
    bytes.resize(static_cast<size_t>(got));
    return bytes;
  }
  if (peeked.size() >= n) return peeked.substr(0, n);
  std::string dst = peek_pipe(t.tid(), static_cast<int>(a[s.arg_with(ArgRole::CopyDst)]));
  if (dst.size() >= n) return dst.substr(dst.size() - n);
  if (moved_warned_.insert(s.name).second)
    out_.message(warning_message("moved_unread",
                                 std::string(s.name) + " moved bytes inside the kernel that could not be read back (neither end a file, and "
                                 "the pipe end already emptied by its reader), so outputs and transactions of this "
                                 "recording do not show them"));
  return {};
}

std::string Resources::after(Thread& t, const SyscallSpec& s, Event& ev) {
  FdTable& fds = fds_[t.pid()];
  const int64_t ret = ev.ret;
  const uint64_t* a = ev.args;
  std::string res;
  if (s.fd_arg >= 0) res = fds.get(static_cast<int>(a[s.fd_arg]));
  if (s.flow == Flow::Copy) res = fds.get(static_cast<int>(a[s.arg_with(ArgRole::CopyDst)]));  // where the bytes went
  if (s.path_arg >= 0) {
    std::string path = in_part_for_arg(s, ev.data_in, s.path_arg);
    int64_t dirfd = s.dirfd_arg >= 0 ? static_cast<int>(a[s.dirfd_arg]) : AT_FDCWD;
    if (path.empty() && dirfd >= 0) res = fds.get(dirfd);  // AT_EMPTY_PATH
    else res = "file:" + abs_path(t, path, dirfd);
  }
  switch (s.fd) {
    case FdEffect::Creates:
    case FdEffect::Accepts:
      if (ret >= 0) {
        std::string r = new_fd(t, s, ev);
        fds.set(ret, r);
        res = r;
      }
      break;
    case FdEffect::Pair:
      if (ret == 0 && ev.data_out.size() >= 8) {
        int32_t pair[2];
        std::memcpy(pair, ev.data_out.data(), 8);
        res = s.has(kNet) ? "socketpair" : "pipe";
        fds.set(pair[0], res);
        fds.set(pair[1], res);
      }
      break;
    case FdEffect::Dups:
      if (ret >= 0) fds.set(ret, fds.get(static_cast<int>(a[0])));
      break;
    case FdEffect::Closes:
      if (ret == 0 || ret == -EINTR) fds.erase(static_cast<int>(a[0]));
      break;
    default:
      break;
  }
  if (s.special == Special::Fcntl && ret >= 0 && (a[1] == F_DUPFD || a[1] == F_DUPFD_CLOEXEC))
    fds.set(ret, res);
  for (int fd : received_fds(s, ret, ev.data_out)) {  // SCM_RIGHTS: named as a created fd is
    Event got;
    got.ret = fd;
    fds.set(fd, new_fd(t, s, got));
  }
  const int dest = destination_arg(s);
  if (s.handler == Handler::Connect || s.handler == Handler::Bind) {
    int fd = static_cast<int>(a[0]);
    std::string ep = format_sockaddr(ev.data_in);
    if (!ep.empty()) {
      res = fds.proto(fd) + (s.handler == Handler::Bind ? "-listen:" : ":") + ep;
      fds.set(fd, res);
    }
  } else if (dest >= 0 && a[dest]) {  // sendto with an address: the endpoint it went to
    std::string ep = format_sockaddr(in_part_for_arg(s, ev.data_in, dest));
    if (!ep.empty()) res = fds.proto(static_cast<int>(a[0])) + ":" + ep;
  } else if (s.special == Special::Mmap && !(a[3] & MAP_ANONYMOUS) && ret >= 0 &&
             static_cast<int>(a[4]) >= 0) {
    res = fds.get(static_cast<int>(a[4]));
    if (res.rfind("file:", 0) == 0)
      report_file(res.substr(5), "mapped", "/proc/" + std::to_string(t.tid()) + "/fd/" + std::to_string(a[4]));
  } else if (s.special == Special::Execve) {
    res = "file:" + abs_path(t, in_part_for_arg(s, ev.data_in, 0), AT_FDCWD);
  }
  return res;
}

std::string Resources::new_fd(Thread& t, const SyscallSpec& s, const Event& ev) {
  FdTable& fds = fds_[t.pid()];
  const int64_t fd = ev.ret;
  const uint64_t* a = ev.args;
  if (s.handler == Handler::Socket) {
    std::string proto = socket_proto(a[0], a[1]);
    fds.set_proto(fd, proto);
    return "socket:" + proto;
  }
  if (s.fd == FdEffect::Accepts) {
    std::string proto = fds.proto(static_cast<int>(a[0]));
    fds.set_proto(fd, proto);
    std::string peer = format_sockaddr(split_parts(ev.data_out, s.n_out)[0]);
    if (peer.empty()) peer = peer_of(t.pid(), static_cast<int>(fd));
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

}  // namespace rb
