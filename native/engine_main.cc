// replaybook-engine: the process that owns ptrace. Node starts it through the addon and talks to
// it over two pipes: fd 3 brings a config frame (and, for replay, the recorded events), fd 4
// carries event batches and JSON messages back. It dies with its parent, and PTRACE_O_EXITKILL
// takes the tracee with it.
//
// Config lines are "key value" with values percent-encoded (%25 %0A %20 ...):
//   mode record|replay      exe PATH        arg VALUE (repeated)     env VALUE (repeated)
//   cwd PATH                pin 0|1         speed FACTOR|max
//   fixed_addresses 0|1 (record: ASLR off for the service, opt-in; replay: always on)
//   file RECORDED_PATH LOCAL_BLOB_PATH (replay, repeated)
//   inject ID KIND key=value...  (replay, repeated; native/inject.h)
//   counterfactual 0|1      jitter MAX_US SEED      unrecorded error|refuse
//   edit_file RECORDED_PATH LOCAL_FILE (the program reads this content instead; repeated)
//   late_data 0|1 (record; default 1)  late_data_ms N  late_data_bytes N  late_data_sockets N
//     (reading sockets on after the service closed them, and its bounds: see late_data.h)
//   capture_dir PATH (record: copies of the files the service maps go there, files.h)
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <sstream>
#include <thread>

#include "batch.h"
#include "output.h"
#include "tools.h"
#include "tracer.h"

namespace {

constexpr int kIn = 3;
constexpr int kOut = 4;


struct Config {
  std::string mode;
  rb::SpawnConfig spawn;
  bool isolate_network = false;
  rb::ReplayOptions replay;  // filled straight from the replay's lines (the log comes later)
  rb::LateDataOptions late;
  std::string capture_dir;
};

// A late_data_* bound: a whole number, not negative.
bool parse_bound(const std::string& key, const std::string& v, uint64_t& out, std::string& err) {
  char* end = nullptr;
  errno = 0;
  unsigned long long n = std::strtoull(v.c_str(), &end, 10);
  if (v.empty() || v[0] == '-' || *end != '\0' || errno != 0 || n > (uint64_t(1) << 53)) {
    err = key + " needs a whole number, not '" + v + "'";
    return false;
  }
  out = n;
  return true;
}

bool parse_config(const std::string& text, Config& c, std::string& err) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::istringstream ls(line);
    std::string key, v1, v2;
    ls >> key;
    if (key == "inject") {
      std::string rest;
      std::getline(ls, rest);
      rb::Injection inj;
      if (!rb::parse_injection(rest, inj, err)) return false;
      c.replay.injections.push_back(std::move(inj));
      continue;
    }
    ls >> v1 >> v2;
    v1 = rb::percent_decode(v1);
    v2 = rb::percent_decode(v2);
    if (key == "mode") c.mode = v1;
    else if (key == "exe") c.spawn.exe = v1;
    else if (key == "arg") c.spawn.argv.push_back(v1);
    else if (key == "env") c.spawn.env.push_back(v1);
    else if (key == "cwd") c.spawn.cwd = v1;
    else if (key == "pin") c.spawn.pin = v1 == "1";
    else if (key == "fixed_addresses") c.spawn.fixed_addresses = v1 == "1";
    else if (key == "speed") c.replay.speed = v1 == "max" ? 0 : std::strtod(v1.c_str(), nullptr);
    else if (key == "file") c.replay.files[v1] = v2;
    else if (key == "isolate_network") c.isolate_network = v1 == "1";
    else if (key == "pause_at") c.replay.pause_at = std::strtoull(v1.c_str(), nullptr, 10);
    else if (key == "start_paused") c.replay.start_paused = v1 == "1";
    else if (key == "counterfactual") c.replay.counterfactual = v1 == "1";
    else if (key == "jitter") {
      c.replay.jitter_us = std::strtoll(v1.c_str(), nullptr, 10);
      c.replay.seed = std::strtoull(v2.c_str(), nullptr, 10);
    } else if (key == "unrecorded") c.replay.refuse_unrecorded = v1 == "refuse";
    else if (key == "edit_file") c.replay.edited_files[v1] = v2;
    else if (key == "late_data") c.late.enabled = v1 == "1";
    else if (key == "capture_dir") c.capture_dir = v1;
    else if (key == "late_data_ms" || key == "late_data_bytes" || key == "late_data_sockets") {
      uint64_t n = 0;
      if (!parse_bound(key, v1, n, err)) return false;
      if (key == "late_data_ms") c.late.linger_ms = static_cast<int64_t>(n);
      else if (key == "late_data_bytes") c.late.max_bytes = n;
      else c.late.max_sockets = n;
    } else {
      err = "unknown config key " + key;
      return false;
    }
  }
  if (c.mode != "record" && c.mode != "replay") {
    err = "mode must be record or replay";
    return false;
  }
  if (c.spawn.exe.empty() || c.spawn.argv.empty()) {
    err = "no command to run";
    return false;
  }
  return true;
}

}  // namespace

void on_stop_signal(int) { rb::request_stop(); }
void on_wake_signal(int) { rb::request_wake(); }

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
    out.message(rb::error_json(code, msg));
    return 1;
  };

  uint32_t type;
  std::string payload;
  if (!rb::read_frame(kIn, type, payload) || type != rb::kFrameConfig)
    return fail("protocol", "expected a config frame");
  Config cfg;
  std::string err;
  if (!parse_config(payload, cfg, err)) return fail("protocol", err);

  rb::ReplayOptions& ropts = cfg.replay;
  // Recorded events (replay) up to the end frame, which also comes when there are none.
  while (rb::read_frame(kIn, type, payload) && type != rb::kFrameEnd) {
    if (type != rb::kFrameEvents ||
        !rb::decode_batch(reinterpret_cast<const uint8_t*>(payload.data()), payload.size(),
                          ropts.log))
      return fail("protocol", "a recorded event batch could not be decoded");
  }
  if (cfg.mode == "replay") {
    // The recorder emits a call when it returns; the log's order is the order calls were entered.
    std::stable_sort(ropts.log.begin(), ropts.log.end(),
                     [](const rb::Event& a, const rb::Event& b) { return a.seq < b.seq; });
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
  }

  // Replays run in a network namespace of their own (only loopback, down) on top of emulating
  // every network syscall; the engine itself only talks over pipes, so it can move there too.
  // A user other than root cannot make one here; the tracee makes it with its user namespace.
  bool user_netns = cfg.isolate_network && geteuid() != 0 && !cfg.spawn.bind_mounts.empty();
  if (user_netns) cfg.spawn.user_netns = true;
  else if (cfg.isolate_network && unshare(CLONE_NEWNET) != 0) {
    out.message("{\"type\":\"warning\",\"code\":\"no_netns\",\"message\":" +
                rb::json_str(std::string("could not create a network namespace for the replay (") + strerror(errno) +
                             "); network syscalls are still emulated, none reaches the network") + "}");
  }
  if (!rb::tsc_traps())
    out.message("{\"type\":\"warning\",\"code\":\"tsc_untrapped\",\"message\":" + rb::json_str(rb::kTscUntrappedWarning) + "}");
  int cpu = -1;
  (void)rb::original_cpu_mask();
  if (cfg.spawn.pin) {
    cpu = rb::pin_to_current_cpu();
    if (cpu < 0) return fail("pin", "could not pin to one CPU");
  }
  std::unique_ptr<rb::Tool> tool;
  if (cfg.mode == "record") {
    rb::RecordOptions o;
    o.pinned = cfg.spawn.pin;
    o.late = cfg.late;
    o.capture_dir = cfg.capture_dir;
    tool = rb::make_recorder(out, o);
  } else {
    tool = rb::make_replayer(out, std::move(ropts));
  }
  out.message("{\"type\":\"started\",\"cpu\":" + std::to_string(cpu) + "}");
  rb::Tracer tracer;
  if (!tracer.run(cfg.spawn, *tool, err)) return fail("spawn", err);
  out.flush();
  return 0;
}
