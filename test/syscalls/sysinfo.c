/* uname, sysinfo, getrlimit, prlimit64, setrlimit, getrusage, times: the machine and limits the
 * recording saw. */
// syscalls: uname sysinfo getrlimit prlimit64 setrlimit getrusage times
#include "util.h"
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <sys/times.h>
#include <sys/utsname.h>

int main(void) {
    struct utsname u;
    if (R(uname(&u)) == 0)
        printf("  %s %s %s %s %s %s\n", u.sysname, u.nodename, u.release, u.version, u.machine, u.domainname);
    struct sysinfo si;
    if (R(sysinfo(&si)) == 0) {
        printf("  uptime %ld procs %u ram %lu unit %u\n", si.uptime, si.procs, si.totalram, si.mem_unit);
        hex("  raw", &si, sizeof si);
    }
    struct rlimit rl;
    if (R(syscall(SYS_getrlimit, RLIMIT_NOFILE, &rl)) == 0)
        printf("  nofile %llu %llu\n", (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
    if (R(syscall(SYS_getrlimit, RLIMIT_STACK, &rl)) == 0)
        printf("  stack %llu %llu\n", (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
    R(syscall(SYS_getrlimit, 999, &rl));          /* EINVAL */
    struct rlimit lower = {64, 64}, old;
    syscall(SYS_getrlimit, RLIMIT_CORE, &old);
    R(syscall(SYS_prlimit64, 0, RLIMIT_CORE, &lower, &old));
    printf("  old core %llu\n", (unsigned long long)old.rlim_cur);
    if (R(syscall(SYS_prlimit64, 0, RLIMIT_CORE, NULL, &rl)) == 0)
        printf("  core now %llu %llu\n", (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
    struct rlimit up = {128, 128};
    R(syscall(SYS_setrlimit, RLIMIT_CORE, &up));  /* EPERM unless privileged */
    R(syscall(SYS_prlimit64, 999999, RLIMIT_CORE, NULL, &rl)); /* ESRCH */
    struct rusage ru;
    if (R(getrusage(RUSAGE_SELF, &ru)) == 0) printf("  maxrss %ld\n", ru.ru_maxrss);
    R(getrusage(42, &ru));                        /* EINVAL */
    struct tms t;
    long ticks = R(syscall(SYS_times, &t));
    (void)ticks;
    printf("  tms %ld %ld\n", (long)t.tms_utime, (long)t.tms_stime);
    return 0;
}
