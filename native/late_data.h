// Late data: the recorder keeps listening on a connected TCP socket after the service closed it,
// so that a counterfactual replay ("what if the timeout were 5 s instead of 2 s?") has the bytes
// the peer sent after the service gave up, with their arrival times.
//
// How: at the seccomp entry of a call that will close such a socket (close, close_range, dup2/dup3
// over it, execve for a close-on-exec one, exit_group or the last thread's exit) the socket is
// duplicated into the engine with pidfd_getfd, before the call runs. Once the call has run (or
// the process is gone) and no other fd of the service still refers to the socket, our duplicate
// is shut down for writing, so the peer sees a FIN, and whatever still arrives is read until EOF,
// an error, or a bound: the linger time after the close, a byte count per socket, and a count of
// sockets in all.
//
// What the peer sees changes, within those bounds: its writes after the close are accepted and
// read instead of answered with an RST; a close with unread data queued sends our FIN instead of
// an RST; and the connection stays open (half-closed) up to the linger time after the service
// closed it. `late_data 0` (`replaybook record --no-late-data`) turns it off.
//
// Reading happens on a linger thread of the engine, blocked in poll() over the duplicated fds,
// rather than in non-blocking reads from the tracer's timer: the arrival time is the point of the
// feature (it decides whether a longer timeout would have seen the data), and a thread stamps it
// as the bytes arrive instead of at the next timer tick; the tracer's stop loop gains no periodic
// wake-ups for reading; and once the service has exited, when most late data comes, the tracer
// loop has ended and there is no timer left to drive reads. The thread never touches Output (it
// is not thread-safe): it queues arrivals, and the tracer thread turns them into events with the
// recorder's seq counter (drain), at syscall stops, timer ticks and exits, and at the end
// (finish) until the last socket is done. The thread blocks every signal, so the tracer's SIGALRM
// and the stop signals keep reaching the tracer thread, and runs on the CPUs the engine had
// before pinning, so it does not compete with the service for the pinned CPU.
//
// Events (kind late_data, nr -1, pid/tid of the thread whose call closed the socket, args[0] =
// the fd number the service had, resource = the socket's resource, e.g. "tcp:127.0.0.1:9000",
// enter_ns = time since the recording's t0 on the same clock as syscall events, dur_ns 0):
// args[2] = the seq of the call that closed the socket (close, dup2, exit_group...).
//   late_data      one per read: data_out = the bytes, ret = their count.
//   late_data_end  exactly one per watched socket, the last for it: why watching stopped.
//                  ret = 0 when the peer closed (EOF), -errno on a socket error (e.g.
//                  -ECONNRESET), or kUnfinished (INT64_MIN: what came later is unknown) when a
//                  bound ended it; data_in = the reason as text: "eof", "error", "linger",
//                  "bytes" (the per-socket byte bound) or "stopped" (the engine was stopped);
//                  args[1] = the late bytes received in all.
// A socket with no late_data_end was not watched (late data off, the socket bound reached, or
// another fd still referred to it).
#pragma once
#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "batch.h"
#include "output.h"
#include "seq.h"
#include "syscalls.h"

namespace rb {

// The earlier of two deadlines, where -1 means none.
inline int64_t earliest_deadline(int64_t a, int64_t b) { return a < 0 ? b : b < 0 ? a : (a < b ? a : b); }

struct LateDataOptions {
  bool enabled = true;
  int64_t linger_ms = 5000;        // how long after the close we keep reading
  uint64_t max_bytes = 1 << 20;    // per socket
  uint64_t max_sockets = 64;       // sockets watched in all, over the whole recording
};

class LateData {
 public:
  // The resource the recorder's fd table gives an fd of the service ("tcp:10.0.0.5:443", ...).
  using ResourceOf = std::function<std::string(int64_t fd)>;

  explicit LateData(const LateDataOptions& o) : o_(o) {}
  ~LateData();
  LateData(const LateData&) = delete;
  LateData& operator=(const LateData&) = delete;

  // --- tracer thread only ---

  // At a syscall's seccomp entry, before it runs: duplicates the connected TCP sockets the call
  // is about to close. `pid` is the process, `tid` the calling thread.
  // `seq` is the seq the call's event gets (late events name it in args[2], so the socket is
  // known even after its fd number was reused).
  void on_entry(pid_t pid, pid_t tid, long nr, const uint64_t args[6], const ResourceOf& resource_of, uint64_t seq);
  // The call `tid` entered has returned `ret`: what it closed starts lingering; if it closed
  // nothing (it failed), the duplicates are let go.
  void on_return(pid_t tid, int64_t ret, const ResourceOf& resource_of);
  // The process has ended: every socket duplicated for a call that never returned (exit_group,
  // exit, or a close cut short) starts lingering.
  void on_process_exit();
  // When drain should next run (-1: nothing is being watched).
  int64_t next_deadline() const;
  // Arrivals up to `upto_ns` (CLOCK_MONOTONIC) become events: seq from the recorder's counter,
  // enter_ns relative to its t0.
  void drain(Output& out, SeqCounter& seq, int64_t t0, int64_t upto_ns);
  // After the process ended: waits until every socket is done (at most the linger time, less if
  // the engine is asked to stop), turning arrivals into events as they come.
  void finish(Output& out, SeqCounter& seq, int64_t t0);

 private:
  struct Socket {  // what the tracer thread knows of a socket it duplicated
    pid_t pid = 0, tid = 0;
    int64_t fd = -1;   // in the service
    int local = -1;    // our duplicate
    uint64_t inode = 0;
    std::string resource;
    uint64_t closed_by = 0;  // seq of the call that closed it
  };
  struct Pending {  // the sockets a call in progress will close
    long nr = -1;
    std::vector<uint64_t> ids;
  };
  struct Watch {  // a lingering socket, as the linger thread knows it
    uint64_t id = 0;
    int fd = -1;
    int64_t deadline_ns = 0;
    uint64_t got = 0;
  };
  struct Arrival {
    uint64_t id = 0;
    int64_t at_ns = 0;
    std::string bytes;
    bool end = false;
    const char* reason = "";
    int64_t ret = 0;
    uint64_t total = 0;
  };

  void grab(pid_t pid, pid_t tid, int64_t fd, const std::string& resource, Pending& into, uint64_t seq);
  void arm(uint64_t id, bool process_alive, const ResourceOf* resource_of);
  void release(uint64_t id);
  bool still_open_in(pid_t pid, const Socket& s, const ResourceOf& resource_of);
  bool start_thread();
  void wake();
  void thread_main();
  void serve(Watch& w, std::string& buf, std::vector<Arrival>& out, bool& ended);
  static Arrival end_of(const Watch& w, int64_t at, const char* reason, int64_t ret);
  void push(std::vector<Arrival>& batch);

  LateDataOptions o_;
  // Tracer thread.
  int pidfd_ = -1;
  pid_t pidfd_pid_ = -1;
  uint64_t next_id_ = 1;
  uint64_t used_ = 0;                      // sockets taken against max_sockets
  std::map<uint64_t, Socket> sockets_;     // duplicated, until their late_data_end is emitted
  std::set<uint64_t> inodes_;              // of those: one watch per socket
  std::map<pid_t, Pending> pending_;       // per thread: its call in progress
  size_t lingering_ = 0;                   // armed sockets whose end is not yet emitted
  int64_t last_drain_ns_ = 0;
  // Shared with the linger thread, under m_.
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<Watch> incoming_;
  std::deque<Arrival> arrivals_;
  bool closing_ = false;  // no more sockets will come: the thread ends when its last one does
  bool stop_ = false;     // end every socket now
  bool done_ = false;     // the thread has ended
  std::atomic<bool> has_arrivals_{false};
  int wake_fd_ = -1;      // eventfd: new sockets, closing or stop
  std::thread thread_;
};

}  // namespace rb
