/* sched_getaffinity answers the mask the service had (before replaybook pinned it). */
// syscalls: sched_getaffinity sched_setaffinity
#include "util.h"
#include <sched.h>

int main(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    long n = R(syscall(SYS_sched_getaffinity, 0, sizeof set, &set));
    hex("mask", &set, n > 0 ? n : 0);
    printf("  cpus %d\n", CPU_COUNT(&set));
    R(syscall(SYS_sched_getaffinity, 0, 1, &set));           /* EINVAL: too small */
    R(syscall(SYS_sched_getaffinity, 999999, sizeof set, &set)); /* ESRCH */
    cpu_set_t none;
    CPU_ZERO(&none);
    R(syscall(SYS_sched_setaffinity, 0, sizeof none, &none)); /* EINVAL: empty */
    return 0;
}
