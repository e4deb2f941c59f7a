// Maps /dev/zero MAP_SHARED (a character device: no bytes a recorder could store) and writes
// into the mapping.
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

int main(void) {
  int fd = open("/dev/zero", O_RDWR);
  if (fd < 0) return perror("open"), 1;
  char* p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    printf("mapping /dev/zero failed\n");
    return 1;
  }
  strcpy(p, "zeroes no more");
  printf("mapped: %s\n", p);
  return 0;
}
