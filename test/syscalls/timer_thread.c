/* timer_create with SIGEV_THREAD_ID aimed at a second thread. The thread id in the sigevent is
 * the one the kernel wrote into the pthread at clone (read here through pthread_getcpuclockid,
 * whose clock id encodes it, as glibc's own SIGEV_THREAD helper names itself): a real id in
 * replay, which must be taken for the recorded one. The signal reaches that thread only. */
// syscalls: timer_create timer_settime timer_delete
#include "util.h"
#include <pthread.h>
#include <signal.h>
#include <time.h>

static volatile sig_atomic_t hits;
static volatile long hit_tid;

static void on_usr1(int sig) {
    (void)sig;
    hits++;
    hit_tid = syscall(SYS_gettid);
}

static long target_tid;
static void *target(void *arg) {
    (void)arg;
    target_tid = syscall(SYS_gettid);
    sigset_t none;
    sigemptyset(&none);
    while (!hits) sigsuspend(&none);   /* SIGUSR1 is blocked elsewhere: it waits here */
    return NULL;
}

int main(void) {
    struct sigaction sa = {0};
    sa.sa_handler = on_usr1;
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    CHECK(pthread_sigmask(SIG_BLOCK, &usr1, NULL) == 0);  /* the thread inherits the mask */
    pthread_t th;
    CHECK(pthread_create(&th, NULL, target, NULL) == 0);
    clockid_t clk;
    CHECK(pthread_getcpuclockid(th, &clk) == 0);
    int tid = ~(clk >> 3);                 /* the kernel's CPU clock id: ~tid << 3 | type */

    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGUSR1;
    sev._sigev_un._tid = tid;
    int timer = -1;
    R(syscall(SYS_timer_create, CLOCK_MONOTONIC, &sev, &timer));
    struct itimerspec its = {.it_value = {.tv_sec = 0, .tv_nsec = 20 * 1000 * 1000}};
    R(syscall(SYS_timer_settime, timer, 0, &its, NULL));
    CHECK(pthread_join(th, NULL) == 0);
    printf("hits = %d, taken by the second thread: %s\n", (int)hits, hit_tid == target_tid ? "yes" : "no");
    R(syscall(SYS_timer_delete, timer));
    return 0;
}
