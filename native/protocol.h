// The engine protocol, C++ side: the config Node sends, the control verbs of a running replay,
// and every JSON message back. src/engine/protocol.ts is the other side; change both together
// and raise kProtocolVersion.
//
// Config: one line per setting, "key value...", values percent-encoded (%XX is the byte XX):
//   version N (first)       mode record|replay     exe PATH    cwd PATH    pin 0|1
//   arg VALUE (repeated)    env VALUE (repeated)
//   fixed_addresses 0|1 (record: ASLR off for the service, the default record sends; replay: always on)
//   cpuid_required 0|1 (record: refuse to record, error cpuid_untrapped, where cpuid answers
//     cannot be recorded; today that is every machine: tsc.h)
//   record: late_data 0|1 (default 1)  late_data_ms N  late_data_bytes N  late_data_sockets N
//           capture_dir PATH (copies of the files the service maps go there: files.h)
//           spool PATH (batches and messages go to this file, not to Node: output.h)
//           max_events N  max_bytes N (the recording stops there: output.h's Budget)
//           signal_defer_ms N (an asynchronous signal waits up to N ms for its thread's next
//             syscall, 0: delivered where it lands; default 20: recorder.cc)
//     (reading sockets on after the service closed them, and its bounds: see late_data.h)
//   replay: speed FACTOR|max    isolate_network 0|1    pause_at SEQ    start_paused 0|1    checkpoints 0|1
//     file RECORDED_PATH LOCAL_BLOB_PATH (repeated)
//     inject ID KIND key=value... (repeated; keys in inject.h)
//     counterfactual 0|1      jitter MAX_US SEED      unrecorded error|refuse
//     edit_file RECORDED_PATH LOCAL_FILE (the program reads this content instead; repeated)
//
// Control verbs (one per control frame): pause | resume | step N | speed X|max | until SEQ |
// state | read TID ADDR LEN | stop | gdbserver PORT (listen for gdb on 127.0.0.1:PORT, 0: any
// free port; answered by a gdbserver message) | goto SEQ (restore the nearest checkpoint before
// event SEQ where that saves replaying; answered by a restored message). TID is a recorded
// thread id.
//
// Messages: one JSON object per message frame, {"type": ..., ...}; 64-bit values (addresses,
// arguments, nanoseconds) are decimal strings, bytes are base64.
#pragma once
#include <sys/types.h>
#include <sys/user.h>

#include <cstdint>
#include <string>
#include <vector>

#include "batch.h"
#include "inject.h"
#include "tracer.h"

namespace rb {

constexpr int kProtocolVersion = 4;

struct RecordOptions;
struct ReplayOptions;
struct Injection;

// ---- config ----

struct EngineConfig {
  std::string mode;  // record | replay
  SpawnConfig spawn;
  bool isolate_network = false;
  bool cpuid_required = false;  // record: fail unless cpuid answers can be recorded (tsc.h)
};

// Parses a config frame: the spawn into `c`, each mode's settings into its tool's options.
// False with `err` set (one line, naming the key) on a bad or mismatched config.
bool parse_config(const std::string& text, EngineConfig& c, RecordOptions& record, ReplayOptions& replay,
                  std::string& err);
// Config values are percent-encoded words (%XX is the byte XX).
std::string percent_decode(const std::string& s);

// ---- control verbs ----

struct ControlVerb {
  enum Kind { Pause, Resume, Step, Speed, Until, State, Read, Stop, Gdbserver, Goto, Injections } kind = Pause;
  uint64_t n = 1;       // step
  double speed = 1.0;   // speed: 0 = max
  uint64_t seq = 0;     // until
  pid_t tid = 0;        // read (recorded)
  uint64_t addr = 0, len = 0;
  uint64_t port = 0;    // gdbserver
  // injections: the new set, one config line (`inject ...`) each after the verb's line
  std::vector<Injection> injections;
};
bool parse_control(const std::string& line, ControlVerb& v, std::string& err);

// ---- the JSON writer ----

// Appends JSON to a string; commas between members and elements are its business.
class JsonWriter {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(const char* k);
  JsonWriter& str(const std::string& s);  // valid UTF-8 as is; other bytes as \u00XX
  JsonWriter& i64(int64_t v);
  JsonWriter& u64(uint64_t v);
  JsonWriter& f64(double v);              // null when not finite
  JsonWriter& boolean(bool v);
  JsonWriter& null();
  JsonWriter& dec(uint64_t v);            // a 64-bit value as a decimal string
  JsonWriter& sdec(int64_t v);
  JsonWriter& bytes(const std::string& b);  // base64
  const std::string& text() const { return out_; }

 private:
  void comma();
  std::string out_;
  std::vector<bool> first_;  // per open container: no member written yet
  bool after_key_ = false;
};

std::string base64(const std::string& s);

// ---- messages ----

// aslr: whether the traced tree runs with its address space randomized (record: what the
// recording stores, so its replay can say whether it reproduces the layout; replay: false).
std::string started_message(int cpu, bool aslr);
std::string error_message(const std::string& code, const std::string& message);
std::string warning_message(const std::string& code, const std::string& message);
// A file the recorded program mapped or the kernel loaded for it.
// A file the program mapped or the kernel loaded for it; when the recorder copies mapped files
// (`copied`), the copy's path or why there is none.
std::string file_message(const char* role, const std::string& path, bool copied = false, const std::string& copy = "",
                         const std::string& error = "");
// record --fast: calls recorded in-process, sites patched, first lost seq (~0: none).
std::string fast_message(uint64_t calls, uint64_t sites, uint64_t lossy_from);
// The recording's end: wait status as exit_code / signal.
std::string exit_message(int status);
// A recording with a spool file: how many events (and bytes) are in it so far.
std::string spooled_message(uint64_t events, uint64_t bytes);
// The recording reached its budget (`what`: events | bytes) and stops.
std::string budget_message(const char* what, uint64_t limit);

struct ReplayReport {
  uint64_t consumed = 0;     // log events served
  uint64_t log_events = 0;
  bool stream = false;       // the run left the log
  uint64_t switched_at = 0;  // seq where it did
  uint64_t in_process = 0;   // events the program's blob answered (replay_fast.cc)
  const std::vector<Injection>* injections = nullptr;
};
std::string replay_exit_message(int status, const ReplayReport& r);

std::string paused_message(const char* reason, uint64_t seq);
std::string policy_message(uint64_t seq, const std::string& reason);
std::string unrecorded_message(bool refuse, const std::string& name, int64_t tid, const std::string& reason);
// `expected` null: the log had ended.
std::string divergence_message(uint64_t seq, int64_t tid, uint64_t ip, const std::string& reason,
                               const Event* expected, const Event& actual);
// A checkpoint was taken before event `seq` (`count` kept, in `us` microseconds, `pss_kb` its
// proportional memory; `dropped`: the seq of one let go to keep 64, or -1), or none can be
// (`refused` says why; sent once).
std::string checkpoint_message(uint64_t seq, size_t count, int64_t us, int64_t pss_kb, int64_t dropped,
                               const std::string& refused);
// goto's answer: the replay went back to the checkpoint before `seq` (`served` events served
// then), or not (`reason` empty: none was of use; else why none could be).
std::string restored_message(bool restored, uint64_t seq, uint64_t served, const std::string& reason);
// The gdbserver listens on 127.0.0.1:port, or could not (`error` set).
std::string gdbserver_message(int port, const std::string& error);
// `error` empty: `bytes` were read.
std::string memory_message(uint64_t addr, const std::string& error, const std::string& bytes);

struct ThreadReport {
  pid_t tid;       // recorded
  pid_t real_tid;
  const char* state;  // running | at_syscall | in_emulated_call | waiting_turn | in_kernel
};
struct StateReport {
  bool paused = false;
  uint64_t seq = 0;     // of the next event to serve
  uint64_t served = 0;
  double speed = 1.0;   // 0 = max
  int64_t virtual_ns = 0;
  const Event* next = nullptr;
  std::vector<ThreadReport> threads;
  const user_regs_struct* regs = nullptr;  // of the thread at the next call, when stopped there
};
std::string state_message(const StateReport& s);

}  // namespace rb
