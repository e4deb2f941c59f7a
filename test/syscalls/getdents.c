/* getdents64 and getdents with buffers small enough to need several calls, and their errors. */
// syscalls: getdents64 getdents
#include "util.h"
#include <dirent.h>

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

static void list64(int fd, size_t size) {
    char buf[1024];
    long n;
    while ((n = show("getdents64", syscall(SYS_getdents64, fd, buf, size))) > 0) {
        for (long off = 0; off < n;) {
            struct linux_dirent64 *e = (void *)(buf + off);
            printf("  %s type %d reclen %d\n", e->d_name, e->d_type, e->d_reclen);
            off += e->d_reclen;
        }
        hex("  raw", buf, n);
    }
}

int main(int argc, char **argv) {
    CHECK(argc == 2);
    int fd = R(open(at(argv[1], "sub"), O_RDONLY | O_DIRECTORY));
    list64(fd, 72);                               /* two or three entries a call */
    R(lseek(fd, 0, SEEK_SET));
    list64(fd, sizeof(char[1024]));
    char buf[1024];
    R(lseek(fd, 0, SEEK_SET));
    R(syscall(SYS_getdents64, fd, buf, 8));        /* EINVAL: buffer too small */
    long n = R(syscall(SYS_getdents, fd, buf, sizeof buf));
    hex("getdents", buf, n > 0 ? n : 0);
    int file = R(open(at(argv[1], "text.txt"), O_RDONLY));
    R(syscall(SYS_getdents64, file, buf, sizeof buf)); /* ENOTDIR */
    R(syscall(SYS_getdents64, 99, buf, sizeof buf));   /* EBADF */
    return 0;
}
