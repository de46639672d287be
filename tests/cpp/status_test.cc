// tests/cpp/status_test.cc: Status and Result<T>, how the core reports failure.
#include "manycore/status.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>

namespace manycore {
namespace {

TEST(StatusTest, DefaultIsOk) {
  Status status;
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(status.code(), StatusCode::kOk);
  EXPECT_TRUE(status.message().empty());
  EXPECT_FALSE(status.remote() != nullptr);
  EXPECT_TRUE(Status::Ok().ok());
}

TEST(StatusTest, CarriesCodeAndMessage) {
  Status status(StatusCode::kTimeout, "timed out after 1 s");
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.code(), StatusCode::kTimeout);
  EXPECT_EQ(status.message(), "timed out after 1 s");
  EXPECT_FALSE(status.remote() != nullptr);
}

TEST(StatusTest, RemoteDescribesTheException) {
  RemoteError error;
  error.type_module = "builtins";
  error.type_qualname = "ZeroDivisionError";
  error.message = "division by zero";
  error.traceback = "Traceback (most recent call last):\nZeroDivisionError: division by zero\n";
  error.pickled = std::string("\x80\x05", 2);
  Status status = Status::Remote(error);
  EXPECT_EQ(status.code(), StatusCode::kRemoteException);
  EXPECT_EQ(status.message(), "ZeroDivisionError: division by zero");
  ASSERT_TRUE(status.remote() != nullptr);
  EXPECT_EQ(status.remote()->type_module, "builtins");
  EXPECT_EQ(status.remote()->type_qualname, "ZeroDivisionError");
  EXPECT_EQ(status.remote()->message, "division by zero");
  EXPECT_EQ(status.remote()->traceback, error.traceback);
  EXPECT_EQ(status.remote()->pickled, error.pickled);
}

TEST(StatusTest, IsPlainDataThatCrossesThreads) {
  Status made_elsewhere;
  std::thread maker([&made_elsewhere] { made_elsewhere = Status(StatusCode::kClosed, "queue closed"); });
  maker.join();
  EXPECT_EQ(made_elsewhere.code(), StatusCode::kClosed);
  EXPECT_EQ(made_elsewhere.message(), "queue closed");
}

TEST(ResultTest, HoldsAValue) {
  Result<int> result(42);
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result.status().ok());
  EXPECT_EQ(result.value(), 42);
  result.value() = 43;
  EXPECT_EQ(result.take_value(), 43);
  EXPECT_TRUE(result.take_status().ok());
}

TEST(ResultTest, HoldsAStatus) {
  Result<std::string> result(StatusCode::kNotFound, "interpreter 7 is closed");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(result.status().message(), "interpreter 7 is closed");
  Status taken = result.take_status();
  EXPECT_EQ(taken.code(), StatusCode::kNotFound);
  EXPECT_EQ(taken.message(), "interpreter 7 is closed");
}

TEST(ResultTest, ConvertsImplicitlyFromValueAndStatus) {
  auto half = [](int x) -> Result<int> {
    if (x % 2 != 0) return Status(StatusCode::kInvalidArgument, "odd");
    return x / 2;
  };
  EXPECT_EQ(half(8).value(), 4);
  EXPECT_EQ(half(7).status().code(), StatusCode::kInvalidArgument);
}

TEST(ResultTest, KeepsRemoteErrorThroughAResult) {
  RemoteError error;
  error.type_qualname = "KeyError";
  error.message = "'x'";
  Result<int> result(Status::Remote(error));
  ASSERT_FALSE(result.ok());
  ASSERT_TRUE(result.status().remote() != nullptr);
  EXPECT_EQ(result.status().remote()->type_qualname, "KeyError");
  EXPECT_EQ(result.take_status().message(), "KeyError: 'x'");
}

}  // namespace
}  // namespace manycore
