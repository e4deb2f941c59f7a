// The syscall table: everything replaybook knows about a syscall lives in syscalls.cc, one line per
// syscall (as strace's syscallent.h). The recorder, the replayer, the divergence check and the
// seccomp filter read it; none of them keeps its own list.
#pragma once
#include <cstdint>
#include <string>
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

struct ArgSpec {
  ArgKind kind = ArgKind::Int;
  SizeRule size = SizeRule::None;
  uint8_t ref = 0;
  uint32_t n = 0;  // Fixed size, or multiplier for Arg / Ret
  int8_t at = -1;  // the buffer's address is argument `at` (this slot is then not an argument)
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
  // Bytes the call moves inside the kernel from one fd to another (sendfile, splice, tee,
  // copy_file_range; `moved:aS>aD`): no memory of the program holds them, the recorder reads them
  // from an end that is a file and stores them as the last data_out part, which replay never
  // writes into memory. Each end's offset is the inout:8 argument right after its fd, if any.
  int8_t moved_from = -1;      // the fd argument the bytes come from
  int8_t moved_to = -1;        // the fd argument they go to (the event's resource)
  int8_t moved_part = -1;      // which data_out part holds them
};

// How a call moves data between the program and the outside, for the stream policy of
// counterfactual replays (stream.cc) and for when jitter starts (replayer.cc).
enum class Flow : uint8_t {
  None,
  Read,       // read, readv, recvfrom: the next bytes of the fd's stream (files: at its offset)
  ReadAt,     // pread64, preadv, preadv2: bytes at the offset in argument 3
  Write,      // write, writev, sendto, pwrite64, pwritev, pwritev2: bytes handed out
  Wait,       // poll, select, epoll, accept, connect, recvmsg: waits on the outside
};
Flow flow_of(const SyscallSpec& s);

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

}  // namespace rb
