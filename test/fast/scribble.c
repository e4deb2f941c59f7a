// A service that scribbles over the fast path's ring (record --fast) while it runs: the
// recorder must mark the recording lossy and go on, the service must not notice.
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
  char line[64];
  for (int i = 0; i < 5; i++) {
    int n = snprintf(line, sizeof line, "before %d\n", i);
    if (write(1, line, (size_t)n) != n) return 1;
  }
  // The ring follows the shared header (native/fast_abi.h); absent when not recording --fast.
  FILE* maps = fopen("/proc/self/maps", "r");
  char buf[512];
  while (maps && fgets(buf, sizeof buf, maps)) {
    unsigned long start, end;
    if (sscanf(buf, "%lx-%lx", &start, &end) == 2 && start == 0x6b6b00100000UL && end - start > 0x20000)
      memset((void*)(start + 0x10000), 0x5a, 0x10000);
  }
  if (maps) fclose(maps);
  for (int i = 0; i < 5; i++) {
    int n = snprintf(line, sizeof line, "after %d\n", i);
    if (write(1, line, (size_t)n) != n) return 1;
  }
  return 0;
}
