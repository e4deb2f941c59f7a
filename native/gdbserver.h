// A GDB remote serial protocol server for a paused replay (docs/gdb.md). gdb attaches over TCP on
// loopback; a thread of its own accepts the connection and reads packets, which the tracer thread
// answers (only it may use ptrace) when woken, through the GdbTarget the replayer implements
// (replay_gdb.cc).
//
// What gdb sees: the replayed process at the pause, one gdb thread per stopped thread (recorded
// tids), registers in the amd64 layout of the target description below, memory, the auxiliary
// vector (so gdb finds the program's and the shared libraries' load addresses), the executable's
// path. Running it: `stepi` (s / vCont;s) serves one recorded event and stops; `continue`
// (c / vCont;c) runs the replay until a software breakpoint (Z0) is hit or the program ends;
// Ctrl-C pauses it. Reverse (bs / bc): back one event, or to the last breakpoint hit before
// here (else the beginning), through the replay's checkpoints. Writes to memory or registers
// are refused: the replay must stay the recording's. `detach`, `kill` and quitting gdb leave
// the replay paused where it is.
#pragma once
#include <sys/types.h>
#include <sys/user.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace rb {

// The replay as the server needs it; every call happens on the tracer thread.
class GdbTarget {
 public:
  virtual ~GdbTarget() = default;
  // Recorded tids of the threads stopped now (gdb can look at those), the stopped one first.
  virtual std::vector<pid_t> gdb_threads() = 0;
  virtual bool gdb_regs(pid_t rec, user_regs_struct& regs, user_fpregs_struct& fp) = 0;
  // Reads tracee memory as the program sees it (software breakpoints hidden).
  virtual bool gdb_read(pid_t rec, uint64_t addr, size_t len, std::string& out) = 0;
  // A line gdb shows for `info threads` (its state in the replay).
  virtual std::string gdb_thread_info(pid_t rec) = 0;
  // Resumes the replay: one event (step) or until a breakpoint or the end. "" when it runs; else
  // why not (the stop reply is then sent at once).
  virtual std::string gdb_resume(bool step) = 0;
  virtual void gdb_interrupt() = 0;
  // Goes back, through the checkpoints, to the previous event (to_start false: reverse-stepi) or
  // (true: reverse-continue) to the last breakpoint hit before here, else to the first event.
  // "" when it runs there (the stop reply follows the pause: a breakpoint stop, or the
  // beginning); "begin" when already there; else why not (an error for gdb).
  virtual std::string gdb_reverse(bool to_start) = 0;
  // Inserts or removes a software breakpoint at `addr`; false with `err` set.
  virtual bool gdb_breakpoint(bool insert, uint64_t addr, std::string& err) = 0;
  virtual std::string gdb_auxv() = 0;
  virtual std::string gdb_exe() = 0;
  virtual pid_t gdb_pid() = 0;
  // gdb went away (detach, kill, closed connection): breakpoints are removed.
  virtual void gdb_detached() = 0;
};

class GdbServer {
 public:
  // Listens on 127.0.0.1:`port` (0: a free port), in the network namespace `netns_fd` refers to
  // (-1: the engine's), and starts the thread that accepts and reads. `wake` is called from that
  // thread when packets arrive (it wakes the tracer thread). False with `err` set.
  bool start(int port, int netns_fd, void (*wake)(), std::string& err);
  int port() const { return port_; }
  bool listening() const { return listen_fd_ >= 0; }
  // Answers the packets that arrived (tracer thread).
  void poll(GdbTarget& t);
  // The replay stopped after gdb resumed it: `breakpoint` when one was hit.
  void stopped(GdbTarget& t, bool breakpoint);
  // The program ended while gdb waited: W (exit code) or X (signal).
  void exited(int status);
  // gdb resumed the replay and waits for a stop reply.
  bool waiting() const { return waiting_; }

 private:
  void reader();
  void handle(GdbTarget& t, const std::string& p);
  void send(const std::string& payload);
  std::string stop_reply(GdbTarget& t, int sig, bool breakpoint);
  std::string regs_hex(GdbTarget& t, pid_t rec, bool& ok);
  std::string xfer(const std::string& data, const std::string& offlen);
  pid_t current(GdbTarget& t);

  int listen_fd_ = -1;
  std::atomic<int> conn_{-1};
  int port_ = 0;
  void (*wake_)() = nullptr;
  std::mutex m_;
  std::deque<std::string> in_;  // packets (payloads); "\x03" an interrupt; "\x04" connection closed
  bool waiting_ = false;
  bool to_begin_ = false;  // the stop awaited ends a reverse-continue: at the history's beginning
  pid_t general_ = 0;  // the thread gdb chose with Hg (0: the stopped one)
};

// The amd64 target description gdb gets (qXfer:features:read:target.xml).
std::string gdb_target_xml();

}  // namespace rb
