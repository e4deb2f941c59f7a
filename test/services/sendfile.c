// Copies a file to stdout with sendfile (bytes that never pass through the program), twice:
// once from the fd's position, once from an explicit offset.
#include <fcntl.h>
#include <stdio.h>
#include <sys/sendfile.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  int fd = open(argv[1], O_RDONLY);
  if (fd < 0) return perror("open"), 1;
  ssize_t n = sendfile(1, fd, NULL, 1 << 20);
  if (n < 0) return perror("sendfile"), 1;
  off_t off = 3;
  ssize_t m = sendfile(1, fd, &off, 5);
  if (m < 0) return perror("sendfile"), 1;
  dprintf(1, "\nsent %zd then %zd bytes, offset now %ld\n", n, m, (long)off);
  return 0;
}
