#include "kiln/text/word_cache.h"

#include <algorithm>
#include <cstring>
#include <new>

namespace kiln::text::detail {
namespace {

constexpr std::uint64_t kStateBits = 3;
constexpr std::uint64_t kBusy = 1;   // claimed, entry being written
constexpr std::uint64_t kReady = 2;  // entry published
constexpr std::uint64_t kDead = 3;   // claimed but never filled (arena full); matches nothing
constexpr std::size_t kMaxField = 0xFFFF;
constexpr std::size_t kTicketBatch = 32;
constexpr std::size_t kChunkBytes = std::size_t{64} << 10;

std::uint64_t key_of(std::uint64_t hash) { return hash & ~kStateBits; }
std::size_t start_of(std::uint64_t hash, std::size_t mask) { return static_cast<std::size_t>(hash >> 20) & mask; }
std::size_t ids_offset(std::size_t word_bytes) { return (word_bytes + 3) & ~std::size_t{3}; }

std::uint64_t load_tag(std::uint64_t& t) { return std::atomic_ref<std::uint64_t>(t).load(std::memory_order_acquire); }

}  // namespace

WordCache::WordCache(unsigned slot_bits, std::size_t arena_bytes)
    : mask_((std::size_t{1} << slot_bits) - 1),
      max_words_((mask_ + 1) / 2),
      arena_bytes_(std::min<std::size_t>(arena_bytes, std::size_t{1} << 32)),
      words_(static_cast<std::uint64_t*>(std::calloc(2 * (mask_ + 1), sizeof(std::uint64_t)))),
      arena_(std::make_unique_for_overwrite<unsigned char[]>(arena_bytes_)) {
  if (!words_) throw std::bad_alloc();
}

bool WordCache::lookup(std::string_view word, std::uint64_t hash, std::vector<std::int64_t>& out) const {
  const std::uint64_t key = key_of(hash);
  // At most half the slots are ever claimed, so the probe meets an empty one.
  for (std::size_t i = start_of(hash, mask_);; i = (i + 1) & mask_) {
    const std::uint64_t t = load_tag(tag(i));
    if (t == 0) return false;
    if (key_of(t) != key || (t & kStateBits) != kReady) continue;
    const std::uint64_t w = where(i);
    const auto n_ids = static_cast<std::size_t>(w & kMaxField);
    const auto n_bytes = static_cast<std::size_t>((w >> 16) & kMaxField);
    const unsigned char* entry = arena_.get() + (w >> 32);
    if (n_bytes != word.size() || std::memcmp(entry, word.data(), n_bytes) != 0) continue;
    const unsigned char* ids = entry + ids_offset(n_bytes);
    for (std::size_t k = 0; k < n_ids; ++k) {
      std::uint32_t id = 0;
      std::memcpy(&id, ids + 4 * k, 4);
      out.push_back(id);
    }
    return true;
  }
}

unsigned char* WordCache::allocate(std::size_t bytes, Writer& writer) {
  if (bytes > kChunkBytes / 4) {  // big entries straight from the arena
    const std::size_t at = arena_used_.fetch_add(bytes, std::memory_order_relaxed);
    return at + bytes <= arena_bytes_ ? arena_.get() + at : nullptr;
  }
  if (writer.chunk_left < bytes) {
    const std::size_t at = arena_used_.fetch_add(kChunkBytes, std::memory_order_relaxed);
    if (at + kChunkBytes > arena_bytes_) return nullptr;
    writer.chunk = arena_.get() + at;
    writer.chunk_left = kChunkBytes;
  }
  unsigned char* p = writer.chunk;
  writer.chunk += bytes;
  writer.chunk_left -= bytes;
  return p;
}

void WordCache::insert(std::string_view word, std::uint64_t hash, std::span<const std::int64_t> ids, Writer& writer) {
  if (word.empty() || word.size() > kMaxField || ids.size() > kMaxField || full()) return;
  const std::uint64_t key = key_of(hash);
  for (std::size_t i = start_of(hash, mask_);; i = (i + 1) & mask_) {
    std::uint64_t t = load_tag(tag(i));
    if (t == 0) {
      if (writer.tickets == 0) {
        // Tickets bound the claimed slots by max_words_ exactly, whatever the
        // number of threads; a writer's unused tickets are simply lost.
        if (claimed_.fetch_add(kTicketBatch, std::memory_order_relaxed) + kTicketBatch > max_words_) {
          full_.store(true, std::memory_order_relaxed);
          return;
        }
        writer.tickets = kTicketBatch;
      }
      std::atomic_ref<std::uint64_t> slot_tag(tag(i));
      if (slot_tag.compare_exchange_strong(t, key | kBusy, std::memory_order_acq_rel)) {
        --writer.tickets;
        const std::size_t bytes = ids_offset(word.size()) + 4 * ids.size();
        unsigned char* entry = allocate(bytes, writer);
        if (entry == nullptr) {
          full_.store(true, std::memory_order_relaxed);
          slot_tag.store(key | kDead, std::memory_order_release);
          return;
        }
        std::memcpy(entry, word.data(), word.size());
        for (std::size_t k = 0; k < ids.size(); ++k) {
          const auto id = static_cast<std::uint32_t>(ids[k]);
          std::memcpy(entry + ids_offset(word.size()) + 4 * k, &id, 4);
        }
        const auto at = static_cast<std::uint64_t>(entry - arena_.get());
        where(i) = (at << 32) | (static_cast<std::uint64_t>(word.size()) << 16) | ids.size();
        slot_tag.store(key | kReady, std::memory_order_release);
        return;
      }
      // Another writer took the slot first; `t` now holds its tag.
    }
    if (key_of(t) != key) continue;
    if ((t & kStateBits) == kBusy) return;  // most likely this very word, added by another thread
    if ((t & kStateBits) == kReady) {
      const std::uint64_t w = where(i);
      const auto n_bytes = static_cast<std::size_t>((w >> 16) & kMaxField);
      if (n_bytes == word.size() && std::memcmp(arena_.get() + (w >> 32), word.data(), n_bytes) == 0) return;
    }
  }
}

void WordCache::reset() {
  std::memset(words_.get(), 0, 2 * (mask_ + 1) * sizeof(std::uint64_t));
  arena_used_.store(0, std::memory_order_relaxed);
  claimed_.store(0, std::memory_order_relaxed);
  full_.store(false, std::memory_order_relaxed);
}

std::shared_ptr<WordCache> WordCacheHolder::acquire() const {
  std::shared_ptr<WordCache> current = table_.load();
  if (current && !current->full()) return current;
  std::shared_ptr<WordCache> fresh;
  {
    const std::lock_guard lock(spare_mutex_);
    fresh = std::move(spare_);
  }
  if (!fresh) fresh = std::make_shared<WordCache>();
  std::shared_ptr<WordCache> replaced = current;
  if (table_.compare_exchange_strong(current, fresh)) {
    current.reset();
    recycle(std::move(replaced));
    return fresh;
  }
  // Another thread replaced the table meanwhile: use its table, keep ours.
  recycle(std::move(fresh));
  return current ? current : acquire();
}

void WordCacheHolder::clear() const { recycle(table_.exchange(nullptr)); }

void WordCacheHolder::recycle(std::shared_ptr<WordCache> table) const {
  // Out of table_, the table can gain no new holders; a count of one means
  // every encode that held it has finished (the fence pairs with the release
  // in their shared_ptr decrements, so their reads happen before our reset).
  if (!table || table.use_count() != 1) return;
  std::atomic_thread_fence(std::memory_order_acquire);
  table->reset();
  const std::lock_guard lock(spare_mutex_);
  spare_ = std::move(table);
}

}  // namespace kiln::text::detail
