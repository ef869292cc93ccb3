// An insert-only open-addressing hash map from byte strings to small values, with all keys in
// one arena. Vocabulary and word-cache lookups dominate encoding time; this is several times
// faster than std::unordered_map<std::string, ...> for them.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace ollmlx::tok {

inline uint64_t hash_bytes(std::string_view s) {
  const char* p = s.data();
  size_t n = s.size();
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xC2B2AE3D27D4EB4Full);
  auto mix = [](uint64_t k) {
    k *= 0xBF58476D1CE4E5B9ull;
    k ^= k >> 31;
    return k * 0x94D049BB133111EBull;
  };
  while (n >= 8) {
    uint64_t k;
    std::memcpy(&k, p, 8);
    h = (h ^ mix(k)) * 0xFF51AFD7ED558CCDull;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    uint64_t k = 0;
    std::memcpy(&k, p, n);
    h = (h ^ mix(k)) * 0xFF51AFD7ED558CCDull;
  }
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ull;
  h ^= h >> 29;
  return h;
}

template <class V>
class FlatStringMap {
 public:
  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }

  void reserve(size_t n) {
    if (n * 2 > slots_.size()) rehash(n * 2);
  }

  const V* find(std::string_view key) const {
    if (slots_.empty()) return nullptr;
    const uint64_t h = hash_bytes(key);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (!s.used) return nullptr;
      if (s.hash == h && s.len == key.size() &&
          std::memcmp(arena_.data() + s.offset, key.data(), key.size()) == 0) {
        return &s.value;
      }
    }
  }
  V* find(std::string_view key) {
    return const_cast<V*>(static_cast<const FlatStringMap*>(this)->find(key));
  }

  // Inserts or overwrites.
  void put(std::string_view key, const V& value) {
    if ((count_ + 1) * 2 > slots_.size()) rehash(slots_.empty() ? 16 : slots_.size() * 2);
    const uint64_t h = hash_bytes(key);
    size_t i = h & mask_;
    for (;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (!s.used) break;
      if (s.hash == h && s.len == key.size() &&
          std::memcmp(arena_.data() + s.offset, key.data(), key.size()) == 0) {
        s.value = value;
        return;
      }
    }
    Slot& s = slots_[i];
    s.used = true;
    s.hash = h;
    s.offset = arena_.size();
    s.len = static_cast<uint32_t>(key.size());
    s.value = value;
    arena_.append(key);
    ++count_;
  }

  // Calls fn(key, value) for every entry (unspecified order).
  template <class F>
  void for_each(F&& fn) const {
    for (const Slot& s : slots_) {
      if (s.used) fn(std::string_view(arena_.data() + s.offset, s.len), s.value);
    }
  }

 private:
  struct Slot {
    uint64_t hash = 0;
    size_t offset = 0;
    uint32_t len = 0;
    bool used = false;
    V value{};
  };
  void rehash(size_t want) {
    size_t cap = 16;
    while (cap < want) cap <<= 1;
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
    for (const Slot& s : old) {
      if (!s.used) continue;
      size_t i = s.hash & mask_;
      while (slots_[i].used) i = (i + 1) & mask_;
      slots_[i] = s;
    }
  }
  std::string arena_;
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t count_ = 0;
};

}  // namespace ollmlx::tok
