/*
 * The physical floor of syscall tracing on this machine: a minimal seccomp tracer, pinned to one
 * CPU with its tracee, that does nothing but stop. `record` takes the two stops a recorder needs
 * per syscall (seccomp stop, then syscall-exit stop); `emulate` takes the one stop an emulating
 * replayer needs (the syscall is skipped and its return value set). replaybook's engine is
 * measured against these in bench/engine.js.
 *
 * A mode ending in "+tsc" has the tracee trap rdtsc (PR_TSC_SIGSEGV) as replaybook's services
 * do; "+tsc2" has the tracer trap it too, as replaybook's engine does: the kernel then has no
 * CR4.TSD bit to flip when it switches between them (a VM exit each time under a hypervisor).
 *
 * usage: floor native|record|emulate[+tsc|+tsc2] N   (the tracee: N/2 read + N/2 write of one byte)
 * prints: elapsed nanoseconds
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec ts;
    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts); /* not the vDSO: it executes rdtsc */
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void workload(long n) {
    int in = open("/dev/zero", O_RDONLY), out = open("/dev/null", O_WRONLY);
    char c;
    for (long i = 0; i < n / 2; i++) {
        if (read(in, &c, 1) != 1 || write(out, &c, 1) != 1) _exit(2);
    }
    _exit(0);
}

int main(int argc, char **argv) {
    if (argc != 3) return 64;
    const char *mode = argv[1];
    long n = atol(argv[2]);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(sched_getcpu(), &set);
    sched_setaffinity(0, sizeof set, &set);
    long long t0 = now_ns();
    if (strcmp(mode, "native") == 0) {
        pid_t p = fork();
        if (p == 0) workload(n);
        waitpid(p, NULL, 0);
        printf("%lld\n", now_ns() - t0);
        return 0;
    }
    int emulate = strncmp(mode, "emulate", 7) == 0;
    const char *plus = strchr(mode, '+');
    int tsc_tracee = plus && strncmp(plus, "+tsc", 4) == 0;
    int tsc_tracer = plus && strcmp(plus, "+tsc2") == 0;
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_read, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_write, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
    };
    struct sock_fprog prog = {sizeof filter / sizeof filter[0], filter};
    pid_t p = fork();
    if (p == 0) {
        ptrace(PTRACE_TRACEME, 0, NULL, NULL);
        raise(SIGSTOP);
        if (tsc_tracee) prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0);
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
        workload(n);
    }
    int st;
    waitpid(p, &st, 0);
    ptrace(PTRACE_SETOPTIONS, p, NULL, (void *)(PTRACE_O_TRACESECCOMP | PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL));
    ptrace(PTRACE_CONT, p, NULL, NULL);
    if (tsc_tracer) prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0);
    t0 = now_ns();
    for (;;) {
        if (waitpid(p, &st, 0) < 0 || WIFEXITED(st) || WIFSIGNALED(st)) break;
        struct user_regs_struct r;
        if ((st >> 8) == (SIGTRAP | (PTRACE_EVENT_SECCOMP << 8))) {
            ptrace(PTRACE_GETREGS, p, NULL, &r);
            if (emulate) {
                r.orig_rax = (unsigned long long)-1;
                r.rax = 1;
                ptrace(PTRACE_SETREGS, p, NULL, &r);
                ptrace(PTRACE_CONT, p, NULL, NULL);
            } else {
                ptrace(PTRACE_SYSCALL, p, NULL, NULL);
            }
        } else if (WSTOPSIG(st) == (SIGTRAP | 0x80)) {
            ptrace(PTRACE_GETREGS, p, NULL, &r);
            ptrace(PTRACE_CONT, p, NULL, NULL);
        } else {
            ptrace(PTRACE_CONT, p, NULL, NULL);
        }
    }
    printf("%lld\n", now_ns() - t0);
    return 0;
}
