/* clock_gettime, clock_getres, gettimeofday, time, nanosleep, clock_nanosleep: the values the
 * kernel gave (they differ on every run, so a replay that prints them was served them). */
// syscalls: clock_gettime clock_getres gettimeofday time nanosleep clock_nanosleep
#include "util.h"
#include <sys/time.h>
#include <time.h>

static void ts(const char *label, long r, const struct timespec *t) {
    show(label, r);
    if (r == 0) printf("  %lld.%09ld\n", (long long)t->tv_sec, t->tv_nsec);
}

int main(void) {
    struct timespec t;
    ts("realtime", syscall(SYS_clock_gettime, CLOCK_REALTIME, &t), &t);
    ts("monotonic", syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &t), &t);
    ts("boottime", syscall(SYS_clock_gettime, CLOCK_BOOTTIME, &t), &t);
    ts("cputime", syscall(SYS_clock_gettime, CLOCK_PROCESS_CPUTIME_ID, &t), &t);
    ts("bad clock", syscall(SYS_clock_gettime, 12345, &t), &t);
    ts("res", syscall(SYS_clock_getres, CLOCK_MONOTONIC, &t), &t);
    ts("res coarse", syscall(SYS_clock_getres, CLOCK_MONOTONIC_COARSE, &t), &t);
    struct timeval tv;
    struct timezone tz;
    if (R(syscall(SYS_gettimeofday, &tv, &tz)) == 0)
        printf("  %lld.%06ld tz %d %d\n", (long long)tv.tv_sec, (long)tv.tv_usec, tz.tz_minuteswest, tz.tz_dsttime);
    R(syscall(SYS_gettimeofday, &tv, NULL));
    time_t now = 0;
    long r = R(syscall(SYS_time, &now));
    printf("  time %ld stored %lld\n", r, (long long)now);
    R(syscall(SYS_time, NULL) > 0);
    struct timespec d = {0, 2000000}, rem = {7, 7};
    R(syscall(SYS_nanosleep, &d, &rem));
    d.tv_nsec = 2000000000;
    R(syscall(SYS_nanosleep, &d, &rem));         /* EINVAL */
    d.tv_nsec = 1000000;
    R(-clock_nanosleep(CLOCK_MONOTONIC, 0, &d, NULL));
    struct timespec until;
    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &until);
    until.tv_nsec += 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    R(-clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL));
    R(syscall(SYS_clock_nanosleep, 12345, 0, &d, NULL));          /* EINVAL */
    ts("after", syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &t), &t);
    return 0;
}
