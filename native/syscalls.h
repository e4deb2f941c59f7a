// The syscall table: everything replaybook knows about a syscall lives in syscalls.cc, one line per
// syscall (as strace's syscallent.h). The recorder, the replayer, the divergence check and the
// seccomp filter read it; none of them keeps its own list.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace rb {

// What replay does with the syscall.
enum class Class : uint8_t {
  Untraced,  // hot memory-only calls: not in the log, run at full speed (seccomp ALLOW)
  Emulated,  // served from the log: I/O, time, randomness, ids, waiting
  Executed,  // run for real in replay: memory management, signal setup, exit, exec
  Denied,    // fails with ENOSYS in record and replay (io_uring bypasses seccomp)
};

// How the syscall changes the fd table.
enum class FdEffect : uint8_t {
  None,
  Uses,      // operates on the fd in its first `fd` argument
  Creates,   // returns a new fd
  Accepts,   // uses the fd argument and returns a new fd
  Pair,      // writes two new fds into its out buffer (pipe, socketpair)
  Dups,      // returns a duplicate of its fd argument (runs for real)
  Closes,    // closes its fd argument
  CloseRange,// closes every fd in the range of its first two arguments
};

// Special handling that is not about buffers or fds.
enum class Special : uint8_t {
  None,
  Mmap,      // a file-backed mmap: the mapped file is stored as a blob
  Execve,    // replaces the program image
  Exit,      // ends the thread or process
  Clone,     // creates a thread or process
  Affinity,  // sched_getaffinity: answers the mask the service had before pinning
  Fcntl,     // F_DUPFD / F_DUPFD_CLOEXEC create fds
  Ioctl,     // output size depends on the request code
  Wait,      // wait4 / waitid: runs for real in replay, process ids translated both ways
};

enum class ArgKind : uint8_t {
  Int,    // a value compared in replay (sizes, flags, counts)
  Fd,     // an fd: compared, and names the resource
  Dirfd,  // the dirfd of an *at call: compared
  Ptr,    // a pointer whose value is never compared and whose memory we do not capture
  Path,   // NUL-terminated path handed to the kernel (names the resource)
  Str,    // other NUL-terminated string handed to the kernel
  In,     // buffer handed to the kernel (captured into data_in, compared in replay)
  Out,    // buffer the kernel fills (captured into data_out, written back in replay)
  InOut,  // both
};

enum class SizeRule : uint8_t {
  None,
  Fixed,     // n bytes
  Arg,       // value of argument `ref` times `mult`
  Ret,       // return value times `mult` (out buffers only)
  RetMax,    // return value, at most argument `ref` (out buffers only)
  ValueRes,  // *(uint32_t*)argument `ref` (socklen_t value-result)
  Sockaddr,  // socket address of length argument `ref`, bytes the kernel ignores zeroed
  Iov,       // iovec array at this argument, count in argument `ref`
  Msg,       // struct msghdr: its iovecs, address, control data and result fields
  Mmsg,      // struct mmsghdr array, argument `ref` entries: each message as Msg, and msg_len
  MmsgLen,   // struct mmsghdr array (outputs only): msg_len of the first ret entries
  FdSet,     // fd_set sized for nfds in argument `ref`
  Ioctl,     // from the ioctl request (argument 1)
  Fcntl,     // from the fcntl command (argument 1)
};

// What an argument means beyond its kind, written ARG#role in the table: the facts replay,
// injections and identity translation need about it.
enum class ArgRole : uint8_t {
  None,
  TimeoutMs,  // #ms: a timeout in milliseconds (poll, epoll_wait); negative waits forever
  Timespec,   // #timespec: a buffer holding a struct timespec timeout (ppoll, pselect6)
  Timeval,    // #timeval: a buffer holding a struct timeval timeout (select)
  SoTimeout,  // #sotimeo: a socket option value that is a struct timeval for SO_RCVTIMEO/SNDTIMEO
  Pid,        // #pid: a process id (0 or negative: the caller or a group); replay compares the
              // recorded id (one the replay's kernel gave the program is translated back)
  Tid,        // #tid: a thread id (0: the caller); translated as #pid
  Offset,     // #off: a file offset (pread64, preadv)
  Stat,       // #stat: an out buffer holding a struct stat (st_size at byte 48)
  Statx,      // #statx: an out buffer holding a struct statx (stx_size at byte 40)
  Flags,      // #flags: the call's flags (what an injection's flags= selects on)
  Clock,      // #clock: a clock id, which may name a process's or a thread's CPU clock (the id
              // encoded in it, as pthread_getcpuclockid makes it, is translated like a #tid)
  CopySrc,    // #src: the fd a flow:copy call moves bytes from
  CopyDst,    // #dst: the fd a flow:copy call moves bytes to (the event's resource, as a write's)
  SigMask,    // #sigmask: a sigset_t the call blocks with while it waits (ppoll, epoll_pwait)
  SigMaskRef, // #sigmask_ref: a struct {sigset_t*, size_t} naming that sigset_t (pselect6)
};

struct ArgSpec {
  ArgKind kind = ArgKind::Int;
  ArgRole role = ArgRole::None;
  SizeRule size = SizeRule::None;
  uint8_t ref = 0;
  uint32_t n = 0;  // Fixed size, or multiplier for Arg / Ret
  int8_t at = -1;  // the buffer's address is argument `at` (this slot is then not an argument)
  // Compared only when argument `if_arg` has a bit of `if_mask` set (open's mode: only with
  // O_CREAT or O_TMPFILE does the kernel read it); -1: always.
  int8_t if_arg = -1;
  uint32_t if_mask = 0;
};

// Class flags, in the manner of strace's TRACE_* (a syscall can be in several), and facts about
// its behaviour. Written by name in the table's last column.
enum Trait : uint32_t {
  kNet = 1u << 0,       // net: network (strace %network)
  kProc = 1u << 1,      // proc: process lifecycle (%process)
  kSig = 1u << 2,       // sig: signals (%signal)
  kIpc = 1u << 3,       // ipc: SysV IPC (%ipc)
  kMem = 1u << 4,       // mem: memory mapping (%memory)
  kCreds = 1u << 5,     // creds: user and group ids, capabilities (%creds)
  kClock = 1u << 6,     // clock: reads or sets a system clock (%clock)
  kPure = 1u << 7,      // pure: always succeeds, no arguments (%pure)
  kStat = 1u << 8,      // stat_like, lstat_like, fstat_like: the stat family (%stat, %lstat, %fstat)
  kLstat = 1u << 9,
  kFstat = 1u << 10,
  kStatfs = 1u << 11,   // statfs_like, fstatfs_like (%statfs, %fstatfs)
  kFstatfs = 1u << 12,
  kTimer = 1u << 13,    // timer: sleeps, timers and interval clocks (charts: time)
  kTask = 1u << 14,     // task: ids, scheduling, limits, thread state (charts: process)
  kVm = 1u << 15,       // vm: memory calls strace does not class as %memory (charts: memory)
  kFs = 1u << 16,       // fs: file system calls without an fd or a path (charts: file)
  kBlocks = 1u << 17,   // blocks: may wait for the outside (a peer, a device): jitter starts here
  kReady = 1u << 18,    // ready: waits for fds to become ready (poll, select, epoll)
  kProbe = 1u << 19,    // probe: a failure is an ordinary answer (access, stat, ioctl on a pipe)
  kGeneric = 1u << 20,  // generic: its meaning is the resource its fd names (read, close, poll)
  kFast = 1u << 21,     // fast: recorded in the service's own process under `record --fast` when its
                        // call site can be patched (docs/fast-path.md); its buffers are plain ones
  kGroupExit = 1u << 22,  // group_exit: ends every thread of the caller's process, not only the caller
  kSigreturn = 1u << 23,  // sigreturn: returns from a signal handler to where the signal interrupted
};

// How a call moves bytes between the program and the outside.
enum class Flow : uint8_t {
  None,
  Read,     // flow:read      the next bytes of the fd's stream (files: at its offset)
  ReadAt,   // flow:read_at   bytes at the #off argument
  Write,    // flow:write     bytes handed out
  WriteAt,  // flow:write_at  bytes written at an offset
  RecvMsg,  // flow:recv_msg  messages received (msg / mmsg buffers)
  SendMsg,  // flow:send_msg  messages sent
  Copy,     // flow:copy      bytes moved by the kernel from its fd#src to its fd#dst (sendfile,
            //                splice, tee, copy_file_range): no memory of the program holds them;
            //                the recorder reads them back from an end that is a file and stores
            //                them as the last data_out part, which replay never writes into memory
};

// What serves the call under the stream policy, and names the resource it touches when
// recording (h:NAME in the table, as strace's decoder column).
enum class Handler : uint8_t {
  None,      // from the recorded call on the same resource (stream.cc's fallback)
  Read, Pread, Poll, Ppoll, Select, Pselect, EpollCtl, EpollWait,
  Sleep,       // h:sleep        a relative timespec in argument 0
  SleepClock,  // h:sleep_clock  clock id, flags (TIMER_ABSTIME) and a timespec
  Accept,
  Clock,     // h:clock     a timespec for the clock id in argument 0
  ClockTv,   // h:clock_tv  a timeval (and a timezone part)
  ClockS,    // h:clock_s   seconds, returned and written through argument 0
  Connect, Bind, Open, Socket, Lseek,
  Pid, Tid,  // the recorded ids
  Sockopt,   // h:sockopt   a socket option (SO_RCVTIMEO and SO_SNDTIMEO change waits)
  Shutdown,  // h:shutdown  accepted with 0
};

// Where a clone-like call keeps its flags (clone:KIND in the table).
enum class CloneFlags : uint8_t {
  Arg,     // in argument 0 (clone)
  Fork,    // clone:fork   SIGCHLD
  Vfork,   // clone:vfork  CLONE_VFORK | CLONE_VM | SIGCHLD
  Struct,  // clone:struct the first field of struct clone_args at argument 0 (clone3)
};

struct SyscallSpec {
  int nr = -1;
  const char* name = "unknown";
  Class cls = Class::Emulated;
  FdEffect fd = FdEffect::None;
  Special special = Special::None;
  uint8_t nargs = 0;
  ArgSpec args[6];
  int8_t cloexec_arg = -1;     // argument whose bits say close-on-exec for a created (or
                               // received, SCM_RIGHTS) fd
  uint32_t cloexec_mask = 0;
  int8_t fd_arg = -1;          // first Fd argument, if any
  int8_t path_arg = -1;        // first Path argument, if any
  int8_t dirfd_arg = -1;
  uint8_t n_in = 0, n_out = 0; // number of buffers in data_in / data_out
  uint32_t traits = 0;         // Trait bits
  Flow flow = Flow::None;
  Handler handler = Handler::None;
  CloneFlags clone = CloneFlags::Arg;
  std::vector<std::pair<size_t, size_t>> addr_ranges;  // addr: (offset, length) in data_in
  int udata_in = -1;                                  // udata: offset in data_in, or -1
  std::pair<size_t, size_t> udata_out{0, 0};          // udata_rec: record size, value offset
  // tid_in:OFF?WHEN=VAL: the u32 at OFF of data_in is a thread id when the u32 at WHEN is VAL
  // (a sigevent's sigev_notify_thread_id under SIGEV_THREAD_ID); off -1: none.
  struct InputId {
    int off = -1;
    int when = 0;
    uint32_t value = 0;
  } tid_in;
  std::string family;          // family:NAME: a variant of NAME (ppoll of poll): an injection
                               // that names NAME also applies to it
  int8_t moved_part = -1;      // flow:copy: the data_out part holding the bytes moved
  bool has(uint32_t t) const { return (traits & t) == t; }
  // The index of the first argument with `role`, or -1.
  int arg_with(ArgRole role) const;
  // The index of the part of data_in (or data_out) that holds buffer argument `arg`.
  int in_part(int arg) const;
};


// Addresses and the caller's own values inside captured structs differ between a recording
// (ASLR on) and a replay, so they are never compared: clone3's pointers, epoll_event's user data,
// a sigevent's value. Whether two captured inputs agree with those bytes left out:
bool same_input(const SyscallSpec& s, const std::string& recorded, const std::string& now);
// Whether argument i carries nothing to compare in this call: an integer argument a buffer slot
// points at when the call has that buffer (fcntl's third for F_SETLK), or one the call ignores
// (fcntl's third for F_GETFL, whatever libc left in the register: an address under ASLR).
bool arg_not_compared(const SyscallSpec& s, int i, const uint64_t args[6]);
// Those bytes: (offset, length) ranges of data_in.
const std::vector<std::pair<size_t, size_t>>& address_fields_in(const SyscallSpec& s);
// The thread id a call's input holds (data_in, as captured), or nullptr: the table's tid_in.
// Points into `data_in`.
const char* input_tid(const SyscallSpec& s, const std::string& data_in);
// Offset in data_in of an 8-byte value the kernel hands back later (epoll_ctl's user data), or -1.
int user_data_in(const SyscallSpec& s);
// Outputs made of records that carry such a value back (epoll_wait's events): the record size
// and the value's offset in each record, or {0, 0}.
std::pair<size_t, size_t> user_data_out(const SyscallSpec& s);

// Look up by x86-64 syscall number; unknown numbers get a spec named "unknown" (emulated,
// return value only) so replay can still name and serve them.
const SyscallSpec& syscall_spec(long nr);
// Every known syscall, for the seccomp filter and for documentation.
const std::vector<SyscallSpec>& syscall_table();
// Output / input size of an ioctl request, or -1 when it writes / reads nothing we know of.
int ioctl_out_size(unsigned long request);
int ioctl_in_size(unsigned long request);
// Size of the struct an fcntl command reads / writes through its third argument, or -1.
int fcntl_out_size(unsigned long cmd);
int fcntl_in_size(unsigned long cmd);

// The table's words, for the TypeScript view generated from it (scripts/gen-syscall-table.js).
const char* class_word(Class c);
const char* fd_effect_word(FdEffect f);
const char* special_word(Special s);
const char* arg_kind_word(ArgKind k);
const char* size_rule_word(SizeRule r);
const char* role_word(ArgRole r);
const char* flow_word(Flow f);
const char* handler_word(Handler h);
const char* clone_word(CloneFlags c);
// Names of the Trait bits set in `traits`.
std::vector<const char*> trait_words(uint32_t traits);

}  // namespace rb
