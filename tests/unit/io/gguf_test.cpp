#include "kiln/io/gguf.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "io_test_util.h"
#include "kiln/ops/ops.h"

namespace kiln {
namespace {

using io::GgmlType;
using io::GgufArray;
using io::GgufFile;
using io::GgufMetadata;
using io::GgufTensorData;
using io::GgufType;
using io::GgufValue;
using test::expect_error;
using test::read_bytes;
using test::TempDir;
using test::write_bytes;

const std::filesystem::path kFixtures = std::filesystem::path(KILN_FIXTURES_DIR) / "gguf";

// ---- shared data (the same formulas as tests/tools/gguf_interop.py) ------------------

/// Multiples of 1/16 in [-3.125, 3.125]: exact in f32, f16 and bf16.
std::vector<float> values(int n) {
  std::vector<float> v;
  for (int i = 0; i < n; ++i) v.push_back(static_cast<float>((i * 37) % 101 - 50) / 16.0f);
  return v;
}

/// Irregular floats for quantization.
std::vector<float> wvalues(int n) {
  std::vector<float> v;
  for (int i = 0; i < n; ++i) v.push_back(static_cast<float>((i * 7919) % 2001 - 1000) / 333.0f);
  return v;
}

template <class T>
std::vector<std::byte> as_bytes(const std::vector<T>& v) {
  std::vector<std::byte> b(v.size() * sizeof(T));
  if (!b.empty()) std::memcpy(b.data(), v.data(), b.size());
  return b;
}

/// Owns the bytes behind a list of GgufTensorData.
struct TensorSet {
  std::vector<std::vector<std::byte>> buffers;
  std::vector<GgufTensorData> tensors;
  void add(const std::string& name, GgmlType type, const Shape& shape, std::vector<std::byte> data) {
    buffers.push_back(std::move(data));
    tensors.push_back({name, type, shape, {}});
  }
  const std::vector<GgufTensorData>& get() {
    for (std::size_t i = 0; i < tensors.size(); ++i) tensors[i].data = buffers[i];
    return tensors;
  }
};

std::vector<std::byte> encode(GgmlType t, const std::vector<float>& v) { return io::gguf_quantize(t, v); }

std::vector<std::byte> dequantized(GgmlType t, const std::vector<std::byte>& q, std::size_t n) {
  std::vector<float> out(n);
  io::gguf_dequantize(t, q, out);
  return as_bytes(out);
}

// What tests/tools/gguf_interop.py writes with gguf-py (write-gguf-py), in file order.
GgufMetadata gguf_py_metadata() {
  using A = GgufArray;
  return {
      {"general.architecture", "kiln-test"},
      {"general.alignment", std::uint32_t{64}},
      {"test.u8", std::uint8_t{200}},
      {"test.i8", std::int8_t{-100}},
      {"test.u16", std::uint16_t{60000}},
      {"test.i16", std::int16_t{-30000}},
      {"test.u32", std::uint32_t{4000000000u}},
      {"test.i32", std::int32_t{-2000000000}},
      {"test.f32", 0.1f},
      {"test.bool_true", true},
      {"test.bool_false", false},
      {"test.string", "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93"},
      {"test.empty_string", ""},
      {"test.u64", std::uint64_t{18000000000000000000u}},
      {"test.i64", std::int64_t{-9000000000000000000}},
      {"test.f64", 0.1},
      {"test.arr_u8", std::vector<std::uint8_t>{0, 1, 255}},
      {"test.arr_i32", std::vector<std::int32_t>{1, -2, 2147483647}},
      {"test.arr_f32", std::vector<float>{0.5f, -1.25f, 0.1f}},
      {"test.arr_bool", std::vector<bool>{true, false, true}},
      {"test.arr_str", std::vector<std::string>{"a", "", "\xc3\xbc"}},
      {"test.arr_nested", std::vector<A>{std::vector<std::int32_t>{1, 2}, std::vector<std::int32_t>{3},
                                         std::vector<std::string>{"x", "y"}}},
      {"test.arr_nested3", std::vector<A>{std::vector<A>{std::vector<float>{1.5f, 2.5f}},
                                          std::vector<A>{std::vector<float>{-1.0f}, std::vector<float>{0.25f}}}},
  };
}

TensorSet gguf_py_tensors() {
  TensorSet s;
  s.add("t.f32", GgmlType::f32, {2, 3, 4}, as_bytes(values(24)));
  s.add("t.f16", GgmlType::f16, {3, 5}, encode(GgmlType::f16, values(15)));
  s.add("t.bf16", GgmlType::bf16, {4, 8}, encode(GgmlType::bf16, values(32)));
  const auto q8 = encode(GgmlType::q8_0, wvalues(256));
  s.add("t.q8_0", GgmlType::q8_0, {4, 64}, q8);
  s.add("t.q8_0.dequant", GgmlType::f32, {4, 64}, dequantized(GgmlType::q8_0, q8, 256));
  const auto q4 = encode(GgmlType::q4_0, wvalues(192));
  s.add("t.q4_0", GgmlType::q4_0, {2, 96}, q4);
  s.add("t.q4_0.dequant", GgmlType::f32, {2, 96}, dequantized(GgmlType::q4_0, q4, 192));
  s.add("t.i32", GgmlType::i32, {5}, as_bytes(std::vector<std::int32_t>{-2, -1, 0, 1, 2147483647}));
  s.add("t.scalar", GgmlType::f32, {}, as_bytes(std::vector<float>{42.0f}));
  return s;
}

// What kiln writes for gguf_interop.py check-kiln: arrays of every type, in file order.
GgufMetadata kiln_metadata() {
  using A = GgufArray;
  constexpr float inf = std::numeric_limits<float>::infinity();
  return {
      {"general.architecture", "kiln-test"},
      {"k.u8", std::uint8_t{255}},
      {"k.i8", std::int8_t{-128}},
      {"k.u16", std::uint16_t{65535}},
      {"k.i16", std::int16_t{-32768}},
      {"k.u32", std::uint32_t{4294967295u}},
      {"k.i32", std::numeric_limits<std::int32_t>::min()},
      {"k.f32", -0.1f},
      {"k.bool", true},
      {"k.string", "kiln \xe2\x9c\x93"},
      {"k.u64", std::numeric_limits<std::uint64_t>::max()},
      {"k.i64", std::numeric_limits<std::int64_t>::min()},
      {"k.f64", 1e300},
      {"k.arr.u8", std::vector<std::uint8_t>{0, 7, 255}},
      {"k.arr.i8", std::vector<std::int8_t>{-128, 0, 127}},
      {"k.arr.u16", std::vector<std::uint16_t>{0, 65535}},
      {"k.arr.i16", std::vector<std::int16_t>{-32768, 32767}},
      {"k.arr.u32", std::vector<std::uint32_t>{0, 4294967295u}},
      {"k.arr.i32", std::vector<std::int32_t>{std::numeric_limits<std::int32_t>::min(), 2147483647}},
      {"k.arr.f32", std::vector<float>{0.5f, -0.1f, inf}},
      {"k.arr.bool", std::vector<bool>{true, false, true}},
      {"k.arr.string", std::vector<std::string>{"", "a", "\xe2\x9c\x93"}},
      {"k.arr.u64", std::vector<std::uint64_t>{0, std::numeric_limits<std::uint64_t>::max()}},
      {"k.arr.i64", std::vector<std::int64_t>{std::numeric_limits<std::int64_t>::min(),
                                              std::numeric_limits<std::int64_t>::max()}},
      {"k.arr.f64", std::vector<double>{-0.0, 1e-300}},
      {"k.arr.empty", std::vector<std::uint64_t>{}},
      {"k.arr.nested", std::vector<A>{std::vector<std::uint8_t>{1, 2}, std::vector<std::string>{"x"},
                                      std::vector<std::int32_t>{}}},
      {"k.arr.nested3", std::vector<A>{std::vector<A>{std::vector<double>{1.5}}, std::vector<A>{}}},
  };
}

TensorSet kiln_tensors() {
  TensorSet s;
  s.add("t.f32", GgmlType::f32, {2, 3, 4}, as_bytes(values(24)));
  s.add("t.f16", GgmlType::f16, {3, 5}, encode(GgmlType::f16, values(15)));
  s.add("t.bf16", GgmlType::bf16, {4, 8}, encode(GgmlType::bf16, values(32)));
  s.add("t.q8_0", GgmlType::q8_0, {4, 64}, encode(GgmlType::q8_0, wvalues(256)));
  s.add("t.q4_0", GgmlType::q4_0, {2, 96}, encode(GgmlType::q4_0, wvalues(192)));
  s.add("t.f64", GgmlType::f64, {3}, as_bytes(std::vector<double>{0.1, -2.5, 1e300}));
  s.add("t.i32", GgmlType::i32, {5}, as_bytes(std::vector<std::int32_t>{-2, -1, 0, 1, 2147483647}));
  s.add("t.i64", GgmlType::i64, {2, 2},
        as_bytes(std::vector<std::int64_t>{std::numeric_limits<std::int64_t>::min(), 0, 1,
                                           std::numeric_limits<std::int64_t>::max()}));
  s.add("t.scalar", GgmlType::f32, {}, as_bytes(std::vector<float>{42.0f}));
  return s;
}

std::vector<std::byte> to_vec(std::span<const std::byte> s) { return {s.begin(), s.end()}; }

/// Checks that `f` holds exactly `md` and `ts` (data included), laid out as gguf-py would.
void expect_contents(const GgufFile& f, const GgufMetadata& md, TensorSet& ts, std::uint32_t alignment) {
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), alignment);
  ASSERT_EQ(f.metadata().size(), md.size());
  for (std::size_t i = 0; i < md.size(); ++i) {
    EXPECT_EQ(f.metadata()[i].first, md[i].first);
    EXPECT_TRUE(f.metadata()[i].second == md[i].second) << md[i].first;
  }
  const auto& want = ts.get();
  ASSERT_EQ(f.tensors().size(), want.size());
  std::uint64_t offset = 0;
  EXPECT_EQ(f.header().data_offset % alignment, 0u);
  for (std::size_t i = 0; i < want.size(); ++i) {
    const auto& t = f.tensors()[i];
    EXPECT_EQ(t.name, want[i].name);
    EXPECT_EQ(t.type, want[i].type) << t.name;
    EXPECT_EQ(t.shape, want[i].shape) << t.name;
    EXPECT_EQ(t.offset, offset) << t.name;  // gguf-py packs tensors in order, each padded
    EXPECT_EQ(to_vec(f.bytes(t.name)), to_vec(want[i].data)) << t.name;
    offset += (t.nbytes + alignment - 1) / alignment * alignment;
  }
}

// ---- interop with gguf-py ----------------------------------------------------------

TEST(GgufInterop, ReadsTheGgufPyFixture) {
  const auto f = GgufFile::open(kFixtures / "gguf-py-all-types.gguf");
  auto ts = gguf_py_tensors();
  // Byte equality of t.q8_0 / t.q4_0 shows kiln quantizes exactly as gguf-py does,
  // and of t.*.dequant that it dequantizes exactly as gguf-py does.
  expect_contents(f, gguf_py_metadata(), ts, 64);

  EXPECT_EQ(f.get<std::string>("general.architecture"), "kiln-test");
  EXPECT_EQ(f.get<GgufArray>("test.arr_str").get<std::string>()[2], "\xc3\xbc");
  EXPECT_EQ(f.info("t.f32").ne, (std::vector<std::uint64_t>{4, 3, 2}));
  EXPECT_EQ(f.tensor("t.f32").to_vector<float>(), values(24));
  EXPECT_EQ(f.tensor("t.f16").to_vector<float>(), values(15));
  EXPECT_EQ(f.tensor("t.bf16").to_vector<float>(), values(32));
  EXPECT_EQ(f.tensor("t.i32").to_vector<std::int32_t>(), (std::vector<std::int32_t>{-2, -1, 0, 1, 2147483647}));
  EXPECT_EQ(f.tensor("t.scalar").shape(), Shape{});
  EXPECT_EQ(f.tensor("t.scalar").item(), 42.0);
  for (const char* q : {"t.q8_0", "t.q4_0"}) {
    const Tensor d = f.dequantize(q);
    EXPECT_EQ(d.shape(), f.info(q).shape);
    EXPECT_EQ(d.to_vector<float>(), f.tensor(std::string(q) + ".dequant").to_vector<float>()) << q;
  }
  EXPECT_EQ(f.dequantize("t.f16").to_vector<float>(), values(15));
}

TEST(GgufInterop, WriterReproducesTheGgufPyFixtureByteForByte) {
  TempDir dir;
  auto ts = gguf_py_tensors();
  io::write_gguf(dir / "same.gguf", gguf_py_metadata(), ts.get());
  EXPECT_EQ(read_bytes(dir / "same.gguf"), read_bytes(kFixtures / "gguf-py-all-types.gguf"));
}

TEST(GgufInterop, WriterReproducesTheKilnFixture) {
  // tests/fixtures/gguf/kiln-all-types.gguf is checked with gguf-py's reader by
  // `gguf_interop.py check-kiln`; set KILN_GGUF_FIXTURE_OUT to regenerate it.
  TempDir dir;
  auto ts = kiln_tensors();
  const auto path = dir / "kiln.gguf";
  io::write_gguf(path, kiln_metadata(), ts.get());
  if (const char* out = std::getenv("KILN_GGUF_FIXTURE_OUT")) std::filesystem::copy_file(path, out);
  EXPECT_EQ(read_bytes(path), read_bytes(kFixtures / "kiln-all-types.gguf"));
  auto ts2 = kiln_tensors();
  expect_contents(GgufFile::open(path), kiln_metadata(), ts2, 32);
}

// ---- reading -----------------------------------------------------------------------

TEST(Gguf, TensorsAreZeroCopyAndWritesDoNotReachTheFile) {
  TempDir dir;
  const auto path = dir / "w.gguf";
  io::save_gguf(path, {}, {{"w", Tensor::from_vector<float>({1, 2, 3}, {3})}});
  const std::string before = read_bytes(path);
  Tensor w;
  {
    const auto f = GgufFile::open(path);
    w = f.tensor("w");
    EXPECT_EQ(w.raw_data(), static_cast<const void*>(f.bytes("w").data()));
  }
  fill_(w, 7.0);  // private copy-on-write mapping
  EXPECT_EQ(w.to_vector<float>(), (std::vector<float>{7, 7, 7}));
  EXPECT_EQ(read_bytes(path), before);
}

TEST(Gguf, SaveGgufRoundTripsKilnTensors) {
  TempDir dir;
  const auto path = dir / "t.gguf";
  const Tensor a = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  const std::vector<std::pair<std::string, Tensor>> ts = {
      {"a", a.t()},  // non-contiguous: written contiguous
      {"h", a.to(DType::f16)},
      {"b", a.to(DType::bf16)},
      {"d", a.to(DType::f64)},
      {"i", a.to(DType::i32)},
      {"l", a.to(DType::i64)},
  };
  io::save_gguf(path, {{"general.name", "x"}}, ts);
  const auto f = GgufFile::open(path);
  for (const auto& [name, t] : ts) {
    const Tensor r = f.tensor(name);
    EXPECT_EQ(r.dtype(), t.dtype()) << name;
    EXPECT_EQ(r.shape(), t.shape()) << name;
    EXPECT_EQ(r.to_vector<double>(), t.to_vector<double>()) << name;
  }
  EXPECT_EQ(f.info("a").ne, (std::vector<std::uint64_t>{2, 3}));
  expect_error([&] { io::save_gguf(path, {}, {{"u", Tensor::zeros({2}, DType::u8)}}); }, {"t.gguf", "'u'", "u8"});
}

TEST(Gguf, SmallAlignmentCopiesMisalignedTensors) {
  TempDir dir;
  const auto path = dir / "a1.gguf";
  const auto one = as_bytes(std::vector<std::uint8_t>{9});
  const auto four = as_bytes(std::vector<float>{1.5f, -2.0f});
  const std::vector<GgufTensorData> ts = {{"b", GgmlType::i8, {1}, one}, {"f", GgmlType::f32, {2}, four}};
  io::write_gguf(path, {{"general.alignment", std::uint32_t{1}}}, ts);
  const auto f = GgufFile::open(path);
  EXPECT_EQ(f.alignment(), 1u);
  EXPECT_EQ(f.info("f").offset, 1u);
  EXPECT_EQ(f.tensor("f").to_vector<float>(), (std::vector<float>{1.5f, -2.0f}));
  expect_error([&] { f.tensor("b"); }, {"a1.gguf", "'b'", "i8", "no dtype"});
  expect_error([&] { f.dequantize("b"); }, {"a1.gguf", "'b'", "i8"});
}

TEST(Gguf, LookupErrorsNameFileKeyAndTypes) {
  TempDir dir;
  const auto path = dir / "k.gguf";
  auto ts = kiln_tensors();
  io::write_gguf(path, kiln_metadata(), ts.get());
  const auto f = GgufFile::open(path);
  EXPECT_TRUE(f.has("k.u8"));
  EXPECT_EQ(f.find("nope"), nullptr);
  EXPECT_EQ(f.get<std::uint8_t>("k.u8"), 255);
  EXPECT_EQ(f.at("k.arr.nested").get<GgufArray>().get<GgufArray>()[1].get<std::string>()[0], "x");
  expect_error([&] { f.at("nope"); }, {"k.gguf", "no metadata key 'nope'"});
  expect_error([&] { f.get<std::uint32_t>("k.u8"); }, {"k.gguf", "'k.u8'", "holds u8, not u32"});
  expect_error([&] { f.at("k.arr.u8").get<GgufArray>().get<float>(); }, {"array holds u8, not f32"});
  expect_error([&] { f.info("nope"); }, {"k.gguf", "no tensor named 'nope'"});
  expect_error([&] { f.tensor("t.q8_0"); }, {"k.gguf", "'t.q8_0'", "q8_0", "dequantize"});
  EXPECT_EQ(f.dequantize("t.q4_0").shape(), (Shape{2, 96}));
}

// ---- quantization ------------------------------------------------------------------

TEST(Gguf, Q8_0EncodesScaleAndRoundedValues) {
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f, x[1] = -63.5f, x[2] = 0.5f, x[3] = 1.49f;
  const auto q = io::gguf_quantize(GgmlType::q8_0, x);
  ASSERT_EQ(q.size(), io::kQ8_0BlockBytes);
  std::uint16_t d = 0;
  std::memcpy(&d, q.data(), 2);
  EXPECT_EQ(d, 0x3c00);  // f16 1.0
  EXPECT_EQ(static_cast<std::int8_t>(q[2]), 127);
  EXPECT_EQ(static_cast<std::int8_t>(q[3]), -64);  // half rounds away from zero
  EXPECT_EQ(static_cast<std::int8_t>(q[4]), 1);
  EXPECT_EQ(static_cast<std::int8_t>(q[5]), 1);
  std::vector<float> back(32);
  io::gguf_dequantize(GgmlType::q8_0, q, back);
  EXPECT_EQ(back[0], 127.0f);
  EXPECT_EQ(back[1], -64.0f);
  EXPECT_EQ(back[31], 0.0f);
}

TEST(Gguf, Q4_0PacksNibblesLowFirstHalfHighSecondHalf) {
  std::vector<float> x(32, 0.0f);
  x[0] = -8.0f;   // largest magnitude: d = -8 / -8 = 1
  x[16] = 7.0f;   // high nibble of byte 0
  x[1] = 3.0f;
  const auto q = io::gguf_quantize(GgmlType::q4_0, x);
  ASSERT_EQ(q.size(), io::kQ4_0BlockBytes);
  EXPECT_EQ(std::to_integer<int>(q[2]), 0 | (15 << 4));  // -8 + 8 = 0; 7 + 8 = 15
  EXPECT_EQ(std::to_integer<int>(q[3]), 11 | (8 << 4));
  std::vector<float> back(32);
  io::gguf_dequantize(GgmlType::q4_0, q, back);
  EXPECT_EQ(back[0], -8.0f);
  EXPECT_EQ(back[16], 7.0f);
  EXPECT_EQ(back[1], 3.0f);
  EXPECT_EQ(back[2], 0.0f);
}

TEST(Gguf, QuantizationChecksSizes) {
  std::vector<float> x(33);
  expect_error([&] { io::gguf_quantize(GgmlType::q8_0, x); }, {"gguf_quantize", "33", "q8_0", "32"});
  expect_error([&] { io::gguf_quantize(GgmlType::q6_k, std::vector<float>(256)); }, {"q6_K", "does not encode"});
  std::vector<std::byte> q(34);
  std::vector<float> out(64);
  expect_error([&] { io::gguf_dequantize(GgmlType::q8_0, q, out); }, {"gguf_dequantize", "64", "34"});
  std::vector<float> out2(256);
  std::vector<std::byte> q6(210);
  expect_error([&] { io::gguf_dequantize(GgmlType::q6_k, q6, out2); }, {"q6_K", "does not decode"});
}

// ---- malformed files: one test per class, each names the file and the problem ----------

/// Little-endian GGUF bytes, built field by field.
struct Bytes {
  std::string s;
  Bytes& u8(std::uint8_t v) { return raw(&v, 1); }
  Bytes& u32(std::uint32_t v) { return raw(&v, 4); }
  Bytes& u64(std::uint64_t v) { return raw(&v, 8); }
  Bytes& str(const std::string& v) { return u64(v.size()).raw(v.data(), v.size()); }
  Bytes& raw(const void* p, std::size_t n) {
    s.append(static_cast<const char*>(p), n);
    return *this;
  }
  Bytes& header(std::uint64_t n_tensors, std::uint64_t n_kv, std::uint32_t version = 3) {
    s += "GGUF";
    return u32(version).u64(n_tensors).u64(n_kv);
  }
  /// A tensor info: name, ne (ggml order), type, offset.
  Bytes& tensor(const std::string& name, std::vector<std::uint64_t> ne, std::uint32_t type, std::uint64_t offset) {
    str(name).u32(static_cast<std::uint32_t>(ne.size()));
    for (auto d : ne) u64(d);
    return u32(type).u64(offset);
  }
  Bytes& pad(std::size_t align = 32) {
    s.append((align - s.size() % align) % align, '\0');
    return *this;
  }
  Bytes& zeros(std::size_t n) {
    s.append(n, '\0');
    return *this;
  }
};

class GgufMalformed : public ::testing::Test {
 protected:
  /// Expects the file to be refused with a message holding `parts`; returns the message.
  std::string expect_rejected(const Bytes& b, std::initializer_list<std::string> parts) {
    write_bytes(dir_ / "bad.gguf", b.s);
    std::vector<std::string> all{"GGUF file '" + (dir_ / "bad.gguf").string() + "': "};
    all.insert(all.end(), parts.begin(), parts.end());
    try {
      GgufFile::open(dir_ / "bad.gguf");
      ADD_FAILURE() << "expected a kiln::Error containing '" << *parts.begin() << "'";
    } catch (const Error& e) {
      const std::string msg = e.what();
      for (const auto& p : all) EXPECT_NE(msg.find(p), std::string::npos) << "message '" << msg << "' lacks '" << p << "'";
      return msg;
    }
    return "";
  }
  TempDir dir_;
};

constexpr std::uint32_t kF32 = 0, kQ8_0 = 8, kQ4_0 = 2;

TEST_F(GgufMalformed, BadMagic) {
  Bytes b;
  b.s = "GGML";
  b.u32(3).u64(0).u64(0);
  expect_rejected(b, {"bad magic", "47 47 4d 4c", "not a GGUF file"});
}

TEST_F(GgufMalformed, WrongVersion) {
  expect_rejected(Bytes().header(0, 0, 1), {"unsupported GGUF version 1"});
  expect_rejected(Bytes().header(0, 0, 4), {"unsupported GGUF version 4"});
  expect_rejected(Bytes().header(0, 0, 0x03000000), {"big-endian"});
}

TEST_F(GgufMalformed, TruncatedHeader) {
  Bytes b;
  b.s = "GG";
  expect_rejected(b, {"truncated", "too short for the magic"});
  Bytes c = Bytes().header(0, 0);
  c.s.resize(12);
  expect_rejected(c, {"truncated", "tensor count", "offset 8"});
}

TEST_F(GgufMalformed, EveryPrefixOfAValidFileFailsCleanly) {
  auto ts = kiln_tensors();
  io::write_gguf(dir_ / "full.gguf", kiln_metadata(), ts.get());
  const std::string full = read_bytes(dir_ / "full.gguf");
  const auto f = GgufFile::open(dir_ / "full.gguf");
  const auto& last = f.tensors().back();
  const std::size_t needed = f.header().data_offset + last.offset + last.nbytes;  // trailing padding is optional
  for (std::size_t n = 0; n < full.size(); ++n) {
    write_bytes(dir_ / "cut.gguf", full.substr(0, n));
    if (n >= needed) {
      EXPECT_NO_THROW(GgufFile::open(dir_ / "cut.gguf")) << n;
      continue;
    }
    try {
      GgufFile::open(dir_ / "cut.gguf");
      ADD_FAILURE() << "prefix of " << n << " bytes was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("cut.gguf"), std::string::npos) << e.what();
    }
  }
}

TEST_F(GgufMalformed, HugeTensorCount) {
  expect_rejected(Bytes().header(std::uint64_t{1} << 60, 0).zeros(100), {"tensor count 1152921504606846976", "cannot fit"});
  expect_rejected(Bytes().header(~std::uint64_t{0}, 0), {"tensor count", "cannot fit"});
  // Each count fits alone, but not both together.
  expect_rejected(Bytes().header(4, 7).zeros(100), {"tensor count 4 and metadata count 7", "cannot both fit"});
}

TEST_F(GgufMalformed, HugeMetadataCount) {
  expect_rejected(Bytes().header(0, ~std::uint64_t{0}).zeros(64), {"metadata key/value count", "cannot fit"});
}

TEST_F(GgufMalformed, HugeStringLength) {
  // As a key, as a string value, and as a tensor name; never allocated.
  expect_rejected(Bytes().header(0, 1).u64(~std::uint64_t{0}).zeros(16),
                  {"metadata key #0", "string length 18446744073709551615", "past the end"});
  expect_rejected(Bytes().header(0, 1).str("k").u32(8).u64(std::uint64_t{1} << 40).zeros(8),
                  {"metadata key 'k'", "string length 1099511627776", "past the end"});
  expect_rejected(Bytes().header(1, 0).u64(1000).zeros(30), {"name of tensor #0", "string length 1000"});
}

TEST_F(GgufMalformed, HugeArrayLength) {
  // n x 8 bytes would wrap around 2^64 if multiplied unchecked.
  expect_rejected(Bytes().header(0, 1).str("a").u32(9).u32(10).u64((std::uint64_t{1} << 61) + 1).zeros(16),
                  {"metadata key 'a'", "array length 2305843009213693953", "u64", "past the end"});
  expect_rejected(Bytes().header(0, 1).str("s").u32(9).u32(8).u64(3).str("x").zeros(4),
                  {"metadata key 's'", "array length 3", "string"});
  // A nested array's length is checked too.
  expect_rejected(Bytes().header(0, 1).str("n").u32(9).u32(9).u64(1).u32(0).u64(1000).zeros(8),
                  {"metadata key 'n'[0]", "array length 1000"});
}

TEST_F(GgufMalformed, DimensionProductOverflow) {
  const std::uint64_t big = std::uint64_t{1} << 32;
  expect_rejected(Bytes().header(1, 0).tensor("w", {big, big}, kF32, 0).pad().zeros(64),
                  {"tensor 'w'", "[4294967296, 4294967296]", "overflow"});
  // Zero elements, but the other dimensions still overflow.
  expect_rejected(Bytes().header(1, 0).tensor("z", {0, big, big}, kF32, 0).pad(), {"tensor 'z'", "overflow"});
  // The element count fits, the byte count does not.
  expect_rejected(Bytes().header(1, 0).tensor("b", {std::uint64_t{1} << 62}, kF32, 0).pad(),
                  {"tensor 'b'", "overflows its byte size"});
  expect_rejected(Bytes().header(1, 0).tensor("n", {~std::uint64_t{0}}, kF32, 0).pad(),
                  {"tensor 'n' dimension 0", "more than int64"});
}

TEST_F(GgufMalformed, TooManyDimensions) {
  expect_rejected(Bytes().header(1, 0).tensor("w", {1, 1, 1, 1, 1}, kF32, 0).pad().zeros(4),
                  {"tensor 'w' has 5 dimensions", "at most 4"});
}

TEST_F(GgufMalformed, OffsetPastTheEnd) {
  expect_rejected(Bytes().header(1, 0).tensor("w", {4}, kF32, 32).pad().zeros(32), {"tensor 'w'", "past the end"});
  expect_rejected(Bytes().header(1, 0).tensor("w", {4}, kF32, 0).pad().zeros(15), {"tensor 'w'", "past the end"});
  // offset + size wraps around 2^64 if added unchecked.
  expect_rejected(Bytes().header(1, 0).tensor("w", {8}, kF32, ~std::uint64_t{31}).pad().zeros(32),
                  {"tensor 'w'", "past the end"});
  // The data section itself starts past the end of the file.
  Bytes b = Bytes().header(1, 0).tensor("w", {0}, kF32, 0);
  expect_rejected(b, {"truncated", "data section should start at 64"});
}

TEST_F(GgufMalformed, MisalignedOffset) {
  expect_rejected(Bytes().header(1, 0).tensor("w", {4}, kF32, 4).pad().zeros(64),
                  {"tensor 'w' data offset 4 is misaligned", "alignment 32"});
}

TEST_F(GgufMalformed, OverlappingTensors) {
  expect_rejected(Bytes().header(2, 0).tensor("a", {16}, kF32, 0).tensor("b", {4}, kF32, 32).pad().zeros(64),
                  {"tensor 'b'", "overlaps tensor 'a'"});
}

TEST_F(GgufMalformed, DuplicateNames) {
  expect_rejected(Bytes().header(2, 0).tensor("w", {4}, kF32, 0).tensor("w", {4}, kF32, 32).pad().zeros(64),
                  {"tensor name 'w' appears twice"});
  expect_rejected(Bytes().header(0, 2).str("k").u32(0).u8(1).str("k").u32(0).u8(2),
                  {"metadata key 'k' appears twice"});
}

TEST_F(GgufMalformed, UnknownTypes) {
  expect_rejected(Bytes().header(1, 0).tensor("w", {4}, 4, 0).pad().zeros(32), {"tensor 'w'", "unknown ggml type 4"});
  expect_rejected(Bytes().header(1, 0).tensor("w", {4}, 1000, 0).pad().zeros(32), {"unknown ggml type 1000"});
  expect_rejected(Bytes().header(0, 1).str("k").u32(13).u8(0), {"metadata key 'k'", "unknown value type 13"});
  expect_rejected(Bytes().header(0, 1).str("k").u32(9).u32(77).u64(0), {"metadata key 'k'", "unknown value type 77"});
}

TEST_F(GgufMalformed, QuantizedRowNotAMultipleOf32) {
  expect_rejected(Bytes().header(1, 0).tensor("q", {48, 2}, kQ8_0, 0).pad().zeros(128),
                  {"tensor 'q' of type q8_0", "rows of 48", "block size 32"});
  expect_rejected(Bytes().header(1, 0).tensor("q", {16}, kQ4_0, 0).pad().zeros(32), {"q4_0", "rows of 16"});
  expect_rejected(Bytes().header(1, 0).tensor("q", {}, kQ4_0, 0).pad().zeros(32), {"q4_0", "rows of 1 "});
}

TEST_F(GgufMalformed, BadAlignment) {
  expect_rejected(Bytes().header(0, 1).str("general.alignment").u32(4).u32(48), {"general.alignment 48", "power of two"});
  expect_rejected(Bytes().header(0, 1).str("general.alignment").u32(4).u32(0), {"general.alignment 0"});
  expect_rejected(Bytes().header(0, 1).str("general.alignment").u32(10).u64(32), {"general.alignment must be a u32, not u64"});
}

TEST_F(GgufMalformed, BadBoolAndDeepNesting) {
  expect_rejected(Bytes().header(0, 1).str("b").u32(7).u8(2), {"metadata key 'b'", "bool byte 2"});
  Bytes deep = Bytes().header(0, 1).str("d").u32(9);
  for (int i = 0; i < 100; ++i) deep.u32(9).u64(1);
  expect_rejected(deep.zeros(16), {"metadata key 'd'", "nested more than 64 deep"});
}

TEST_F(GgufMalformed, ValidEdgeCasesAreAccepted) {
  // No tensors and no padding after the header; zero-size and 0-d tensors.
  write_bytes(dir_ / "empty.gguf", Bytes().header(0, 0).s);
  EXPECT_TRUE(GgufFile::open(dir_ / "empty.gguf").tensors().empty());
  write_bytes(dir_ / "zero.gguf",
              Bytes().header(3, 0).tensor("z", {0, 5}, kF32, 0).tensor("y", {0}, kQ8_0, 0).tensor("s", {}, kF32, 0)
                  .pad().zeros(4).s);
  const auto f = GgufFile::open(dir_ / "zero.gguf");
  EXPECT_EQ(f.tensor("z").shape(), (Shape{5, 0}));
  EXPECT_EQ(f.tensor("s").shape(), Shape{});
  EXPECT_EQ(f.dequantize("y").numel(), 0);
}

// ---- names from the file: UTF-8 only, escaped wherever a message quotes them ---------

TEST_F(GgufMalformed, KeysAndTensorNamesThatAreNotUtf8AreRefusedShowingTheBytes) {
  std::string msg = expect_rejected(Bytes().header(0, 1).str("general.\xffname").u32(8).str("x"),
                                    {"metadata key #0 'general.\\xffname' is not valid UTF-8"});
  test::expect_terminal_safe(msg);
  msg = expect_rejected(Bytes().header(1, 0).tensor("w\xc0\xaf", {4}, kF32, 0).pad().zeros(16),
                        {"the name of tensor #0 'w\\xc0\\xaf' is not valid UTF-8"});
  test::expect_terminal_safe(msg);
  // Truncated in the middle of a character, after valid ones.
  expect_rejected(Bytes().header(0, 1).str("\xe4\xb8\xad\xe4\xb8").u32(0).u8(1),
                  {"metadata key #0 '\xe4\xb8\xad\\xe4\\xb8'", "not valid UTF-8"});
}

TEST(Gguf, StringValuesMayHoldAnyBytes) {
  // Tokens of byte-level vocabularies need not be UTF-8: values are read as they are.
  TempDir dir;
  const std::vector<std::string> tokens = {"\xff", "\xe4\xb8", std::string("\0\x1b[2J", 5), "\xc2\x9b"};
  Bytes b = Bytes().header(0, 2).str("tokenizer.ggml.tokens").u32(9).u32(8).u64(tokens.size());
  for (const auto& t : tokens) b.str(t);
  b.str("general.name").u32(8).str("\xc0\xaf");
  write_bytes(dir / "tokens.gguf", b.s);
  const auto f = GgufFile::open(dir / "tokens.gguf");
  EXPECT_EQ(f.at("tokenizer.ggml.tokens").get<GgufArray>().get<std::string>(), tokens);
  EXPECT_EQ(f.get<std::string>("general.name"), "\xc0\xaf");
}

TEST_F(GgufMalformed, ControlCharactersInNamesAreKeptButEscapedInMessages) {
  // An OSC title sequence, a C1 CSI (U+009B) and a right-to-left override (U+202E):
  // valid UTF-8, so accepted, but never printed raw.
  const std::string name = "w\x1b]0;pwned\x07\xc2\x9b\xe2\x80\xae";
  const std::string shown = "'w\\x1b]0;pwned\\x07\\u{9b}\\u{202e}'";
  std::vector<std::string> messages;
  messages.push_back(expect_rejected(
      Bytes().header(2, 0).tensor(name, {4}, kF32, 0).tensor(name, {4}, kF32, 32).pad().zeros(64),
      {"tensor name " + shown + " appears twice"}));
  messages.push_back(expect_rejected(Bytes().header(0, 2).str(name).u32(0).u8(1).str(name).u32(0).u8(2),
                                     {"metadata key " + shown + " appears twice"}));
  messages.push_back(expect_rejected(Bytes().header(0, 1).str(name).u32(13).u8(0),
                                     {"metadata key " + shown, "unknown value type 13"}));
  messages.push_back(expect_rejected(Bytes().header(0, 1).str(name).u32(9).u32(9).u64(1).u32(0).u64(1000).zeros(8),
                                     {"metadata key " + shown + "[0]", "array length 1000"}));
  messages.push_back(expect_rejected(Bytes().header(1, 0).tensor(name, {4}, kF32, 4).pad().zeros(64),
                                     {"tensor " + shown + " data offset 4 is misaligned"}));
  messages.push_back(expect_rejected(
      Bytes().header(2, 0).tensor("a", {16}, kF32, 0).tensor(name, {4}, kF32, 32).pad().zeros(64),
      {"tensor " + shown + " data at offset 32 overlaps tensor 'a'"}));
  for (const auto& m : messages) test::expect_terminal_safe(m);

  // A valid file with that name: read as it is; lookups and conversions escape it.
  auto q = encode(GgmlType::q8_0, values(32));
  io::write_gguf(dir_ / "ok.gguf", {{name, std::uint32_t{1}}}, {{name, GgmlType::q8_0, {32}, q}});
  const auto f = GgufFile::open(dir_ / "ok.gguf");
  EXPECT_EQ(f.tensors()[0].name, name);
  EXPECT_EQ(f.metadata()[0].first, name);
  for (const auto& m : {test::error_message([&] { f.tensor(name); }), test::error_message([&] { f.info("\x1b[2J"); })}) {
    test::expect_terminal_safe(m);
  }
  expect_error([&] { f.tensor(name); }, {"tensor " + shown + " has ggml type q8_0"});
  expect_error([&] { f.info("\x1b[2J"); }, {"no tensor named '\\x1b[2J'"});
}

// ---- writer errors -------------------------------------------------------------------

TEST(GgufWriter, RejectsBadInput) {
  TempDir dir;
  const auto path = dir / "w.gguf";
  const auto four = as_bytes(std::vector<float>{1, 2, 3, 4});
  const auto w = [&](const GgufMetadata& md, const std::vector<GgufTensorData>& ts) { io::write_gguf(path, md, ts); };
  expect_error([&] { w({{"k", true}, {"k", false}}, {}); }, {"w.gguf", "metadata key 'k' given twice"});
  expect_error([&] { w({{"general.alignment", std::uint32_t{3}}}, {}); }, {"w.gguf", "not a power of two"});
  expect_error([&] { w({{"general.alignment", std::int32_t{32}}}, {}); }, {"must be a u32, not i32"});
  expect_error([&] { w({}, {{"a", GgmlType::f32, {4}, four}, {"a", GgmlType::f32, {4}, four}}); },
               {"tensor name 'a' given twice"});
  expect_error([&] { w({}, {{std::string(64, 'n'), GgmlType::f32, {4}, four}}); }, {"64 bytes", "llama.cpp"});
  expect_error([&] { w({}, {{"a", GgmlType::f32, {1, 1, 1, 2, 2}, four}}); }, {"'a' has 5 dimensions"});
  expect_error([&] { w({}, {{"a", GgmlType::f32, {5}, four}}); }, {"'a'", "needs 20 bytes of data, got 16"});
  expect_error([&] { w({}, {{"q", GgmlType::q8_0, {1, 16}, four}}); }, {"'q' of type q8_0", "rows of 16"});
  expect_error([&] { w({}, {{"a", GgmlType::f32, {-4}, four}}); }, {"negative dimension"});
  // The reader refuses keys and names that are not UTF-8, so the writer does too.
  expect_error([&] { w({{"k\xff", true}}, {}); }, {"w.gguf", "metadata key 'k\\xff' is not valid UTF-8"});
  expect_error([&] { w({}, {{"a\xc0", GgmlType::f32, {4}, four}}); }, {"tensor name 'a\\xc0' is not valid UTF-8"});
  EXPECT_FALSE(std::filesystem::exists(path));
  // Nothing but the target is left in the directory after a successful write.
  w({}, {{"a", GgmlType::f32, {2, 2}, four}});
  w({{"general.alignment", std::uint32_t{8192}}}, {{"a", GgmlType::f32, {2, 2}, four}});
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator()), 1);
  const auto f = GgufFile::open(path);
  EXPECT_EQ(f.header().data_offset, 8192u);
  EXPECT_EQ(read_bytes(path).size(), 16384u);
}

}  // namespace
}  // namespace kiln
