/* lseek: every whence, holes, and errors on pipes and bad offsets. */
// syscalls: lseek read
#include "util.h"

int main(int argc, char **argv) {
    CHECK(argc == 2);
    int fd = R(open(at(argv[1], "data.bin"), O_RDONLY));
    R(lseek(fd, 10, SEEK_SET));
    R(lseek(fd, 5, SEEK_CUR));
    char b[4];
    R(read(fd, b, 4));
    hex("at 15", b, 4);
    R(lseek(fd, -4, SEEK_END));
    R(read(fd, b, 4));
    hex("last 4", b, 4);
    R(lseek(fd, 0, SEEK_CUR));
    R(lseek(fd, 1000, SEEK_SET));                 /* past the end is fine */
    R(lseek(fd, 0, SEEK_DATA));
    R(lseek(fd, 0, SEEK_HOLE));
    R(lseek(fd, 400, SEEK_DATA));                 /* ENXIO */
    R(lseek(fd, -1, SEEK_SET));                   /* EINVAL */
    R(lseek(fd, 0, 42));                          /* EINVAL */
    int p[2];
    R(pipe(p));
    R(lseek(p[0], 0, SEEK_CUR));                  /* ESPIPE */
    R(lseek(99, 0, SEEK_SET));                    /* EBADF */
    return 0;
}
