// include/manycore/shared_dict.h: SharedDict, one mapping of encoded keys and values that every interpreter sees.
//
// What it offers: the in-process counterpart of multiprocessing.Manager().dict().
// Keys and values are stored as Values (plain C++ data: native kinds, else pickled),
// so a get returns a fresh copy decoded in the caller's interpreter, and the dict
// outlives the interpreter that stored an item. Entries keep insertion order.
//
// Key lookup follows Python's dict: the caller passes the key's hash (computed in its
// interpreter: hashes of str/bytes agree across the interpreters of one process) and
// an equality test run against stored keys of that hash. A stored key that is equal
// as data (Value ==) matches without the test; otherwise `equal` decides (so 1, 1.0
// and True are one key, as in a dict).
//
// Guarantees: each operation is atomic (one mutex orders them all), and everything a
// thread did before a set is visible to the thread whose get returns that value.
// compare_and_set is atomic as a whole. The equality test runs with the mutex held:
// it must not use the same SharedDict (it would deadlock).
//
// Lifetime and threading rules: any thread. Callers holding a GIL use the methods as
// they are: the mutex is taken with the caller's GIL released when it is contended
// (another thread of the same interpreter may hold the mutex while it waits for that
// GIL inside an equality test).
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "manycore/status.h"
#include "manycore/value.h"

namespace manycore {

class SharedDict final : public Shareable {
 public:
  // Does the stored key (or value) equal the caller's object? May fail (Python error).
  using Matches = std::function<Result<bool>(const Value& stored)>;
  struct Key {
    int64_t hash;
    Value value;
    Matches matches;
  };

  const char* type_name() const override { return "SharedDict"; }

  size_t size();
  // A copy of the value, nullopt when absent.
  Result<std::optional<Value>> get(const Key& key);
  Status set(const Key& key, Value value);
  // The removed value, nullopt when absent.
  Result<std::optional<Value>> pop(const Key& key);
  // The stored value if present, else stores `value` and returns it.
  Result<Value> setdefault(const Key& key, Value value);
  // Stores `new_value` if the key is present and its value matches `expected`
  // (`expected_matches` tests the stored value). Returns whether it did.
  Result<bool> compare_and_set(const Key& key, const Matches& expected_matches, Value new_value);
  // All entries stored as one atomic step (later pairs win).
  Status update(std::vector<std::pair<Key, Value>> entries);
  Result<bool> contains(const Key& key);
  void clear();
  // Snapshot copies, in insertion order.
  std::vector<std::pair<Value, Value>> items();

 private:
  struct Entry {
    int64_t hash;
    Value key;
    Value value;
  };
  using Entries = std::list<Entry>;
  std::unique_lock<std::mutex> lock();
  // The entry for key, or entries_.end(); requires mutex_ held.
  Result<Entries::iterator> find_locked(const Key& key);
  Status set_locked(const Key& key, Value value);

  std::mutex mutex_;
  Entries entries_;                                          // guarded by mutex_
  std::unordered_multimap<int64_t, Entries::iterator> index_;  // by hash; guarded by mutex_
};

}  // namespace manycore
