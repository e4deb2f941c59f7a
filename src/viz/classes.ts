// What a syscall is about, for colouring charts: file, network, time, process, memory, other.
// This is a display concern only; the engine's own syscall table decides how a call is replayed.

export const SYSCALL_CLASSES = ['file', 'network', 'time', 'process', 'memory', 'other'] as const;
export type SyscallClass = (typeof SYSCALL_CLASSES)[number];

/** Colours per class (colour-blind friendly Tableau 10 hues; red is kept for failures). */
export const CLASS_COLORS: Record<SyscallClass, string> = {
  file: '#4e79a7',
  network: '#f28e2b',
  time: '#76b7b2',
  process: '#b07aa1',
  memory: '#59a14f',
  other: '#9c9c9c',
};

/** Stroke of a failed call (ret < 0). */
export const FAILURE_COLOR = '#d62728';

const BY_NAME: Record<string, SyscallClass> = {};
function assign(cls: SyscallClass, names: string): void {
  for (const n of names.split(/\s+/)) if (n) BY_NAME[n] = cls;
}

assign(
  'file',
  `open openat openat2 creat stat fstat lstat newfstatat statx statfs fstatfs access faccessat faccessat2
   readlink readlinkat getdents getdents64 mkdir mkdirat rmdir unlink unlinkat rename renameat renameat2
   link linkat symlink symlinkat chmod fchmod fchmodat chown fchown lchown fchownat truncate ftruncate
   lseek pread64 pwrite64 preadv pwritev preadv2 pwritev2 fsync fdatasync sync syncfs sync_file_range
   fallocate fadvise64 flock chdir fchdir getcwd utimensat utimes futimesat mknod mknodat
   pipe pipe2 dup dup2 dup3 sendfile splice tee copy_file_range memfd_create inotify_init inotify_init1
   inotify_add_watch inotify_rm_watch getxattr lgetxattr fgetxattr setxattr listxattr umask
   name_to_handle_at open_by_handle_at mount umount2 chroot pivot_root`,
);
assign(
  'network',
  `socket socketpair connect accept accept4 bind listen shutdown sendto recvfrom sendmsg recvmsg
   sendmmsg recvmmsg getsockname getpeername setsockopt getsockopt late_data`,
);
assign(
  'time',
  `rdtsc rdtscp clock_gettime clock_getres clock_nanosleep clock_settime clock_adjtime nanosleep gettimeofday
   settimeofday time times adjtimex alarm setitimer getitimer timer_create timer_settime timer_gettime
   timer_getoverrun timer_delete timerfd_create timerfd_settime timerfd_gettime`,
);
assign(
  'process',
  `clone clone3 fork vfork execve execveat exit exit_group wait4 waitid kill tkill tgkill
   getpid getppid gettid getuid geteuid getgid getegid getresuid getresgid getgroups setuid setgid
   setsid setpgid getpgid getpgrp getsid setresuid setresgid setgroups capget capset
   rt_sigaction rt_sigprocmask rt_sigreturn rt_sigsuspend rt_sigpending rt_sigtimedwait
   rt_sigqueueinfo rt_tgsigqueueinfo sigaltstack pause signalfd signalfd4
   set_tid_address set_robust_list get_robust_list futex futex_waitv prctl arch_prctl rseq
   sched_yield sched_getaffinity sched_setaffinity sched_getparam sched_setparam sched_getscheduler
   sched_setscheduler sched_get_priority_max sched_get_priority_min sched_getattr sched_setattr
   getpriority setpriority prlimit64 getrlimit setrlimit getrusage uname sysinfo unshare setns
   pidfd_open pidfd_getfd pidfd_send_signal ptrace personality seccomp signal exit_thread`,
);
assign(
  'memory',
  `mmap munmap mremap mprotect madvise brk msync mlock mlock2 munlock mlockall munlockall mincore
   membarrier pkey_alloc pkey_free pkey_mprotect process_vm_readv process_vm_writev shmget shmat
   shmdt shmctl userfaultfd set_mempolicy get_mempolicy mbind migrate_pages move_pages`,
);
assign('other', 'getrandom ioctl_random unknown');

/** Calls whose meaning depends on the fd they act on: classified by their resource. */
const BY_RESOURCE = new Set(
  `read write readv writev close close_range fcntl ioctl poll ppoll select pselect6 epoll_wait
   epoll_pwait epoll_pwait2 epoll_ctl epoll_create epoll_create1 eventfd eventfd2 fstat
   io_uring_setup io_uring_enter`.split(/\s+/),
);
const WAITS = new Set(['poll', 'ppoll', 'select', 'pselect6', 'epoll_wait', 'epoll_pwait', 'epoll_pwait2']);

function classOfResource(resource: string): SyscallClass | null {
  if (!resource) return null;
  const colon = resource.indexOf(':');
  const scheme = colon >= 0 ? resource.slice(0, colon) : resource;
  switch (scheme) {
    case 'tcp':
    case 'tcp6':
    case 'udp':
    case 'udp6':
    case 'unix':
    case 'socket':
    case 'netlink':
      return 'network';
    case 'file':
    case 'dir':
    case 'pipe':
    case 'fifo':
    case 'stdin':
    case 'stdout':
    case 'stderr':
    case 'tty':
    case 'dev':
    case 'memfd':
      return 'file';
    case 'timerfd':
      return 'time';
    case 'signalfd':
    case 'pidfd':
      return 'process';
    default:
      return null;
  }
}

/**
 * The class of a syscall, from its name and (for fd-generic calls such as read, write, close,
 * poll) the resource its fd designates. Non-syscall event kinds map as signal/exit → process,
 * late_data → network.
 */
export function syscallClass(name: string, resource = '', kind = 'syscall'): SyscallClass {
  if (kind === 'signal' || kind === 'exit') return 'process';
  if (kind === 'late_data') return 'network';
  if (BY_RESOURCE.has(name)) {
    const byRes = classOfResource(resource);
    if (byRes) return byRes;
    if (WAITS.has(name)) return 'network'; // a wait on unnamed fds: most often sockets
    return name === 'fstat' ? 'file' : 'other';
  }
  return BY_NAME[name] ?? 'other';
}

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 3: 'ESRCH', 4: 'EINTR', 5: 'EIO', 6: 'ENXIO', 7: 'E2BIG', 8: 'ENOEXEC',
  9: 'EBADF', 10: 'ECHILD', 11: 'EAGAIN', 12: 'ENOMEM', 13: 'EACCES', 14: 'EFAULT', 16: 'EBUSY',
  17: 'EEXIST', 18: 'EXDEV', 19: 'ENODEV', 20: 'ENOTDIR', 21: 'EISDIR', 22: 'EINVAL', 23: 'ENFILE',
  24: 'EMFILE', 25: 'ENOTTY', 26: 'ETXTBSY', 27: 'EFBIG', 28: 'ENOSPC', 29: 'ESPIPE', 30: 'EROFS',
  31: 'EMLINK', 32: 'EPIPE', 34: 'ERANGE', 35: 'EDEADLK', 36: 'ENAMETOOLONG', 38: 'ENOSYS',
  39: 'ENOTEMPTY', 40: 'ELOOP', 61: 'ENODATA', 62: 'ETIME', 75: 'EOVERFLOW', 88: 'ENOTSOCK',
  90: 'EMSGSIZE', 95: 'EOPNOTSUPP', 97: 'EAFNOSUPPORT', 98: 'EADDRINUSE', 99: 'EADDRNOTAVAIL',
  100: 'ENETDOWN', 101: 'ENETUNREACH', 103: 'ECONNABORTED', 104: 'ECONNRESET', 105: 'ENOBUFS',
  106: 'EISCONN', 107: 'ENOTCONN', 110: 'ETIMEDOUT', 111: 'ECONNREFUSED', 113: 'EHOSTUNREACH',
  114: 'EALREADY', 115: 'EINPROGRESS', 125: 'ECANCELED', 512: 'ERESTARTSYS', 514: 'ERESTARTNOHAND',
  516: 'ERESTART_RESTARTBLOCK',
};

/** `-110` → `-110 ETIMEDOUT`; other values unchanged. For display. */
export function formatRet(ret: bigint): string {
  if (ret < 0n && ret >= -4095n) {
    const name = ERRNO_NAMES[Number(-ret)];
    return name ? `${ret} ${name}` : String(ret);
  }
  return String(ret);
}

