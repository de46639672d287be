// tests/cpp/shared_dict_test.cc: SharedDict: lookups by hash and equality, atomic operations, order, threads.
#include "manycore/shared_dict.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace manycore {
namespace {

// A key whose equality test never matches: only data-equal stored keys are found.
SharedDict::Key key(int64_t k) {
  return {k % 7, Value::Int(k), [](const Value&) -> Result<bool> { return false; }};
}

TEST(SharedDictTest, SetGetPopAndOrder) {
  SharedDict dict;
  EXPECT_STREQ(dict.type_name(), "SharedDict");
  for (int64_t k = 0; k < 20; ++k) ASSERT_TRUE(dict.set(key(k), Value::Str(std::to_string(k))).ok());
  EXPECT_EQ(dict.size(), 20u);
  EXPECT_EQ(dict.get(key(13)).value()->text(), "13");  // same hash bucket as 6 and 20
  EXPECT_FALSE(dict.get(key(99)).value().has_value());
  ASSERT_TRUE(dict.set(key(3), Value::Str("three")).ok());
  EXPECT_EQ(dict.size(), 20u);
  EXPECT_EQ(dict.pop(key(3)).value()->text(), "three");
  EXPECT_FALSE(dict.pop(key(3)).value().has_value());
  EXPECT_FALSE(dict.contains(key(3)).value());
  auto items = dict.items();
  ASSERT_EQ(items.size(), 19u);
  EXPECT_EQ(items[0].first.as_int(), 0);
  EXPECT_EQ(items[3].first.as_int(), 4);  // insertion order kept
  dict.clear();
  EXPECT_EQ(dict.size(), 0u);
}

TEST(SharedDictTest, EqualityTestMergesKeysOfOneHashThatDifferAsData) {
  SharedDict dict;
  ASSERT_TRUE(dict.set({1, Value::Int(1), nullptr}, Value::Str("int")).ok());
  // A float 1.0 (hash 1) equal to the stored int 1 by its test: the same key.
  SharedDict::Key one_float{1, Value::Float(1.0), [](const Value& stored) -> Result<bool> {
                              return stored.kind() == Value::Kind::kInt && stored.as_int() == 1;
                            }};
  ASSERT_TRUE(dict.set(one_float, Value::Str("float")).ok());
  EXPECT_EQ(dict.size(), 1u);
  EXPECT_EQ(dict.get(one_float).value()->text(), "float");
  SharedDict::Key failing{1, Value::Str("x"), [](const Value&) -> Result<bool> {
                            return Status(StatusCode::kInternal, "eq raised");
                          }};
  EXPECT_EQ(dict.get(failing).status().code(), StatusCode::kInternal);
}

TEST(SharedDictTest, SetdefaultAndCompareAndSetAreAtomic) {
  SharedDict dict;
  std::vector<std::thread> threads;
  auto is_int = [](int64_t expected) {
    return [expected](const Value& stored) -> Result<bool> { return stored.as_int() == expected; };
  };
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        while (true) {
          int64_t seen = dict.setdefault(key(0), Value::Int(0)).value().as_int();
          if (dict.compare_and_set(key(0), is_int(seen), Value::Int(seen + 1)).value()) break;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(dict.get(key(0)).value()->as_int(), 8000);
  EXPECT_FALSE(dict.compare_and_set(key(5), is_int(0), Value::Int(1)).value());  // absent key
}

TEST(SharedDictTest, UpdateStoresEveryPairLaterOnesWinning) {
  SharedDict dict;
  std::vector<std::pair<SharedDict::Key, Value>> entries;
  entries.emplace_back(key(1), Value::Int(10));
  entries.emplace_back(key(2), Value::Int(20));
  entries.emplace_back(key(1), Value::Int(11));
  ASSERT_TRUE(dict.update(std::move(entries)).ok());
  EXPECT_EQ(dict.size(), 2u);
  EXPECT_EQ(dict.get(key(1)).value()->as_int(), 11);
}

}  // namespace
}  // namespace manycore
