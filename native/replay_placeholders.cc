// Placeholders: an fd the log created is held open in the program at its recorded number
// (a mapped file's by its recorded blob), so later real opens cannot take it.
// (replay_tool.h lists the replayer's files.)
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "protocol.h"
#include "replay_tool.h"

namespace rb {
namespace {

// Scratch page in the tracee for strings handed to injected syscalls. ASLR is off in the
// tracee, and nothing maps this high-but-not-top range by default.
constexpr uint64_t kScratch = 0x700000000000ULL;

}  // namespace

// Opens `holder` in the program (an injected openat) and moves it to fd `want` (-1: wherever
// the kernel puts it, the lowest free number). Returns the fd, or -1 with `err`.
// A file-backed mmap (docs/services.md). /dev/zero is mapped as what it is, anonymous memory.
// Another file the recording mapped but could not store is named where it matters: its mapping
// fails here (its placeholder is /dev/null). A file mapped
// MAP_SHARED and writable is mapped from a copy of its recorded bytes made for this run, which
// every process of the run that maps it shares (the stored bytes stay read-only). Returns 1
// when it mapped the file itself (the call is finished), 0 when the call runs as it is, -1 with
// `err`.
int Replayer::map_recorded_file(Thread& t, const Event& e, const uint64_t args[6], std::string& err) {
  if (e.resource.rfind("file:", 0) != 0) return 0;
  std::string path = e.resource.substr(5);
  auto blob = opts_.files.find(path);
  if (blob == opts_.files.end() && path == "/dev/zero") {
    // Zeroes on every machine, private or shared: the kernel maps /dev/zero as anonymous memory
    // (shared: one shmem object per mapping, shared with the processes forked after it).
    Thread::Injector inj(t);
    int64_t addr = inj.call(SYS_mmap, args[0], args[1], args[2], args[3] | MAP_ANONYMOUS, static_cast<uint64_t>(-1), 0);
    if (inj.failed() || !inj.finish(addr)) {
      err = "injecting the mapping of /dev/zero into the program failed";
      return -1;
    }
    return 1;
  }
  if (blob == opts_.files.end()) {
    if (unstored_warned_.insert(path).second)
      out_.message(warning_message("file_not_stored", "the program maps " + path + " (seq " + std::to_string(e.seq) +
                                                          "), whose bytes the recording could not store: that mapping fails in this "
                                                          "replay, which may diverge from here"));
    return 0;
  }
  if (!(args[3] & MAP_SHARED) || (args[3] & MAP_PRIVATE) || !(args[2] & PROT_WRITE)) return 0;
  std::string& copy = shared_copies_[path];
  if (copy.empty()) {
    int fd = open(blob->second.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      err = "cannot read the recorded " + path + " (" + blob->second + "): " + strerror(errno);
      return -1;
    }
    copy = shared_dir_.copy(fd, err, false);
    close(fd);
    if (copy.empty()) {
      err = "cannot copy the recorded " + path + " for this run: " + err;
      return -1;
    }
  }
  Thread::Injector inj(t);
  int64_t fdflags = inj.call(SYS_fcntl, args[4], F_GETFD);
  if (hold_fd(t, inj, copy, fdflags > 0 && (fdflags & FD_CLOEXEC), static_cast<int>(args[4]), err, O_RDWR) < 0)
    return -1;
  int64_t addr = inj.call(SYS_mmap, args[0], args[1], args[2], args[3], args[4], args[5]);
  if (inj.failed() || !inj.finish(addr)) {
    err = "injecting the mapping of " + path + " into the program failed";
    return -1;
  }
  return 1;
}

int64_t Replayer::hold_fd(Thread& t, Thread::Injector& inj, const std::string& holder, bool cloexec, int64_t want,
                std::string& err, int access) {
  if (!scratch_.count(t.pid())) {
    int64_t r = inj.call(SYS_mmap, kScratch, 4096, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, static_cast<uint64_t>(-1), 0);
    if (r != static_cast<int64_t>(kScratch)) {
      err = "could not map the replay scratch page in the program (" + std::to_string(r) + ")";
      return -1;
    }
    scratch_.insert(t.pid());
  }
  if (!t.write_mem(kScratch, holder.c_str(), holder.size() + 1)) {
    err = "could not write into the replay scratch page";
    return -1;
  }
  int64_t k = inj.call(SYS_openat, static_cast<uint64_t>(AT_FDCWD), kScratch, access | (cloexec ? O_CLOEXEC : 0), 0);
  if (k < 0) {
    err = "could not hold fd " + std::to_string(want) + " open (" + strerror(static_cast<int>(-k)) + ")";
    return -1;
  }
  if (want >= 0 && k != want) {
    inj.call(SYS_dup3, static_cast<uint64_t>(k), static_cast<uint64_t>(want), cloexec ? O_CLOEXEC : 0);
    inj.call(SYS_close, static_cast<uint64_t>(k));
    k = want;
  }
  if (inj.failed()) {
    err = "injecting a syscall into the program failed";
    return -1;
  }
  return k;
}

// Stream policy: a placeholder at the lowest free fd, which the call then returns.
int64_t Replayer::open_placeholder(Thread& t, const std::string& holder, bool cloexec, int64_t want, std::string& err) {
  Thread::Injector inj(t);
  int64_t fd = hold_fd(t, inj, holder, cloexec, want, err);
  if (fd < 0 || !inj.finish(fd)) return -1;
  return fd;
}

}  // namespace rb
