/* eventfd, eventfd2 and timerfd: counters, semaphores, expirations and the errors. */
// syscalls: eventfd eventfd2 timerfd_create timerfd_settime timerfd_gettime
#include "util.h"
#include <sys/eventfd.h>
#include <sys/timerfd.h>

int main(void) {
    int e = R(eventfd(3, EFD_NONBLOCK | EFD_CLOEXEC));
    uint64_t v = 4;
    R(write(e, &v, 8));
    v = 0;
    R(read(e, &v, 8));
    printf("  counter %llu\n", (unsigned long long)v);
    R(read(e, &v, 8));                            /* EAGAIN */
    R(write(e, &v, 4));                           /* EINVAL: not 8 bytes */
    int sem = R(eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK));
    R(read(sem, &v, 8));
    printf("  sem %llu\n", (unsigned long long)v);
    int old = R(syscall(SYS_eventfd, 5));
    R(read(old, &v, 8));
    printf("  old %llu\n", (unsigned long long)v);
    R(eventfd(0, 0x7fff0000));                    /* EINVAL */

    int t = R(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC));
    struct itimerspec its = {.it_value = {0, 3000000}, .it_interval = {0, 0}}, prev;
    R(timerfd_settime(t, 0, &its, &prev));
    printf("  prev %ld.%09ld\n", (long)prev.it_value.tv_sec, prev.it_value.tv_nsec);
    struct itimerspec cur;
    R(timerfd_gettime(t, &cur));
    printf("  remaining>0 %d\n", cur.it_value.tv_nsec > 0 || cur.it_value.tv_sec > 0);
    printf("  remaining %ld.%09ld\n", (long)cur.it_value.tv_sec, cur.it_value.tv_nsec);
    uint64_t exp = 0;
    R(read(t, &exp, 8));                          /* blocks until it fires */
    printf("  expirations %llu\n", (unsigned long long)exp);
    its.it_value.tv_nsec = 2000000000;
    R(timerfd_settime(t, 0, &its, NULL));         /* EINVAL */
    R(timerfd_create(12345, 0));                  /* EINVAL */
    R(timerfd_gettime(e, &cur));                  /* EINVAL: not a timerfd */
    return 0;
}
