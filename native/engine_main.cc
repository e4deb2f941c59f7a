// replaybook-engine: the process that owns ptrace. Node starts it through the addon and talks to
// it over two pipes: fd 3 brings a config frame (and, for replay, the recorded events), fd 4
// carries event batches and JSON messages back. It dies with its parent, and PTRACE_O_EXITKILL
// takes the tracee with it; except a recording with a spool file, which it writes itself and
// carries on without Node (output.h).
//
// The config, the control verbs and the messages are protocol.h's.
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "batch.h"
#include "output.h"
#include "protocol.h"
#include "recorder.h"
#include "replayer.h"
#include "tracer.h"

namespace {

constexpr int kIn = 3;
constexpr int kOut = 4;

}  // namespace

volatile sig_atomic_t g_stop_signal = 0;
void on_stop_signal(int sig) {
  g_stop_signal = sig;
  rb::request_stop();
}
void on_wake_signal(int) { rb::request_wake(); }
pthread_t g_tracer_thread;
void wake_tracer() { pthread_kill(g_tracer_thread, SIGUSR1); }

int main() {
  // Stop with Node (or on SIGTERM/SIGINT): the tracer kills and reaps the tracee, then exits.
  struct sigaction sa = {};
  sa.sa_handler = on_stop_signal;  // no SA_RESTART: waitpid and sleeps return EINTR
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() == 1) return 1;
  // Tracee events are collected with waitpid; a blocked SIGCHLD lets the tracer also wait for
  // them with a timeout (sigtimedwait) without racing.
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, nullptr);
  signal(SIGPIPE, SIG_IGN);
  rb::Output out(kOut);
  auto fail = [&](const std::string& code, const std::string& msg) {
    out.message(rb::error_message(code, msg));
    out.finish();
    return 1;
  };

  uint32_t type;
  std::string payload;
  if (!rb::read_frame(kIn, type, payload) || type != rb::kFrameConfig)
    return fail("protocol", "expected a config frame");
  rb::EngineConfig cfg;
  rb::RecordOptions record;
  rb::ReplayOptions ropts;  // filled straight from the replay's lines (the log comes later)
  std::string err;
  if (!rb::parse_config(payload, cfg, record, ropts, err)) return fail("protocol", err);
  if (cfg.mode == "record" && !record.spool.empty()) {
    if (!out.open_spool(record.spool, record.budget))
      return fail("spool", "cannot write the recording to " + record.spool + ": " + strerror(errno));
    // The recording is the engine's from now on: it outlives Node and the terminal (a dropped
    // SSH session), and ends when the service does or when asked (SIGTERM, SIGINT).
    prctl(PR_SET_PDEATHSIG, 0);
    signal(SIGHUP, SIG_IGN);
  }

  // Recorded events (replay) up to the end frame, which also comes when there are none.
  while (rb::read_frame(kIn, type, payload) && type != rb::kFrameEnd) {
    if (type != rb::kFrameEvents ||
        !rb::decode_batch(reinterpret_cast<const uint8_t*>(payload.data()), payload.size(),
                          ropts.log))
      return fail("protocol", "a recorded event batch could not be decoded");
  }
  if (cfg.mode == "replay") {
    // The recorder emits a call when it returns; the log's order is the order calls were entered.
    // The store sends it in that order: sorting (with a buffer as big as the log) only when not.
    auto by_seq = [](const rb::Event& a, const rb::Event& b) { return a.seq < b.seq; };
    if (!std::is_sorted(ropts.log.begin(), ropts.log.end(), by_seq))
      std::stable_sort(ropts.log.begin(), ropts.log.end(), by_seq);
    for (const auto& [path, blob] : ropts.files) cfg.spawn.bind_mounts.emplace_back(blob, path);
    cfg.spawn.stdio_null = true;
    cfg.spawn.fixed_addresses = true;
  }
  // A replay keeps its input open for control commands (pause, step, speed...), read by a
  // thread of their own and handed to the tracer thread with a wake-up signal.
  rb::ControlQueue control;
  if (cfg.mode == "replay") {
    ropts.control = &control;
    struct sigaction wake = {};
    wake.sa_handler = on_wake_signal;  // no SA_RESTART: the tracer's waitpid returns EINTR
    sigaction(SIGUSR1, &wake, nullptr);
    pthread_t tracer_thread = pthread_self();
    g_tracer_thread = tracer_thread;
    ropts.wake = wake_tracer;
    // gdb connects from the namespace the engine started in, not the replay's isolated one.
    ropts.gdb_netns_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    std::thread([&control, tracer_thread] {
      uint32_t ctype;
      std::string cmd;
      while (rb::read_frame(kIn, ctype, cmd)) {
        if (ctype != rb::kFrameControl) continue;
        control.push(cmd);
        pthread_kill(tracer_thread, SIGUSR1);
      }
    }).detach();
  } else {
    close(kIn);
    if (record.fast.enabled) {
      // record --fast: the service's blob asks for its ring to be drained (fast.h).
      struct sigaction wake = {};
      wake.sa_handler = on_wake_signal;
      sigaction(SIGUSR2, &wake, nullptr);
    }
  }

  // Replays run in a network namespace of their own (only loopback, down) on top of emulating
  // every network syscall; the engine itself only talks over pipes, so it can move there too.
  // A user other than root cannot make one here; the tracee makes it with its user namespace.
  bool user_netns = cfg.isolate_network && geteuid() != 0 && !cfg.spawn.bind_mounts.empty();
  if (user_netns) cfg.spawn.user_netns = true;
  else if (cfg.isolate_network && unshare(CLONE_NEWNET) != 0) {
    out.message(rb::warning_message("no_netns", std::string("could not create a network namespace for the replay (") +
                                                    strerror(errno) +
                                                    "); network syscalls are still emulated, none reaches the network"));
  }
  if (!rb::tsc_traps())
    out.message(rb::warning_message("tsc_untrapped", rb::kTscUntrappedWarning));
  if (cfg.mode == "record" && cfg.cpuid_required)
    return fail("cpuid_untrapped", "cpuid answers cannot be recorded here (record --cpuid require): " + rb::cpuid_reason() +
                                       "; record without --cpuid require (cpuid is then not recorded, and a replay on another machine "
                                       "may take another path where the program branches on CPU features)");
  if (cfg.mode == "record") out.message(rb::warning_message("cpuid_untrapped", rb::cpuid_untrapped_warning()));
  int cpu = -1;
  (void)rb::original_cpu_mask();
  if (cfg.spawn.pin) {
    cpu = rb::pin_to_current_cpu();
    if (cpu < 0) return fail("pin", "could not pin to one CPU");
  }
  std::unique_ptr<rb::Tool> tool;
  if (cfg.mode == "record") {
    tool = rb::make_recorder(out, record);
  } else {
    tool = rb::make_replayer(out, std::move(ropts));
  }
  out.message(rb::started_message(cpu, cfg.mode == "record" && cfg.spawn.randomized()));
  rb::Tracer tracer;
  if (!tracer.run(cfg.spawn, *tool, err)) return fail("spawn", err);
  if (g_stop_signal && out.spooling())
    out.message(rb::warning_message("stopped", std::string("the recording engine was stopped by ") +
                                                   (g_stop_signal == SIGINT ? "SIGINT" : "SIGTERM") +
                                                   ", and the service with it"));
  out.finish();
  return out.spool_failed() ? 1 : 0;
}
