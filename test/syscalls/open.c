/* open, openat, creat, close, dup, dup2, dup3: fd numbers and errors. */
// syscalls: open openat creat close dup dup2 dup3
#include "util.h"
#include <sys/stat.h>

int main(int argc, char **argv) {
    CHECK(argc == 2);
    const char *d = argv[1];
    int fd = R(syscall(SYS_open, at(d, "text.txt"), O_RDONLY));
    R(syscall(SYS_open, at(d, "missing"), O_RDONLY));            /* ENOENT */
    R(syscall(SYS_open, at(d, "text.txt/x"), O_RDONLY));         /* ENOTDIR */
    R(syscall(SYS_open, at(d, "sub"), O_WRONLY));                /* EISDIR */
    R(syscall(SYS_open, at(d, "text.txt"), O_CREAT | O_EXCL | O_WRONLY, 0644)); /* EEXIST */
    int dir = R(openat(AT_FDCWD, d, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    int rel = R(openat(dir, "sub/a", O_RDONLY));
    R(openat(dir, "nope", O_RDONLY));                            /* ENOENT */
    R(openat(fd, "x", O_RDONLY));                                /* ENOTDIR */
    R(openat(99, "x", O_RDONLY));                                /* EBADF */
    int cr = R(syscall(SYS_creat, at(d, "created"), 0600));
    int dp = R(dup(fd));
    R(dup2(fd, 20));
    R(dup3(fd, 21, O_CLOEXEC));
    R(fcntl(21, F_GETFD));
    R(dup3(fd, fd, 0));                                          /* EINVAL */
    R(dup(99));                                                  /* EBADF */
    char buf[16] = {0};
    long n = R(read(20, buf, 6));
    hex("via dup2", buf, n > 0 ? n : 0);
    n = R(read(dp, buf, 5));                                     /* shares the offset */
    hex("via dup", buf, n > 0 ? n : 0);
    R(close(dp));
    R(close(dp));                                                /* EBADF */
    R(close(20));
    R(close(21));
    R(close(rel));
    R(close(cr));
    R(close(dir));
    int again = R(open(at(d, "text.txt"), O_RDONLY));            /* lowest free number */
    R(close(again));
    R(close(fd));
    R(close(-1));                                                /* EBADF */
    return 0;
}
