// Copies of files, taken by the engine itself: the recorder copies each file the service maps at
// the moment it maps it (a /dev/shm segment or a JVM's perf file is gone by the end of the
// recording, and a MAP_SHARED file changes after), and the replayer gives a run a writable copy
// of a file the program maps shared and writable (the stored bytes stay read-only).
#pragma once
#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <string>
#include <tuple>

namespace rb {

// Copies everything `src_fd` holds (a regular file, read from offset 0) into a new file `dst`.
// False with `error` (one line) when it cannot.
bool copy_file(int src_fd, const std::string& dst, std::string& error);

// A directory of copies, created on first use and removed with everything in it when destroyed
// unless kept (the recorder's directory belongs to the caller, who stores its files).
class CopyDir {
 public:
  // `dir`: an existing directory to fill (kept); empty: a fresh one under $TMPDIR, removed at
  // the end.
  explicit CopyDir(std::string dir = "") : dir_(std::move(dir)), owned_(dir_.empty()) {}
  ~CopyDir();
  CopyDir(const CopyDir&) = delete;
  CopyDir& operator=(const CopyDir&) = delete;

  // Copies the file open at `src_fd`. With `once_per_content`, a file whose device, inode, size
  // and modification time match an earlier copy gets that copy back. Returns the copy's path, or
  // "" with `error`.
  std::string copy(int src_fd, std::string& error, bool once_per_content = true);

 private:
  bool ensure(std::string& error);
  using Key = std::tuple<dev_t, ino_t, off_t, int64_t, int64_t>;
  std::string dir_;
  bool owned_;
  bool created_ = false;
  int count_ = 0;
  std::map<Key, std::string> copies_;
};

}  // namespace rb
