/* readlink and readlinkat: full, truncated, and the errors. */
// syscalls: readlink readlinkat
#include "util.h"

int main(int argc, char **argv) {
    CHECK(argc == 2);
    char buf[256];
    long n = R(readlink(at(argv[1], "link"), buf, sizeof buf));
    hex("link", buf, n > 0 ? n : 0);
    n = R(readlink(at(argv[1], "link"), buf, 3));  /* truncated, no error */
    hex("link[3]", buf, n > 0 ? n : 0);
    n = R(readlink(at(argv[1], "dangling"), buf, sizeof buf));
    hex("dangling", buf, n > 0 ? n : 0);
    R(readlink(at(argv[1], "data.bin"), buf, sizeof buf));   /* EINVAL: not a link */
    R(readlink(at(argv[1], "missing"), buf, sizeof buf));    /* ENOENT */
    int dir = R(open(argv[1], O_RDONLY | O_DIRECTORY));
    n = R(readlinkat(dir, "link", buf, sizeof buf));
    hex("readlinkat", buf, n > 0 ? n : 0);
    R(readlinkat(99, "link", buf, sizeof buf));              /* EBADF */
    n = R(readlink("/proc/self/exe", buf, sizeof buf));
    hex("exe", buf, n > 0 ? n : 0);
    return 0;
}
