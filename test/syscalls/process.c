/* fork, vfork, execve, wait4 and waitid: children run, talk to their parent through a pipe and
 * exit or are killed; the parent reaps them and sees their status. Process ids are the recorded
 * ones on both sides (fork's return, getpid, getppid, wait4's return, waitid's si_pid). */
// syscalls: clone vfork execve wait4 waitid getppid kill
#include "util.h"
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 2 && strcmp(argv[1], "exec") == 0) {
        printf("exec'd image runs with argument %s\n", argv[2]);
        return 7;
    }
    pid_t me = getpid();
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t c = fork();
    CHECK(c >= 0);
    if (c == 0) {
        close(p[0]);
        char msg[64];
        int n = snprintf(msg, sizeof msg, "child sees its parent: %d\n", getppid() == me);
        if (write(p[1], msg, (size_t)n) != n) _exit(9);
        _exit(5);
    }
    close(p[1]);
    char buf[64];
    long n = R(read(p[0], buf, sizeof buf));
    if (n > 0) printf("from child: %.*s", (int)n, buf);
    int st = 0;
    struct rusage ru;
    pid_t w = wait4(c, &st, 0, &ru);
    printf("wait4 returned fork's child: %d exited %d code %d\n", w == c, WIFEXITED(st), WEXITSTATUS(st));
    R(wait4(c, &st, WNOHANG, NULL)); /* ECHILD: already reaped */

    pid_t v = vfork();
    if (v == 0) {
        execl(argv[0], argv[0], "exec", "x42", (char *)NULL);
        _exit(127);
    }
    siginfo_t si;
    memset(&si, 0, sizeof si);
    R(waitid(P_PID, (id_t)v, &si, WEXITED));
    printf("waitid: pid matches %d code %d status %d\n", si.si_pid == v, si.si_code, si.si_status);

    pid_t k = fork();
    if (k == 0) {
        for (;;) pause();
    }
    R(kill(k, SIGTERM));
    w = waitpid(k, &st, 0);
    printf("killed child: pid matches %d signaled %d sig %d\n", w == k, WIFSIGNALED(st), WTERMSIG(st));
    return 0;
}
