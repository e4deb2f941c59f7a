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
//   moved:aS>aD (last, not an argument) the bytes the call moved inside the
//                kernel from the fd in argument S to the fd in argument D (sendfile, splice, tee,
//                copy_file_range): a data_out part the recorder reads from an end that is a file
//                (at the offset the call read from or wrote at: the inout:8 argument right after
//                that end's fd when the program passed one, else the fd's position), empty when
//                neither end is a file (pipe to socket: the bytes are gone). The event's resource
//                is the destination's, as for a write.
// Outputs are only captured and served when the call succeeded (ret >= 0).
#include "syscalls.h"

#include <map>

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
};

using C = Class;
using F = FdEffect;
using S = Special;
constexpr int8_t NO = -1;

// clang-format off
const Row kRows[] = {
//  nr   name                 class          fd effect    special        arguments                                          cloexec
  {  0, "read",              C::Emulated,  F::Uses,     S::None,     "fd, out:ret, int",                                 NO, 0},
  {  1, "write",             C::Emulated,  F::Uses,     S::None,     "fd, in:a2, int",                                   NO, 0},
  {  2, "open",              C::Emulated,  F::Creates,  S::None,     "path, int, int",                                   1, O_CLOEXEC_},
  {  3, "close",             C::Executed,  F::Closes,   S::None,     "fd",                                               NO, 0},
  {  4, "stat",              C::Emulated,  F::None,     S::None,     "path, out:144",                                    NO, 0},
  {  5, "fstat",             C::Emulated,  F::Uses,     S::None,     "fd, out:144",                                      NO, 0},
  {  6, "lstat",             C::Emulated,  F::None,     S::None,     "path, out:144",                                    NO, 0},
  {  7, "poll",              C::Emulated,  F::None,     S::None,     "inout:a1*8, int, int",                             NO, 0},
  {  8, "lseek",             C::Emulated,  F::Uses,     S::None,     "fd, int, int",                                     NO, 0},
  {  9, "mmap",              C::Executed,  F::None,     S::Mmap,     "ptr, int, int, int, int, int",                     NO, 0},
  { 10, "mprotect",          C::Untraced,  F::None,     S::None,     "ptr, int, int",                                    NO, 0},
  { 11, "munmap",            C::Untraced,  F::None,     S::None,     "ptr, int",                                         NO, 0},
  { 12, "brk",               C::Untraced,  F::None,     S::None,     "ptr",                                              NO, 0},
  { 13, "rt_sigaction",      C::Executed,  F::None,     S::None,     "int, ptr, ptr, int",                               NO, 0},
  { 14, "rt_sigprocmask",    C::Executed,  F::None,     S::None,     "int, ptr, ptr, int",                               NO, 0},
  { 15, "rt_sigreturn",      C::Executed,  F::None,     S::None,     "",                                                 NO, 0},
  { 16, "ioctl",             C::Emulated,  F::Uses,     S::Ioctl,    "fd, int, inout:ioctl",                             NO, 0},
  { 17, "pread64",           C::Emulated,  F::Uses,     S::None,     "fd, out:ret, int, int",                            NO, 0},
  { 18, "pwrite64",          C::Emulated,  F::Uses,     S::None,     "fd, in:a2, int, int",                              NO, 0},
  { 19, "readv",             C::Emulated,  F::Uses,     S::None,     "fd, out:iov:a2, int",                              NO, 0},
  { 20, "writev",            C::Emulated,  F::Uses,     S::None,     "fd, in:iov:a2, int",                               NO, 0},
  { 21, "access",            C::Emulated,  F::None,     S::None,     "path, int",                                        NO, 0},
  { 22, "pipe",              C::Emulated,  F::Pair,     S::None,     "out:8",                                            NO, 0},
  { 23, "select",            C::Emulated,  F::None,     S::None,     "int, inout:fdset:a0, inout:fdset:a0, inout:fdset:a0, inout:16", NO, 0},
  { 24, "sched_yield",       C::Untraced,  F::None,     S::None,     "",                                                 NO, 0},
  { 25, "mremap",            C::Untraced,  F::None,     S::None,     "ptr, int, int, int, ptr",                          NO, 0},
  { 26, "msync",             C::Executed,  F::None,     S::None,     "ptr, int, int",                                    NO, 0},
  { 27, "mincore",           C::Executed,  F::None,     S::None,     "ptr, int, ptr",                                    NO, 0},
  { 28, "madvise",           C::Untraced,  F::None,     S::None,     "ptr, int, int",                                    NO, 0},
  { 32, "dup",               C::Executed,  F::Dups,     S::None,     "fd",                                               NO, 0},
  { 33, "dup2",              C::Executed,  F::Dups,     S::None,     "fd, int",                                          NO, 0},
  { 34, "pause",             C::Emulated,  F::None,     S::None,     "",                                                 NO, 0},
  { 35, "nanosleep",         C::Emulated,  F::None,     S::None,     "in:16, ptr",                                       NO, 0},
  { 36, "getitimer",         C::Emulated,  F::None,     S::None,     "int, out:32",                                      NO, 0},
  { 37, "alarm",             C::Emulated,  F::None,     S::None,     "int",                                              NO, 0},
  { 38, "setitimer",         C::Emulated,  F::None,     S::None,     "int, in:32, out:32",                               NO, 0},
  { 39, "getpid",            C::Emulated,  F::None,     S::None,     "",                                                 NO, 0},
  { 40, "sendfile",          C::Emulated,  F::Uses,     S::None,     "fd, fd, inout:8, int, moved:a1>a0",                NO, 0},
  { 41, "socket",            C::Emulated,  F::Creates,  S::None,     "int, int, int",                                    1, O_CLOEXEC_},
  { 42, "connect",           C::Emulated,  F::Uses,     S::None,     "fd, in:sockaddr:a2, int",                          NO, 0},
  { 43, "accept",            C::Emulated,  F::Accepts,  S::None,     "fd, out:*a2, inout:4",                             NO, 0},
  { 44, "sendto",            C::Emulated,  F::Uses,     S::None,     "fd, in:a2, int, int, in:sockaddr:a5, int",         NO, 0},
  { 45, "recvfrom",          C::Emulated,  F::Uses,     S::None,     "fd, out:ret:a2, int, int, out:*a5, inout:4",       NO, 0},
  { 46, "sendmsg",           C::Emulated,  F::Uses,     S::None,     "fd, in:msg, int",                                  NO, 0},
  { 47, "recvmsg",           C::Emulated,  F::Uses,     S::None,     "fd, out:msg, int",                                 2, MSG_CMSG_CLOEXEC_},
  { 48, "shutdown",          C::Emulated,  F::Uses,     S::None,     "fd, int",                                          NO, 0},
  { 49, "bind",              C::Emulated,  F::Uses,     S::None,     "fd, in:sockaddr:a2, int",                          NO, 0},
  { 50, "listen",            C::Emulated,  F::Uses,     S::None,     "fd, int",                                          NO, 0},
  { 51, "getsockname",       C::Emulated,  F::Uses,     S::None,     "fd, out:*a2, inout:4",                             NO, 0},
  { 52, "getpeername",       C::Emulated,  F::Uses,     S::None,     "fd, out:*a2, inout:4",                             NO, 0},
  { 53, "socketpair",        C::Emulated,  F::Pair,     S::None,     "int, int, int, out:8",                             1, O_CLOEXEC_},
  { 54, "setsockopt",        C::Emulated,  F::Uses,     S::None,     "fd, int, int, in:a4, int",                         NO, 0},
  { 55, "getsockopt",        C::Emulated,  F::Uses,     S::None,     "fd, int, int, out:*a4, inout:4",                   NO, 0},
  { 56, "clone",             C::Executed,  F::None,     S::Clone,    "int, ptr, ptr, ptr, int",                          NO, 0},
  { 57, "fork",              C::Executed,  F::None,     S::Clone,    "",                                                 NO, 0},
  { 58, "vfork",             C::Executed,  F::None,     S::Clone,    "",                                                 NO, 0},
  { 59, "execve",            C::Executed,  F::None,     S::Execve,   "path, ptr, ptr",                                   NO, 0},
  { 60, "exit",              C::Executed,  F::None,     S::Exit,     "int",                                              NO, 0},
  { 61, "wait4",             C::Executed,  F::None,     S::Wait,     "int, out:4, int, out:144",                         NO, 0},
  { 62, "kill",              C::Emulated,  F::None,     S::None,     "int, int",                                         NO, 0},
  { 63, "uname",             C::Emulated,  F::None,     S::None,     "out:390",                                          NO, 0},
  { 72, "fcntl",             C::Emulated,  F::Uses,     S::Fcntl,    "fd, int, int, inout:fcntl@a2",                     NO, 0},
  { 73, "flock",             C::Emulated,  F::Uses,     S::None,     "fd, int",                                          NO, 0},
  { 74, "fsync",             C::Emulated,  F::Uses,     S::None,     "fd",                                               NO, 0},
  { 75, "fdatasync",         C::Emulated,  F::Uses,     S::None,     "fd",                                               NO, 0},
  { 76, "truncate",          C::Emulated,  F::None,     S::None,     "path, int",                                        NO, 0},
  { 77, "ftruncate",         C::Emulated,  F::Uses,     S::None,     "fd, int",                                          NO, 0},
  { 78, "getdents",          C::Emulated,  F::Uses,     S::None,     "fd, out:ret, int",                                 NO, 0},
  { 79, "getcwd",            C::Emulated,  F::None,     S::None,     "out:ret, int",                                     NO, 0},
  { 80, "chdir",             C::Emulated,  F::None,     S::None,     "path",                                             NO, 0},
  { 81, "fchdir",            C::Emulated,  F::Uses,     S::None,     "fd",                                               NO, 0},
  { 82, "rename",            C::Emulated,  F::None,     S::None,     "path, str",                                        NO, 0},
  { 83, "mkdir",             C::Emulated,  F::None,     S::None,     "path, int",                                        NO, 0},
  { 84, "rmdir",             C::Emulated,  F::None,     S::None,     "path",                                             NO, 0},
  { 85, "creat",             C::Emulated,  F::Creates,  S::None,     "path, int",                                        NO, 0},
  { 86, "link",              C::Emulated,  F::None,     S::None,     "path, str",                                        NO, 0},
  { 87, "unlink",            C::Emulated,  F::None,     S::None,     "path",                                             NO, 0},
  { 88, "symlink",           C::Emulated,  F::None,     S::None,     "str, path",                                        NO, 0},
  { 89, "readlink",          C::Emulated,  F::None,     S::None,     "path, out:ret, int",                               NO, 0},
  { 90, "chmod",             C::Emulated,  F::None,     S::None,     "path, int",                                        NO, 0},
  { 91, "fchmod",            C::Emulated,  F::Uses,     S::None,     "fd, int",                                          NO, 0},
  { 92, "chown",             C::Emulated,  F::None,     S::None,     "path, int, int",                                   NO, 0},
  { 93, "fchown",            C::Emulated,  F::Uses,     S::None,     "fd, int, int",                                     NO, 0},
  { 94, "lchown",            C::Emulated,  F::None,     S::None,     "path, int, int",                                   NO, 0},
  { 95, "umask",             C::Emulated,  F::None,     S::None,     "int",                                              NO, 0},
  { 96, "gettimeofday",      C::Emulated,  F::None,     S::None,     "out:16, out:8",                                    NO, 0},
  { 97, "getrlimit",         C::Emulated,  F::None,     S::None,     "int, out:16",                                      NO, 0},
  { 98, "getrusage",         C::Emulated,  F::None,     S::None,     "int, out:144",                                     NO, 0},
  { 99, "sysinfo",           C::Emulated,  F::None,     S::None,     "out:112",                                          NO, 0},
  {100, "times",             C::Emulated,  F::None,     S::None,     "out:32",                                           NO, 0},
  {102, "getuid",            C::Emulated,  F::None,     S::None,     "",                                                 NO, 0},
  {104, "getgid",            C::Emulated,  F::None,     S::None,     "",                                                 NO, 0},
  {105, "setuid",            C::Emulated,  F::None,     S::None,     "int",                                              NO, 0},
  {106, "setgid",            C::Emulated,  F::None,     S::None,     "int",                                              NO, 0},
  {107, "geteuid",           C::Emulated,  F::None,     S::None,     "",                                                 NO, 0},
  {108, "getegid",           C::Emulated,  F::None,     S::None,     "",                                                 NO, 0},
  {109, "setpgid",           C::Emulated,  F::None,     S::None,     "int, int",                                         NO, 0},
  {110, "getppid",           C::Emulated,  F::None,     S::None,     "",                                                 NO, 0},
  {111, "getpgrp",           C::Emulated,  F::None,     S::None,     "",                                                 NO, 0},
  {112, "setsid",            C::Emulated,  F::None,     S::None,     "",                                                 NO, 0},
  {113, "setreuid",          C::Emulated,  F::None,     S::None,     "int, int",                                         NO, 0},
  {114, "setregid",          C::Emulated,  F::None,     S::None,     "int, int",                                         NO, 0},
  {115, "getgroups",         C::Emulated,  F::None,     S::None,     "int, out:ret*4",                                   NO, 0},
  {116, "setgroups",         C::Emulated,  F::None,     S::None,     "int, in:a0*4",                                     NO, 0},
  {117, "setresuid",         C::Emulated,  F::None,     S::None,     "int, int, int",                                    NO, 0},
  {118, "getresuid",         C::Emulated,  F::None,     S::None,     "out:4, out:4, out:4",                              NO, 0},
  {119, "setresgid",         C::Emulated,  F::None,     S::None,     "int, int, int",                                    NO, 0},
  {120, "getresgid",         C::Emulated,  F::None,     S::None,     "out:4, out:4, out:4",                              NO, 0},
  {121, "getpgid",           C::Emulated,  F::None,     S::None,     "int",                                              NO, 0},
  {124, "getsid",            C::Emulated,  F::None,     S::None,     "int",                                              NO, 0},
  {125, "capget",            C::Emulated,  F::None,     S::None,     "inout:8, out:24",                                  NO, 0},
  {126, "capset",            C::Emulated,  F::None,     S::None,     "in:8, in:24",                                      NO, 0},
  {127, "rt_sigpending",     C::Executed,  F::None,     S::None,     "ptr, int",                                         NO, 0},
  {128, "rt_sigtimedwait",   C::Emulated,  F::None,     S::None,     "in:8, out:128, in:16, int",                        NO, 0},
  {129, "rt_sigqueueinfo",   C::Emulated,  F::None,     S::None,     "int, int, in:128",                                 NO, 0},
  {130, "rt_sigsuspend",     C::Executed,  F::None,     S::None,     "in:8, int",                                        NO, 0},
  {131, "sigaltstack",       C::Executed,  F::None,     S::None,     "ptr, ptr",                                         NO, 0},
  {132, "utime",             C::Emulated,  F::None,     S::None,     "path, in:16",                                      NO, 0},
  {133, "mknod",             C::Emulated,  F::None,     S::None,     "path, int, int",                                   NO, 0},
  {135, "personality",       C::Executed,  F::None,     S::None,     "int",                                              NO, 0},
  {137, "statfs",            C::Emulated,  F::None,     S::None,     "path, out:120",                                    NO, 0},
  {138, "fstatfs",           C::Emulated,  F::Uses,     S::None,     "fd, out:120",                                      NO, 0},
  {140, "getpriority",       C::Emulated,  F::None,     S::None,     "int, int",                                         NO, 0},
  {141, "setpriority",       C::Emulated,  F::None,     S::None,     "int, int, int",                                    NO, 0},
  {142, "sched_setparam",    C::Emulated,  F::None,     S::None,     "int, in:4",                                        NO, 0},
  {143, "sched_getparam",    C::Emulated,  F::None,     S::None,     "int, out:4",                                       NO, 0},
  {144, "sched_setscheduler", C::Emulated,  F::None,     S::None,     "int, int, in:4",                                   NO, 0},
  {145, "sched_getscheduler", C::Emulated,  F::None,     S::None,     "int",                                              NO, 0},
  {146, "sched_get_priority_max", C::Emulated,  F::None,     S::None,     "int",                                              NO, 0},
  {147, "sched_get_priority_min", C::Emulated,  F::None,     S::None,     "int",                                              NO, 0},
  {148, "sched_rr_get_interval", C::Emulated,  F::None,     S::None,     "int, out:16",                                      NO, 0},
  {149, "mlock",             C::Executed,  F::None,     S::None,     "ptr, int",                                         NO, 0},
  {150, "munlock",           C::Executed,  F::None,     S::None,     "ptr, int",                                         NO, 0},
  {151, "mlockall",          C::Executed,  F::None,     S::None,     "int",                                              NO, 0},
  {152, "munlockall",        C::Executed,  F::None,     S::None,     "",                                                 NO, 0},
  {157, "prctl",             C::Executed,  F::None,     S::None,     "int, int, int, int, int",                          NO, 0},
  {158, "arch_prctl",        C::Executed,  F::None,     S::None,     "int, ptr",                                         NO, 0},
  {160, "setrlimit",         C::Emulated,  F::None,     S::None,     "int, in:16",                                       NO, 0},
  {161, "chroot",            C::Emulated,  F::None,     S::None,     "path",                                             NO, 0},
  {162, "sync",              C::Emulated,  F::None,     S::None,     "",                                                 NO, 0},
  {186, "gettid",            C::Emulated,  F::None,     S::None,     "",                                                 NO, 0},
  {187, "readahead",         C::Emulated,  F::Uses,     S::None,     "fd, int, int",                                     NO, 0},
  {188, "setxattr",          C::Emulated,  F::None,     S::None,     "path, str, in:a3, int, int",                       NO, 0},
  {189, "lsetxattr",         C::Emulated,  F::None,     S::None,     "path, str, in:a3, int, int",                       NO, 0},
  {190, "fsetxattr",         C::Emulated,  F::Uses,     S::None,     "fd, str, in:a3, int, int",                         NO, 0},
  {191, "getxattr",          C::Emulated,  F::None,     S::None,     "path, str, out:ret:a3, int",                       NO, 0},
  {192, "lgetxattr",         C::Emulated,  F::None,     S::None,     "path, str, out:ret:a3, int",                       NO, 0},
  {193, "fgetxattr",         C::Emulated,  F::Uses,     S::None,     "fd, str, out:ret:a3, int",                         NO, 0},
  {194, "listxattr",         C::Emulated,  F::None,     S::None,     "path, out:ret:a2, int",                            NO, 0},
  {195, "llistxattr",        C::Emulated,  F::None,     S::None,     "path, out:ret:a2, int",                            NO, 0},
  {196, "flistxattr",        C::Emulated,  F::Uses,     S::None,     "fd, out:ret:a2, int",                              NO, 0},
  {197, "removexattr",       C::Emulated,  F::None,     S::None,     "path, str",                                        NO, 0},
  {198, "lremovexattr",      C::Emulated,  F::None,     S::None,     "path, str",                                        NO, 0},
  {199, "fremovexattr",      C::Emulated,  F::Uses,     S::None,     "fd, str",                                          NO, 0},
  {200, "tkill",             C::Emulated,  F::None,     S::None,     "int, int",                                         NO, 0},
  {201, "time",              C::Emulated,  F::None,     S::None,     "out:8",                                            NO, 0},
  {202, "futex",             C::Executed,  F::None,     S::None,     "ptr, int, int, ptr, ptr, int",                     NO, 0},
  {203, "sched_setaffinity", C::Emulated,  F::None,     S::None,     "int, int, in:a1",                                  NO, 0},
  {204, "sched_getaffinity", C::Emulated,  F::None,     S::Affinity, "int, int, out:ret",                                NO, 0},
  {213, "epoll_create",      C::Emulated,  F::Creates,  S::None,     "int",                                              NO, 0},
  {217, "getdents64",        C::Emulated,  F::Uses,     S::None,     "fd, out:ret, int",                                 NO, 0},
  {218, "set_tid_address",   C::Emulated,  F::None,     S::None,     "ptr",                                              NO, 0},
  {219, "restart_syscall",   C::Emulated,  F::None,     S::None,     "",                                                 NO, 0},
  {221, "fadvise64",         C::Emulated,  F::Uses,     S::None,     "fd, int, int, int",                                NO, 0},
  {222, "timer_create",      C::Emulated,  F::None,     S::None,     "int, in:64, out:4",                                NO, 0},
  {223, "timer_settime",     C::Emulated,  F::None,     S::None,     "int, int, in:32, out:32",                          NO, 0},
  {224, "timer_gettime",     C::Emulated,  F::None,     S::None,     "int, out:32",                                      NO, 0},
  {225, "timer_getoverrun",  C::Emulated,  F::None,     S::None,     "int",                                              NO, 0},
  {226, "timer_delete",      C::Emulated,  F::None,     S::None,     "int",                                              NO, 0},
  {228, "clock_gettime",     C::Emulated,  F::None,     S::None,     "int, out:16",                                      NO, 0},
  {229, "clock_getres",      C::Emulated,  F::None,     S::None,     "int, out:16",                                      NO, 0},
  {230, "clock_nanosleep",   C::Emulated,  F::None,     S::None,     "int, int, in:16, ptr",                             NO, 0},
  {231, "exit_group",        C::Executed,  F::None,     S::Exit,     "int",                                              NO, 0},
  {232, "epoll_wait",        C::Emulated,  F::Uses,     S::None,     "fd, out:ret*12, int, int",                         NO, 0},
  {233, "epoll_ctl",         C::Emulated,  F::Uses,     S::None,     "fd, int, int, in:12",                              NO, 0},
  {234, "tgkill",            C::Emulated,  F::None,     S::None,     "int, int, int",                                    NO, 0},
  {235, "utimes",            C::Emulated,  F::None,     S::None,     "path, in:32",                                      NO, 0},
  {237, "mbind",             C::Executed,  F::None,     S::None,     "ptr, int, int, ptr, int, int",                     NO, 0},
  {238, "set_mempolicy",     C::Executed,  F::None,     S::None,     "int, ptr, int",                                    NO, 0},
  {239, "get_mempolicy",     C::Executed,  F::None,     S::None,     "ptr, ptr, int, ptr, int",                          NO, 0},
  {247, "waitid",            C::Executed,  F::None,     S::Wait,     "int, int, out:128, int, out:144",                  NO, 0},
  {253, "inotify_init",      C::Emulated,  F::Creates,  S::None,     "",                                                 NO, 0},
  {254, "inotify_add_watch", C::Emulated,  F::Uses,     S::None,     "fd, path, int",                                    NO, 0},
  {255, "inotify_rm_watch",  C::Emulated,  F::Uses,     S::None,     "fd, int",                                          NO, 0},
  {257, "openat",            C::Emulated,  F::Creates,  S::None,     "dirfd, path, int, int",                            2, O_CLOEXEC_},
  {258, "mkdirat",           C::Emulated,  F::None,     S::None,     "dirfd, path, int",                                 NO, 0},
  {259, "mknodat",           C::Emulated,  F::None,     S::None,     "dirfd, path, int, int",                            NO, 0},
  {260, "fchownat",          C::Emulated,  F::None,     S::None,     "dirfd, path, int, int, int",                       NO, 0},
  {261, "futimesat",         C::Emulated,  F::None,     S::None,     "dirfd, path, in:32",                               NO, 0},
  {262, "newfstatat",        C::Emulated,  F::None,     S::None,     "dirfd, path, out:144, int",                        NO, 0},
  {263, "unlinkat",          C::Emulated,  F::None,     S::None,     "dirfd, path, int",                                 NO, 0},
  {264, "renameat",          C::Emulated,  F::None,     S::None,     "dirfd, path, int, str",                            NO, 0},
  {265, "linkat",            C::Emulated,  F::None,     S::None,     "dirfd, path, int, str, int",                       NO, 0},
  {266, "symlinkat",         C::Emulated,  F::None,     S::None,     "str, dirfd, path",                                 NO, 0},
  {267, "readlinkat",        C::Emulated,  F::None,     S::None,     "dirfd, path, out:ret, int",                        NO, 0},
  {268, "fchmodat",          C::Emulated,  F::None,     S::None,     "dirfd, path, int",                                 NO, 0},
  {269, "faccessat",         C::Emulated,  F::None,     S::None,     "dirfd, path, int",                                 NO, 0},
  {270, "pselect6",          C::Emulated,  F::None,     S::None,     "int, inout:fdset:a0, inout:fdset:a0, inout:fdset:a0, inout:16, ptr", NO, 0},
  {271, "ppoll",             C::Emulated,  F::None,     S::None,     "inout:a1*8, int, in:16, ptr, int",                 NO, 0},
  {273, "set_robust_list",   C::Executed,  F::None,     S::None,     "ptr, int",                                         NO, 0},
  {275, "splice",            C::Emulated,  F::Uses,     S::None,     "fd, inout:8, fd, inout:8, int, int, moved:a0>a2",  NO, 0},
  {276, "tee",               C::Emulated,  F::Uses,     S::None,     "fd, fd, int, int, moved:a0>a1",                    NO, 0},
  {278, "vmsplice",          C::Emulated,  F::Uses,     S::None,     "fd, in:iov:a2, int, int",                          NO, 0},
  {277, "sync_file_range",   C::Emulated,  F::Uses,     S::None,     "fd, int, int, int",                                NO, 0},
  {280, "utimensat",         C::Emulated,  F::None,     S::None,     "dirfd, path, in:32, int",                          NO, 0},
  {281, "epoll_pwait",       C::Emulated,  F::Uses,     S::None,     "fd, out:ret*12, int, int, ptr, int",               NO, 0},
  {282, "signalfd",          C::Emulated,  F::Creates,  S::None,     "int, in:a2, int",                                  NO, 0},
  {283, "timerfd_create",    C::Emulated,  F::Creates,  S::None,     "int, int",                                         1, O_CLOEXEC_},
  {284, "eventfd",           C::Emulated,  F::Creates,  S::None,     "int",                                              NO, 0},
  {285, "fallocate",         C::Emulated,  F::Uses,     S::None,     "fd, int, int, int",                                NO, 0},
  {286, "timerfd_settime",   C::Emulated,  F::Uses,     S::None,     "fd, int, in:32, out:32",                           NO, 0},
  {287, "timerfd_gettime",   C::Emulated,  F::Uses,     S::None,     "fd, out:32",                                       NO, 0},
  {288, "accept4",           C::Emulated,  F::Accepts,  S::None,     "fd, out:*a2, inout:4, int",                        3, O_CLOEXEC_},
  {289, "signalfd4",         C::Emulated,  F::Creates,  S::None,     "int, in:a2, int, int",                             3, O_CLOEXEC_},
  {290, "eventfd2",          C::Emulated,  F::Creates,  S::None,     "int, int",                                         1, O_CLOEXEC_},
  {291, "epoll_create1",     C::Emulated,  F::Creates,  S::None,     "int",                                              0, O_CLOEXEC_},
  {292, "dup3",              C::Executed,  F::Dups,     S::None,     "fd, int, int",                                     NO, 0},
  {293, "pipe2",             C::Emulated,  F::Pair,     S::None,     "out:8, int",                                       1, O_CLOEXEC_},
  {294, "inotify_init1",     C::Emulated,  F::Creates,  S::None,     "int",                                              0, O_CLOEXEC_},
  {295, "preadv",            C::Emulated,  F::Uses,     S::None,     "fd, out:iov:a2, int, int, int",                    NO, 0},
  {296, "pwritev",           C::Emulated,  F::Uses,     S::None,     "fd, in:iov:a2, int, int, int",                     NO, 0},
  {297, "rt_tgsigqueueinfo", C::Emulated,  F::None,     S::None,     "int, int, int, in:128",                            NO, 0},
  {299, "recvmmsg",          C::Emulated,  F::Uses,     S::None,     "fd, out:mmsg:a2, int, int, in:16, out:16@a4",      3, MSG_CMSG_CLOEXEC_},
  {302, "prlimit64",         C::Emulated,  F::None,     S::None,     "int, int, in:16, out:16",                          NO, 0},
  {306, "syncfs",            C::Emulated,  F::Uses,     S::None,     "fd",                                               NO, 0},
  {307, "sendmmsg",          C::Emulated,  F::Uses,     S::None,     "fd, in:mmsg:a2, int, int, out:mmsglen:a2@a1",      NO, 0},
  {316, "renameat2",         C::Emulated,  F::None,     S::None,     "dirfd, path, int, str, int",                       NO, 0},
  {318, "getrandom",         C::Emulated,  F::None,     S::None,     "out:ret, int, int",                                NO, 0},
  {319, "memfd_create",      C::Emulated,  F::Creates,  S::None,     "str, int",                                         1, 1u},
  {324, "membarrier",        C::Executed,  F::None,     S::None,     "int, int, int",                                    NO, 0},
  {325, "mlock2",            C::Executed,  F::None,     S::None,     "ptr, int, int",                                    NO, 0},
  {326, "copy_file_range",   C::Emulated,  F::Uses,     S::None,     "fd, inout:8, fd, inout:8, int, int, moved:a0>a2",  NO, 0},
  {327, "preadv2",           C::Emulated,  F::Uses,     S::None,     "fd, out:iov:a2, int, int, int, int",               NO, 0},
  {328, "pwritev2",          C::Emulated,  F::Uses,     S::None,     "fd, in:iov:a2, int, int, int, int",                NO, 0},
  {329, "pkey_mprotect",     C::Untraced,  F::None,     S::None,     "ptr, int, int, int",                               NO, 0},
  {330, "pkey_alloc",        C::Executed,  F::None,     S::None,     "int, int",                                         NO, 0},
  {331, "pkey_free",         C::Executed,  F::None,     S::None,     "int",                                              NO, 0},
  {332, "statx",             C::Emulated,  F::None,     S::None,     "dirfd, path, int, int, out:256",                   NO, 0},
  {334, "rseq",              C::Untraced,  F::None,     S::None,     "ptr, int, int, int",                               NO, 0},
  {425, "io_uring_setup",    C::Denied,    F::None,     S::None,     "int, ptr",                                         NO, 0},
  {426, "io_uring_enter",    C::Denied,    F::None,     S::None,     "int, int, int, int, ptr, int",                     NO, 0},
  {427, "io_uring_register", C::Denied,    F::None,     S::None,     "int, int, ptr, int",                               NO, 0},
  {435, "clone3",            C::Executed,  F::None,     S::Clone,    "in:a1, int",                                       NO, 0},
  {436, "close_range",       C::Executed,  F::None,     S::None,     "int, int, int",                                    NO, 0},
  {437, "openat2",           C::Emulated,  F::Creates,  S::None,     "dirfd, path, in:a3, int",                          NO, 0},
  {439, "faccessat2",        C::Emulated,  F::None,     S::None,     "dirfd, path, int, int",                            NO, 0},
  {441, "epoll_pwait2",      C::Emulated,  F::Uses,     S::None,     "fd, out:ret*12, int, in:16, ptr, int",             NO, 0},
  {449, "futex_waitv",       C::Executed,  F::None,     S::None,     "ptr, int, int, ptr, int",                          NO, 0},
  {452, "fchmodat2",         C::Emulated,  F::None,     S::None,     "dirfd, path, int, int",                            NO, 0},
};
// clang-format on

[[noreturn]] void bad_row(const Row& r, const char* why) {
  std::fprintf(stderr, "replaybook-engine: syscall table row %s: %s\n", r.name, why);
  std::abort();
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
    if (tok.rfind("moved:a", 0) == 0) {  // moved:aS>aD, a property of the call
      if (tok.size() != 11 || tok[8] != '>' || tok[9] != 'a' || pos < spec.size())
        bad_row(r, "moved:aS>aD comes last");
      s.moved_from = static_cast<int8_t>(tok[7] - '0');
      s.moved_to = static_cast<int8_t>(tok[10] - '0');
      if (s.moved_from >= s.nargs || s.moved_to >= s.nargs || s.args[s.moved_from].kind != ArgKind::Fd ||
          s.args[s.moved_to].kind != ArgKind::Fd)
        bad_row(r, "moved must name two fd arguments");
      s.moved_part = static_cast<int8_t>(s.n_out++);
      continue;
    }
    if (s.nargs >= 6) bad_row(r, "more than six arguments");
    ArgSpec& a = s.args[s.nargs];
    int idx = s.nargs++;
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

Flow flow_of(const SyscallSpec& s) {
  static const std::map<std::string, Flow> flows = {
      {"read", Flow::Read},       {"readv", Flow::Read},        {"recvfrom", Flow::Read},
      {"pread64", Flow::ReadAt},  {"preadv", Flow::ReadAt},     {"preadv2", Flow::ReadAt},
      {"write", Flow::Write},     {"writev", Flow::Write},      {"sendto", Flow::Write},
      {"pwrite64", Flow::Write},  {"pwritev", Flow::Write},     {"pwritev2", Flow::Write},
      {"vmsplice", Flow::Write},
      {"poll", Flow::Wait},       {"ppoll", Flow::Wait},        {"select", Flow::Wait},
      {"pselect6", Flow::Wait},   {"epoll_wait", Flow::Wait},   {"epoll_pwait", Flow::Wait},
      {"accept", Flow::Wait},     {"accept4", Flow::Wait},      {"connect", Flow::Wait},
      {"recvmsg", Flow::Wait},
  };
  auto it = flows.find(s.name);
  return it == flows.end() ? Flow::None : it->second;
}

const SyscallSpec& syscall_spec(long nr) {
  const Table& t = table();
  if (nr >= 0 && nr < static_cast<long>(t.by_nr.size()) && t.by_nr[nr]) return *t.by_nr[nr];
  return t.unknown;
}

const std::vector<SyscallSpec>& syscall_table() { return table().all; }

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
