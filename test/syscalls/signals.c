/* Asynchronous signals are delivered where they were recorded: a timer's SIGALRM interrupting a
 * blocked read (without SA_RESTART: EINTR) and pause (restarted by SA_RESTART: the read goes on),
 * a signal sent to itself with kill, SIGPIPE on a write to a closed pipe (caught), a blocked signal
 * collected by sigtimedwait, and a child's SIGCHLD whose siginfo names the child. */
// syscalls: alarm setitimer pause kill rt_sigtimedwait rt_sigprocmask rt_sigaction
#include "util.h"
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>

static volatile sig_atomic_t alarms, usr1, pipes, chld_pid, chld_code;

static void on_alarm(int s) { (void)s; alarms++; }
static void on_usr1(int s) { (void)s; usr1++; }
static void on_pipe(int s) { (void)s; pipes++; }
static void on_chld(int s, siginfo_t *si, void *u) {
    (void)s;
    (void)u;
    chld_pid = si->si_pid;
    chld_code = si->si_code;
}

static void handle(int sig, void (*fn)(int), int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    CHECK(sigaction(sig, &sa, NULL) == 0);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int p[2];
    CHECK(pipe(p) == 0);
    char buf[16];

    /* SIGALRM interrupts a read that has no data: EINTR. */
    handle(SIGALRM, on_alarm, 0);
    R(alarm(1));
    R(read(p[0], buf, sizeof buf));
    printf("alarms %d\n", (int)alarms);

    /* With SA_RESTART the read resumes; a second timer tick writes nothing, so use a timer that
     * fires once, then pause() until it does. */
    handle(SIGALRM, on_alarm, SA_RESTART);
    struct itimerval it = {{0, 0}, {0, 200000}};
    R(setitimer(ITIMER_REAL, &it, NULL));
    R(pause());
    printf("alarms %d\n", (int)alarms);

    handle(SIGUSR1, on_usr1, 0);
    R(kill(getpid(), SIGUSR1));
    printf("usr1 %d\n", (int)usr1);

    handle(SIGPIPE, on_pipe, 0);
    close(p[0]);
    R(write(p[1], "x", 1)); /* EPIPE, and SIGPIPE */
    printf("pipes %d\n", (int)pipes);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    R(sigprocmask(SIG_BLOCK, &set, NULL));
    R(kill(getpid(), SIGUSR2));
    siginfo_t si;
    struct timespec ts = {1, 0};
    R(sigtimedwait(&set, &si, &ts));
    printf("sigtimedwait: signo %d code %d\n", si.si_signo, si.si_code);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_chld;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    CHECK(sigaction(SIGCHLD, &sa, NULL) == 0);
    pid_t c = fork();
    if (c == 0) _exit(3);
    int st;
    while (waitpid(c, &st, 0) < 0 && errno == EINTR) {}
    while (!chld_pid) pause();
    printf("SIGCHLD names the child %d code %d exit %d\n", chld_pid == c, (int)chld_code, WEXITSTATUS(st));
    return 0;
}
