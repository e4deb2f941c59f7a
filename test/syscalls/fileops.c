/* Whole-file operations: sendfile, copy_file_range, splice, tee, flock, fsync, fdatasync,
 * fadvise64, fallocate, readahead, sync_file_range, utimensat, getcwd, chdir, fchdir, umask,
 * sync, syncfs. */
// syscalls: sendfile copy_file_range splice tee flock fsync fdatasync fadvise64 fallocate readahead sync_file_range utimensat getcwd chdir fchdir umask sync syncfs
#include "util.h"
#include <sys/file.h>
#include <sys/sendfile.h>
#include <sys/stat.h>

int main(int argc, char **argv) {
    CHECK(argc == 2);
    const char *d = argv[1];
    int in = R(open(at(d, "data.bin"), O_RDONLY));
    int out = R(open(at(d, "copy.bin"), O_CREAT | O_RDWR | O_TRUNC, 0644));
    off_t off = 10;
    R(sendfile(out, in, &off, 50));
    printf("  offset now %lld\n", (long long)off);
    R(sendfile(out, in, NULL, 20));               /* from the file position */
    loff_t from = 100, to = 200;
    R(copy_file_range(in, &from, out, &to, 30, 0));
    printf("  from %lld to %lld\n", (long long)from, (long long)to);
    int p[2], q[2];
    R(pipe(p));
    R(pipe(q));
    loff_t soff = 5;
    R(splice(in, &soff, p[1], NULL, 16, 0));
    R(tee(p[0], q[1], 16, 0));
    R(splice(p[0], NULL, out, NULL, 16, 0));
    unsigned char buf[64];
    long n = R(read(q[0], buf, sizeof buf));
    hex("tee'd", buf, n > 0 ? n : 0);
    n = R(pread(out, buf, sizeof buf, 0));
    hex("copy", buf, n > 0 ? n : 0);
    R(sendfile(out, 99, NULL, 1));                /* EBADF */

    R(flock(out, LOCK_EX | LOCK_NB));
    int other = R(open(at(d, "copy.bin"), O_RDONLY));
    R(flock(other, LOCK_SH | LOCK_NB));           /* EWOULDBLOCK */
    R(flock(out, LOCK_UN));
    R(fsync(out));
    R(fdatasync(out));
    R(posix_fadvise(in, 0, 0, POSIX_FADV_SEQUENTIAL) == 0);
    R(syscall(SYS_fadvise64, in, 0L, 0L, 99));    /* EINVAL */
    R(fallocate(out, 0, 0, 4096));
    R(fallocate(out, 0x7f00, 0, 1));              /* EOPNOTSUPP or EINVAL */
    R(readahead(in, 0, 4096));
    R(sync_file_range(out, 0, 0, SYNC_FILE_RANGE_WRITE));
    struct stat st;
    R(fstat(out, &st));
    printf("  size %lld\n", (long long)st.st_size);

    struct timespec times[2] = {{1600000000, 5}, {1600000001, 6}};
    R(utimensat(AT_FDCWD, at(d, "copy.bin"), times, 0));
    R(futimens(out, times));                      /* utimensat with a NULL path */
    R(utimensat(AT_FDCWD, at(d, "missing"), times, 0)); /* ENOENT */
    R(fstat(out, &st));
    printf("  mtime %lld.%09ld\n", (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);

    char cwd[4096];
    R(syscall(SYS_getcwd, cwd, sizeof cwd));
    printf("  cwd %s\n", cwd);
    R(syscall(SYS_getcwd, cwd, 2));               /* ERANGE */
    R(chdir(d));
    R(syscall(SYS_getcwd, cwd, sizeof cwd));
    printf("  cwd %s\n", cwd);
    int sub = R(open("sub", O_RDONLY | O_DIRECTORY));
    R(fchdir(sub));
    R(syscall(SYS_getcwd, cwd, sizeof cwd));
    printf("  cwd %s\n", cwd);
    R(chdir("nowhere"));                          /* ENOENT */
    R(fchdir(in));                                /* ENOTDIR */
    R(umask(027));
    R(umask(022));
    sync();
    R(syncfs(out));
    return 0;
}
