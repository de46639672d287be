// tests/cpp/codec_test.cc: Message and MessageBuilder on their own: identity, cycles, packed runs, payloads, limits, trees.
#include "manycore/message.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "python_env.h"

namespace manycore {
namespace {

using test::MainGil;
using test::PyRef;
using Kind = Value::Kind;

class CodecTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (PyErr_Occurred()) {
      PyErr_Print();
      ADD_FAILURE() << "the test left a Python error set";
    }
  }

  // Encodes obj as a one-segment message and decodes it again here.
  PyRef round_trip(PyObject* obj, std::shared_ptr<const Message>* kept = nullptr) {
    MessageBuilder builder;
    Status added = builder.add(obj);
    EXPECT_TRUE(added.ok()) << added.message();
    std::shared_ptr<const Message> message = builder.finish();
    if (kept != nullptr) *kept = message;
    PyRef back = PyRef::steal(decode(Value::Encoded(message, 0)));
    EXPECT_TRUE(back) << "decode failed";
    return back;
  }

  // Runs `check` (a Python expression over `original` and `back`) and expects True.
  void expect_true(PyObject* original, PyObject* back, const char* check) {
    PyRef globals = PyRef::steal(PyDict_New());
    PyDict_SetItemString(globals.get(), "original", original);
    PyDict_SetItemString(globals.get(), "back", back);
    PyDict_SetItemString(globals.get(), "__builtins__", PyEval_GetBuiltins());
    PyRef result = PyRef::steal(PyRun_String(check, Py_eval_input, globals.get(), globals.get()));
    ASSERT_TRUE(result) << check;
    EXPECT_EQ(result.get(), Py_True) << check;
  }

  MainGil gil_;
};

TEST_F(CodecTest, SharedChildrenArriveShared) {
  PyRef original = test::eval("[shared, shared, (shared,), {'k': shared}]", "shared = [1, 'two', 3.0]");
  PyRef back = round_trip(original.get());
  expect_true(original.get(), back.get(),
              "back == original and back[0] is back[1] is back[2][0] is back[3]['k'] and back[0] is not original[0]");
}

TEST_F(CodecTest, UnsharedEqualChildrenStayDistinct) {
  PyRef original = test::eval("[[1], [1]]");
  PyRef back = round_trip(original.get());
  expect_true(original.get(), back.get(), "back == original and back[0] is not back[1]");
}

TEST_F(CodecTest, CyclesArriveAsCycles) {
  PyRef original = test::eval("d", "d = {'n': 1}\nd['a'] = d['b'] = d\n");
  PyRef back = round_trip(original.get());
  expect_true(original.get(), back.get(), "back['a'] is back and back['b'] is back and back['n'] == 1");
  PyRef listed = test::eval("x", "x = [1]\nx.append(x)\n");
  PyRef list_back = round_trip(listed.get());
  expect_true(listed.get(), list_back.get(), "back[1] is back and back[0] == 1");
}

// The pickle case: a tuple reachable from its own items through a list whose only
// reference is the tuple (so the list is not shared by refcount).
TEST_F(CodecTest, ATupleCycleThroughAnUnsharedListKeepsIdentity) {
  PyRef original = test::eval("make()", "def make():\n    t = ([],)\n    t[0].append(t)\n    return t\n");
  PyRef back = round_trip(original.get());
  expect_true(original.get(), back.get(), "type(back) is tuple and back[0][0] is back");
}

TEST_F(CodecTest, ADeepDagIsLinear) {
  PyRef original = test::eval("node", "node = [0]\nfor _ in range(60):\n    node = [node, node]\n");
  std::shared_ptr<const Message> message;
  PyRef back = round_trip(original.get(), &message);
  EXPECT_LT(message->byte_size(), 1000u);  // one definition per level, then back-references
  expect_true(original.get(), back.get(), "back[0] is back[1] and back[0][0] is back[0][1]");
}

TEST_F(CodecTest, PackedRunsAreCompactAndExact) {
  PyRef ints = test::eval("list(range(-500, 500)) + [2**62, -2**63]");
  std::shared_ptr<const Message> message;
  PyRef back = round_trip(ints.get(), &message);
  EXPECT_LE(message->byte_size(), 8 * 1002u + 8);  // 8 bytes per item, no tag per item
  expect_true(ints.get(), back.get(), "back == original and all(type(x) is int for x in back)");
  // A big int partway through falls back to the generic form, still exact.
  PyRef mixed = test::eval("(1, 2, 2**100, 'x', 3.5, True, None)");
  PyRef mixed_back = round_trip(mixed.get());
  expect_true(mixed.get(), mixed_back.get(), "back == original and [type(x) for x in back] == [type(x) for x in original]");
  PyRef texts = test::eval("['k', 'k', '\\u00e9t\\u00e9', '\\U0001f600', 'x\\ud800y', b'raw'.decode()]");
  PyRef texts_back = round_trip(texts.get());
  expect_true(texts.get(), texts_back.get(), "back == original and back[0] is back[1]");
  PyRef floats = test::eval("[float(i) / 3 for i in range(100)] + [float('inf'), -0.0]");
  PyRef floats_back = round_trip(floats.get());
  expect_true(floats.get(), floats_back.get(), "back == original and str(back[-1]) == '-0.0'");
}

TEST_F(CodecTest, RepeatedDictKeysAreWrittenOnce) {
  PyRef records = test::eval("[{'a_long_field_name': i, 'another_long_field_name': -i} for i in range(1000)]");
  std::shared_ptr<const Message> message;
  PyRef back = round_trip(records.get(), &message);
  EXPECT_LT(message->byte_size(), 1000u * 16);  // the 40 bytes of keys per record are not repeated
  expect_true(records.get(), back.get(), "back == original");
}

TEST_F(CodecTest, LargeBytesAreOutOfLine) {
  PyRef big = test::eval("(b'\\x01' * (1 << 20), bytearray(b'\\x02' * (1 << 20)))");
  std::shared_ptr<const Message> message;
  PyRef back = round_trip(big.get(), &message);
  EXPECT_EQ(message->payload_count(), 2u);
  EXPECT_LT(message->byte_size() - 2 * (size_t(1) << 20), 64u);  // the stream itself stays tiny
  expect_true(big.get(), back.get(), "back == original and type(back[1]) is bytearray");
}

TEST_F(CodecTest, SegmentsAreIndependent) {
  MessageBuilder builder;
  PyRef shared = test::eval("[1, 2]");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(builder.add(shared.get()).ok());
  std::vector<Value> values = builder.finish_values();
  ASSERT_EQ(values.size(), 3u);
  EXPECT_EQ(values[0].message(), values[2].message());  // one message for the chunk
  PyRef first = PyRef::steal(decode(values[0]));
  PyRef third = PyRef::steal(decode(values[2]));
  ASSERT_TRUE(first && third);
  EXPECT_NE(first.get(), third.get());  // identity is per segment
  EXPECT_EQ(PyObject_RichCompareBool(first.get(), third.get(), Py_EQ), 1);
}

// A finished builder's writer is reused by the next builder on the thread
// (codec.cc, t_spare_writer): nothing of the first message may leak into the next.
TEST_F(CodecTest, ABuilderAfterFinishStartsEmpty) {
  PyRef big = test::eval("b'x' * (1 << 20)");  // out of line: a payload
  PyRef small = test::eval("[1, 'two', 3.0]");
  MessageBuilder builder;
  ASSERT_TRUE(builder.add(big.get()).ok());
  ASSERT_TRUE(builder.add(small.get()).ok());
  std::shared_ptr<const Message> first = builder.finish();
  EXPECT_EQ(builder.segment_count(), 0u);
  ASSERT_TRUE(builder.add(small.get()).ok());
  std::shared_ptr<const Message> second = builder.finish();
  MessageBuilder other;  // takes the writer `builder` just gave back
  ASSERT_TRUE(other.add(small.get()).ok());
  std::shared_ptr<const Message> third = other.finish();
  for (const auto& message : {second, third}) {
    ASSERT_EQ(message->segment_count(), 1u);
    EXPECT_EQ(message->payload_count(), 0u);
    PyRef back = PyRef::steal(decode(Value::Encoded(message, 0)));
    ASSERT_TRUE(back);
    EXPECT_EQ(PyObject_RichCompareBool(back.get(), small.get(), Py_EQ), 1);
  }
  ASSERT_EQ(first->segment_count(), 2u);
  PyRef first_big = PyRef::steal(decode(Value::Encoded(first, 0)));
  ASSERT_TRUE(first_big);
  EXPECT_EQ(PyObject_RichCompareBool(first_big.get(), big.get(), Py_EQ), 1);
}

// Keys only their dict holds travel with their hash (kTagKeyHash): the PyObject
// decoder stores it, the tree reader skips it.
TEST_F(CodecTest, DictKeysCarryTheirHashToBothReaders) {
  PyRef dict = test::eval("{f'key{i}': i for i in range(50)}");
  std::shared_ptr<const Message> message;
  PyRef back = round_trip(dict.get(), &message);
  ASSERT_TRUE(back);
  expect_true(dict.get(), back.get(),
              "back == original and all(hash(k) == hash(k.encode().decode()) for k in back)");
  Value tree = Value::Encoded(message, 0);
  ASSERT_EQ(tree.kind(), Kind::kDict);
  ASSERT_EQ(tree.items().size(), 100u);
  EXPECT_EQ(tree.items()[0].kind(), Kind::kStr);
  EXPECT_EQ(tree.items()[0].text(), "key0");
  EXPECT_EQ(tree.items()[99].as_int(), 49);
}

// A stream from 1 MiB up is written into the payload pool's buffers (reused, pages
// mapped), and past the pool's largest size into plain memory again.
TEST_F(CodecTest, LargeStreamsMoveBetweenPooledAndPlainBuffers) {
  PyRef value = test::eval("[list(range(300_000)), 'x' * (2 << 20), 'a' * (129 << 20)]");
  ASSERT_TRUE(value);
  for (int round = 0; round < 2; ++round) {  // the second one reuses the pooled buffers
    std::shared_ptr<const Message> message;
    PyRef back = round_trip(value.get(), &message);
    ASSERT_TRUE(back);
    EXPECT_GT(message->segment_end(0) - message->segment_begin(0), std::ptrdiff_t{131} << 20);
    EXPECT_EQ(PyObject_RichCompareBool(back.get(), value.get(), Py_EQ), 1);
  }
}

// ASCII strs are built without the scan for their largest code unit (kTagStrAscii and
// the run items' ASCII bit): each must arrive with the representation it left with.
TEST_F(CodecTest, AsciiAndWiderStrsKeepTheirRepresentation) {
  PyRef value = test::eval(
      "[['ab', 'caf\u00e9', '\u4e00z', '', 'a', '\U0001f600!', 'x' * 300],"
      " 'ab', 'caf\u00e9', ('ab', '\u00e9'), {'k' + str(1): 'v'}]");
  PyRef back = round_trip(value.get());
  ASSERT_TRUE(back);
  expect_true(value.get(), back.get(),
              "back == original and all(a.isascii() == b.isascii() and __import__('sys').getsizeof(a) == "
              "__import__('sys').getsizeof(b) for a, b in zip(original[0] + original[1:3] + list(original[3]), "
              "back[0] + back[1:3] + list(back[3])))");
}

TEST_F(CodecTest, AFailedAddLeavesTheBuilderAsItWas) {
  MessageBuilder builder;
  PyRef good = test::eval("[1, 'a']");
  PyRef bad = test::eval("[1, 2, (lambda: 0).__code__.co_consts, __import__('threading').Lock()]");
  ASSERT_TRUE(builder.add(good.get()).ok());
  Status failed = builder.add(bad.get());
  EXPECT_EQ(failed.code(), StatusCode::kNotShareable);
  ASSERT_TRUE(builder.add(good.get()).ok());
  std::vector<Value> values = builder.finish_values();
  ASSERT_EQ(values.size(), 2u);
  for (const Value& value : values) {
    PyRef back = PyRef::steal(decode(value));
    ASSERT_TRUE(back);
    EXPECT_EQ(PyObject_RichCompareBool(back.get(), good.get(), Py_EQ), 1);
  }
}

TEST_F(CodecTest, NestingBeyondTheLimitIsAClearError) {
  PyRef deep = test::eval("x", "x = []\nfor _ in range(5000):\n    x = [x]\n");
  MessageBuilder builder;
  Status failed = builder.add(deep.get());
  EXPECT_EQ(failed.code(), StatusCode::kNotShareable);
  EXPECT_NE(failed.message().find("nested deeper than 2000"), std::string::npos) << failed.message();
  PyRef fits = test::eval("x", "x = []\nfor _ in range(1990):\n    x = [x]\n");
  EXPECT_TRUE(builder.add(fits.get()).ok());
}

TEST_F(CodecTest, TreesReadFromMessagesCopySharedPartsAndMarkCycles) {
  PyRef shared = test::eval("[s, s]", "s = (1, 'x')");
  Result<Value> encoded = encode(shared.get());
  ASSERT_TRUE(encoded.ok());
  const Value& value = encoded.value();
  EXPECT_TRUE(value.encoded());
  EXPECT_EQ(value.kind(), Kind::kList);
  ASSERT_EQ(value.items().size(), 2u);
  EXPECT_EQ(value.items()[0], value.items()[1]);
  EXPECT_EQ(value.items()[0], Value::Tuple({Value::Int(1), Value::Str("x")}));
  PyRef cyclic = test::eval("x", "x = [7]\nx.append(x)\n");
  Result<Value> cycle = encode(cyclic.get());
  ASSERT_TRUE(cycle.ok());
  EXPECT_EQ(cycle.value().items()[0], Value::Int(7));
  EXPECT_EQ(cycle.value().items()[1].kind(), Kind::kCycle);
}

TEST_F(CodecTest, ATreeEncodesAndDecodes) {
  Value tree = Value::Dict({Value::Str("k\xc3\xa9y"), Value::List({Value::Int(1), Value::Float(2.5), Value::Bytes("b")})});
  PyRef back = PyRef::steal(decode(tree));
  ASSERT_TRUE(back);
  PyRef expected = test::eval("{'k\\u00e9y': [1, 2.5, b'b']}");
  EXPECT_EQ(PyObject_RichCompareBool(back.get(), expected.get(), Py_EQ), 1);
  MessageBuilder builder;
  ASSERT_TRUE(builder.add(tree).ok());
  std::vector<Value> values = builder.finish_values();
  EXPECT_EQ(values[0], tree);  // read back as a tree, equal
}

class Token final : public Shareable {
 public:
  const char* type_name() const override { return "test.Token"; }
};

TEST_F(CodecTest, APickledTreeKeepsTheShareablesItNames) {
  auto first = std::make_shared<Token>();
  auto second = std::make_shared<Token>();
  Value pickled = Value::Pickled("not read here", {Value::Shared(first), Value::Shared(second)});
  MessageBuilder builder;
  ASSERT_TRUE(builder.add(Value::List({Value::Shared(second), pickled})).ok());
  std::shared_ptr<const Message> message = builder.finish();
  EXPECT_EQ(message->shareable_count(), 3u);  // the list's own, then the two the pickle names
  Value back = internal::segment_to_tree(*message, 0);
  ASSERT_EQ(back.items().size(), 2u);
  const Value& read = back.items()[1];
  ASSERT_EQ(read.kind(), Kind::kPickled);
  EXPECT_EQ(read.text(), "not read here");
  ASSERT_EQ(read.items().size(), 2u);
  EXPECT_EQ(read.items()[0].shared(), first);
  EXPECT_EQ(read.items()[1].shared(), second);
  EXPECT_EQ(read, pickled);
  // Only Shareables can be named.
  MessageBuilder refused;
  EXPECT_EQ(refused.add(Value::Pickled("x", {Value::Int(1)})).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace manycore
