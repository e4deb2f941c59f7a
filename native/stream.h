// The `stream` policy of a counterfactual replay (see docs/injections.md). Once an injection has
// changed what the program does, its syscalls no longer follow the log one for one; they are
// answered from a model of the world the log describes:
//   - every connection, pipe and opened file is a stream of the bytes the kernel delivered, each
//     chunk with the time it arrived in production (late data included);
//   - files are served by offset from the bytes that were read; a socket's bytes as a byte
//     stream, whatever the call boundaries;
//   - waits (poll, ppoll, select, pselect6, blocking reads, sleeps) complete when the data
//     arrived, on the virtual clock, or time out per their (possibly new) timeout;
//   - clock reads follow the virtual clock, anchored on the recorded clock reads;
//   - any other call is answered by the next recorded call of the same name on the same
//     resource (or, for calls without one, of the same name).
// What has nothing recorded behind it is an unrecorded interaction.
//
// This file is policy only: it never touches the tracee. The replayer reads the call's inputs,
// applies the answer (memory, return value, placeholders) and holds threads that wait.
#pragma once
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "batch.h"
#include "syscalls.h"

namespace rb {

// One call as the program made it, in stream mode.
struct StreamCall {
  const SyscallSpec* spec = nullptr;
  uint64_t args[6] = {0, 0, 0, 0, 0, 0};
  pid_t pid = 0, tid = 0;  // recorded ids
  std::string data_in;     // capture_in
  int64_t vnow = 0;        // virtual time (the recording's timeline, ns)
  int64_t deadline = -1;   // a wait re-asked: its timeout expires at this virtual time
};

struct StreamAnswer {
  enum Kind {
    Return,      // emulate: `ret`, and write `data_out` (the table's encoding) back
    Wait,        // nothing yet: ask again at virtual time `wake` (deadline: `deadline`)
    RunReal,     // let the kernel run it (memory, signals, close, dup...): then call after_real
    CreateFd,    // open a placeholder (`placeholder`, or /dev/null) at the lowest free fd; then
                 // call bind_created with its number and return that number
    Unrecorded,  // nothing recorded behind it (`why`)
  } kind = Return;
  int64_t ret = 0;
  std::string data_out;
  int64_t wake = -1, deadline = -1;
  std::string placeholder;
  bool cloexec = false;
  std::string resource;  // what the call touched (for the run's event)
  int stream = -1;       // CreateFd: the recorded stream it is (an accepted connection)
  std::string why;
  int refuse_errno = 0;  // for Unrecorded: the errno the `refuse` policy returns
};

class World {
 public:
  // `files`: recorded path -> local blob (placeholders for files that are mapped).
  World(const EventLog& log, const std::map<std::string, std::string>& files);

  // Moves the model to the state the program is in just before log[cursor] (fd tables, how much
  // of every stream was consumed, which recorded calls were answered).
  void start(size_t cursor);
  // Extra arrival delay (ns) for inbound data on streams whose resource matches `glob`.
  void add_latency(const std::string& glob, int64_t ns);
  // A seeded, bounded random delay per arrival (jitter); 0 disables.
  void set_jitter(int64_t max_ns, uint64_t seed);
  // The program reads `bytes` from `path` instead of what was recorded (a config-file edit);
  // its size (fstat) changes accordingly.
  void edit_file(const std::string& path, const std::string& bytes);

  StreamAnswer call(const StreamCall& c);
  void bind_created(pid_t pid, int fd, const StreamCall& c, const StreamAnswer& a);
  void after_real(pid_t pid, const StreamCall& c, int64_t ret);
  // A new process (fork): it starts with a copy of its parent's fd table.
  void fork(pid_t parent, pid_t child);
  std::string resource_of(pid_t pid, int fd) const;
  // The time-stamp counter at virtual time `vnow`: anchored on the recorded reads, at the rate
  // they show (1 tick per ns when they are too close to tell).
  uint64_t tsc(int64_t vnow) const;

 private:
  struct Chunk {
    int64_t at;
    std::string bytes;
  };
  struct Stream {
    std::string resource;
    bool file = false;
    std::string path;
    std::vector<Chunk> in;
    int64_t eof_at = -1;      // a read returned 0 (or late data ended) at this time
    int64_t shift = 0;        // injected latency
    int64_t opened_late = 0;  // a connection the run made later (or earlier) than the recording did
    // consumption (stream mode)
    size_t chunk = 0, off = 0;
    uint64_t pos = 0;         // files: the offset
    int created_seq = -1;     // the event that created it
  };
  struct Binding {
    int stream = -1;  // -1: not a stream (stdio, epoll, eventfd...)
    std::string resource;
    bool nonblock = false;
    int64_t rcvtimeo_ns = -1;  // SO_RCVTIMEO: a blocking read gives up (EAGAIN) after it
  };
  struct FileContent {
    std::string bytes;
    std::vector<bool> known;
    int64_t size = -1;  // from a recorded fstat, or where a read returned 0
  };

  int new_stream(const std::string& resource, int seq);
  void walk(const Event& e, bool build);
  int64_t arrival(const Stream& s, size_t i) const;
  bool readable(const Stream& s, int64_t vnow) const;
  int64_t next_arrival(const Stream& s) const;  // -1 if none
  std::string take(Stream& s, size_t count, int64_t vnow);
  StreamAnswer read(const StreamCall& c, int fd, size_t count, int64_t offset);
  StreamAnswer poll(const StreamCall& c, bool ppoll);
  StreamAnswer select(const StreamCall& c, bool pselect);
  StreamAnswer epoll_ctl(const StreamCall& c);
  StreamAnswer epoll_wait(const StreamCall& c);
  // Readiness of one fd for the waits: `wake` lowers to its next arrival when not readable.
  bool fd_readable(pid_t pid, int fd, int64_t vnow, int64_t& wake);
  bool fd_writable(pid_t pid, int fd);
  int64_t wait_deadline(const StreamCall& c, int64_t timeout_ns) const;
  StreamAnswer wait_result(const StreamCall& c, StreamAnswer a, int ready, const std::string& out, int64_t wake,
                           int64_t deadline) const;
  StreamAnswer sleep(const StreamCall& c);
  StreamAnswer clock(const StreamCall& c);
  StreamAnswer connect(const StreamCall& c);
  StreamAnswer open(const StreamCall& c);
  StreamAnswer accept(const StreamCall& c);
  StreamAnswer fallback(const StreamCall& c, const std::string& resource);
  std::string recorded_path(const std::string& name, const std::string& path) const;
  int64_t clock_value(int clk, int64_t vnow) const;
  Binding* binding(pid_t pid, int fd);

  const EventLog& log_;
  const std::map<std::string, std::string>& files_;
  std::vector<Stream> streams_;
  std::map<std::string, FileContent> content_;
  // Built once over the whole log: per (pid, fd) during the walk, which stream each event used.
  std::map<pid_t, std::map<int, Binding>> fds_;
  std::map<std::pair<pid_t, int>, int> closed_;  // last stream an fd had when closed
  std::map<std::pair<uint64_t, int>, int> closed_by_;  // (seq of a closing call, fd) -> stream
  // epoll interest lists: (pid, epoll fd) -> fd -> (events, data)
  std::map<std::pair<pid_t, int>, std::map<int, std::pair<uint32_t, uint64_t>>> epoll_;
  std::set<std::string> edited_;
  std::map<uint64_t, int> created_at_;           // event index -> stream it created
  std::map<uint64_t, int> connect_at_;           // event index of a connect -> its stream
  std::map<pid_t, pid_t> pid_of_tid_;
  // Anchors of the virtual clock: per clock id, (recorded time, clock value) of each read.
  std::map<int, std::vector<std::pair<int64_t, int64_t>>> clocks_;
  std::vector<std::pair<int64_t, uint64_t>> tsc_;  // recorded rdtsc reads: (time, value)
  // Recorded calls by (name, resource), in log order, for the fallback; and what was used.
  std::map<std::pair<std::string, std::string>, std::vector<size_t>> by_key_;
  std::set<size_t> used_;
  size_t start_ = 0;
  size_t walk_index_ = 0;  // the log index walk() is applying
  std::map<std::string, int64_t> latency_;
  int64_t jitter_ns_ = 0;
  uint64_t seed_ = 0;
};

// Does `text` match the glob `pattern` (`*` any run of characters, `?` one)?
bool glob_match(const std::string& pattern, const std::string& text);

}  // namespace rb
