// src/core/shared_dict.cc: SharedDict, the mapping of encoded keys and values shared by all interpreters.
#include "manycore/shared_dict.h"

#include "wait.h"

namespace manycore {

std::unique_lock<std::mutex> SharedDict::lock() {
  std::unique_lock held(mutex_, std::try_to_lock);
  if (held.owns_lock()) return held;
  internal::GilRelease unlocked_gil;  // the holder may need this GIL to finish
  held.lock();
  return held;
}

Result<SharedDict::Entries::iterator> SharedDict::find_locked(const Key& key) {
  auto [first, last] = index_.equal_range(key.hash);
  for (auto it = first; it != last; ++it) {
    if (it->second->key == key.value) return it->second;
  }
  for (auto it = first; it != last; ++it) {
    Result<bool> same = key.matches(it->second->key);
    if (!same.ok()) return same.take_status();
    if (same.value()) return it->second;
  }
  return entries_.end();
}

Status SharedDict::set_locked(const Key& key, Value value) {
  Result<Entries::iterator> found = find_locked(key);
  if (!found.ok()) return found.take_status();
  if (found.value() != entries_.end()) {
    found.value()->value = std::move(value);
    return Status::Ok();
  }
  entries_.push_back(Entry{key.hash, key.value, std::move(value)});
  index_.emplace(key.hash, std::prev(entries_.end()));
  return Status::Ok();
}

size_t SharedDict::size() {
  auto held = lock();
  return entries_.size();
}

Result<std::optional<Value>> SharedDict::get(const Key& key) {
  auto held = lock();
  Result<Entries::iterator> found = find_locked(key);
  if (!found.ok()) return found.take_status();
  if (found.value() == entries_.end()) return std::optional<Value>();
  return std::optional<Value>(found.value()->value);
}

Status SharedDict::set(const Key& key, Value value) {
  auto held = lock();
  return set_locked(key, std::move(value));
}

Result<std::optional<Value>> SharedDict::pop(const Key& key) {
  auto held = lock();
  Result<Entries::iterator> found = find_locked(key);
  if (!found.ok()) return found.take_status();
  auto entry = found.value();
  if (entry == entries_.end()) return std::optional<Value>();
  auto [first, last] = index_.equal_range(entry->hash);
  for (auto it = first; it != last; ++it) {
    if (it->second == entry) {
      index_.erase(it);
      break;
    }
  }
  std::optional<Value> value(std::move(entry->value));
  entries_.erase(entry);
  return value;
}

Result<Value> SharedDict::setdefault(const Key& key, Value value) {
  auto held = lock();
  Result<Entries::iterator> found = find_locked(key);
  if (!found.ok()) return found.take_status();
  if (found.value() != entries_.end()) return found.value()->value;
  entries_.push_back(Entry{key.hash, key.value, value});
  index_.emplace(key.hash, std::prev(entries_.end()));
  return value;
}

Result<bool> SharedDict::compare_and_set(const Key& key, const Matches& expected_matches, Value new_value) {
  auto held = lock();
  Result<Entries::iterator> found = find_locked(key);
  if (!found.ok()) return found.take_status();
  if (found.value() == entries_.end()) return false;
  Result<bool> same = expected_matches(found.value()->value);
  if (!same.ok() || !same.value()) return same;
  found.value()->value = std::move(new_value);
  return true;
}

Status SharedDict::update(std::vector<std::pair<Key, Value>> entries) {
  auto held = lock();
  for (auto& [key, value] : entries) {
    Status stored = set_locked(key, std::move(value));
    if (!stored.ok()) return stored;
  }
  return Status::Ok();
}

Result<bool> SharedDict::contains(const Key& key) {
  auto held = lock();
  Result<Entries::iterator> found = find_locked(key);
  if (!found.ok()) return found.take_status();
  return found.value() != entries_.end();
}

void SharedDict::clear() {
  auto held = lock();
  index_.clear();
  entries_.clear();
}

std::vector<std::pair<Value, Value>> SharedDict::items() {
  auto held = lock();
  std::vector<std::pair<Value, Value>> copies;
  copies.reserve(entries_.size());
  for (const Entry& entry : entries_) copies.emplace_back(entry.key, entry.value);
  return copies;
}

}  // namespace manycore
