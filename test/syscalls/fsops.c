/* unlink, mkdir, rename, rmdir and their *at forms, with the usual errors. Replay serves them
 * from the log: the test checks that replay leaves the file system untouched. */
// syscalls: unlink unlinkat mkdir mkdirat rmdir rename renameat renameat2 symlink link chmod truncate ftruncate
#include "util.h"
#include <sys/stat.h>

int main(int argc, char **argv) {
    CHECK(argc == 2);
    const char *d = argv[1];
    R(mkdir(at(d, "made"), 0755));
    R(mkdir(at(d, "made"), 0755));                /* EEXIST */
    R(mkdir(at(d, "missing/made"), 0755));        /* ENOENT */
    int dir = R(open(d, O_RDONLY | O_DIRECTORY));
    R(mkdirat(dir, "made/inner", 0700));
    R(rmdir(at(d, "made")));                      /* ENOTEMPTY */
    R(syscall(SYS_rename, at(d, "text.txt"), at(d, "renamed.txt")));
    R(syscall(SYS_rename, at(d, "text.txt"), at(d, "x")));       /* ENOENT */
    R(syscall(SYS_renameat, dir, "renamed.txt", dir, "made/moved.txt"));
    R(syscall(SYS_renameat2, dir, "made/moved.txt", dir, "data.bin", RENAME_NOREPLACE)); /* EEXIST */
    R(syscall(SYS_renameat2, dir, "made/moved.txt", dir, "back.txt", RENAME_NOREPLACE));
    R(symlink("back.txt", at(d, "sl")));
    R(link(at(d, "back.txt"), at(d, "hard")));
    R(chmod(at(d, "hard"), 0600));
    R(truncate(at(d, "hard"), 3));
    int fd = R(open(at(d, "back.txt"), O_RDWR));
    R(ftruncate(fd, 2));
    struct stat st;
    R(fstat(fd, &st));
    printf("  size %lld nlink %lu\n", (long long)st.st_size, (unsigned long)st.st_nlink);
    R(unlink(at(d, "back.txt")));
    R(unlink(at(d, "back.txt")));                 /* ENOENT */
    R(unlink(at(d, "sub")));                      /* EISDIR */
    R(unlinkat(dir, "made/inner", AT_REMOVEDIR));
    R(unlinkat(dir, "hard", 0));
    R(unlinkat(dir, "sl", 0));
    R(rmdir(at(d, "made")));
    R(access(at(d, "made"), F_OK));               /* ENOENT now */
    return 0;
}
