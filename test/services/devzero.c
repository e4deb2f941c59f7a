// Maps /dev/zero MAP_SHARED and MAP_PRIVATE (a character device: no bytes a recorder could
// store) and writes into the mappings.
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

int main(void) {
  int fd = open("/dev/zero", O_RDWR);
  if (fd < 0) return perror("open"), 1;
  char* p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  char* q = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED || q == MAP_FAILED) {
    printf("mapping /dev/zero failed\n");
    return 1;
  }
  int zero = q[8191] == 0 && p[4095] == 0;
  strcpy(p, "zeroes no more");
  strcpy(q, "private ones too");
  printf("mapped: %s, %s, %s\n", p, q, zero ? "zero-filled" : "NOT zero-filled");
  return 0;
}
