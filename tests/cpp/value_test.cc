// tests/cpp/value_test.cc: Value (factories, accessors, equality) and the codec, in the main interpreter and in workers.
#include "manycore/value.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "manycore/interpreter.h"
#include "python_env.h"

namespace manycore {
namespace {

using test::MainGil;
using test::PyRef;
using Kind = Value::Kind;

// ---- Value as plain C++ data (no GIL needed) ------------------------------------------

TEST(ValueTest, ScalarFactoriesAndAccessors) {
  EXPECT_EQ(Value().kind(), Kind::kNone);
  EXPECT_EQ(Value::None().kind(), Kind::kNone);
  EXPECT_EQ(Value::Bool(true).kind(), Kind::kBool);
  EXPECT_TRUE(Value::Bool(true).as_bool());
  EXPECT_FALSE(Value::Bool(false).as_bool());
  EXPECT_EQ(Value::Int(-7).kind(), Kind::kInt);
  EXPECT_EQ(Value::Int(INT64_MIN).as_int(), INT64_MIN);
  EXPECT_EQ(Value::Float(2.5).kind(), Kind::kFloat);
  EXPECT_EQ(Value::Float(2.5).real(), 2.5);
  Value complex = Value::Complex(1.0, -2.0);
  EXPECT_EQ(complex.kind(), Kind::kComplex);
  EXPECT_EQ(complex.real(), 1.0);
  EXPECT_EQ(complex.imag(), -2.0);
}

TEST(ValueTest, TextFactoriesKeepBytesExactly) {
  const std::string binary("a\0b\xff", 4);
  EXPECT_EQ(Value::Str("h\xc3\xa9").kind(), Kind::kStr);
  EXPECT_EQ(Value::Str("h\xc3\xa9").text(), "h\xc3\xa9");
  EXPECT_EQ(Value::Bytes(binary).kind(), Kind::kBytes);
  EXPECT_EQ(Value::Bytes(binary).text(), binary);
  EXPECT_EQ(Value::ByteArray(binary).kind(), Kind::kByteArray);
  EXPECT_EQ(Value::ByteArray(binary).text().size(), 4u);
  EXPECT_EQ(Value::BigInt("-1f").kind(), Kind::kBigInt);
  EXPECT_EQ(Value::BigInt("-1f").text(), "-1f");
  EXPECT_EQ(Value::Pickled(binary).kind(), Kind::kPickled);
  Value reference = Value::Reference("json.decoder", "JSONDecoder.decode");
  EXPECT_EQ(reference.kind(), Kind::kReference);
  EXPECT_EQ(reference.text(), "json.decoder");
  EXPECT_EQ(reference.qualname(), "JSONDecoder.decode");
}

TEST(ValueTest, ContainerFactoriesKeepItemsInOrder) {
  Value tuple = Value::Tuple({Value::Int(1), Value::Str("a"), Value::None()});
  EXPECT_EQ(tuple.kind(), Kind::kTuple);
  ASSERT_EQ(tuple.items().size(), 3u);
  EXPECT_EQ(tuple.items()[1].text(), "a");
  EXPECT_EQ(Value::List({}).kind(), Kind::kList);
  EXPECT_EQ(Value::Set({Value::Int(1)}).kind(), Kind::kSet);
  EXPECT_EQ(Value::FrozenSet({Value::Int(1)}).kind(), Kind::kFrozenSet);
  Value dict = Value::Dict({Value::Str("k"), Value::Int(1)});
  EXPECT_EQ(dict.kind(), Kind::kDict);
  ASSERT_EQ(dict.items().size(), 2u);  // key, value alternate
  EXPECT_EQ(dict.items()[0].text(), "k");
  EXPECT_EQ(dict.items()[1].as_int(), 1);
  Value list = Value::List({Value::Int(1)});
  list.items().push_back(Value::Int(2));
  EXPECT_EQ(list.items().size(), 2u);
}

class Counter final : public Shareable {
 public:
  const char* type_name() const override { return "Counter"; }
};

TEST(ValueTest, SharedHoldsTheSameObject) {
  auto counter = std::make_shared<Counter>();
  Value first = Value::Shared(counter);
  Value second = Value::Shared(counter);
  EXPECT_EQ(first.kind(), Kind::kShareable);
  EXPECT_EQ(first.shared().get(), counter.get());
  EXPECT_EQ(counter.use_count(), 3);
  EXPECT_EQ(first, second);
  EXPECT_NE(first, Value::Shared(std::make_shared<Counter>()));
}

TEST(ValueTest, EqualityIsStructural) {
  EXPECT_EQ(Value::Int(1), Value::Int(1));
  EXPECT_NE(Value::Int(1), Value::Int(2));
  EXPECT_NE(Value::Int(1), Value::Bool(true));  // kinds differ, like type(1) is not bool
  EXPECT_NE(Value::Int(0), Value::None());
  EXPECT_NE(Value::Str("ab"), Value::Bytes("ab"));
  EXPECT_NE(Value::Tuple({Value::Int(1)}), Value::List({Value::Int(1)}));
  EXPECT_EQ(Value::Tuple({Value::Str("x"), Value::List({Value::Float(1.5)})}),
            Value::Tuple({Value::Str("x"), Value::List({Value::Float(1.5)})}));
  EXPECT_NE(Value::Tuple({Value::Int(1), Value::Int(2)}), Value::Tuple({Value::Int(2), Value::Int(1)}));
  EXPECT_NE(Value::Reference("math", "sin"), Value::Reference("math", "cos"));
  EXPECT_NE(Value::Reference("math", "sin"), Value::Reference("cmath", "sin"));
  EXPECT_NE(Value::Complex(1, 2), Value::Complex(1, -2));
  // As value.h documents: order matters even for sets, floats compare as doubles.
  EXPECT_NE(Value::Set({Value::Int(1), Value::Int(2)}), Value::Set({Value::Int(2), Value::Int(1)}));
  EXPECT_NE(Value::Float(std::nan("")), Value::Float(std::nan("")));
  EXPECT_EQ(Value::Float(-0.0), Value::Float(0.0));
}

TEST(ValueTest, PayloadSizeCountsTextAndItems) {
  size_t empty = Value::Bytes("").payload_size();
  EXPECT_EQ(Value::Bytes(std::string(1000, 'x')).payload_size(), empty + 1000);
  Value nested = Value::List({Value::Bytes(std::string(100, 'x')), Value::Bytes(std::string(100, 'y'))});
  EXPECT_GE(nested.payload_size(), 200u + 3 * sizeof(Value));
}

TEST(ValueTest, MovesToAnotherThreadAndDiesThereWithNoGil) {
  Value tree = Value::Dict({Value::Str("items"), Value::List({Value::Int(1), Value::BigInt("1" + std::string(40, '0'))})});
  Value copy = tree;
  std::thread other([moved = std::move(tree), &copy]() mutable {
    EXPECT_EQ(moved, copy);
    Value sink = std::move(moved);
  });
  other.join();
}

// ---- Codec round trips ---------------------------------------------------------------

struct CodecCase {
  const char* name;
  const char* expression;  // evaluated with `setup` below in a fresh namespace
  Kind kind;               // what encode must produce at the top
};

// Imports usable in every interpreter on 3.12 and 3.13 (no datetime/decimal: DESIGN.md 3).
constexpr const char* kSetup = "import math, collections, json, http, types\n";

// Every native kind, at its edges; each must come back equal and of the exact same type.
const CodecCase kNativeCases[] = {
    {"None", "None", Kind::kNone},
    {"True", "True", Kind::kBool},
    {"False", "False", Kind::kBool},
    {"Zero", "0", Kind::kInt},
    {"Int64Max", "2**63 - 1", Kind::kInt},
    {"Int64Min", "-2**63", Kind::kInt},
    {"JustAboveInt64", "2**63", Kind::kBigInt},
    {"JustBelowInt64", "-2**63 - 1", Kind::kBigInt},
    {"HugePositive", "7**200", Kind::kBigInt},
    {"HugeNegative", "-(3**300)", Kind::kBigInt},
    {"Float", "1.5", Kind::kFloat},
    {"FloatInfinity", "float('-inf')", Kind::kFloat},
    {"FloatTiny", "5e-324", Kind::kFloat},
    {"Complex", "complex(1.5, -2)", Kind::kComplex},
    {"EmptyStr", "''", Kind::kStr},
    {"AsciiStr", "'hello'", Kind::kStr},
    {"UnicodeStr", "'h\\u00e9llo \\u4e16\\u754c \\U0001F600'", Kind::kStr},
    {"StrWithNul", "'a\\x00b'", Kind::kStr},
    {"LoneHighSurrogate", "'\\ud800'", Kind::kStr},
    {"LoneLowSurrogateInText", "'ab\\udfffcd'", Kind::kStr},
    {"Bytes", "bytes(range(256))", Kind::kBytes},
    {"EmptyBytes", "b''", Kind::kBytes},
    {"ByteArray", "bytearray(b'\\x00\\xffabc')", Kind::kByteArray},
    {"EmptyTuple", "()", Kind::kTuple},
    {"Tuple", "(1, 'a', None, 2.5)", Kind::kTuple},
    {"List", "[1, [2, [3, []]], 'x']", Kind::kList},
    {"Dict", "{'a': 1, 2: (3,), None: [True], (1, 2): {'in': b'x'}}", Kind::kDict},
    {"EmptyDict", "{}", Kind::kDict},
    {"Set", "{1, 2, 3, 'x', (4, 5)}", Kind::kSet},
    {"FrozenSet", "frozenset({1, frozenset({2})})", Kind::kFrozenSet},
    {"Nested", "{'rows': [(i, str(i), i * 0.5, {i}) for i in range(20)], 'big': [2**100, -2**100]}", Kind::kDict},
    {"DeeperThanNativeLimit", "functools.reduce(lambda acc, _: [acc], range(300), [])", Kind::kList},
};

class NativeCodecTest : public ::testing::TestWithParam<CodecCase> {
 protected:
  static std::string setup() { return std::string(kSetup) + "import functools\n"; }
};

TEST_P(NativeCodecTest, RoundTripsInTheMainInterpreter) {
  MainGil gil;
  PyRef original = test::eval(GetParam().expression, setup());
  ASSERT_TRUE(original);
  Result<Value> encoded = encode(original.get());
  ASSERT_TRUE(encoded.ok()) << encoded.status().message();
  EXPECT_FALSE(PyErr_Occurred());
  EXPECT_EQ(encoded.value().kind(), GetParam().kind);
  PyRef decoded = PyRef::steal(decode(encoded.value()));
  ASSERT_TRUE(decoded) << (PyErr_Print(), "decode failed");
  EXPECT_TRUE(test::same_value_and_type(original.get(), decoded.get()))
      << test::type_name(original.get()) << " came back as " << test::type_name(decoded.get());
  // Encoding is deterministic for these values: the tree is the same again.
  Result<Value> again = encode(decoded.get());
  ASSERT_TRUE(again.ok());
  if (GetParam().kind != Kind::kSet && GetParam().kind != Kind::kFrozenSet) {
    EXPECT_EQ(again.value(), encoded.value());
  }
}

// Encoded in the main interpreter, decoded in a worker, and the other way round; the
// worker compares with its own evaluation of the same expression.
TEST_P(NativeCodecTest, CrossesIntoAWorkerAndBack) {
  auto worker = test::create_or_fail();
  ASSERT_TRUE(worker);
  Value from_main;
  {
    MainGil gil;
    PyRef original = test::eval(GetParam().expression, setup());
    ASSERT_TRUE(original);
    Result<Value> encoded = encode(original.get());
    ASSERT_TRUE(encoded.ok()) << encoded.status().message();
    from_main = encoded.take_value();
  }
  const std::string expression = GetParam().expression;
  auto completion = worker->submit([from_main, expression]() -> Result<Value> {
    PyRef received = PyRef::steal(decode(from_main));
    if (!received) return capture_python_error();
    PyRef expected = test::eval(expression, setup());
    if (!expected) return Status(StatusCode::kInternal, "the worker cannot evaluate " + expression);
    if (!test::same_value_and_type(received.get(), expected.get())) {
      return Status(StatusCode::kInternal, "the worker received a " + test::type_name(received.get()) +
                                               " different from its own " + test::type_name(expected.get()));
    }
    return encode(expected.get());
  });
  ASSERT_TRUE(completion->wait(30.0).ok());
  Result<Value> from_worker = completion->take();
  ASSERT_TRUE(from_worker.ok()) << from_worker.status().message();
  EXPECT_EQ(from_worker.value().kind(), GetParam().kind);

  MainGil gil;
  PyRef expected = test::eval(GetParam().expression, setup());
  PyRef decoded = PyRef::steal(decode(from_worker.value()));
  ASSERT_TRUE(expected && decoded);
  EXPECT_TRUE(test::same_value_and_type(expected.get(), decoded.get()))
      << test::type_name(expected.get()) << " came back as " << test::type_name(decoded.get());
  EXPECT_TRUE(worker->close().ok());
}

INSTANTIATE_TEST_SUITE_P(EveryNativeKind, NativeCodecTest, ::testing::ValuesIn(kNativeCases),
                         [](const ::testing::TestParamInfo<CodecCase>& info) { return std::string(info.param.name); });

class MainCodecTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (PyErr_Occurred()) {
      PyErr_Print();
      ADD_FAILURE() << "the test left a Python error set";
    }
  }
  MainGil gil_;
};

TEST_F(MainCodecTest, FloatKeepsNegativeZeroAndNan) {
  PyRef negative_zero = test::eval("-0.0");
  Result<Value> encoded = encode(negative_zero.get());
  ASSERT_TRUE(encoded.ok());
  EXPECT_TRUE(std::signbit(encoded.value().real()));
  PyRef decoded = PyRef::steal(decode(encoded.value()));
  EXPECT_TRUE(std::signbit(PyFloat_AsDouble(decoded.get())));

  PyRef nan = PyRef::steal(decode(Value::Float(std::nan(""))));
  ASSERT_TRUE(nan && PyFloat_CheckExact(nan.get()));
  EXPECT_TRUE(std::isnan(PyFloat_AsDouble(nan.get())));
}

TEST_F(MainCodecTest, BigIntIsHexadecimal) {
  PyRef big = test::eval("-(2**64 + 31)");
  Result<Value> encoded = encode(big.get());
  ASSERT_TRUE(encoded.ok());
  ASSERT_EQ(encoded.value().kind(), Kind::kBigInt);
  EXPECT_EQ(encoded.value().text(), "-1000000000000001f");
}

TEST_F(MainCodecTest, BigIntMadeInCppDecodes) {
  // The form value.h documents: base 16, optional sign, no prefix.
  PyRef decoded = PyRef::steal(decode(Value::BigInt("-1000000000000001f")));
  ASSERT_TRUE(decoded) << (PyErr_Print(), "decode failed");
  PyRef expected = test::eval("-(2**64 + 31)");
  EXPECT_TRUE(test::same_value_and_type(decoded.get(), expected.get()));
  PyRef small = PyRef::steal(decode(Value::BigInt("ff")));
  ASSERT_TRUE(small);
  EXPECT_EQ(PyLong_AsLong(small.get()), 255);
}

TEST_F(MainCodecTest, BigIntAcceptsAHexPrefix) {
  PyRef decoded = PyRef::steal(decode(Value::BigInt("-0x1f")));
  ASSERT_TRUE(decoded) << (PyErr_Print(), "decode failed");
  EXPECT_EQ(PyLong_AsLong(decoded.get()), -31);
}

TEST_F(MainCodecTest, MalformedBigIntFailsWithAPythonError) {
  for (const std::string& text : {std::string("not hex"), std::string(""), std::string("ff\0ff", 5)}) {
    PyRef decoded = PyRef::steal(decode(Value::BigInt(text)));
    EXPECT_FALSE(decoded) << text.size();
    EXPECT_TRUE(PyErr_ExceptionMatches(PyExc_ValueError)) << text.size();
    PyErr_Clear();
  }
}

TEST_F(MainCodecTest, SurrogatesArriveAsTheSameCodePoints) {
  PyRef original = test::eval("'x\\ud83dy\\ude00z'");  // two lone halves, not a pair
  Result<Value> encoded = encode(original.get());
  ASSERT_TRUE(encoded.ok());
  EXPECT_FALSE(PyErr_Occurred());
  PyRef decoded = PyRef::steal(decode(encoded.value()));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(PyUnicode_GetLength(decoded.get()), 5);
  EXPECT_EQ(PyUnicode_ReadChar(decoded.get(), 1), 0xD83Du);
  EXPECT_EQ(PyUnicode_ReadChar(decoded.get(), 3), 0xDE00u);
}

TEST_F(MainCodecTest, StrValueIsUtf8) {
  PyRef decoded = PyRef::steal(decode(Value::Str("\xe4\xb8\x96")));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(PyUnicode_ReadChar(decoded.get(), 0), 0x4E16u);
  Result<Value> encoded = encode(decoded.get());
  ASSERT_TRUE(encoded.ok());
  EXPECT_EQ(encoded.value(), Value::Str("\xe4\xb8\x96"));
}

TEST_F(MainCodecTest, MutableContainersArriveAsCopies) {
  PyRef original = test::eval("[[1], {'k': bytearray(b'v')}]");
  Result<Value> encoded = encode(original.get());
  ASSERT_TRUE(encoded.ok());
  PyRef decoded = PyRef::steal(decode(encoded.value()));
  ASSERT_TRUE(decoded);
  EXPECT_NE(decoded.get(), original.get());
  EXPECT_NE(PyList_GET_ITEM(decoded.get(), 0), PyList_GET_ITEM(original.get(), 0));
  ASSERT_EQ(PyList_Append(PyList_GET_ITEM(decoded.get(), 0), Py_None), 0);
  EXPECT_EQ(PyList_GET_SIZE(PyList_GET_ITEM(original.get(), 0)), 1);
}

// Subclasses of native types keep their type through the default hooks' pickle.
TEST_F(MainCodecTest, SubclassesAndOtherObjectsArePickled) {
  const char* expressions[] = {
      "collections.OrderedDict(a=1, b=[2])",
      "collections.Counter('abracadabra')",
      "http.HTTPStatus.NOT_FOUND",  // an IntEnum: exact int would lose the type
      "types.SimpleNamespace(x=1, y='z')",
  };
  for (const char* expression : expressions) {
    PyRef original = test::eval(expression, kSetup);
    ASSERT_TRUE(original) << expression;
    Result<Value> encoded = encode(original.get());
    ASSERT_TRUE(encoded.ok()) << expression << ": " << encoded.status().message();
    EXPECT_EQ(encoded.value().kind(), Kind::kPickled) << expression;
    PyRef decoded = PyRef::steal(decode(encoded.value()));
    ASSERT_TRUE(decoded) << expression;
    EXPECT_TRUE(test::same_value_and_type(original.get(), decoded.get())) << expression;
  }
}

TEST_F(MainCodecTest, PickledInsideANativeContainer) {
  PyRef original = test::eval("[1, collections.OrderedDict(a=1), ('t', http.HTTPStatus.OK)]", kSetup);
  Result<Value> encoded = encode(original.get());
  ASSERT_TRUE(encoded.ok());
  ASSERT_EQ(encoded.value().kind(), Kind::kList);
  EXPECT_EQ(encoded.value().items()[0].kind(), Kind::kInt);
  EXPECT_EQ(encoded.value().items()[1].kind(), Kind::kPickled);
  EXPECT_EQ(encoded.value().items()[2].items()[1].kind(), Kind::kPickled);
  PyRef decoded = PyRef::steal(decode(encoded.value()));
  ASSERT_TRUE(decoded);
  EXPECT_TRUE(test::same_value_and_type(original.get(), decoded.get()));
}

TEST_F(MainCodecTest, UnpicklableObjectIsNotShareable) {
  PyRef lock = test::eval("threading.Lock()", "import threading");
  ASSERT_TRUE(lock);
  Result<Value> encoded = encode(lock.get());
  ASSERT_FALSE(encoded.ok());
  EXPECT_EQ(encoded.status().code(), StatusCode::kNotShareable);
  EXPECT_NE(encoded.status().message().find("lock"), std::string::npos) << encoded.status().message();
  EXPECT_FALSE(PyErr_Occurred()) << "encode must report through its Status only";

  PyRef nested = test::eval("{'ok': 1, 'bad': [threading.Lock()]}", "import threading");
  Result<Value> nested_encoded = encode(nested.get());
  ASSERT_FALSE(nested_encoded.ok());
  EXPECT_EQ(nested_encoded.status().code(), StatusCode::kNotShareable);
}

TEST_F(MainCodecTest, ClassThatIsNotImportableIsNotShareable) {
  // Claims to live in collections, but collections.Point does not exist there.
  PyRef point = test::eval("collections.namedtuple('Point', 'x y', module='collections')", kSetup);
  ASSERT_TRUE(point);
  Result<Value> encoded = encode(point.get());
  ASSERT_FALSE(encoded.ok());
  EXPECT_EQ(encoded.status().code(), StatusCode::kNotShareable);
  EXPECT_FALSE(PyErr_Occurred());
}

TEST_F(MainCodecTest, LambdaIsNotAReference) {
  PyRef function = test::eval("lambda: 0");
  Result<Value> encoded = encode(function.get());
  // The default hooks cannot pickle a lambda (the manycore module's hooks can).
  ASSERT_FALSE(encoded.ok());
  EXPECT_EQ(encoded.status().code(), StatusCode::kNotShareable);
  EXPECT_FALSE(PyErr_Occurred());
}

TEST_F(MainCodecTest, ModuleLevelObjectsTravelByReference) {
  struct Expected {
    const char* expression;
    const char* module;
    const char* qualname;
  };
  const Expected cases[] = {
      {"math.factorial", "math", "factorial"},                      // builtin function
      {"json.dumps", "json", "dumps"},                              // Python function
      {"json.JSONDecoder.decode", "json.decoder", "JSONDecoder.decode"},  // dotted qualname
      {"collections.OrderedDict", "collections", "OrderedDict"},   // a class
  };
  for (const Expected& expected : cases) {
    PyRef original = test::eval(expected.expression, kSetup);
    ASSERT_TRUE(original) << expected.expression;
    Result<Value> encoded = encode(original.get());
    ASSERT_TRUE(encoded.ok()) << expected.expression;
    EXPECT_EQ(encoded.value(), Value::Reference(expected.module, expected.qualname)) << expected.expression;
    PyRef decoded = PyRef::steal(decode(encoded.value()));
    ASSERT_TRUE(decoded) << expected.expression;
    EXPECT_EQ(decoded.get(), original.get()) << expected.expression << " must be the very same object";
  }
}

TEST_F(MainCodecTest, ReferenceToAMissingNameFailsWithAPythonError) {
  PyRef missing_module = PyRef::steal(decode(Value::Reference("no_such_module_xyz", "f")));
  EXPECT_FALSE(missing_module);
  EXPECT_TRUE(PyErr_ExceptionMatches(PyExc_ModuleNotFoundError));
  PyErr_Clear();
  PyRef missing_attribute = PyRef::steal(decode(Value::Reference("math", "no_such.name")));
  EXPECT_FALSE(missing_attribute);
  EXPECT_TRUE(PyErr_ExceptionMatches(PyExc_AttributeError));
  PyErr_Clear();
}

TEST_F(MainCodecTest, ReferenceImportsItsModule) {
  PyRef decoded = PyRef::steal(decode(Value::Reference("colorsys", "rgb_to_hsv")));
  ASSERT_TRUE(decoded) << (PyErr_Print(), "decode failed");
  EXPECT_TRUE(PyCallable_Check(decoded.get()));
}

TEST_F(MainCodecTest, ShareableNeedsTheManycoreHooks) {
  PyRef decoded = PyRef::steal(decode(Value::Shared(std::make_shared<Counter>())));
  EXPECT_FALSE(decoded);
  ASSERT_TRUE(PyErr_ExceptionMatches(PyExc_ImportError));
  PyRef raised = PyRef::steal(PyErr_GetRaisedException());
  PyRef text = PyRef::steal(PyObject_Str(raised.get()));
  EXPECT_NE(std::string(PyUnicode_AsUTF8(text.get())).find("Counter"), std::string::npos);
}

TEST_F(MainCodecTest, PickledGarbageFailsWithAPythonError) {
  PyRef decoded = PyRef::steal(decode(Value::Pickled("definitely not a pickle")));
  EXPECT_FALSE(decoded);
  EXPECT_TRUE(PyErr_Occurred());
  PyErr_Clear();
}

// ---- capture_python_error ---------------------------------------------------------------

TEST_F(MainCodecTest, CapturePythonErrorDescribesTheException) {
  PyRef ran = test::run_raising("def fail():\n    raise ValueError('bad value: 42')\nfail()\n");
  ASSERT_FALSE(ran);
  ASSERT_TRUE(PyErr_Occurred());
  Status status = capture_python_error();
  EXPECT_FALSE(PyErr_Occurred()) << "capture takes the error";
  EXPECT_EQ(status.code(), StatusCode::kRemoteException);
  EXPECT_EQ(status.message(), "ValueError: bad value: 42");
  ASSERT_TRUE(status.remote() != nullptr);
  const RemoteError& error = *status.remote();
  EXPECT_EQ(error.type_module, "builtins");
  EXPECT_EQ(error.type_qualname, "ValueError");
  EXPECT_EQ(error.message, "bad value: 42");
  EXPECT_EQ(error.traceback.rfind("Traceback (most recent call last):", 0), 0u) << error.traceback;
  EXPECT_NE(error.traceback.find("in fail"), std::string::npos) << error.traceback;
  EXPECT_NE(error.traceback.find("ValueError: bad value: 42"), std::string::npos) << error.traceback;
  ASSERT_TRUE(error.pickled.has_value());
  // The pickled exception comes back as the same type with the same message.
  PyRef restored = PyRef::steal(decode(Value::Pickled(*error.pickled)));
  ASSERT_TRUE(restored);
  EXPECT_TRUE(PyObject_TypeCheck(restored.get(), reinterpret_cast<PyTypeObject*>(PyExc_ValueError)));
  PyRef text = PyRef::steal(PyObject_Str(restored.get()));
  EXPECT_STREQ(PyUnicode_AsUTF8(text.get()), "bad value: 42");
}

TEST_F(MainCodecTest, CapturePythonErrorNamesTheTypesModule) {
  PyRef ran = test::run_raising("import json\njson.loads('{')\n");
  ASSERT_FALSE(ran);
  Status status = capture_python_error();
  ASSERT_TRUE(status.remote() != nullptr);
  EXPECT_EQ(status.remote()->type_module, "json.decoder");
  EXPECT_EQ(status.remote()->type_qualname, "JSONDecodeError");
}

TEST_F(MainCodecTest, CapturePythonErrorKeepsAnUnpicklableException) {
  // An exception carrying a lock cannot be pickled: the plain-data fields still arrive.
  PyRef ran = test::run_raising("import threading\nraise RuntimeError('locked', threading.Lock())\n");
  ASSERT_FALSE(ran);
  Status status = capture_python_error();
  EXPECT_FALSE(PyErr_Occurred());
  ASSERT_TRUE(status.remote() != nullptr);
  EXPECT_EQ(status.remote()->type_qualname, "RuntimeError");
  EXPECT_NE(status.remote()->message.find("locked"), std::string::npos);
  EXPECT_FALSE(status.remote()->pickled.has_value());
}

TEST_F(MainCodecTest, CapturePythonErrorWithoutAnErrorIsInternal) {
  ASSERT_FALSE(PyErr_Occurred());
  Status status = capture_python_error();
  EXPECT_EQ(status.code(), StatusCode::kInternal);
  EXPECT_FALSE(status.remote() != nullptr);
}

// ---- Installed hooks -------------------------------------------------------------------

// Hooks that count calls and delegate nothing: proves install_codec_hooks is honoured.
class RecordingHooks final : public CodecHooks {
 public:
  Result<std::string> pickle(PyObject*) override {
    ++pickles;
    return std::string("recorded");
  }
  PyObject* unpickle(std::string_view data) override {
    ++unpickles;
    return PyUnicode_FromStringAndSize(data.data(), data.size());
  }
  std::shared_ptr<Shareable> as_shareable(PyObject* obj) override {
    return obj == marker ? shared : nullptr;
  }
  PyObject* wrap_shareable(const std::shared_ptr<Shareable>& object) override {
    return PyUnicode_FromString(object->type_name());
  }
  int pickles = 0;
  int unpickles = 0;
  PyObject* marker = nullptr;
  std::shared_ptr<Shareable> shared = std::make_shared<Counter>();
};

TEST_F(MainCodecTest, InstalledHooksReplaceTheDefaults) {
  RecordingHooks hooks;
  PyRef marker = test::eval("object()");
  hooks.marker = marker.get();
  install_codec_hooks(&hooks);
  PyRef other = test::eval("object()");
  Result<Value> pickled = encode(other.get());
  Result<Value> shared = encode(marker.get());
  PyRef unpickled = PyRef::steal(decode(Value::Pickled("payload")));
  PyRef wrapped = PyRef::steal(decode(Value::Shared(hooks.shared)));
  install_codec_hooks(nullptr);

  ASSERT_TRUE(pickled.ok());
  EXPECT_EQ(pickled.value(), Value::Pickled("recorded"));
  ASSERT_TRUE(shared.ok());
  EXPECT_EQ(shared.value(), Value::Shared(hooks.shared));
  ASSERT_TRUE(unpickled && wrapped);
  EXPECT_STREQ(PyUnicode_AsUTF8(unpickled.get()), "payload");
  EXPECT_STREQ(PyUnicode_AsUTF8(wrapped.get()), "Counter");
  EXPECT_EQ(hooks.pickles, 1);
  EXPECT_EQ(hooks.unpickles, 1);

  // Uninstalled: the defaults (the pickle module) are back.
  Result<Value> after = encode(other.get());
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after.value().kind(), Kind::kPickled);
  EXPECT_NE(after.value(), Value::Pickled("recorded"));
  EXPECT_EQ(hooks.pickles, 1);
}

// ---- Inside a worker -------------------------------------------------------------------

TEST(WorkerCodecTest, DefaultHooksPickleInsideAWorker) {
  auto worker = test::create_or_fail();
  ASSERT_TRUE(worker);
  auto completion = worker->submit([]() -> Result<Value> {
    PyRef ordered = test::eval("collections.OrderedDict(z=1, a=2)", kSetup);
    if (!ordered) return Status(StatusCode::kInternal, "eval failed");
    return encode(ordered.get());
  });
  ASSERT_TRUE(completion->wait(30.0).ok());
  Result<Value> encoded = completion->take();
  ASSERT_TRUE(encoded.ok()) << encoded.status().message();
  EXPECT_EQ(encoded.value().kind(), Kind::kPickled);
  MainGil gil;
  PyRef decoded = PyRef::steal(decode(encoded.value()));
  PyRef expected = test::eval("collections.OrderedDict(z=1, a=2)", kSetup);
  ASSERT_TRUE(decoded && expected);
  EXPECT_TRUE(test::same_value_and_type(decoded.get(), expected.get()));
}

TEST(WorkerCodecTest, UnpicklableInsideAWorkerIsNotShareable) {
  auto worker = test::create_or_fail();
  ASSERT_TRUE(worker);
  auto completion = worker->submit([]() -> Result<Value> {
    PyRef lock = test::eval("threading.Lock()", "import threading");
    if (!lock) return Status(StatusCode::kInternal, "eval failed");
    return encode(lock.get());
  });
  ASSERT_TRUE(completion->wait(30.0).ok());
  Result<Value> encoded = completion->take();
  ASSERT_FALSE(encoded.ok());
  EXPECT_EQ(encoded.status().code(), StatusCode::kNotShareable);
}

TEST(WorkerCodecTest, ReferenceResolvesInTheWorker) {
  auto worker = test::create_or_fail();
  ASSERT_TRUE(worker);
  Result<Value> result = worker->call(Value::Reference("math", "factorial"), Value::Tuple({Value::Int(25)}));
  ASSERT_TRUE(result.ok()) << result.status().message();
  ASSERT_EQ(result.value().kind(), Kind::kBigInt);
  MainGil gil;
  PyRef decoded = PyRef::steal(decode(result.value()));
  PyRef expected = test::eval("math.factorial(25)", kSetup);
  EXPECT_TRUE(test::same_value_and_type(decoded.get(), expected.get()));
}

}  // namespace
}  // namespace manycore
