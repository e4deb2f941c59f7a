/* Scheduling and timers: sched_getscheduler, sched_getparam, priority ranges, round-robin
 * interval, getpriority/setpriority, getitimer, and inotify and signalfd events. */
// syscalls: sched_getscheduler sched_getparam sched_get_priority_max sched_get_priority_min sched_rr_get_interval getpriority setpriority getitimer inotify_init1 inotify_add_watch inotify_rm_watch signalfd4 tgkill
#include "util.h"
#include <sched.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/time.h>

int main(int argc, char **argv) {
    CHECK(argc == 2);
    R(sched_getscheduler(0));
    struct sched_param sp = {.sched_priority = 77};
    R(sched_getparam(0, &sp));
    printf("  priority %d\n", sp.sched_priority);
    R(sched_get_priority_max(SCHED_FIFO));
    R(sched_get_priority_min(SCHED_RR));
    R(sched_get_priority_max(99));                /* EINVAL */
    struct timespec rr;
    if (R(sched_rr_get_interval(0, &rr)) == 0) printf("  rr %lld.%09ld\n", (long long)rr.tv_sec, rr.tv_nsec);
    errno = 0;
    R(syscall(SYS_getpriority, PRIO_PROCESS, 0)); /* the kernel's 20 - nice */
    R(setpriority(PRIO_PROCESS, 0, 5));
    R(syscall(SYS_getpriority, PRIO_PROCESS, 0));
    R(setpriority(99, 0, 5));                     /* EINVAL */
    struct itimerval it;
    memset(&it, 0x11, sizeof it);
    R(getitimer(ITIMER_REAL, &it));
    printf("  itimer %ld %ld\n", (long)it.it_value.tv_sec, (long)it.it_value.tv_usec);
    R(getitimer(77, &it));                        /* EINVAL */

    int in = R(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    int w = R(inotify_add_watch(in, argv[1], IN_CREATE | IN_DELETE));
    R(inotify_add_watch(in, at(argv[1], "missing"), IN_CREATE)); /* ENOENT */
    char ev[512];
    R(read(in, ev, sizeof ev));                   /* EAGAIN: nothing yet */
    int f = R(open(at(argv[1], "appeared"), O_CREAT | O_WRONLY, 0600));
    R(close(f));
    long n = R(read(in, ev, sizeof ev));
    for (long off = 0; off < n;) {
        struct inotify_event *e = (void *)(ev + off);
        printf("  event mask %x name %s\n", e->mask, e->len ? e->name : "");
        off += sizeof *e + e->len;
    }
    R(inotify_rm_watch(in, w));
    R(inotify_rm_watch(in, w));                   /* EINVAL */

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGUSR1);
    R(sigprocmask(SIG_BLOCK, &mask, NULL));
    int sfd = R(signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
    struct signalfd_siginfo si;
    R(read(sfd, &si, sizeof si));                 /* EAGAIN: nothing pending */
    R(syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR1));
    memset(&si, 0, sizeof si);
    if (R(read(sfd, &si, sizeof si)) > 0) printf("  signal %u code %d\n", si.ssi_signo, si.ssi_code);
    R(signalfd(-1, &mask, 0x1234));               /* EINVAL */
    return 0;
}
