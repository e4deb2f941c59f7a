// Placeholders: an fd the log created is held open in the program at its recorded number
// (a mapped file's by its recorded blob), so later real opens cannot take it.
// (replay_tool.h lists the replayer's files.)
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "replay_tool.h"

namespace rb {
namespace {

// Scratch page in the tracee for strings handed to injected syscalls. ASLR is off in the
// tracee, and nothing maps this high-but-not-top range by default.
constexpr uint64_t kScratch = 0x700000000000ULL;

}  // namespace

// Opens `holder` in the program (an injected openat) and moves it to fd `want` (-1: wherever
// the kernel puts it, the lowest free number). Returns the fd, or -1 with `err`.
int64_t Replayer::hold_fd(Thread& t, Thread::Injector& inj, const std::string& holder, bool cloexec, int64_t want,
                std::string& err) {
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
  int64_t k = inj.call(SYS_openat, static_cast<uint64_t>(AT_FDCWD), kScratch, O_RDONLY | (cloexec ? O_CLOEXEC : 0), 0);
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
