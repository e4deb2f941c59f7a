// What the service's fds and files are, as the event log names them: the resource of each
// event (file:/etc/app.conf, tcp:10.0.0.5:443, pipe, ...), kept per process as fds are created,
// duplicated, passed and closed; the bytes a call moved inside the kernel (sendfile, splice),
// read back after it; and the files the service maps, each named once and copied as it is at
// its first mapping. The recorder owns one (recorder.cc).
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "batch.h"
#include "files.h"
#include "output.h"
#include "syscalls.h"
#include "tracer.h"

namespace rb {

// The target of a symlink (a /proc fd or cwd), empty when it cannot be read.
std::string readlink_str(const std::string& path);

// What a pipe of the tracee holds now, without taking it out: the pipe, opened for reading
// through /proc (either end of it), is tee'd into a pipe of ours as large as it. Empty when `fd`
// is not a pipe.
std::string peek_pipe(pid_t tid, int fd);

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

class Resources {
 public:
  // `capture_dir`: where mapped files are copied (empty: named, not copied).
  Resources(Output& out, const std::string& capture_dir) : out_(out), capture_dir_(capture_dir), copies_(capture_dir) {}

  // The event's resource; also keeps the process's fd table current.
  std::string after(Thread& t, const SyscallSpec& s, Event& ev);
  // The `ret` bytes a sendfile, splice, tee or copy_file_range moved inside the kernel, read
  // back from whichever end is a regular file (the source first) at the offset the call used:
  // that end's offset argument after the call, or its fd's position, minus `ret`. Else from a
  // pipe: the source pipe's first `ret` bytes as `peeked` at the call's entry, or the last `ret`
  // bytes the destination pipe holds now. Otherwise (a reader emptied the pipe first) the bytes
  // are gone: empty, and a warning says so once per syscall.
  std::string moved_bytes(Thread& t, const SyscallSpec& s, const uint64_t* a, int64_t ret, const std::string& peeked);
  // A file the service maps, named once per path and copied now, as it is at its first mapping
  // (`source`: where to read it, e.g. the mapping fd through /proc, which works after an
  // unlink). A file that cannot be copied is named with the reason; it never fails the recording.
  void report_file(const std::string& path, const char* role, const std::string& source);

  // A new process starts with a copy of its parent's fd table; an ended one's goes.
  void on_fork(pid_t parent, pid_t child) { fds_[child] = fds_[parent]; }
  void on_process_exit(pid_t pid) { fds_.erase(pid); }
  // What `fd` of process `pid` designates now.
  std::string name(pid_t pid, int64_t fd) const {
    auto it = fds_.find(pid);
    return it == fds_.end() ? "fd:" + std::to_string(fd) : it->second.get(fd);
  }

 private:
  std::string abs_path(Thread& t, const std::string& path, int64_t dirfd);
  std::string new_fd(Thread& t, const SyscallSpec& s, const Event& ev);

  static constexpr uint64_t kMaxMoved = 256u << 20;
  Output& out_;
  std::string capture_dir_;
  std::map<pid_t, FdTable> fds_;  // per process
  std::set<std::string> files_;
  std::set<std::string> moved_warned_;  // syscalls whose moved bytes could not be read
  CopyDir copies_;
};

}  // namespace rb
