/* access, faccessat, faccessat2: modes, missing files and flags. */
// syscalls: access faccessat faccessat2
#include "util.h"

int main(int argc, char **argv) {
    CHECK(argc == 2);
    const char *d = argv[1];
    R(access(at(d, "data.bin"), F_OK));
    R(access(at(d, "data.bin"), R_OK | W_OK));
    R(access(at(d, "data.bin"), X_OK));           /* EACCES: not executable */
    R(access(at(d, "missing"), F_OK));            /* ENOENT */
    R(access(at(d, "dangling"), F_OK));           /* ENOENT */
    R(access(at(d, "data.bin"), 0x40));           /* EINVAL */
    int dir = R(open(d, O_RDONLY | O_DIRECTORY));
    R(syscall(SYS_faccessat, dir, "text.txt", R_OK));
    R(syscall(SYS_faccessat, dir, "missing", R_OK));
    R(syscall(SYS_faccessat, 99, "text.txt", R_OK));         /* EBADF */
    R(syscall(SYS_faccessat2, dir, "dangling", F_OK, AT_SYMLINK_NOFOLLOW));
    R(syscall(SYS_faccessat2, dir, "sub", X_OK, AT_EACCESS));
    R(syscall(SYS_faccessat2, dir, "sub", X_OK, 0x1));       /* EINVAL: bad flag */
    return 0;
}
