#include "kiln/text/word_cache.h"

#include <algorithm>
#include <cstring>
#include <new>

namespace kiln::text::detail {
namespace {

constexpr std::size_t kMaxField = 0xFFFF;
constexpr std::size_t kTicketBatch = 32;
constexpr std::size_t kChunkBytes = std::size_t{64} << 10;
constexpr std::size_t kHeaderBytes = 4;

std::uint64_t fragment_of(std::uint64_t hash) { return hash & 0xFFFFFFFF00000000ull; }
std::size_t padded(std::size_t word_bytes) { return (word_bytes + 3) & ~std::size_t{3}; }

std::uint64_t load_slot(std::uint64_t& s) { return std::atomic_ref<std::uint64_t>(s).load(std::memory_order_acquire); }

}  // namespace

WordCache::WordCache(unsigned slot_bits, std::size_t arena_bytes)
    : mask_((std::size_t{1} << slot_bits) - 1),
      max_words_((mask_ + 1) / 2),
      // Offsets are stored divided by 4 in 32 bits.
      arena_bytes_(std::min<std::size_t>(arena_bytes, std::size_t{4} << 32)),
      slots_(static_cast<std::uint64_t*>(std::calloc(mask_ + 1, sizeof(std::uint64_t)))),
      arena_(std::make_unique_for_overwrite<unsigned char[]>(arena_bytes_)) {
  if (!slots_) throw std::bad_alloc();
}

bool WordCache::holds(std::uint64_t slot_value, std::uint64_t hash, std::string_view word) const {
  if (fragment_of(slot_value) != fragment_of(hash)) return false;
  const unsigned char* entry = arena_.get() + 4 * ((slot_value & 0xFFFFFFFFull) - 1);
  std::uint16_t n_bytes = 0;
  std::memcpy(&n_bytes, entry, 2);
  return n_bytes == word.size() && std::memcmp(entry + kHeaderBytes, word.data(), word.size()) == 0;
}

bool WordCache::lookup(std::string_view word, std::uint64_t hash, std::vector<std::int64_t>& out) const {
  // At most half the slots are ever filled, so the probe meets an empty one.
  for (std::size_t i = hash & mask_;; i = (i + 1) & mask_) {
    const std::uint64_t s = load_slot(slot(i));
    if (s == 0) return false;
    if (!holds(s, hash, word)) continue;
    const unsigned char* entry = arena_.get() + 4 * ((s & 0xFFFFFFFFull) - 1);
    std::uint16_t n_ids = 0;
    std::memcpy(&n_ids, entry + 2, 2);
    const unsigned char* ids = entry + kHeaderBytes + padded(word.size());
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
  if (writer.tickets == 0) {
    // Tickets bound the filled slots by max_words_ exactly, whatever the
    // number of threads; a writer's unused tickets are simply lost.
    if (claimed_.fetch_add(kTicketBatch, std::memory_order_relaxed) + kTicketBatch > max_words_) {
      full_.store(true, std::memory_order_relaxed);
      return;
    }
    writer.tickets = kTicketBatch;
  }
  // The entry is complete before any slot points to it.
  unsigned char* entry = allocate(kHeaderBytes + padded(word.size()) + 4 * ids.size(), writer);
  if (entry == nullptr) {
    full_.store(true, std::memory_order_relaxed);
    return;
  }
  const auto n_bytes = static_cast<std::uint16_t>(word.size());
  const auto n_ids = static_cast<std::uint16_t>(ids.size());
  std::memcpy(entry, &n_bytes, 2);
  std::memcpy(entry + 2, &n_ids, 2);
  std::memcpy(entry + kHeaderBytes, word.data(), word.size());
  unsigned char* id_bytes = entry + kHeaderBytes + padded(word.size());
  for (std::size_t k = 0; k < ids.size(); ++k) {
    const auto id = static_cast<std::uint32_t>(ids[k]);
    std::memcpy(id_bytes + 4 * k, &id, 4);
  }
  const auto offset = static_cast<std::uint64_t>(entry - arena_.get()) / 4 + 1;
  const std::uint64_t value = fragment_of(hash) | offset;

  for (std::size_t i = hash & mask_;; i = (i + 1) & mask_) {
    std::uint64_t s = load_slot(slot(i));
    if (s == 0) {
      if (std::atomic_ref<std::uint64_t>(slot(i)).compare_exchange_strong(s, value, std::memory_order_acq_rel)) {
        --writer.tickets;
        return;
      }
      // Another writer filled the slot first; `s` now holds its value.
    }
    if (holds(s, hash, word)) return;  // another thread cached this word meanwhile
  }
}

void WordCache::reset() {
  std::memset(slots_.get(), 0, (mask_ + 1) * sizeof(std::uint64_t));
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
