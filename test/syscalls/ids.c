/* Process and user ids: served from the log, never the replaying process's own. */
// syscalls: getpid getppid gettid getuid geteuid getgid getegid getresuid getresgid getpgrp getpgid getsid getgroups
#include "util.h"

int main(void) {
    R(syscall(SYS_getpid));
    R(syscall(SYS_getppid));
    R(syscall(SYS_gettid));
    R(syscall(SYS_getuid));
    R(syscall(SYS_geteuid));
    R(syscall(SYS_getgid));
    R(syscall(SYS_getegid));
    unsigned r[3] = {9, 9, 9}, g[3] = {9, 9, 9};
    R(syscall(SYS_getresuid, &r[0], &r[1], &r[2]));
    R(syscall(SYS_getresgid, &g[0], &g[1], &g[2]));
    printf("  res %u %u %u / %u %u %u\n", r[0], r[1], r[2], g[0], g[1], g[2]);
    R(syscall(SYS_getpgrp));
    R(syscall(SYS_getpgid, 0));
    R(syscall(SYS_getpgid, 999999));              /* ESRCH */
    R(syscall(SYS_getsid, 0));
    gid_t groups[64];
    long n = R(syscall(SYS_getgroups, 64, groups));
    for (long i = 0; i < n; i++) printf("  group %u\n", groups[i]);
    R(syscall(SYS_getgroups, 0, NULL) == n);
    R(syscall(SYS_getgroups, -1, groups));        /* EINVAL */
    return 0;
}
