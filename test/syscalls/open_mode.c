/* open and openat without O_CREAT or O_TMPFILE: the kernel ignores the mode argument, and a
 * program may leave anything in it (redis passes a leftover stack address). Recorded with address
 * randomization on, the address differs in the replay, which must not call that a divergence;
 * the mode of a call that creates is still compared. */
// syscalls: open openat
// record: aslr
#include "util.h"

int main(int argc, char **argv) {
    CHECK(argc == 2);
    const char *d = argv[1];
    int local = 0;
    long junk = (long)&local; /* a stack address: differs from run to run under ASLR */
    int fd = R(syscall(SYS_open, at(d, "text.txt"), O_RDONLY, junk));
    R(syscall(SYS_open, at(d, "missing"), O_RDONLY, junk));                /* ENOENT */
    int at1 = R(syscall(SYS_openat, AT_FDCWD, at(d, "data.bin"), O_RDONLY | O_CLOEXEC, junk));
    int cr = R(syscall(SYS_openat, AT_FDCWD, at(d, "made"), O_CREAT | O_WRONLY, 0640));
    R(syscall(SYS_openat, AT_FDCWD, d, O_TMPFILE | O_WRONLY, 0600));       /* fd, or EOPNOTSUPP */
    char buf[8] = {0};
    long n = R(read(fd, buf, 5));
    hex("text", buf, n > 0 ? n : 0);
    R(close(fd));
    R(close(at1));
    R(close(cr));
    return 0;
}
