// The replayer: each trapped syscall is checked against the next recorded event and, for the
// emulated class, answered from the log (return value and output bytes) without reaching the
// kernel. fds the log created are held in the tracee's real fd table by placeholders at the
// recorded numbers; a mapped file's placeholder is its recorded blob, so mmap maps recorded bytes.
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>

#include <cstring>

#include "capture.h"
#include "tools.h"

namespace rb {
namespace {

// Scratch page in the tracee for strings handed to injected syscalls. ASLR is off in the
// tracee, and nothing maps this high-but-not-top range by default.
constexpr uint64_t kScratch = 0x700000000000ULL;

void sleep_until(int64_t target_ns) {
  struct timespec ts = {static_cast<time_t>(target_ns / 1000000000LL),
                        static_cast<long>(target_ns % 1000000000LL)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR && !stop_requested()) {
  }
}

bool is_compared_scalar(const SyscallSpec& s, ArgKind k) {
  if (k == ArgKind::Fd || k == ArgKind::Dirfd) return true;
  return k == ArgKind::Int && s.cls != Class::Executed;
}

bool is_compared_bytes(ArgKind k) {
  return k == ArgKind::In || k == ArgKind::Path || k == ArgKind::Str;
}

std::string event_json(const Event& e) {
  std::string args = "[";
  for (int i = 0; i < 6; i++) args += (i ? ",\"" : "\"") + std::to_string(e.args[i]) + "\"";
  args += "]";
  return "{\"name\":" + json_str(e.name) + ",\"nr\":" + std::to_string(e.nr) +
         ",\"args\":" + args + ",\"resource\":" + json_str(e.resource) +
         ",\"data_in\":\"" + base64(e.data_in) + "\"}";
}

class Replayer : public Tool {
 public:
  Replayer(Output& out, ReplayOptions&& opts) : out_(out), opts_(std::move(opts)) {}

  Resume on_syscall(Thread& t, const SyscallStop& stop) override {
    if (t0_ == 0) t0_ = stop.time_ns;
    const SyscallSpec& s = *stop.spec;
    const uint64_t* args = stop.args;
    Event actual = syscall_event(t, s, args, seq_, stop.time_ns - t0_);
    actual.data_in = capture_in(t, s, args);
    while (cursor_ < opts_.log.size() && opts_.log[cursor_].kind == kSignal) cursor_++;
    if (cursor_ >= opts_.log.size() || opts_.log[cursor_].kind != kSyscall) {
      diverge(t, nullptr, actual, "the program made a syscall after the recorded log ended");
      return Resume::Kill;
    }
    const Event& e = opts_.log[cursor_];
    // The first execve is ours (the spawn); its path is what we were told to run.
    std::string why = seq_ == 0 ? (e.nr == actual.nr ? "" : "the first event is not an exec")
                                : mismatch(s, e, actual);
    actual.resource = e.resource;
    // Runs speak of the recorded process and thread ids, so runs and recording line up.
    actual.pid = last_pid_ = e.pid;
    actual.tid = last_tid_ = e.tid;
    if (!why.empty()) {
      diverge(t, &e, actual, why);
      return Resume::Kill;
    }
    cursor_++;
    seq_++;

    // Production timing: no syscall before its recorded time.
    if (opts_.speed > 0) sleep_until(t0_ + static_cast<int64_t>(e.enter_ns / opts_.speed));
    int64_t serve_start = now_ns();
    actual.enter_ns = serve_start - t0_;
    actual.ret = e.ret;
    Resume resume = Resume::Continue;
    if (s.cls == Class::Denied) {
      t.emulate(-ENOSYS);
    } else if (s.cls == Class::Executed || s.cls == Class::Untraced || runs_for_real(s, e)) {
      // Runs for real: memory, signals, exit, exec, and fd duplication on placeholders.
      actual.data_out = e.data_out;
      if (s.special == Special::Execve) scratch_ready_ = false;
    } else {
      std::string err;
      if (!serve(t, s, e, args, err)) {
        out_.message(error_json("replay_failed", err + " (seq " + std::to_string(e.seq) + ")"));
        return Resume::Kill;
      }
      actual.data_out = e.data_out;
    }
    // Blocking calls take their recorded duration.
    int64_t dur = opts_.speed > 0 ? static_cast<int64_t>(e.dur_ns / opts_.speed) : 0;
    if (dur > 20000) sleep_until(t0_ + static_cast<int64_t>((e.enter_ns + e.dur_ns) / opts_.speed));
    actual.dur_ns = now_ns() - serve_start;
    out_.event(std::move(actual));
    return resume;
  }

  void on_syscall_exit(Thread&) override {}

  void on_unsupported(const std::string& message) override {
    out_.message(error_json("unsupported", message));
  }

  void on_exec(Thread&) override { scratch_ready_ = false; }

  int on_signal(Thread&, int sig) override { return sig; }

  void on_exit(int status) override {
    Event e;
    e.seq = seq_++;
    e.kind = kExit;
    e.name = "exit";
    e.pid = last_pid_;
    e.tid = last_tid_;
    e.ret = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    e.enter_ns = t0_ ? now_ns() - t0_ : 0;
    if (!diverged_) out_.event(std::move(e));
    out_.message("{\"type\":\"exit\"," + exit_status_json(status) +
                 ",\"consumed\":" + std::to_string(cursor_) +
                 ",\"log_events\":" + std::to_string(opts_.log.size()) + "}");
  }

 private:
  static bool runs_for_real(const SyscallSpec& s, const Event& e) {
    // fcntl(F_DUPFD*) duplicates a placeholder: the real call yields the recorded number.
    return s.special == Special::Fcntl && (e.args[1] == F_DUPFD || e.args[1] == F_DUPFD_CLOEXEC);
  }

  // Why the program's call differs from the recorded one, or "" when it matches.
  static std::string mismatch(const SyscallSpec& s, const Event& e, const Event& a) {
    if (e.nr != a.nr)
      return std::string("expected ") + e.name + ", the program called " + a.name;
    for (int i = 0; i < s.nargs; i++) {
      if (is_compared_scalar(s, s.args[i].kind) && e.args[i] != a.args[i])
        return std::string(s.name) + " argument " + std::to_string(i + 1) + " differs: recorded " +
               std::to_string(e.args[i]) + ", now " + std::to_string(a.args[i]);
    }
    bool has_bytes = false;
    for (int i = 0; i < s.nargs; i++) has_bytes |= is_compared_bytes(s.args[i].kind);
    if (has_bytes && e.data_in != a.data_in)
      return std::string(s.name) + " hands the kernel different bytes than were recorded";
    return "";
  }

  void diverge(Thread& t, const Event* expected, const Event& actual, const std::string& why) {
    diverged_ = true;
    out_.message("{\"type\":\"divergence\",\"seq\":" + std::to_string(seq_) +
                 ",\"tid\":" + std::to_string(expected ? expected->tid : t.tid()) +
                 ",\"ip\":\"" + std::to_string(t.ip()) + "\",\"reason\":" + json_str(why) +
                 ",\"expected\":" + (expected ? event_json(*expected) : "null") +
                 ",\"actual\":" + event_json(actual) + "}");
  }

  // Answers an emulated syscall from the log: placeholders for created fds, then output bytes
  // and the return value.
  bool serve(Thread& t, const SyscallSpec& s, const Event& e, const uint64_t args[6],
             std::string& err) {
    std::vector<int64_t> new_fds;
    if ((s.fd == FdEffect::Creates || s.fd == FdEffect::Accepts) && e.ret >= 0) {
      new_fds.push_back(e.ret);
    } else if (s.fd == FdEffect::Pair && e.ret == 0 && e.data_out.size() >= 8) {
      int32_t pair[2];
      std::memcpy(pair, e.data_out.data(), 8);
      new_fds = {pair[0], pair[1]};
    }
    if (new_fds.empty()) {
      if (!serve_out(t, s, args, e.ret, e.data_out, err)) return false;
      return t.emulate(e.ret);
    }
    bool cloexec = s.cloexec_arg >= 0 && (args[s.cloexec_arg] & s.cloexec_mask);
    Thread::Injector inj(t);
    if (!scratch_ready_) {
      int64_t r = inj.call(SYS_mmap, kScratch, 4096, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, static_cast<uint64_t>(-1), 0);
      if (r != static_cast<int64_t>(kScratch)) {
        err = "could not map the replay scratch page in the program (" + std::to_string(r) + ")";
        return false;
      }
      scratch_ready_ = true;
    }
    std::string holder = "/dev/null";
    if (e.resource.rfind("file:", 0) == 0) {
      auto it = opts_.files.find(e.resource.substr(5));
      if (it != opts_.files.end()) holder = it->second;  // mapped later: the recorded bytes
    }
    if (!t.write_mem(kScratch, holder.c_str(), holder.size() + 1)) {
      err = "could not write into the replay scratch page";
      return false;
    }
    for (int64_t fd : new_fds) {
      int64_t k = inj.call(SYS_openat, static_cast<uint64_t>(AT_FDCWD), kScratch,
                           O_RDONLY | (cloexec ? O_CLOEXEC : 0), 0);
      if (k < 0) {
        err = "could not hold fd " + std::to_string(fd) + " open (" + strerror(static_cast<int>(-k)) + ")";
        return false;
      }
      if (k != fd) {
        inj.call(SYS_dup3, static_cast<uint64_t>(k), static_cast<uint64_t>(fd), cloexec ? O_CLOEXEC : 0);
        inj.call(SYS_close, static_cast<uint64_t>(k));
      }
    }
    if (inj.failed()) {
      err = "injecting a syscall into the program failed";
      return false;
    }
    if (!serve_out(t, s, args, e.ret, e.data_out, err)) return false;
    return inj.finish(e.ret);
  }

  Output& out_;
  ReplayOptions opts_;
  size_t cursor_ = 0;
  uint64_t seq_ = 0;
  int64_t t0_ = 0;
  bool scratch_ready_ = false;
  bool diverged_ = false;
  int32_t last_pid_ = 0, last_tid_ = 0;
};

}  // namespace

std::unique_ptr<Tool> make_replayer(Output& out, ReplayOptions&& opts) {
  return std::make_unique<Replayer>(out, std::move(opts));
}

}  // namespace rb
