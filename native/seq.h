// The log's seq counter: the recorder's own, or under record --fast the one in the shared header
// (fast_abi.h) that the service's processes take numbers from too, so every event has one place
// in a single order.
#pragma once
#include <cstdint>

namespace rb {

class SeqCounter {
 public:
  // From now on numbers come from `word` (it continues from the numbers given so far).
  void share(uint64_t* word) {
    if (word) __atomic_store_n(word, local_, __ATOMIC_SEQ_CST);
    shared_ = word;
  }
  uint64_t operator++(int) { return shared_ ? __atomic_fetch_add(shared_, 1, __ATOMIC_SEQ_CST) : local_++; }

 private:
  uint64_t* shared_ = nullptr;
  uint64_t local_ = 0;
};

}  // namespace rb
