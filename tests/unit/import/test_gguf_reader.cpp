// The GGUF reader on valid files and on every kind of broken one: each must parse correctly or
// throw Error("gguf", "<file>: ...") -- never crash or read outside the buffer (run under ASan).
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "gguf_builder.h"
#include "store/import/gguf.h"
#include "util/error.h"

namespace ollmlx::test {
namespace {

using gguf::Header;
using gguf::ValueType;

std::string small_file(GgufBuilder::Layout* layout = nullptr, uint32_t alignment = 0) {
  GgufBuilder g;
  g.str("general.architecture", "llama");
  g.u32("llama.block_count", 1);
  g.strs("tokenizer.ggml.tokens", {"a", "b", "c"});
  g.i32s("tokenizer.ggml.token_type", {1, 1, 3});
  g.f32s("some.floats", {1.5f, -2.0f});
  g.tensor("a.weight", {32, 2}, 8, std::string(2 * 34, '\x01'));  // Q8_0, 2 rows
  g.tensor("b.weight", {4}, 0, std::string(16, '\x02'));          // F32
  return g.build(3, alignment, layout);
}

Header parse(const std::string& bytes, const std::string& name = "test.gguf") {
  return gguf::parse(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), name);
}

// The parse fails with an Error whose message names the file and contains `what`.
void expect_error(const std::string& bytes, const std::string& what) {
  try {
    parse(bytes, "bad.gguf");
    ADD_FAILURE() << "no error; expected: " << what;
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.rfind("[gguf] bad.gguf: ", 0), 0u) << m;
    EXPECT_NE(m.find(what), std::string::npos) << "message: " << m << "\nexpected: " << what;
  }
}

template <typename T>
void poke(std::string& s, size_t at, T v) {
  ASSERT_LE(at + sizeof(T), s.size());
  std::memcpy(s.data() + at, &v, sizeof(T));
}

TEST(GgufReader, ParsesMetadataAndTensors) {
  GgufBuilder::Layout l;
  const std::string bytes = small_file(&l);
  const Header h = parse(bytes);
  EXPECT_EQ(h.version, 3u);
  EXPECT_EQ(h.alignment, 32u);
  ASSERT_EQ(h.kv.size(), 5u);
  EXPECT_EQ(h.find("general.architecture")->s, "llama");
  EXPECT_EQ(h.find("llama.block_count")->type, ValueType::U32);
  EXPECT_EQ(h.find("llama.block_count")->i, 1);
  EXPECT_EQ(h.find("tokenizer.ggml.tokens")->strings, (std::vector<std::string_view>{"a", "b", "c"}));
  EXPECT_EQ(h.find("tokenizer.ggml.token_type")->numbers, (std::vector<double>{1, 1, 3}));
  EXPECT_EQ(h.find("some.floats")->numbers, (std::vector<double>{1.5, -2.0}));
  EXPECT_EQ(h.find("missing"), nullptr);
  ASSERT_EQ(h.tensors.size(), 2u);
  const gguf::TensorInfo* a = h.tensor("a.weight");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->ne, (std::vector<int64_t>{32, 2}));
  EXPECT_EQ(a->hf_shape(), (std::vector<int64_t>{2, 32}));
  EXPECT_EQ(a->nbytes, 68u);
  EXPECT_EQ(a->elements, 64);
  EXPECT_EQ(gguf::type_name(a->type), "Q8_0");
  EXPECT_EQ(h.data_start, l.data_start);
  EXPECT_EQ(a->data, reinterpret_cast<const uint8_t*>(bytes.data()) + l.data_start);
  const gguf::TensorInfo* b = h.tensor("b.weight");
  EXPECT_EQ(b->offset, 96u);  // 68 rounded up to the alignment
  EXPECT_EQ(b->data[0], 2);
}

TEST(GgufReader, EveryValueType) {
  GgufBuilder g;
  auto raw = [&](const char* key, uint32_t type, std::string bytes) { g.raw(key, type, std::move(bytes)); };
  raw("u8", 0, std::string("\xff", 1));
  raw("i8", 1, std::string("\xff", 1));
  raw("u16", 2, std::string("\xff\xff", 2));
  raw("i16", 3, std::string("\xfe\xff", 2));
  g.u32("u32", 4000000000u);
  g.i32("i32", -5);
  g.f32("f32", 0.25f);
  g.boolean("bool", true);
  g.str("string", "héllo");
  g.u64("u64", 1ull << 40);
  raw("i64", 11, std::string("\xfd\xff\xff\xff\xff\xff\xff\xff", 8));
  double d = 3.5;
  raw("f64", 12, std::string(reinterpret_cast<const char*>(&d), 8));
  const Header h = parse(g.build());
  EXPECT_EQ(h.find("u8")->i, 255);
  EXPECT_EQ(h.find("i8")->i, -1);
  EXPECT_EQ(h.find("u16")->i, 65535);
  EXPECT_EQ(h.find("i16")->i, -2);
  EXPECT_EQ(h.find("u32")->i, 4000000000);
  EXPECT_EQ(h.find("i32")->i, -5);
  EXPECT_EQ(h.find("f32")->f, 0.25);
  EXPECT_TRUE(h.find("f32")->is_number());
  EXPECT_FALSE(h.find("f32")->is_integer());
  EXPECT_EQ(h.find("bool")->i, 1);
  EXPECT_EQ(h.find("string")->s, "héllo");
  EXPECT_EQ(h.find("u64")->i, int64_t{1} << 40);
  EXPECT_EQ(h.find("i64")->i, -3);
  EXPECT_EQ(h.find("f64")->f, 3.5);
}

TEST(GgufReader, VersionTwoAndCustomAlignment) {
  const Header v2 = parse(small_file(nullptr) .replace(4, 4, std::string("\x02\0\0\0", 4)));
  EXPECT_EQ(v2.version, 2u);
  GgufBuilder::Layout l;
  const std::string bytes = small_file(&l, 64);
  const Header h = parse(bytes);
  EXPECT_EQ(h.alignment, 64u);
  EXPECT_EQ(h.data_start % 64, 0u);
  EXPECT_EQ(h.tensor("b.weight")->offset, 128u);
}

TEST(GgufReader, RejectsBadHeaders) {
  const std::string good = small_file();
  expect_error("", "not a GGUF file");
  expect_error("GGU", "not a GGUF file");
  expect_error("GGUX" + good.substr(4), "not a GGUF file (bad magic 'GGUX')");
  expect_error(good.substr(0, 10), "truncated file");
  std::string s = good;
  poke<uint32_t>(s, 4, 0);
  expect_error(s, "invalid GGUF version 0");
  poke<uint32_t>(s, 4, 1);
  expect_error(s, "version 1 is no longer supported");
  poke<uint32_t>(s, 4, 4);
  expect_error(s, "unsupported GGUF version 4");
  poke<uint32_t>(s, 4, 0x03000000);
  expect_error(s, "big-endian");
  s = good;
  poke<uint64_t>(s, 8, ~0ull);
  expect_error(s, "negative tensor or metadata count");
  poke<uint64_t>(s, 8, 1ull << 40);
  expect_error(s, "tensors do not fit");
  s = good;
  poke<uint64_t>(s, 16, 1ull << 40);
  expect_error(s, "metadata entries do not fit");
}

TEST(GgufReader, RejectsBadMetadata) {
  GgufBuilder::Layout l;
  const std::string good = small_file(&l);
  std::string s = good;
  poke<uint64_t>(s, l.kv[0], 1ull << 50);  // key length
  expect_error(s, "truncated file: metadata key needs");
  s = good;
  poke<uint64_t>(s, l.kv[0], 0);
  expect_error(s, "");  // an empty key, then garbage: some error
  {
    GgufBuilder g;
    g.raw("", 4, std::string(4, '\0'));
    expect_error(g.build(), "empty key");
  }
  {
    GgufBuilder g;
    g.u32("x", 1);
    g.u32("x", 2);
    expect_error(g.build(), "duplicate metadata key 'x'");
  }
  {
    GgufBuilder g;
    g.raw("x", 13, "");
    expect_error(g.build(), "key 'x': invalid value type 13");
  }
  {
    GgufBuilder g;
    std::string arr;
    arr.append("\x09\0\0\0", 4);        // nested array
    arr.append("\x01\0\0\0\0\0\0\0", 8);
    g.raw("x", 9, arr);
    expect_error(g.build(), "nested arrays are not supported");
  }
  {
    GgufBuilder g;
    std::string arr("\x04\0\0\0", 4);  // u32 elements
    uint64_t n = 1ull << 61;
    arr.append(reinterpret_cast<const char*>(&n), 8);
    g.raw("x", 9, arr);
    expect_error(g.build(), "array of 2305843009213693952 elements does not fit");
  }
  {
    GgufBuilder g;
    std::string arr("\x08\0\0\0", 4);  // strings
    uint64_t n = 1ull << 59;
    arr.append(reinterpret_cast<const char*>(&n), 8);
    g.raw("x", 9, arr);
    expect_error(g.build(), "array of 576460752303423488 strings does not fit");
  }
  {
    GgufBuilder g;
    g.raw("x\x01", 14, "");
    expect_error(g.build(), "key 'x\\x01': invalid value type 14");  // control bytes escaped
  }
}

TEST(GgufReader, RejectsBadTensors) {
  auto with_tensor = [](const std::string& name, std::vector<int64_t> ne, uint32_t type, size_t bytes,
                        uint32_t alignment = 0) {
    GgufBuilder g;
    g.tensor(name, ne, type, std::string(bytes, '\0'));
    return g.build(3, alignment);
  };
  expect_error(with_tensor(std::string(64, 'n'), {4}, 0, 16), "is too long (64 bytes, at most 63)");
  EXPECT_NO_THROW(parse(with_tensor(std::string(63, 'n'), {4}, 0, 16)));
  expect_error(with_tensor("t", {1, 1, 1, 1, 1}, 0, 4), "has 5 dimensions (at most 4)");
  expect_error(with_tensor("t", {-4}, 0, 16), "negative dimension -4");
  expect_error(with_tensor("t", {1ll << 40, 1ll << 40}, 0, 16), "element count overflows");
  expect_error(with_tensor("t", {4}, 4, 16), "unknown or removed ggml type 4");
  expect_error(with_tensor("t", {4}, 31, 16), "unknown or removed ggml type 31");
  expect_error(with_tensor("t", {4}, 1000, 16), "unknown or removed ggml type 1000");
  expect_error(with_tensor("t", {48}, 2, 18), "row of 48 elements is not a multiple of the Q4_0 block size 32");
  expect_error(with_tensor("t", {256}, 12, 100), "extends past the end of the file");
  expect_error(with_tensor("t", {1ll << 61, 2}, 28, 16), "byte size overflows");  // F64
  {
    GgufBuilder g;
    g.tensor("t", {4}, 0, std::string(16, '\0'));
    g.tensor("t", {4}, 0, std::string(16, '\0'));
    expect_error(g.build(), "duplicate tensor name 't'");
  }
  {
    GgufBuilder::Layout l;
    GgufBuilder g;
    g.tensor("t", {4}, 0, std::string(16, '\0'));
    std::string s = g.build(3, 0, &l);
    // The offset field is the last 8 bytes of the record: name (8+1) dims (4) ne (8) type (4).
    poke<uint64_t>(s, l.tensor_records[0] + 9 + 4 + 8 + 4, 8);
    expect_error(s, "data offset 8 is not a multiple of the alignment 32");
    poke<uint64_t>(s, l.tensor_records[0] + 9 + 4 + 8 + 4, ~0ull - 31);
    expect_error(s, "extends past the end of the file");
  }
  {
    GgufBuilder g;
    g.u64("general.alignment", 64);
    expect_error(g.build(), "general.alignment must be a u32, not u64");
  }
  for (uint32_t bad : {0u, 3u, 48u}) {
    GgufBuilder g;
    g.u32("general.alignment", bad);
    expect_error(g.build(), "is not a non-zero power of two");
  }
}

// Every truncation of a valid file is an error (or, once the tensors are dropped entirely, a
// valid file), never a crash.
TEST(GgufReader, EveryTruncation) {
  const std::string good = small_file();
  for (size_t n = 0; n < good.size(); ++n) {
    try {
      const Header h = parse(good.substr(0, n));
      for (const auto& t : h.tensors) ASSERT_LE(h.data_start + t.offset + t.nbytes, n);
    } catch (const Error&) {
    }
  }
}

// Random byte mutations: the parser returns tensors inside the buffer or throws Error.
TEST(GgufReader, RandomMutations) {
  GgufBuilder::Layout l;
  const std::string good = small_file(&l);
  std::mt19937 rng(42);
  int parsed = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string s = good;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % s.size();
      switch (rng() % 4) {
        case 0: s[at] = static_cast<char>(rng()); break;
        case 1: s[at] = static_cast<char>(0xff); break;
        case 2: s.resize(at); break;
        default: if (at + 8 <= s.size()) { uint64_t v = 1ull << (rng() % 64); std::memcpy(s.data() + at, &v, 8); } break;
      }
      if (s.empty()) break;
    }
    // An exact-size heap copy so ASan sees any read past the end.
    std::vector<uint8_t> buf(s.begin(), s.end());
    try {
      const Header h = gguf::parse(buf.data(), buf.size(), "m.gguf");
      ++parsed;
      for (const auto& t : h.tensors) {
        ASSERT_LE(h.data_start + t.offset + t.nbytes, buf.size());
        if (t.nbytes) {
          volatile uint8_t x = t.data[0] ^ t.data[t.nbytes - 1];
          (void)x;
        }
      }
    } catch (const Error& e) {
      ASSERT_EQ(std::string(e.what()).rfind("[gguf] m.gguf: ", 0), 0u) << e.what();
    }
  }
  EXPECT_GT(parsed, 100);  // mutations of unused bytes still parse
}

TEST(GgufReader, OpensFilesAndNamesThemInErrors) {
  const auto dir = temp_dir("gguf-reader");
  write_bytes(dir / "ok.gguf", small_file());
  auto f = gguf::File::open((dir / "ok.gguf").string());
  EXPECT_EQ(f->header().tensors.size(), 2u);
  EXPECT_EQ(f->find("general.architecture")->s, "llama");
  write_bytes(dir / "bad.gguf", "GGUF");
  try {
    gguf::File::open((dir / "bad.gguf").string());
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find((dir / "bad.gguf").string() + ": truncated file"), std::string::npos) << e.what();
  }
  try {
    gguf::File::open((dir / "missing.gguf").string());
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("[gguf] ", 0), 0u) << e.what();
  }
  std::filesystem::remove_all(dir);
}

// The fuzz target's seed corpus (and any crash input added there) parses or fails cleanly.
TEST(GgufReader, FuzzCorpus) {
  const std::filesystem::path dir = OLLMLX_GGUF_CORPUS_DIR;
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string bytes = read_bytes(e.path());
    std::vector<uint8_t> buf(bytes.begin(), bytes.end());
    try {
      gguf::parse(buf.data(), buf.size(), e.path().filename().string());
    } catch (const Error&) {
    }
    ++n;
  }
  EXPECT_GT(n, 0);
}

}  // namespace
}  // namespace ollmlx::test

namespace ollmlx::test {
namespace {

// Writes the fuzz seed corpus (run once by hand: --gtest_also_run_disabled_tests
// --gtest_filter=GgufCorpus.*, with OLLMLX_WRITE_CORPUS=1).
TEST(GgufCorpus, DISABLED_Write) {
  if (!std::getenv("OLLMLX_WRITE_CORPUS")) GTEST_SKIP();
  const std::filesystem::path dir = OLLMLX_GGUF_CORPUS_DIR;
  std::filesystem::create_directories(dir);
  write_bytes(dir / "small_metadata_and_tensors", small_file());
  write_bytes(dir / "small_aligned_64", small_file(nullptr, 64));
  TinyLlama t;
  t.hidden = 32;
  t.ffn = 64;
  t.heads = 2;
  t.kv_heads = 1;
  t.layers = 1;
  write_bytes(dir / "tiny_llama", tiny_llama_gguf(t));
  t.tied = true;
  t.chat_template = false;
  write_bytes(dir / "tiny_llama_tied", tiny_llama_gguf(t));
  GgufBuilder empty;
  write_bytes(dir / "empty", empty.build());
}

}  // namespace
}  // namespace ollmlx::test
