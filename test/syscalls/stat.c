/* stat, fstat, lstat, newfstatat, statx, statfs and the xattr reads: whole structs in hex. */
// syscalls: stat fstat lstat newfstatat statx statfs fstatfs getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr
#include "util.h"
#include <linux/stat.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>

static void st(const char *label, long r, const struct stat *s) {
    show(label, r);
    if (r == 0) {
        printf("  mode %o size %lld nlink %lu\n", s->st_mode, (long long)s->st_size, (unsigned long)s->st_nlink);
        hex("  struct", s, sizeof *s);
    }
}

int main(int argc, char **argv) {
    CHECK(argc == 2);
    const char *d = argv[1];
    struct stat s;
    st("stat data.bin", syscall(SYS_stat, at(d, "data.bin"), &s), &s);
    st("stat link", syscall(SYS_stat, at(d, "link"), &s), &s);
    st("lstat link", syscall(SYS_lstat, at(d, "link"), &s), &s);
    st("stat missing", syscall(SYS_stat, at(d, "missing"), &s), &s);
    st("stat dangling", syscall(SYS_stat, at(d, "dangling"), &s), &s);
    st("stat notdir", syscall(SYS_stat, at(d, "data.bin/x"), &s), &s);
    int fd = open(at(d, "data.bin"), O_RDONLY);
    st("fstat", syscall(SYS_fstat, fd, &s), &s);
    st("fstat bad", syscall(SYS_fstat, 99, &s), &s);
    int dir = open(d, O_RDONLY | O_DIRECTORY);
    st("newfstatat rel", syscall(SYS_newfstatat, dir, "text.txt", &s, 0), &s);
    st("newfstatat nofollow", syscall(SYS_newfstatat, dir, "link", &s, AT_SYMLINK_NOFOLLOW), &s);
    st("newfstatat empty", syscall(SYS_newfstatat, fd, "", &s, AT_EMPTY_PATH), &s);
    st("newfstatat missing", syscall(SYS_newfstatat, AT_FDCWD, at(d, "missing"), &s, 0), &s);
    struct statx sx;
    memset(&sx, 0, sizeof sx);
    if (show("statx", syscall(SYS_statx, dir, "sub", 0, STATX_BASIC_STATS, &sx)) == 0) {
        printf("  mask %x mode %o\n", sx.stx_mask, sx.stx_mode);
        hex("  struct", &sx, sizeof sx);
    }
    R(syscall(SYS_statx, dir, "missing", 0, STATX_BASIC_STATS, &sx));
    struct statfs f;
    if (R(statfs(d, &f)) == 0) hex("statfs", &f, sizeof f);
    if (R(fstatfs(fd, &f)) == 0) hex("fstatfs", &f, sizeof f);
    R(statfs(at(d, "missing"), &f));

    char v[64];
    R(getxattr(at(d, "data.bin"), "user.none", v, sizeof v));     /* ENODATA */
    R(lgetxattr(at(d, "link"), "security.selinux", v, sizeof v));  /* ENODATA */
    R(fgetxattr(fd, "user.none", v, sizeof v));
    R(getxattr(at(d, "missing"), "user.x", v, sizeof v));          /* ENOENT */
    char list[256];
    long n = R(listxattr(at(d, "data.bin"), list, sizeof list));
    if (n > 0) hex("listxattr", list, n);
    R(llistxattr(at(d, "link"), list, sizeof list));
    R(flistxattr(fd, list, sizeof list));
    return 0;
}
