#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

namespace rb {

bool copy_file(int src_fd, const std::string& dst, std::string& error) {
  struct stat st;
  if (fstat(src_fd, &st) != 0) {
    error = std::string("cannot stat it: ") + strerror(errno);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    error = "it is not a regular file";
    return false;
  }
  // A blob is one row of the store and travels in one request; copying a database's gigabytes
  // would also stall the service at its mmap.
  constexpr off_t kMaxCopy = off_t{1} << 30;
  if (st.st_size > kMaxCopy) {
    error = "it is larger than 1 GiB (" + std::to_string(st.st_size) + " bytes)";
    return false;
  }
  int out = open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (out < 0) {
    error = "cannot create " + dst + ": " + strerror(errno);
    return false;
  }
  off_t off = 0;
  bool ok = true;
  bool plain = false;  // sendfile refused: read and write instead
  std::vector<char> buf;
  for (;;) {
    ssize_t n;
    if (!plain) {
      n = sendfile(out, src_fd, &off, 1 << 30);
      if (n < 0 && (errno == EINVAL || errno == ENOSYS) && off == 0) {
        plain = true;
        continue;
      }
    } else {
      buf.resize(1 << 16);
      n = pread(src_fd, buf.data(), buf.size(), off);
      if (n > 0 && write(out, buf.data(), static_cast<size_t>(n)) != n) n = -1;
      if (n > 0) off += n;
    }
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      error = std::string("cannot read it: ") + strerror(errno);
      ok = false;
      break;
    }
  }
  if (close(out) != 0 && ok) {
    error = "cannot write " + dst + ": " + strerror(errno);
    ok = false;
  }
  if (!ok) unlink(dst.c_str());
  return ok;
}

CopyDir::~CopyDir() {
  if (owned_ && created_) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

bool CopyDir::ensure(std::string& error) {
  if (created_ || !owned_) return true;
  const char* tmp = getenv("TMPDIR");
  std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/replaybook-files-XXXXXX";
  if (!mkdtemp(templ.data())) {
    error = std::string("cannot create a directory for file copies: ") + strerror(errno);
    return false;
  }
  dir_ = templ;
  created_ = true;
  return true;
}

std::string CopyDir::copy(int src_fd, std::string& error, bool once_per_content) {
  struct stat st;
  if (fstat(src_fd, &st) != 0) {
    error = std::string("cannot stat it: ") + strerror(errno);
    return "";
  }
  Key key{st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
  auto it = copies_.find(key);
  if (once_per_content && it != copies_.end()) return it->second;
  if (!ensure(error)) return "";
  std::string dst = dir_ + "/" + std::to_string(++count_);
  if (!copy_file(src_fd, dst, error)) return "";
  if (once_per_content) copies_[key] = dst;
  return dst;
}

}  // namespace rb
