/* poll, ppoll, select, pselect6, epoll_create/create1/ctl/wait/pwait/pwait2 on pipes: ready sets,
 * timeouts and errors. */
// syscalls: poll ppoll select pselect6 epoll_create epoll_create1 epoll_ctl epoll_wait epoll_pwait epoll_pwait2
#include "util.h"
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>

int main(void) {
    int a[2], b[2];
    R(pipe(a));
    R(pipe(b));
    R(write(a[1], "x", 1));
    struct pollfd pf[4] = {{a[0], POLLIN, 0x7f}, {b[0], POLLIN, 0}, {b[1], POLLOUT, 0}, {99, POLLIN, 0}};
    R(poll(pf, 4, 0));
    for (int i = 0; i < 4; i++) printf("  revents[%d] %x\n", i, pf[i].revents);
    R(poll(pf + 1, 1, 5));                        /* times out */
    struct timespec ts = {0, 1000000};
    sigset_t none;
    sigemptyset(&none);
    R(ppoll(pf, 2, &ts, &none));
    printf("  revents %x %x\n", pf[0].revents, pf[1].revents);
    R(ppoll(pf + 1, 1, &ts, NULL));
    volatile nfds_t huge = (nfds_t)-1;
    R(poll(pf, huge, 0));                   /* EINVAL */

    fd_set r, w;
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_SET(a[0], &r);
    FD_SET(b[0], &r);
    FD_SET(b[1], &w);
    struct timeval tv = {0, 2000};
    R(syscall(SYS_select, b[1] + 1, &r, &w, NULL, &tv));
    printf("  read %d %d write %d\n", FD_ISSET(a[0], &r), FD_ISSET(b[0], &r), FD_ISSET(b[1], &w));
    FD_ZERO(&r);
    FD_SET(b[0], &r);
    tv.tv_sec = 0;
    tv.tv_usec = 3000;
    R(syscall(SYS_select, b[0] + 1, &r, NULL, NULL, &tv)); /* times out */
    printf("  left %ld.%06ld\n", (long)tv.tv_sec, (long)tv.tv_usec);
    FD_ZERO(&r);
    FD_SET(a[0], &r);
    struct timespec pts = {0, 1000000};
    R(pselect(a[0] + 1, &r, NULL, NULL, &pts, &none));
    printf("  read %d\n", FD_ISSET(a[0], &r));
    R(syscall(SYS_select, -1, NULL, NULL, NULL, &tv)); /* EINVAL */

    int ep = R(epoll_create1(EPOLL_CLOEXEC));
    int ep0 = R(epoll_create(4));
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x1122334455667788ULL};
    R(epoll_ctl(ep, EPOLL_CTL_ADD, a[0], &ev));
    ev.data.u64 = 42;
    R(epoll_ctl(ep, EPOLL_CTL_ADD, b[0], &ev));
    R(epoll_ctl(ep, EPOLL_CTL_ADD, b[0], &ev));   /* EEXIST */
    R(epoll_ctl(ep, EPOLL_CTL_DEL, 99, NULL));    /* EBADF */
    struct epoll_event out[4];
    memset(out, 0, sizeof out);
    long n = R(epoll_wait(ep, out, 4, 10));
    for (long i = 0; i < n; i++) printf("  event %x data %llx\n", out[i].events, (unsigned long long)out[i].data.u64);
    R(epoll_ctl(ep, EPOLL_CTL_DEL, a[0], NULL));
    R(epoll_wait(ep, out, 4, 3));                 /* times out */
    R(write(b[1], "y", 1));
    memset(out, 0, sizeof out);
    n = R(epoll_pwait(ep, out, 4, -1, &none));
    for (long i = 0; i < n; i++) printf("  event %x data %llx\n", out[i].events, (unsigned long long)out[i].data.u64);
    struct timespec t2 = {0, 500000};
    memset(out, 0, sizeof out);
    n = R(syscall(SYS_epoll_pwait2, ep, out, 4, &t2, NULL, 8));
    for (long i = 0; i < n; i++) printf("  event %x data %llx\n", out[i].events, (unsigned long long)out[i].data.u64);
    R(epoll_wait(ep0, out, 4, 0));
    R(epoll_wait(ep, out, 0, 0));                 /* EINVAL */
    R(epoll_wait(a[0], out, 4, 0));               /* EINVAL: not an epoll fd */
    return 0;
}
