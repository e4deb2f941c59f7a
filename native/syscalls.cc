// One line per syscall (x86-64 numbers). Argument notation:
//   int fd dirfd ptr path str          scalar or string arguments
//   in:SIZE out:SIZE inout:SIZE        buffers, where SIZE is one of
//     N            N bytes
//     aK | aK*N    the value of argument K (times N)
//     ret | ret*N  the return value (times N); outputs only
//     ret:aK       the return value, at most argument K (recvfrom's MSG_TRUNC, getxattr's size
//                  probe: the kernel may return more than it wrote); outputs only
//     *aK          socklen value-result at argument K: the kernel's length after the call, served
//                  no longer than the length the program passed in (a truncated address)
//     sockaddr:aK  a socket address of length argument K; bytes the kernel ignores (past a unix
//                  path's NUL, sin_zero) are captured as zeros, so stack garbage never diverges
//     iov:aK       an iovec array with argument K entries: the bytes they hold (outputs: ret bytes)
//     msg          a struct msghdr. In: its iov payload, then msg_name (as sockaddr) and
//                  msg_control, then u32 name length, u32 control length. Out: the payload, then
//                  the address and control data the kernel wrote, then u32 address length, u32
//                  control length, u32 msg_namelen, u32 msg_flags, u64 msg_controllen; the payload
//                  always comes first, so its first ret bytes are what was sent or received
//     mmsg:aK      an array of struct mmsghdr with argument K entries (at most 1024, as the
//                  kernel). In: each entry's msghdr as msg encodes it, joined as the parts of a
//                  column are (each after its u32 length when there are several). Out: the first
//                  ret entries, each as u32 msg_len then its msghdr as msg encodes it, joined so
//     mmsglen:aK   the same array as an output that only gets msg_len (sendmmsg): u32 each for
//                  the first ret entries
//     fdset:aK     an fd_set for nfds in argument K
//     ioctl        from the request code (argument 1): a table of tty requests, else the size and
//                  direction encoded in the request (_IOR/_IOW)
//     fcntl        from the command (argument 1): struct flock for locks, f_owner_ex; the bytes
//                  of an input struct flock that the kernel ignores are captured as zeros
//   A buffer written BUF@aK is the memory argument K points to, described in an extra slot after
//   the real arguments (argument K itself stays an int and is compared as one).
//   Any argument may end in #ROLE (syscalls.h, ArgRole): ms timespec timeval sotimeo (timeouts),
//   pid tid (identities, translated between recording and replay), clock (a clock id, which may
//   encode a process's or thread's id), off (a file offset), stat statx (the struct an out
//   buffer holds), flags (the call's flags word), src dst (the two fds of a flow:copy call),
//   sigmask sigmask_ref (the signal mask a waiting call applies while it waits, or a struct
//   naming it: replay waits for an interrupting signal with that mask, in rt_sigsuspend).
//   A scalar may end in ?aK&MASK: the kernel reads it only when argument K has a bit of MASK
//   (hex) set, so only then is it compared (open's mode, which libc passes whatever the register
//   held, a stack address, when the flags have neither O_CREAT nor O_TMPFILE; openat2 refuses a
//   mode without them, so its mode is always compared).
// A flow:copy call (sendfile, splice, tee, copy_file_range) moves bytes inside the kernel from its
// fd#src to its fd#dst. Its data_out gets one more part, after its buffers: the bytes moved, read
// by the recorder from the end that is a regular file (the source first), at the offset the call
// used (that end's offset argument, the inout:8 right after its fd, after the call; else the fd's
// position), minus the return value. Empty when neither end is a file (pipe to socket). The
// event's resource is the destination's, as for a write; replay never writes that part into
// memory.
// The last column lists, separated by spaces, the call's class flags and behaviour (syscalls.h,
// Trait), its data flow (flow:read read_at write write_at recv_msg send_msg copy), what serves it
// (h:NAME, Handler), the variant it is of (family:NAME), where a clone keeps its flags
// (clone:fork vfork struct), bytes of its input never compared because they hold addresses or
// the caller's own values (addr:OFF+LEN,...), where its input hands the kernel a value it gives
// back later (udata:OFF, epoll_ctl's user data) and how its output carries it back
// (udata_rec:SIZE+OFF: records of SIZE bytes with the value at OFF), and where its one input
// buffer holds a thread id, translated between recording and replay as #tid arguments are
// (tid_in:OFF?WHEN=VAL: the u32 at OFF, when the u32 at WHEN is VAL; a sigevent's
// sigev_notify_thread_id under SIGEV_THREAD_ID. mq_notify takes no SIGEV_THREAD_ID). A closing fd effect and cloexec argument sit in their own columns.
// Outputs are only captured and served when the call succeeded (ret >= 0).
#include "syscalls.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace rb {
namespace {

constexpr uint32_t O_CLOEXEC_ = 02000000;     // O_CLOEXEC, SOCK_CLOEXEC, EFD_CLOEXEC...
constexpr uint32_t MSG_CMSG_CLOEXEC_ = 0x40000000;  // fds received with SCM_RIGHTS

struct Row {
  int nr;
  const char* name;
  Class cls;
  FdEffect fd;
  Special special;
  const char* args;
  int8_t cloexec_arg;
  uint32_t cloexec_mask;
  const char* traits;
};

using C = Class;
using F = FdEffect;
using S = Special;
constexpr int8_t NO = -1;

// clang-format off
const Row kRows[] = {
//  nr  name                      class        fd effect      special      arguments                                                                      cloexec                traits
  {  0, "read",                   C::Emulated, F::Uses,       S::None,     "fd, out:ret, int",                                                            NO, 0,                 "flow:read generic h:read fast"},
  {  1, "write",                  C::Emulated, F::Uses,       S::None,     "fd, in:a2, int",                                                              NO, 0,                 "flow:write generic fast"},
  {  2, "open",                   C::Emulated, F::Creates,    S::None,     "path, int#flags, int?a1&0x400040",                                              1, O_CLOEXEC_,        "h:open"},
  {  3, "close",                  C::Executed, F::Closes,     S::None,     "fd",                                                                          NO, 0,                 "generic"},
  {  4, "stat",                   C::Emulated, F::None,       S::None,     "path, out:144#stat",                                                          NO, 0,                 "stat_like probe"},
  {  5, "fstat",                  C::Emulated, F::Uses,       S::None,     "fd, out:144#stat",                                                            NO, 0,                 "fstat_like generic fast"},
  {  6, "lstat",                  C::Emulated, F::None,       S::None,     "path, out:144#stat",                                                          NO, 0,                 "lstat_like probe"},
  {  7, "poll",                   C::Emulated, F::None,       S::None,     "inout:a1*8, int, int#ms",                                                     NO, 0,                 "blocks ready generic h:poll"},
  {  8, "lseek",                  C::Emulated, F::Uses,       S::None,     "fd, int, int",                                                                NO, 0,                 "h:lseek fast"},
  {  9, "mmap",                   C::Executed, F::None,       S::Mmap,     "ptr, int, int, int#flags, int, int",                                          NO, 0,                 "mem"},
  { 10, "mprotect",               C::Untraced, F::None,       S::None,     "ptr, int, int",                                                               NO, 0,                 "mem"},
  { 11, "munmap",                 C::Untraced, F::None,       S::None,     "ptr, int",                                                                    NO, 0,                 "mem"},
  { 12, "brk",                    C::Untraced, F::None,       S::None,     "ptr",                                                                         NO, 0,                 "mem"},
  { 13, "rt_sigaction",           C::Executed, F::None,       S::None,     "int, ptr, ptr, int",                                                          NO, 0,                 "sig"},
  { 14, "rt_sigprocmask",         C::Executed, F::None,       S::None,     "int, ptr, ptr, int",                                                          NO, 0,                 "sig"},
  { 15, "rt_sigreturn",           C::Executed, F::None,       S::None,     "",                                                                            NO, 0,                 "sig probe sigreturn"},
  { 16, "ioctl",                  C::Emulated, F::Uses,       S::Ioctl,    "fd, int, inout:ioctl",                                                        NO, 0,                 "probe generic"},
  { 17, "pread64",                C::Emulated, F::Uses,       S::None,     "fd, out:ret, int, int#off",                                                   NO, 0,                 "flow:read_at h:pread fast"},
  { 18, "pwrite64",               C::Emulated, F::Uses,       S::None,     "fd, in:a2, int, int#off",                                                     NO, 0,                 "flow:write_at fast"},
  { 19, "readv",                  C::Emulated, F::Uses,       S::None,     "fd, out:iov:a2, int",                                                         NO, 0,                 "flow:read generic h:read"},
  { 20, "writev",                 C::Emulated, F::Uses,       S::None,     "fd, in:iov:a2, int",                                                          NO, 0,                 "flow:write generic"},
  { 21, "access",                 C::Emulated, F::None,       S::None,     "path, int",                                                                   NO, 0,                 "probe"},
  { 22, "pipe",                   C::Emulated, F::Pair,       S::None,     "out:8",                                                                       NO, 0,                 ""},
  { 23, "select",                 C::Emulated, F::None,       S::None,     "int, inout:fdset:a0, inout:fdset:a0, inout:fdset:a0, inout:16#timeval",       NO, 0,                 "blocks ready generic h:select"},
  { 24, "sched_yield",            C::Untraced, F::None,       S::None,     "",                                                                            NO, 0,                 "task"},
  { 25, "mremap",                 C::Untraced, F::None,       S::None,     "ptr, int, int, int, ptr",                                                     NO, 0,                 "mem"},
  { 26, "msync",                  C::Executed, F::None,       S::None,     "ptr, int, int#flags",                                                         NO, 0,                 "mem"},
  { 27, "mincore",                C::Executed, F::None,       S::None,     "ptr, int, ptr",                                                               NO, 0,                 "mem"},
  { 28, "madvise",                C::Untraced, F::None,       S::None,     "ptr, int, int",                                                               NO, 0,                 "mem"},
  { 32, "dup",                    C::Executed, F::Dups,       S::None,     "fd",                                                                          NO, 0,                 ""},
  { 33, "dup2",                   C::Executed, F::Dups,       S::None,     "fd, int",                                                                     NO, 0,                 ""},
  { 34, "pause",                  C::Emulated, F::None,       S::None,     "",                                                                            NO, 0,                 "sig"},
  { 35, "nanosleep",              C::Emulated, F::None,       S::None,     "in:16, ptr",                                                                  NO, 0,                 "h:sleep timer"},
  { 36, "getitimer",              C::Emulated, F::None,       S::None,     "int, out:32",                                                                 NO, 0,                 "timer"},
  { 37, "alarm",                  C::Emulated, F::None,       S::None,     "int",                                                                         NO, 0,                 "timer"},
  { 38, "setitimer",              C::Emulated, F::None,       S::None,     "int, in:32, out:32",                                                          NO, 0,                 "timer"},
  { 39, "getpid",                 C::Emulated, F::None,       S::None,     "",                                                                            NO, 0,                 "pure h:pid task fast"},
  { 40, "sendfile",               C::Emulated, F::Uses,       S::None,     "fd#dst, fd#src, inout:8, int",                                                NO, 0,                 "flow:copy"},
  { 41, "socket",                 C::Emulated, F::Creates,    S::None,     "int, int, int",                                                                1, O_CLOEXEC_,        "net h:socket"},
  { 42, "connect",                C::Emulated, F::Uses,       S::None,     "fd, in:sockaddr:a2, int",                                                     NO, 0,                 "net blocks h:connect"},
  { 43, "accept",                 C::Emulated, F::Accepts,    S::None,     "fd, out:*a2, inout:4",                                                        NO, 0,                 "net blocks h:accept"},
  { 44, "sendto",                 C::Emulated, F::Uses,       S::None,     "fd, in:a2, int, int#flags, in:sockaddr:a5, int",                              NO, 0,                 "net flow:write"},
  { 45, "recvfrom",               C::Emulated, F::Uses,       S::None,     "fd, out:ret:a2, int, int#flags, out:*a5, inout:4",                            NO, 0,                 "net flow:read h:read"},
  { 46, "sendmsg",                C::Emulated, F::Uses,       S::None,     "fd, in:msg, int#flags",                                                       NO, 0,                 "net flow:send_msg"},
  { 47, "recvmsg",                C::Emulated, F::Uses,       S::None,     "fd, out:msg, int#flags",                                                       2, MSG_CMSG_CLOEXEC_, "net flow:recv_msg blocks"},
  { 48, "shutdown",               C::Emulated, F::Uses,       S::None,     "fd, int",                                                                     NO, 0,                 "net h:shutdown"},
  { 49, "bind",                   C::Emulated, F::Uses,       S::None,     "fd, in:sockaddr:a2, int",                                                     NO, 0,                 "net h:bind"},
  { 50, "listen",                 C::Emulated, F::Uses,       S::None,     "fd, int",                                                                     NO, 0,                 "net"},
  { 51, "getsockname",            C::Emulated, F::Uses,       S::None,     "fd, out:*a2, inout:4",                                                        NO, 0,                 "net"},
  { 52, "getpeername",            C::Emulated, F::Uses,       S::None,     "fd, out:*a2, inout:4",                                                        NO, 0,                 "net"},
  { 53, "socketpair",             C::Emulated, F::Pair,       S::None,     "int, int, int, out:8",                                                         1, O_CLOEXEC_,        "net"},
  { 54, "setsockopt",             C::Emulated, F::Uses,       S::None,     "fd, int, int, in:a4#sotimeo, int",                                            NO, 0,                 "net h:sockopt"},
  { 55, "getsockopt",             C::Emulated, F::Uses,       S::None,     "fd, int, int, out:*a4, inout:4",                                              NO, 0,                 "net"},
  { 56, "clone",                  C::Executed, F::None,       S::Clone,    "int#flags, ptr, ptr, ptr, int",                                               NO, 0,                 "proc"},
  { 57, "fork",                   C::Executed, F::None,       S::Clone,    "",                                                                            NO, 0,                 "proc clone:fork"},
  { 58, "vfork",                  C::Executed, F::None,       S::Clone,    "",                                                                            NO, 0,                 "proc clone:vfork"},
  { 59, "execve",                 C::Executed, F::None,       S::Execve,   "path, ptr, ptr",                                                              NO, 0,                 "proc"},
  { 60, "exit",                   C::Executed, F::None,       S::Exit,     "int",                                                                         NO, 0,                 "proc"},
  { 61, "wait4",                  C::Executed, F::None,       S::Wait,     "int, out:4, int, out:144",                                                    NO, 0,                 "proc"},
  { 62, "kill",                   C::Emulated, F::None,       S::None,     "int#pid, int",                                                                NO, 0,                 "proc sig"},
  { 63, "uname",                  C::Emulated, F::None,       S::None,     "out:390",                                                                     NO, 0,                 "task"},
  { 72, "fcntl",                  C::Emulated, F::Uses,       S::Fcntl,    "fd, int, int, inout:fcntl@a2",                                                NO, 0,                 "generic"},
  { 73, "flock",                  C::Emulated, F::Uses,       S::None,     "fd, int",                                                                     NO, 0,                 ""},
  { 74, "fsync",                  C::Emulated, F::Uses,       S::None,     "fd",                                                                          NO, 0,                 ""},
  { 75, "fdatasync",              C::Emulated, F::Uses,       S::None,     "fd",                                                                          NO, 0,                 ""},
  { 76, "truncate",               C::Emulated, F::None,       S::None,     "path, int",                                                                   NO, 0,                 ""},
  { 77, "ftruncate",              C::Emulated, F::Uses,       S::None,     "fd, int",                                                                     NO, 0,                 ""},
  { 78, "getdents",               C::Emulated, F::Uses,       S::None,     "fd, out:ret, int",                                                            NO, 0,                 ""},
  { 79, "getcwd",                 C::Emulated, F::None,       S::None,     "out:ret, int",                                                                NO, 0,                 "fs"},
  { 80, "chdir",                  C::Emulated, F::None,       S::None,     "path",                                                                        NO, 0,                 ""},
  { 81, "fchdir",                 C::Emulated, F::Uses,       S::None,     "fd",                                                                          NO, 0,                 ""},
  { 82, "rename",                 C::Emulated, F::None,       S::None,     "path, str",                                                                   NO, 0,                 ""},
  { 83, "mkdir",                  C::Emulated, F::None,       S::None,     "path, int",                                                                   NO, 0,                 ""},
  { 84, "rmdir",                  C::Emulated, F::None,       S::None,     "path",                                                                        NO, 0,                 ""},
  { 85, "creat",                  C::Emulated, F::Creates,    S::None,     "path, int",                                                                   NO, 0,                 ""},
  { 86, "link",                   C::Emulated, F::None,       S::None,     "path, str",                                                                   NO, 0,                 ""},
  { 87, "unlink",                 C::Emulated, F::None,       S::None,     "path",                                                                        NO, 0,                 ""},
  { 88, "symlink",                C::Emulated, F::None,       S::None,     "str, path",                                                                   NO, 0,                 ""},
  { 89, "readlink",               C::Emulated, F::None,       S::None,     "path, out:ret, int",                                                          NO, 0,                 "probe"},
  { 90, "chmod",                  C::Emulated, F::None,       S::None,     "path, int",                                                                   NO, 0,                 ""},
  { 91, "fchmod",                 C::Emulated, F::Uses,       S::None,     "fd, int",                                                                     NO, 0,                 ""},
  { 92, "chown",                  C::Emulated, F::None,       S::None,     "path, int, int",                                                              NO, 0,                 ""},
  { 93, "fchown",                 C::Emulated, F::Uses,       S::None,     "fd, int, int",                                                                NO, 0,                 ""},
  { 94, "lchown",                 C::Emulated, F::None,       S::None,     "path, int, int",                                                              NO, 0,                 ""},
  { 95, "umask",                  C::Emulated, F::None,       S::None,     "int",                                                                         NO, 0,                 "fs"},
  { 96, "gettimeofday",           C::Emulated, F::None,       S::None,     "out:16, out:8",                                                               NO, 0,                 "clock h:clock_tv fast"},
  { 97, "getrlimit",              C::Emulated, F::None,       S::None,     "int, out:16",                                                                 NO, 0,                 "task"},
  { 98, "getrusage",              C::Emulated, F::None,       S::None,     "int, out:144",                                                                NO, 0,                 "task fast"},
  { 99, "sysinfo",                C::Emulated, F::None,       S::None,     "out:112",                                                                     NO, 0,                 "task"},
  {100, "times",                  C::Emulated, F::None,       S::None,     "out:32",                                                                      NO, 0,                 "timer"},
  {102, "getuid",                 C::Emulated, F::None,       S::None,     "",                                                                            NO, 0,                 "creds pure"},
  {104, "getgid",                 C::Emulated, F::None,       S::None,     "",                                                                            NO, 0,                 "creds pure"},
  {105, "setuid",                 C::Emulated, F::None,       S::None,     "int",                                                                         NO, 0,                 "creds"},
  {106, "setgid",                 C::Emulated, F::None,       S::None,     "int",                                                                         NO, 0,                 "creds"},
  {107, "geteuid",                C::Emulated, F::None,       S::None,     "",                                                                            NO, 0,                 "creds pure"},
  {108, "getegid",                C::Emulated, F::None,       S::None,     "",                                                                            NO, 0,                 "creds pure"},
  {109, "setpgid",                C::Emulated, F::None,       S::None,     "int#pid, int#pid",                                                            NO, 0,                 "task"},
  {110, "getppid",                C::Emulated, F::None,       S::None,     "",                                                                            NO, 0,                 "pure task"},
  {111, "getpgrp",                C::Emulated, F::None,       S::None,     "",                                                                            NO, 0,                 "pure task"},
  {112, "setsid",                 C::Emulated, F::None,       S::None,     "",                                                                            NO, 0,                 "task"},
  {113, "setreuid",               C::Emulated, F::None,       S::None,     "int, int",                                                                    NO, 0,                 "creds"},
  {114, "setregid",               C::Emulated, F::None,       S::None,     "int, int",                                                                    NO, 0,                 "creds"},
  {115, "getgroups",              C::Emulated, F::None,       S::None,     "int, out:ret*4",                                                              NO, 0,                 "creds"},
  {116, "setgroups",              C::Emulated, F::None,       S::None,     "int, in:a0*4",                                                                NO, 0,                 "creds"},
  {117, "setresuid",              C::Emulated, F::None,       S::None,     "int, int, int",                                                               NO, 0,                 "creds"},
  {118, "getresuid",              C::Emulated, F::None,       S::None,     "out:4, out:4, out:4",                                                         NO, 0,                 "creds"},
  {119, "setresgid",              C::Emulated, F::None,       S::None,     "int, int, int",                                                               NO, 0,                 "creds"},
  {120, "getresgid",              C::Emulated, F::None,       S::None,     "out:4, out:4, out:4",                                                         NO, 0,                 "creds"},
  {121, "getpgid",                C::Emulated, F::None,       S::None,     "int#pid",                                                                     NO, 0,                 "task"},
  {124, "getsid",                 C::Emulated, F::None,       S::None,     "int#pid",                                                                     NO, 0,                 "task"},
  {125, "capget",                 C::Emulated, F::None,       S::None,     "inout:8, out:24",                                                             NO, 0,                 "creds"},
  {126, "capset",                 C::Emulated, F::None,       S::None,     "in:8, in:24",                                                                 NO, 0,                 "creds"},
  {127, "rt_sigpending",          C::Executed, F::None,       S::None,     "ptr, int",                                                                    NO, 0,                 "sig"},
  {128, "rt_sigtimedwait",        C::Emulated, F::None,       S::None,     "in:8, out:128, in:16, int",                                                   NO, 0,                 "sig"},
  {129, "rt_sigqueueinfo",        C::Emulated, F::None,       S::None,     "int#pid, int, in:128",                                                        NO, 0,                 "proc sig"},
  {130, "rt_sigsuspend",          C::Executed, F::None,       S::None,     "in:8, int",                                                                   NO, 0,                 "sig"},
  {131, "sigaltstack",            C::Executed, F::None,       S::None,     "ptr, ptr",                                                                    NO, 0,                 "sig"},
  {132, "utime",                  C::Emulated, F::None,       S::None,     "path, in:16",                                                                 NO, 0,                 ""},
  {133, "mknod",                  C::Emulated, F::None,       S::None,     "path, int, int",                                                              NO, 0,                 ""},
  {135, "personality",            C::Executed, F::None,       S::None,     "int",                                                                         NO, 0,                 "task"},
  {137, "statfs",                 C::Emulated, F::None,       S::None,     "path, out:120",                                                               NO, 0,                 "statfs_like"},
  {138, "fstatfs",                C::Emulated, F::Uses,       S::None,     "fd, out:120",                                                                 NO, 0,                 "fstatfs_like"},
  {140, "getpriority",            C::Emulated, F::None,       S::None,     "int, int#pid",                                                                NO, 0,                 "task"},
  {141, "setpriority",            C::Emulated, F::None,       S::None,     "int, int#pid, int",                                                           NO, 0,                 "task"},
  {142, "sched_setparam",         C::Emulated, F::None,       S::None,     "int#tid, in:4",                                                               NO, 0,                 "task"},
  {143, "sched_getparam",         C::Emulated, F::None,       S::None,     "int#tid, out:4",                                                              NO, 0,                 "task"},
  {144, "sched_setscheduler",     C::Emulated, F::None,       S::None,     "int#tid, int, in:4",                                                          NO, 0,                 "task"},
  {145, "sched_getscheduler",     C::Emulated, F::None,       S::None,     "int#tid",                                                                     NO, 0,                 "task"},
  {146, "sched_get_priority_max", C::Emulated, F::None,       S::None,     "int",                                                                         NO, 0,                 "task"},
  {147, "sched_get_priority_min", C::Emulated, F::None,       S::None,     "int",                                                                         NO, 0,                 "task"},
  {148, "sched_rr_get_interval",  C::Emulated, F::None,       S::None,     "int#tid, out:16",                                                             NO, 0,                 ""},
  {149, "mlock",                  C::Executed, F::None,       S::None,     "ptr, int",                                                                    NO, 0,                 "mem"},
  {150, "munlock",                C::Executed, F::None,       S::None,     "ptr, int",                                                                    NO, 0,                 "mem"},
  {151, "mlockall",               C::Executed, F::None,       S::None,     "int",                                                                         NO, 0,                 "mem"},
  {152, "munlockall",             C::Executed, F::None,       S::None,     "",                                                                            NO, 0,                 "mem"},
  {157, "prctl",                  C::Executed, F::None,       S::None,     "int, int, int, int, int",                                                     NO, 0,                 "task"},
  {158, "arch_prctl",             C::Executed, F::None,       S::None,     "int, ptr",                                                                    NO, 0,                 "task"},
  {160, "setrlimit",              C::Emulated, F::None,       S::None,     "int, in:16",                                                                  NO, 0,                 "task"},
  {161, "chroot",                 C::Emulated, F::None,       S::None,     "path",                                                                        NO, 0,                 ""},
  {162, "sync",                   C::Emulated, F::None,       S::None,     "",                                                                            NO, 0,                 "fs"},
  {186, "gettid",                 C::Emulated, F::None,       S::None,     "",                                                                            NO, 0,                 "pure h:tid task fast"},
  {187, "readahead",              C::Emulated, F::Uses,       S::None,     "fd, int, int",                                                                NO, 0,                 ""},
  {188, "setxattr",               C::Emulated, F::None,       S::None,     "path, str, in:a3, int, int#flags",                                            NO, 0,                 ""},
  {189, "lsetxattr",              C::Emulated, F::None,       S::None,     "path, str, in:a3, int, int#flags",                                            NO, 0,                 ""},
  {190, "fsetxattr",              C::Emulated, F::Uses,       S::None,     "fd, str, in:a3, int, int#flags",                                              NO, 0,                 ""},
  {191, "getxattr",               C::Emulated, F::None,       S::None,     "path, str, out:ret:a3, int",                                                  NO, 0,                 ""},
  {192, "lgetxattr",              C::Emulated, F::None,       S::None,     "path, str, out:ret:a3, int",                                                  NO, 0,                 ""},
  {193, "fgetxattr",              C::Emulated, F::Uses,       S::None,     "fd, str, out:ret:a3, int",                                                    NO, 0,                 ""},
  {194, "listxattr",              C::Emulated, F::None,       S::None,     "path, out:ret:a2, int",                                                       NO, 0,                 ""},
  {195, "llistxattr",             C::Emulated, F::None,       S::None,     "path, out:ret:a2, int",                                                       NO, 0,                 ""},
  {196, "flistxattr",             C::Emulated, F::Uses,       S::None,     "fd, out:ret:a2, int",                                                         NO, 0,                 ""},
  {197, "removexattr",            C::Emulated, F::None,       S::None,     "path, str",                                                                   NO, 0,                 ""},
  {198, "lremovexattr",           C::Emulated, F::None,       S::None,     "path, str",                                                                   NO, 0,                 ""},
  {199, "fremovexattr",           C::Emulated, F::Uses,       S::None,     "fd, str",                                                                     NO, 0,                 ""},
  {200, "tkill",                  C::Emulated, F::None,       S::None,     "int#tid, int",                                                                NO, 0,                 "proc sig"},
  {201, "time",                   C::Emulated, F::None,       S::None,     "out:8",                                                                       NO, 0,                 "clock h:clock_s"},
  {202, "futex",                  C::Executed, F::None,       S::None,     "ptr, int, int, ptr, ptr, int",                                                NO, 0,                 "probe task fast"},
  {203, "sched_setaffinity",      C::Emulated, F::None,       S::None,     "int#tid, int, in:a1",                                                         NO, 0,                 "task"},
  {204, "sched_getaffinity",      C::Emulated, F::None,       S::Affinity, "int#tid, int, out:ret",                                                       NO, 0,                 "task"},
  {213, "epoll_create",           C::Emulated, F::Creates,    S::None,     "int",                                                                         NO, 0,                 "generic"},
  {217, "getdents64",             C::Emulated, F::Uses,       S::None,     "fd, out:ret, int",                                                            NO, 0,                 "fast"},
  {218, "set_tid_address",        C::Emulated, F::None,       S::None,     "ptr",                                                                         NO, 0,                 "task"},
  {219, "restart_syscall",        C::Emulated, F::None,       S::None,     "",                                                                            NO, 0,                 "probe"},
  {221, "fadvise64",              C::Emulated, F::Uses,       S::None,     "fd, int, int, int",                                                           NO, 0,                 ""},
  {222, "timer_create",           C::Emulated, F::None,       S::None,     "int#clock, in:64, out:4",                                                     NO, 0,                 "timer addr:0+8 tid_in:16?12=4"},
  {223, "timer_settime",          C::Emulated, F::None,       S::None,     "int, int, in:32, out:32",                                                     NO, 0,                 "timer"},
  {224, "timer_gettime",          C::Emulated, F::None,       S::None,     "int, out:32",                                                                 NO, 0,                 "timer"},
  {225, "timer_getoverrun",       C::Emulated, F::None,       S::None,     "int",                                                                         NO, 0,                 "timer"},
  {226, "timer_delete",           C::Emulated, F::None,       S::None,     "int",                                                                         NO, 0,                 "timer"},
  {228, "clock_gettime",          C::Emulated, F::None,       S::None,     "int#clock, out:16",                                                           NO, 0,                 "clock h:clock fast"},
  {229, "clock_getres",           C::Emulated, F::None,       S::None,     "int#clock, out:16",                                                           NO, 0,                 "clock"},
  {230, "clock_nanosleep",        C::Emulated, F::None,       S::None,     "int#clock, int#flags, in:16, ptr",                                            NO, 0,                 "h:sleep_clock timer"},
  {231, "exit_group",             C::Executed, F::None,       S::Exit,     "int",                                                                         NO, 0,                 "proc group_exit"},
  {232, "epoll_wait",             C::Emulated, F::Uses,       S::None,     "fd, out:ret*12, int, int#ms",                                                 NO, 0,                 "blocks ready generic h:epoll_wait udata_rec:12+4 fast"},
  {233, "epoll_ctl",              C::Emulated, F::Uses,       S::None,     "fd, int, int, in:12",                                                         NO, 0,                 "generic h:epoll_ctl addr:4+8 udata:4 fast"},
  {234, "tgkill",                 C::Emulated, F::None,       S::None,     "int#pid, int#tid, int",                                                       NO, 0,                 "proc sig"},
  {235, "utimes",                 C::Emulated, F::None,       S::None,     "path, in:32",                                                                 NO, 0,                 ""},
  {237, "mbind",                  C::Executed, F::None,       S::None,     "ptr, int, int, ptr, int, int",                                                NO, 0,                 "mem"},
  {238, "set_mempolicy",          C::Executed, F::None,       S::None,     "int, ptr, int",                                                               NO, 0,                 "mem"},
  {239, "get_mempolicy",          C::Executed, F::None,       S::None,     "ptr, ptr, int, ptr, int",                                                     NO, 0,                 "mem"},
  {247, "waitid",                 C::Executed, F::None,       S::Wait,     "int, int, out:128, int, out:144",                                             NO, 0,                 "proc"},
  {251, "ioprio_set",             C::Emulated, F::None,       S::None,     "int, int#tid, int",                                                           NO, 0,                 "task"},
  {252, "ioprio_get",             C::Emulated, F::None,       S::None,     "int, int#tid",                                                                NO, 0,                 "task"},
  {253, "inotify_init",           C::Emulated, F::Creates,    S::None,     "",                                                                            NO, 0,                 ""},
  {254, "inotify_add_watch",      C::Emulated, F::Uses,       S::None,     "fd, path, int",                                                               NO, 0,                 ""},
  {255, "inotify_rm_watch",       C::Emulated, F::Uses,       S::None,     "fd, int",                                                                     NO, 0,                 ""},
  {257, "openat",                 C::Emulated, F::Creates,    S::None,     "dirfd, path, int#flags, int?a2&0x400040",                                       2, O_CLOEXEC_,        "h:open"},
  {258, "mkdirat",                C::Emulated, F::None,       S::None,     "dirfd, path, int",                                                            NO, 0,                 ""},
  {259, "mknodat",                C::Emulated, F::None,       S::None,     "dirfd, path, int, int",                                                       NO, 0,                 ""},
  {260, "fchownat",               C::Emulated, F::None,       S::None,     "dirfd, path, int, int, int#flags",                                            NO, 0,                 ""},
  {261, "futimesat",              C::Emulated, F::None,       S::None,     "dirfd, path, in:32",                                                          NO, 0,                 ""},
  {262, "newfstatat",             C::Emulated, F::None,       S::None,     "dirfd, path, out:144#stat, int#flags",                                        NO, 0,                 "fstat_like probe"},
  {263, "unlinkat",               C::Emulated, F::None,       S::None,     "dirfd, path, int#flags",                                                      NO, 0,                 ""},
  {264, "renameat",               C::Emulated, F::None,       S::None,     "dirfd, path, int, str",                                                       NO, 0,                 ""},
  {265, "linkat",                 C::Emulated, F::None,       S::None,     "dirfd, path, int, str, int#flags",                                            NO, 0,                 ""},
  {266, "symlinkat",              C::Emulated, F::None,       S::None,     "str, dirfd, path",                                                            NO, 0,                 ""},
  {267, "readlinkat",             C::Emulated, F::None,       S::None,     "dirfd, path, out:ret, int",                                                   NO, 0,                 "probe"},
  {268, "fchmodat",               C::Emulated, F::None,       S::None,     "dirfd, path, int",                                                            NO, 0,                 ""},
  {269, "faccessat",              C::Emulated, F::None,       S::None,     "dirfd, path, int",                                                            NO, 0,                 "probe"},
  {270, "pselect6",               C::Emulated, F::None,       S::None,     "int, inout:fdset:a0, inout:fdset:a0, inout:fdset:a0, inout:16#timespec, ptr#sigmask_ref", NO, 0,                 "blocks ready generic h:pselect family:select"},
  {271, "ppoll",                  C::Emulated, F::None,       S::None,     "inout:a1*8, int, in:16#timespec, ptr#sigmask, int",                           NO, 0,                 "blocks ready generic h:ppoll family:poll"},
  {273, "set_robust_list",        C::Executed, F::None,       S::None,     "ptr, int",                                                                    NO, 0,                 "task"},
  {275, "splice",                 C::Emulated, F::Uses,       S::None,     "fd#src, inout:8, fd#dst, inout:8, int, int#flags",                            NO, 0,                 "flow:copy"},
  {276, "tee",                    C::Emulated, F::Uses,       S::None,     "fd#src, fd#dst, int, int#flags",                                              NO, 0,                 "flow:copy"},
  {277, "sync_file_range",        C::Emulated, F::Uses,       S::None,     "fd, int, int, int#flags",                                                     NO, 0,                 ""},
  {278, "vmsplice",               C::Emulated, F::Uses,       S::None,     "fd, in:iov:a2, int, int#flags",                                               NO, 0,                 "flow:write"},
  {280, "utimensat",              C::Emulated, F::None,       S::None,     "dirfd, path, in:32, int#flags",                                               NO, 0,                 ""},
  {281, "epoll_pwait",            C::Emulated, F::Uses,       S::None,     "fd, out:ret*12, int, int#ms, ptr#sigmask, int",                               NO, 0,                 "blocks ready generic h:epoll_wait family:epoll_wait udata_rec:12+4"},
  {282, "signalfd",               C::Emulated, F::Creates,    S::None,     "int, in:a2, int",                                                             NO, 0,                 "sig"},
  {283, "timerfd_create",         C::Emulated, F::Creates,    S::None,     "int, int#flags",                                                               1, O_CLOEXEC_,        "timer"},
  {284, "eventfd",                C::Emulated, F::Creates,    S::None,     "int",                                                                         NO, 0,                 "generic"},
  {285, "fallocate",              C::Emulated, F::Uses,       S::None,     "fd, int, int, int",                                                           NO, 0,                 ""},
  {286, "timerfd_settime",        C::Emulated, F::Uses,       S::None,     "fd, int#flags, in:32, out:32",                                                NO, 0,                 "timer"},
  {287, "timerfd_gettime",        C::Emulated, F::Uses,       S::None,     "fd, out:32",                                                                  NO, 0,                 "timer"},
  {288, "accept4",                C::Emulated, F::Accepts,    S::None,     "fd, out:*a2, inout:4, int#flags",                                              3, O_CLOEXEC_,        "net blocks h:accept"},
  {289, "signalfd4",              C::Emulated, F::Creates,    S::None,     "int, in:a2, int, int#flags",                                                   3, O_CLOEXEC_,        "sig"},
  {290, "eventfd2",               C::Emulated, F::Creates,    S::None,     "int, int#flags",                                                               1, O_CLOEXEC_,        "generic"},
  {291, "epoll_create1",          C::Emulated, F::Creates,    S::None,     "int#flags",                                                                    0, O_CLOEXEC_,        "generic"},
  {292, "dup3",                   C::Executed, F::Dups,       S::None,     "fd, int, int#flags",                                                          NO, 0,                 ""},
  {293, "pipe2",                  C::Emulated, F::Pair,       S::None,     "out:8, int#flags",                                                             1, O_CLOEXEC_,        ""},
  {294, "inotify_init1",          C::Emulated, F::Creates,    S::None,     "int#flags",                                                                    0, O_CLOEXEC_,        ""},
  {295, "preadv",                 C::Emulated, F::Uses,       S::None,     "fd, out:iov:a2, int, int#off, int",                                           NO, 0,                 "flow:read_at"},
  {296, "pwritev",                C::Emulated, F::Uses,       S::None,     "fd, in:iov:a2, int, int#off, int",                                            NO, 0,                 "flow:write_at"},
  {297, "rt_tgsigqueueinfo",      C::Emulated, F::None,       S::None,     "int#pid, int#tid, int, in:128",                                               NO, 0,                 "proc sig"},
  {299, "recvmmsg",               C::Emulated, F::Uses,       S::None,     "fd, out:mmsg:a2, int, int#flags, in:16, out:16@a4",                            3, MSG_CMSG_CLOEXEC_, "net flow:recv_msg blocks"},
  {302, "prlimit64",              C::Emulated, F::None,       S::None,     "int#pid, int, in:16, out:16",                                                 NO, 0,                 "task"},
  {306, "syncfs",                 C::Emulated, F::Uses,       S::None,     "fd",                                                                          NO, 0,                 ""},
  {307, "sendmmsg",               C::Emulated, F::Uses,       S::None,     "fd, in:mmsg:a2, int, int#flags, out:mmsglen:a2@a1",                           NO, 0,                 "net flow:send_msg"},
  {316, "renameat2",              C::Emulated, F::None,       S::None,     "dirfd, path, int, str, int#flags",                                            NO, 0,                 ""},
  {318, "getrandom",              C::Emulated, F::None,       S::None,     "out:ret, int, int#flags",                                                     NO, 0,                 ""},
  {319, "memfd_create",           C::Emulated, F::Creates,    S::None,     "str, int#flags",                                                               1, 1u,                ""},
  {324, "membarrier",             C::Executed, F::None,       S::None,     "int, int#flags, int",                                                         NO, 0,                 "vm"},
  {325, "mlock2",                 C::Executed, F::None,       S::None,     "ptr, int, int#flags",                                                         NO, 0,                 "mem"},
  {326, "copy_file_range",        C::Emulated, F::Uses,       S::None,     "fd#src, inout:8, fd#dst, inout:8, int, int#flags",                            NO, 0,                 "flow:copy"},
  {327, "preadv2",                C::Emulated, F::Uses,       S::None,     "fd, out:iov:a2, int, int#off, int, int#flags",                                NO, 0,                 "flow:read_at"},
  {328, "pwritev2",               C::Emulated, F::Uses,       S::None,     "fd, in:iov:a2, int, int#off, int, int#flags",                                 NO, 0,                 "flow:write_at"},
  {329, "pkey_mprotect",          C::Untraced, F::None,       S::None,     "ptr, int, int, int",                                                          NO, 0,                 "mem"},
  {330, "pkey_alloc",             C::Executed, F::None,       S::None,     "int, int",                                                                    NO, 0,                 "vm"},
  {331, "pkey_free",              C::Executed, F::None,       S::None,     "int",                                                                         NO, 0,                 "vm"},
  {332, "statx",                  C::Emulated, F::None,       S::None,     "dirfd, path, int#flags, int, out:256#statx",                                  NO, 0,                 "fstat_like probe"},
  {334, "rseq",                   C::Untraced, F::None,       S::None,     "ptr, int, int, int",                                                          NO, 0,                 "task"},
  {425, "io_uring_setup",         C::Denied,   F::None,       S::None,     "int, ptr",                                                                    NO, 0,                 "generic"},
  {426, "io_uring_enter",         C::Denied,   F::None,       S::None,     "int, int, int, int, ptr, int",                                                NO, 0,                 "generic"},
  {427, "io_uring_register",      C::Denied,   F::None,       S::None,     "int, int, ptr, int",                                                          NO, 0,                 ""},
  {434, "pidfd_open",             C::Emulated, F::Creates,    S::None,     "int#pid, int#flags",                                                          NO, 0,                 "proc"},
  {435, "clone3",                 C::Executed, F::None,       S::Clone,    "in:a1, int",                                                                  NO, 0,                 "proc clone:struct addr:8+24,40+8,56+16"},
  {436, "close_range",            C::Executed, F::CloseRange, S::None,     "int, int, int#flags",                                                         NO, 0,                 "generic"},
  {437, "openat2",                C::Emulated, F::Creates,    S::None,     "dirfd, path, in:a3, int",                                                     NO, 0,                 ""},
  {439, "faccessat2",             C::Emulated, F::None,       S::None,     "dirfd, path, int, int#flags",                                                 NO, 0,                 "probe"},
  {441, "epoll_pwait2",           C::Emulated, F::Uses,       S::None,     "fd, out:ret*12, int, in:16#timespec, ptr#sigmask, int",                       NO, 0,                 "blocks ready generic udata_rec:12+4"},
  {449, "futex_waitv",            C::Executed, F::None,       S::None,     "ptr, int, int, ptr, int",                                                     NO, 0,                 "task"},
  {452, "fchmodat2",              C::Emulated, F::None,       S::None,     "dirfd, path, int, int#flags",                                                 NO, 0,                 ""},
};
// clang-format on

[[noreturn]] void bad_row(const Row& r, const char* why) {
  std::fprintf(stderr, "replaybook-engine: syscall table row %s: %s\n", r.name, why);
  std::abort();
}

template <typename E>
struct Word {
  E value;
  const char* word;
};

const Word<ArgRole> kRoleWords[] = {
    {ArgRole::None, "none"},         {ArgRole::TimeoutMs, "ms"}, {ArgRole::Timespec, "timespec"},
    {ArgRole::Timeval, "timeval"},   {ArgRole::SoTimeout, "sotimeo"}, {ArgRole::Pid, "pid"},
    {ArgRole::Tid, "tid"},           {ArgRole::Offset, "off"},   {ArgRole::Stat, "stat"},
    {ArgRole::Statx, "statx"},       {ArgRole::Flags, "flags"},  {ArgRole::CopySrc, "src"},
    {ArgRole::CopyDst, "dst"},       {ArgRole::Clock, "clock"},  {ArgRole::SigMask, "sigmask"},
    {ArgRole::SigMaskRef, "sigmask_ref"},
};
const Word<uint32_t> kTraitWords[] = {
    {kNet, "net"},         {kProc, "proc"},       {kSig, "sig"},         {kIpc, "ipc"},
    {kMem, "mem"},         {kCreds, "creds"},     {kClock, "clock"},     {kPure, "pure"},
    {kStat, "stat_like"},  {kLstat, "lstat_like"}, {kFstat, "fstat_like"}, {kStatfs, "statfs_like"},
    {kFstatfs, "fstatfs_like"}, {kTimer, "timer"},     {kTask, "task"},       {kVm, "vm"},
    {kFs, "fs"},           {kBlocks, "blocks"},   {kReady, "ready"},     {kProbe, "probe"},
    {kGeneric, "generic"}, {kFast, "fast"},     {kGroupExit, "group_exit"},
    {kSigreturn, "sigreturn"},
};
const Word<Flow> kFlowWords[] = {
    {Flow::None, "none"},        {Flow::Read, "read"},         {Flow::ReadAt, "read_at"},
    {Flow::Write, "write"},      {Flow::WriteAt, "write_at"},  {Flow::RecvMsg, "recv_msg"},
    {Flow::SendMsg, "send_msg"}, {Flow::Copy, "copy"},
};
const Word<Handler> kHandlerWords[] = {
    {Handler::None, "none"},         {Handler::Read, "read"},       {Handler::Pread, "pread"},
    {Handler::Poll, "poll"},         {Handler::Ppoll, "ppoll"},     {Handler::Select, "select"},
    {Handler::Pselect, "pselect"},   {Handler::EpollCtl, "epoll_ctl"}, {Handler::EpollWait, "epoll_wait"},
    {Handler::Sleep, "sleep"},       {Handler::SleepClock, "sleep_clock"},       {Handler::Accept, "accept"},   {Handler::Clock, "clock"},
    {Handler::ClockTv, "clock_tv"},  {Handler::ClockS, "clock_s"},  {Handler::Connect, "connect"},
    {Handler::Bind, "bind"},         {Handler::Open, "open"},       {Handler::Socket, "socket"},
    {Handler::Lseek, "lseek"},       {Handler::Pid, "pid"},         {Handler::Tid, "tid"},
    {Handler::Sockopt, "sockopt"},   {Handler::Shutdown, "shutdown"},
};
const Word<CloneFlags> kCloneWords[] = {
    {CloneFlags::Arg, "arg"}, {CloneFlags::Fork, "fork"}, {CloneFlags::Vfork, "vfork"}, {CloneFlags::Struct, "struct"},
};
const Word<Class> kClassWords[] = {
    {Class::Untraced, "untraced"}, {Class::Emulated, "emulated"}, {Class::Executed, "executed"}, {Class::Denied, "denied"},
};
const Word<FdEffect> kFdWords[] = {
    {FdEffect::None, "none"},     {FdEffect::Uses, "uses"}, {FdEffect::Creates, "creates"},
    {FdEffect::Accepts, "accepts"}, {FdEffect::Pair, "pair"}, {FdEffect::Dups, "dups"},
    {FdEffect::Closes, "closes"}, {FdEffect::CloseRange, "close_range"},
};
const Word<Special> kSpecialWords[] = {
    {Special::None, "none"},   {Special::Mmap, "mmap"},         {Special::Execve, "execve"},
    {Special::Exit, "exit"},   {Special::Clone, "clone"},       {Special::Affinity, "affinity"},
    {Special::Fcntl, "fcntl"}, {Special::Ioctl, "ioctl"},       {Special::Wait, "wait"},
};
const Word<ArgKind> kArgKindWords[] = {
    {ArgKind::Int, "int"}, {ArgKind::Fd, "fd"},   {ArgKind::Dirfd, "dirfd"}, {ArgKind::Ptr, "ptr"},
    {ArgKind::Path, "path"}, {ArgKind::Str, "str"}, {ArgKind::In, "in"},     {ArgKind::Out, "out"},
    {ArgKind::InOut, "inout"},
};
const Word<SizeRule> kSizeWords[] = {
    {SizeRule::None, "none"},         {SizeRule::Fixed, "fixed"},   {SizeRule::Arg, "arg"},
    {SizeRule::Ret, "ret"},           {SizeRule::RetMax, "ret_max"}, {SizeRule::ValueRes, "value_res"},
    {SizeRule::Sockaddr, "sockaddr"}, {SizeRule::Iov, "iov"},       {SizeRule::Msg, "msg"},
    {SizeRule::Mmsg, "mmsg"},         {SizeRule::MmsgLen, "mmsg_len"}, {SizeRule::FdSet, "fdset"},
    {SizeRule::Ioctl, "ioctl"},       {SizeRule::Fcntl, "fcntl"},
};

template <typename E, size_t N>
E parse_word(const Row& r, const std::string& w, const Word<E> (&words)[N], const char* why) {
  for (const auto& x : words)
    if (w == x.word) return x.value;
  bad_row(r, why);
}

template <typename E, size_t N>
const char* word_of(E v, const Word<E> (&words)[N]) {
  for (const auto& x : words)
    if (x.value == v) return x.word;
  return "?";
}

// The last column: class flags and behaviour words, flow:, h:, family:, clone:.
void parse_traits(const Row& r, SyscallSpec& s) {
  std::string all = r.traits;
  size_t pos = 0;
  while (pos < all.size()) {
    size_t sp = all.find(' ', pos);
    if (sp == std::string::npos) sp = all.size();
    std::string w = all.substr(pos, sp - pos);
    pos = sp + 1;
    if (w.empty()) continue;
    size_t colon = w.find(':');
    std::string key = colon == std::string::npos ? std::string() : w.substr(0, colon);
    std::string val = colon == std::string::npos ? w : w.substr(colon + 1);
    if (key.empty()) s.traits |= parse_word(r, val, kTraitWords, "unknown trait");
    else if (key == "flow") s.flow = parse_word(r, val, kFlowWords, "unknown flow");
    else if (key == "h") s.handler = parse_word(r, val, kHandlerWords, "unknown handler");
    else if (key == "clone") s.clone = parse_word(r, val, kCloneWords, "unknown clone flags");
    else if (key == "family") s.family = val;
    else if (key == "addr") {
      // addr:OFF+LEN,...: bytes of data_in that hold addresses or the caller's own values.
      size_t p = 0;
      while (p < val.size()) {
        size_t comma = val.find(',', p);
        if (comma == std::string::npos) comma = val.size();
        std::string range = val.substr(p, comma - p);
        size_t plus = range.find('+');
        if (plus == std::string::npos) bad_row(r, "addr: ranges are OFF+LEN");
        s.addr_ranges.emplace_back(std::strtoul(range.c_str(), nullptr, 10), std::strtoul(range.c_str() + plus + 1, nullptr, 10));
        p = comma + 1;
      }
    } else if (key == "udata") {
      s.udata_in = static_cast<int>(std::strtol(val.c_str(), nullptr, 10));
    } else if (key == "tid_in") {
      size_t q = val.find('?'), eq = val.find('=');
      if (q == std::string::npos || eq == std::string::npos || eq < q) bad_row(r, "tid_in: is OFF?WHEN=VAL");
      s.tid_in.off = static_cast<int>(std::strtol(val.c_str(), nullptr, 10));
      s.tid_in.when = static_cast<int>(std::strtol(val.c_str() + q + 1, nullptr, 10));
      s.tid_in.value = static_cast<uint32_t>(std::strtoul(val.c_str() + eq + 1, nullptr, 10));
    } else if (key == "udata_rec") {
      size_t plus = val.find('+');
      if (plus == std::string::npos) bad_row(r, "udata_rec: is SIZE+OFF");
      s.udata_out = {std::strtoul(val.c_str(), nullptr, 10), std::strtoul(val.c_str() + plus + 1, nullptr, 10)};
    }
    else bad_row(r, "unknown trait key");
  }
}

// Parses one size expression: N | aK | aK*N | ret | ret*N | ret:aK | *aK | sockaddr:aK | iov:aK |
// msg | mmsg:aK | mmsglen:aK | fdset:aK | ioctl | fcntl
void parse_size(const Row& r, const std::string& s, ArgSpec& a) {
  auto mult = [&](const std::string& rest) -> uint32_t {
    if (rest.empty()) return 1;
    if (rest[0] != '*') bad_row(r, "bad multiplier");
    return static_cast<uint32_t>(std::strtoul(rest.c_str() + 1, nullptr, 10));
  };
  if (s.rfind("ret:a", 0) == 0) {
    a.size = SizeRule::RetMax;
    a.ref = static_cast<uint8_t>(s[5] - '0');
  } else if (s == "ret" || s.rfind("ret*", 0) == 0) {
    a.size = SizeRule::Ret;
    a.n = mult(s.substr(3));
  } else if (s == "msg") {
    a.size = SizeRule::Msg;
  } else if (s == "ioctl") {
    a.size = SizeRule::Ioctl;
  } else if (s == "fcntl") {
    a.size = SizeRule::Fcntl;
  } else if (s.rfind("sockaddr:a", 0) == 0) {
    a.size = SizeRule::Sockaddr;
    a.ref = static_cast<uint8_t>(s[10] - '0');
  } else if (s.rfind("mmsg:a", 0) == 0) {
    a.size = SizeRule::Mmsg;
    a.ref = static_cast<uint8_t>(s[6] - '0');
  } else if (s.rfind("mmsglen:a", 0) == 0) {
    a.size = SizeRule::MmsgLen;
    a.ref = static_cast<uint8_t>(s[9] - '0');
  } else if (s.rfind("iov:a", 0) == 0) {
    a.size = SizeRule::Iov;
    a.ref = static_cast<uint8_t>(s[5] - '0');
  } else if (s.rfind("fdset:a", 0) == 0) {
    a.size = SizeRule::FdSet;
    a.ref = static_cast<uint8_t>(s[7] - '0');
  } else if (s.rfind("*a", 0) == 0) {
    a.size = SizeRule::ValueRes;
    a.ref = static_cast<uint8_t>(s[2] - '0');
  } else if (s[0] == 'a') {
    a.size = SizeRule::Arg;
    a.ref = static_cast<uint8_t>(s[1] - '0');
    a.n = mult(s.substr(2));
  } else if (s[0] >= '0' && s[0] <= '9') {
    a.size = SizeRule::Fixed;
    a.n = static_cast<uint32_t>(std::strtoul(s.c_str(), nullptr, 10));
  } else {
    bad_row(r, "bad size");
  }
  if (a.ref > 5) bad_row(r, "argument reference out of range");
}

SyscallSpec build(const Row& r) {
  SyscallSpec s;
  s.nr = r.nr;
  s.name = r.name;
  s.cls = r.cls;
  s.fd = r.fd;
  s.special = r.special;
  s.cloexec_arg = r.cloexec_arg;
  s.cloexec_mask = r.cloexec_mask;
  std::string spec = r.args;
  size_t pos = 0;
  while (pos < spec.size()) {
    size_t comma = spec.find(',', pos);
    if (comma == std::string::npos) comma = spec.size();
    std::string tok = spec.substr(pos, comma - pos);
    tok.erase(0, tok.find_first_not_of(' '));
    tok.erase(tok.find_last_not_of(' ') + 1);
    pos = comma + 1;
    if (tok.empty()) continue;
    if (s.nargs >= 6) bad_row(r, "more than six arguments");
    ArgSpec& a = s.args[s.nargs];
    int idx = s.nargs++;
    size_t cond = tok.find('?');
    if (cond != std::string::npos) {
      // ?aK&MASK: compared only when argument K has a bit of MASK set.
      std::string c = tok.substr(cond + 1);
      tok.resize(cond);
      if (c.size() < 4 || c[0] != 'a' || c[2] != '&') bad_row(r, "a condition is ?aK&MASK");
      a.if_arg = static_cast<int8_t>(c[1] - '0');
      if (a.if_arg < 0 || a.if_arg >= idx) bad_row(r, "?aK must name an earlier argument");
      a.if_mask = static_cast<uint32_t>(std::strtoul(c.c_str() + 3, nullptr, 16));
      if (a.if_mask == 0) bad_row(r, "?aK&MASK needs a nonzero mask");
    }
    size_t hash = tok.find('#');
    if (hash != std::string::npos) {
      a.role = parse_word(r, tok.substr(hash + 1), kRoleWords, "unknown argument role");
      tok.resize(hash);
    }
    if (tok == "int") a.kind = ArgKind::Int;
    else if (tok == "ptr") a.kind = ArgKind::Ptr;
    else if (tok == "str") a.kind = ArgKind::Str;
    else if (tok == "fd") {
      a.kind = ArgKind::Fd;
      if (s.fd_arg < 0) s.fd_arg = static_cast<int8_t>(idx);
    } else if (tok == "dirfd") {
      a.kind = ArgKind::Dirfd;
      s.dirfd_arg = static_cast<int8_t>(idx);
    } else if (tok == "path") {
      a.kind = ArgKind::Path;
      if (s.path_arg < 0) s.path_arg = static_cast<int8_t>(idx);
    } else {
      size_t colon = tok.find(':');
      if (colon == std::string::npos) bad_row(r, "unknown argument kind");
      std::string dir = tok.substr(0, colon);
      if (dir == "in") a.kind = ArgKind::In;
      else if (dir == "out") a.kind = ArgKind::Out;
      else if (dir == "inout") a.kind = ArgKind::InOut;
      else bad_row(r, "unknown buffer direction");
      std::string size = tok.substr(colon + 1);
      size_t at = size.find("@a");
      if (at != std::string::npos) {
        a.at = static_cast<int8_t>(size[at + 2] - '0');
        if (a.at < 0 || a.at >= idx) bad_row(r, "@a must name an earlier argument");
        size.resize(at);
      }
      parse_size(r, size, a);
      if ((a.size == SizeRule::Ret || a.size == SizeRule::RetMax || a.size == SizeRule::MmsgLen) &&
          a.kind != ArgKind::Out)
        bad_row(r, "ret size on an input");
    }
    if (a.kind == ArgKind::In || a.kind == ArgKind::InOut || a.kind == ArgKind::Path ||
        a.kind == ArgKind::Str)
      s.n_in++;
    if (a.kind == ArgKind::Out || a.kind == ArgKind::InOut) s.n_out++;
  }
  if (s.fd == FdEffect::Uses && s.fd_arg < 0) bad_row(r, "uses an fd but has no fd argument");
  parse_traits(r, s);
  if (s.tid_in.off >= 0 && s.n_in != 1) bad_row(r, "tid_in: needs exactly one input buffer");
  if (s.flow == Flow::Copy) {
    int src = s.arg_with(ArgRole::CopySrc), dst = s.arg_with(ArgRole::CopyDst);
    if (src < 0 || dst < 0 || s.args[src].kind != ArgKind::Fd || s.args[dst].kind != ArgKind::Fd)
      bad_row(r, "flow:copy needs an fd#src and an fd#dst");
    s.moved_part = static_cast<int8_t>(s.n_out++);
  }
  return s;
}

struct Table {
  std::vector<SyscallSpec> all;
  std::vector<const SyscallSpec*> by_nr;
  SyscallSpec unknown;
  Table() {
    by_nr.assign(512, nullptr);
    for (const Row& r : kRows) all.push_back(build(r));
    for (const SyscallSpec& s : all) {
      if (s.nr < 0 || s.nr >= 512 || by_nr[s.nr]) {
        std::fprintf(stderr, "replaybook-engine: duplicate syscall %d\n", s.nr);
        std::abort();
      }
      by_nr[s.nr] = &s;
    }
    unknown.name = "unknown";
    unknown.cls = Class::Emulated;
  }
};

const Table& table() {
  static const Table t;
  return t;
}

}  // namespace

namespace {
// fcntl commands whose third argument is an integer (the others take a pointer or nothing).
bool fcntl_int_arg(unsigned long cmd) {
  switch (cmd) {
    case 0: case 2: case 4: case 8: case 10:             // F_DUPFD F_SETFD F_SETFL F_SETOWN F_SETSIG
    case 1024: case 1026: case 1030: case 1031: case 1033:  // SETLEASE NOTIFY DUPFD_CLOEXEC SETPIPE_SZ ADD_SEALS
      return true;
    default:
      return false;
  }
}
}  // namespace

bool arg_not_compared(const SyscallSpec& s, int i, const uint64_t args[6]) {
  const ArgSpec& own = s.args[i];
  if (own.if_arg >= 0 && (args[own.if_arg] & own.if_mask) == 0) return true;
  for (const ArgSpec& a : s.args) {
    if (a.at != i) continue;
    if (a.size == SizeRule::Fcntl) return !fcntl_int_arg(args[1]);
    if (a.size == SizeRule::Ioctl) return ioctl_in_size(args[1]) >= 0 || ioctl_out_size(args[1]) >= 0;
    return true;
  }
  return false;
}

const std::vector<std::pair<size_t, size_t>>& address_fields_in(const SyscallSpec& s) { return s.addr_ranges; }

bool same_input(const SyscallSpec& s, const std::string& recorded, const std::string& now) {
  if (recorded.size() != now.size()) return false;
  const auto& ranges = address_fields_in(s);
  if (ranges.empty()) return recorded == now;
  std::string a = recorded, b = now;
  for (auto [off, len] : ranges) {
    if (off >= a.size()) continue;
    size_t n = std::min(len, a.size() - off);
    a.replace(off, n, n, '\0');
    b.replace(off, n, n, '\0');
  }
  return a == b;
}

int user_data_in(const SyscallSpec& s) { return s.udata_in; }

const char* input_tid(const SyscallSpec& s, const std::string& data_in) {
  const auto& id = s.tid_in;
  if (id.off < 0 || data_in.size() < static_cast<size_t>(id.off) + 4 || data_in.size() < static_cast<size_t>(id.when) + 4)
    return nullptr;
  uint32_t when;
  std::memcpy(&when, data_in.data() + id.when, 4);
  return when == id.value ? data_in.data() + id.off : nullptr;
}

std::pair<size_t, size_t> user_data_out(const SyscallSpec& s) { return s.udata_out; }

const SyscallSpec& syscall_spec(long nr) {
  const Table& t = table();
  if (nr >= 0 && nr < static_cast<long>(t.by_nr.size()) && t.by_nr[nr]) return *t.by_nr[nr];
  return t.unknown;
}

const std::vector<SyscallSpec>& syscall_table() { return table().all; }

int SyscallSpec::arg_with(ArgRole role) const {
  for (int i = 0; i < nargs; i++)
    if (args[i].role == role) return i;
  return -1;
}

int SyscallSpec::in_part(int arg) const {
  int k = 0;
  for (int i = 0; i < nargs; i++) {
    ArgKind kd = args[i].kind;
    bool in = kd == ArgKind::In || kd == ArgKind::InOut || kd == ArgKind::Path || kd == ArgKind::Str;
    if (i == arg) return in ? k : -1;
    if (in) k++;
  }
  return -1;
}

const char* class_word(Class c) { return word_of(c, kClassWords); }
const char* fd_effect_word(FdEffect f) { return word_of(f, kFdWords); }
const char* special_word(Special s) { return word_of(s, kSpecialWords); }
const char* arg_kind_word(ArgKind k) { return word_of(k, kArgKindWords); }
const char* size_rule_word(SizeRule r) { return word_of(r, kSizeWords); }
const char* role_word(ArgRole r) { return word_of(r, kRoleWords); }
const char* flow_word(Flow f) { return word_of(f, kFlowWords); }
const char* handler_word(Handler h) { return word_of(h, kHandlerWords); }
const char* clone_word(CloneFlags c) { return word_of(c, kCloneWords); }

std::vector<const char*> trait_words(uint32_t traits) {
  std::vector<const char*> out;
  for (const auto& x : kTraitWords)
    if (traits & x.value) out.push_back(x.word);
  return out;
}

namespace {
// The size and direction the kernel's _IOC encoding puts into a request code.
constexpr unsigned kIocWrite = 1, kIocRead = 2;
int ioc_size(unsigned long request, unsigned dir) {
  unsigned d = static_cast<unsigned>(request >> 30) & 3;
  unsigned size = static_cast<unsigned>(request >> 16) & 0x3fff;
  return (d & dir) && size ? static_cast<int>(size) : -1;
}
constexpr int kTermios = 36;  // the kernel's struct termios (glibc's is larger and translated)
constexpr int kIfreq = 40;    // struct ifreq
}  // namespace

int ioctl_out_size(unsigned long request) {
  switch (request) {
    case 0x5401: return kTermios;  // TCGETS
    case 0x5413: return 8;         // TIOCGWINSZ: struct winsize
    case 0x541B: return 4;         // FIONREAD: int
    case 0x540F: return 4;         // TIOCGPGRP: pid_t
    case 0x5429: return 4;         // TIOCGSID: pid_t
    case 0x5411: return 4;         // TIOCOUTQ: int
    case 0x5415: return 4;         // TIOCMGET: int
    case 0x5424: return 4;         // TIOCGETD: int
    case 0x8910: return kIfreq;    // SIOCGIFNAME
    case 0x8913: return kIfreq;    // SIOCGIFFLAGS
    case 0x8915: return kIfreq;    // SIOCGIFADDR
    case 0x8921: return kIfreq;    // SIOCGIFMTU
    case 0x8927: return kIfreq;    // SIOCGIFHWADDR
    case 0x8933: return kIfreq;    // SIOCGIFINDEX
    default: return ioc_size(request, kIocRead);
  }
}

int ioctl_in_size(unsigned long request) {
  switch (request) {
    case 0x5402: case 0x5403: case 0x5404: return kTermios;  // TCSETS, TCSETSW, TCSETSF
    case 0x5414: return 8;         // TIOCSWINSZ: struct winsize
    case 0x5410: return 4;         // TIOCSPGRP: pid_t
    case 0x5421: return 4;         // FIONBIO: int
    case 0x5452: return 4;         // FIOASYNC: int
    case 0x5423: return 4;         // TIOCSETD: int
    case 0x8910: case 0x8913: case 0x8915: case 0x8921: case 0x8927: case 0x8933:
      return kIfreq;               // SIOCGIF*: the interface name goes in
    default: return ioc_size(request, kIocWrite);
  }
}

namespace {
constexpr int kFlock = 32;       // struct flock
constexpr int kOwnerEx = 8;      // struct f_owner_ex
}  // namespace

int fcntl_out_size(unsigned long cmd) {
  switch (cmd) {
    case 5: case 36: return kFlock;  // F_GETLK, F_OFD_GETLK
    case 16: return kOwnerEx;        // F_GETOWN_EX
    case 1035: case 1037: return 8;  // F_GET_RW_HINT, F_GET_FILE_RW_HINT
    default: return -1;
  }
}

int fcntl_in_size(unsigned long cmd) {
  switch (cmd) {
    case 5: case 6: case 7: case 36: case 37: case 38:
      return kFlock;                 // F_GETLK F_SETLK F_SETLKW and their OFD forms
    case 15: return kOwnerEx;        // F_SETOWN_EX
    case 1036: case 1038: return 8;  // F_SET_RW_HINT, F_SET_FILE_RW_HINT
    default: return -1;
  }
}

}  // namespace rb
