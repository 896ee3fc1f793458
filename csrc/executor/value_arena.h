// Where a call's values live: one arena per call, its values placed by lifetime, and the arena
// kept between calls.
//
// A program's values (each op's output) are live from the op that writes them to the last op
// that reads them. place_values() gives each an offset in one arena, first fit in the order the
// ops write them, so that no two values live at the same time overlap; a value whose lifetime has
// ended leaves its bytes to later ones. Each value starts on a 64-byte boundary (a cache line,
// and the alignment of any SIMD load) and has kValueSlack bytes past its end that no other value
// uses, as the per-value buffers it replaces had a spare word.
//
// ArenaCache keeps arenas between calls: a fresh allocation of a large buffer is a fresh mapping
// from the kernel, and every page of it faults on first touch. Allocating each value per op that
// way cost the 256x256 landmark hourglass 27 ms of its 92 ms per image on one thread. A call takes
// an idle arena at least as large as it needs (or allocates one), and gives it back when it ends,
// so a program holds, between calls, at most one arena per call that ran at the same time (the
// largest each has needed), until it is destroyed.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "common/bit_format.h"

namespace onebit {

inline constexpr std::int64_t kValueAlignment = 64;
inline constexpr std::int64_t kValueSlack = static_cast<std::int64_t>(sizeof(word_t));

// One value to place: its bytes and the first and last op (inclusive) during which it is live.
struct ValueLifetime {
  std::int64_t bytes = 0;
  std::size_t first = 0;
  std::size_t last = 0;
};

struct ValuePlacement {
  std::vector<std::int64_t> offsets;  // one per value, in bytes from the arena's start
  std::int64_t arena_bytes = 0;
};

// Offsets for `values` given in the order they are written (non-decreasing `first`), first fit:
// each value goes at the lowest aligned offset where it overlaps no value live during any of its
// ops. Values live in disjoint op ranges may share bytes.
inline ValuePlacement place_values(const std::vector<ValueLifetime>& values) {
  struct Live {
    std::int64_t begin, end;
    std::size_t last;
  };
  ValuePlacement placement;
  placement.offsets.resize(values.size());
  std::vector<Live> live;  // sorted by begin
  for (std::size_t v = 0; v < values.size(); ++v) {
    const ValueLifetime& value = values[v];
    live.erase(std::remove_if(live.begin(), live.end(),
                              [&](const Live& l) { return l.last < value.first; }),
               live.end());
    const std::int64_t size = (value.bytes + kValueSlack + kValueAlignment - 1) /
                              kValueAlignment * kValueAlignment;
    std::int64_t offset = 0;
    auto at = live.begin();
    for (; at != live.end(); ++at) {
      if (at->begin - offset >= size) break;
      offset = std::max(offset, at->end);
    }
    live.insert(at, Live{offset, offset + size, value.last});
    placement.offsets[v] = offset;
    placement.arena_bytes = std::max(placement.arena_bytes, offset + size);
  }
  return placement;
}

// Arenas kept between calls (see the header note). Thread-safe.
class ArenaCache {
 public:
  struct Arena {
    std::unique_ptr<std::byte[]> storage;
    std::byte* aligned = nullptr;
    std::int64_t bytes = 0;
  };

  // An arena of at least `bytes`, aligned to kValueAlignment, returned to the cache when the
  // Lease is destroyed (also when the call throws).
  class Lease {
   public:
    Lease(ArenaCache& cache, std::int64_t bytes) : cache_(cache), arena_(cache.take(bytes)) {}
    ~Lease() { cache_.give(std::move(arena_)); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    std::byte* data() const { return arena_.aligned; }

   private:
    ArenaCache& cache_;
    Arena arena_;
  };

 private:
  Arena take(std::int64_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto best = idle_.end();
      for (auto it = idle_.begin(); it != idle_.end(); ++it)
        if (it->bytes >= bytes && (best == idle_.end() || it->bytes < best->bytes)) best = it;
      if (best != idle_.end()) {
        Arena arena = std::move(*best);
        idle_.erase(best);
        return arena;
      }
      // None large enough: the largest idle one is dropped, so the cache does not grow past the
      // number of concurrent calls.
      if (!idle_.empty()) {
        idle_.erase(std::max_element(idle_.begin(), idle_.end(), [](const Arena& a, const Arena& b) {
          return a.bytes < b.bytes;
        }));
      }
    }
    Arena arena;
    arena.storage.reset(new std::byte[static_cast<std::size_t>(bytes + kValueAlignment)]);
    const auto address = reinterpret_cast<std::uintptr_t>(arena.storage.get());
    const std::uintptr_t aligned = (address + kValueAlignment - 1) / kValueAlignment * kValueAlignment;
    arena.aligned = arena.storage.get() + (aligned - address);
    arena.bytes = bytes;
    return arena;
  }

  void give(Arena arena) {
    std::lock_guard<std::mutex> lock(mutex_);
    idle_.push_back(std::move(arena));
  }

  std::mutex mutex_;
  std::vector<Arena> idle_;
};

}  // namespace onebit
