// Table of corrupt or hostile safetensors files. Each must be rejected with an ollmlx::Error that
// names the file and, where one is involved, the tensor -- never a crash or an out-of-bounds read.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "format/safetensors.h"
#include "format_test_util.h"
#include "util/error.h"

namespace ollmlx::format {
namespace {

using testing::raw_safetensors;
using testing::TempDir;
using testing::write_bytes;

struct Corrupt {
  const char* label;
  std::vector<uint8_t> bytes;
  std::string tensor;  // must appear in the message if non-empty
  std::string phrase;  // must appear in the message if non-empty
};

std::vector<uint8_t> with_length(uint64_t n, const std::string& rest) {
  std::vector<uint8_t> b(8 + rest.size());
  for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(n >> (8 * i));
  for (size_t i = 0; i < rest.size(); ++i) b[8 + i] = static_cast<uint8_t>(rest[i]);
  return b;
}

// One tensor "t" with the given entry body and `data` bytes of data.
std::vector<uint8_t> one(const std::string& entry, size_t data) {
  return raw_safetensors(R"({"t": )" + entry + "}", data);
}

std::vector<Corrupt> cases() {
  const std::string good = R"({"dtype": "F32", "shape": [2], "data_offsets": [0, 8]})";
  std::vector<Corrupt> c = {
      {"empty file", {}, "", "too short"},
      {"7 bytes", {1, 0, 0, 0, 0, 0, 0}, "", "too short"},
      {"length only", with_length(0, ""), "", "JSON"},
      {"length past end", with_length(100, "{}"), "", "past end of file"},
      {"length 2^63", with_length(1ull << 63, "{}"), "", "limit"},
      {"length max", with_length(~0ull, "{}"), "", "limit"},
      {"length 101 MB", with_length(101ull << 20, "{}"), "", "limit"},
      {"length one short", with_length(5, R"({"a":1})"), "", "JSON"},
      {"not json", raw_safetensors("hello", 0), "", "JSON"},
      {"truncated json", raw_safetensors(R"({"t": {"dtype": )", 0), "", "JSON"},
      {"json array", raw_safetensors("[]", 0), "", "not a JSON object"},
      {"json string", raw_safetensors(R"("x")", 0), "", "not a JSON object"},
      {"json number", raw_safetensors("42", 0), "", "not a JSON object"},
      {"json null", raw_safetensors("null", 0), "", "not a JSON object"},
      {"json trailing garbage", raw_safetensors("{} x", 0), "", "JSON"},
      {"invalid utf8 key", raw_safetensors("{\"t\xff\xfe\": 1}", 0), "", "JSON"},
      {"invalid utf8 dtype",
       one("{\"dtype\": \"F\xc3\", \"shape\": [], \"data_offsets\": [0,4]}", 4), "", "JSON"},
      {"raw control char", raw_safetensors("{\"t\x01\": 1}", 0), "", "JSON"},
      {"nul in header", raw_safetensors(std::string("{\"t\"\0: 1}", 9), 0), "", "JSON"},
      {"deep nesting",
       raw_safetensors("{\"t\": " + std::string(5000, '[') + std::string(5000, ']') + "}", 0), "",
       "nested"},
      {"entry number", one("5", 0), "t", "object"},
      {"entry null", one("null", 0), "t", "object"},
      {"entry array", one("[]", 0), "t", "object"},
      {"no dtype", one(R"({"shape": [2], "data_offsets": [0, 8]})", 8), "t", "dtype"},
      {"dtype number", one(R"({"dtype": 5, "shape": [2], "data_offsets": [0, 8]})", 8), "t",
       "dtype"},
      {"dtype unknown", one(R"({"dtype": "F4", "shape": [2], "data_offsets": [0, 1]})", 8), "t",
       "unknown dtype 'F4'"},
      {"dtype lowercase", one(R"({"dtype": "f32", "shape": [2], "data_offsets": [0, 8]})", 8), "t",
       "unknown dtype"},
      {"dtype empty", one(R"({"dtype": "", "shape": [2], "data_offsets": [0, 8]})", 8), "t",
       "unknown dtype"},
      {"no shape", one(R"({"dtype": "F32", "data_offsets": [0, 8]})", 8), "t", "shape"},
      {"shape object", one(R"({"dtype": "F32", "shape": {}, "data_offsets": [0, 8]})", 8), "t",
       "shape"},
      {"shape number", one(R"({"dtype": "F32", "shape": 2, "data_offsets": [0, 8]})", 8), "t",
       "shape"},
      {"shape negative", one(R"({"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]})", 8), "t",
       "shape"},
      {"shape float", one(R"({"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]})", 8), "t",
       "shape"},
      {"shape string", one(R"({"dtype": "F32", "shape": ["2"], "data_offsets": [0, 8]})", 8), "t",
       "shape"},
      {"shape bool", one(R"({"dtype": "F32", "shape": [true], "data_offsets": [0, 8]})", 8), "t",
       "shape"},
      {"shape nested", one(R"({"dtype": "F32", "shape": [[2]], "data_offsets": [0, 8]})", 8), "t",
       "shape"},
      {"shape dim 2^63",
       one(R"({"dtype": "U8", "shape": [9223372036854775808], "data_offsets": [0, 8]})", 8), "t",
       "shape"},
      {"shape dim 2^64-1",
       one(R"({"dtype": "U8", "shape": [18446744073709551615], "data_offsets": [0, 8]})", 8), "t",
       "shape"},
      {"shape overflow",
       one(R"({"dtype": "F32", "shape": [4294967296, 4294967296, 16], "data_offsets": [0, 8]})", 8),
       "t", "too many"},
      {"shape overflow before zero",
       one(R"({"dtype": "U8", "shape": [4294967296, 4294967296, 0], "data_offsets": [0, 0]})", 8),
       "t", "too many"},
      {"shape bytes overflow",
       one(R"({"dtype": "F64", "shape": [4611686018427387904], "data_offsets": [0, 8]})", 8), "t",
       "too many"},
      {"shape huge vs data",
       one(R"({"dtype": "F32", "shape": [1000000000], "data_offsets": [0, 8]})", 8), "t",
       "needs 4000000000 bytes"},
      {"size mismatch small", one(R"({"dtype": "F32", "shape": [2], "data_offsets": [0, 4]})", 8),
       "t", "needs 8 bytes"},
      {"size mismatch large", one(R"({"dtype": "F32", "shape": [1], "data_offsets": [0, 8]})", 8),
       "t", "needs 4 bytes"},
      {"zero elements nonzero span",
       one(R"({"dtype": "F32", "shape": [0], "data_offsets": [0, 4]})", 8), "t", "needs 0 bytes"},
      {"no data_offsets", one(R"({"dtype": "F32", "shape": [2]})", 8), "t", "data_offsets"},
      {"offsets object", one(R"({"dtype": "F32", "shape": [2], "data_offsets": {}})", 8), "t",
       "data_offsets"},
      {"offsets one", one(R"({"dtype": "F32", "shape": [2], "data_offsets": [8]})", 8), "t",
       "data_offsets"},
      {"offsets three", one(R"({"dtype": "F32", "shape": [2], "data_offsets": [0, 8, 16]})", 8),
       "t", "data_offsets"},
      {"offsets negative", one(R"({"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]})", 8),
       "t", "data_offsets"},
      {"offsets float", one(R"({"dtype": "F32", "shape": [2], "data_offsets": [0, 8.0]})", 8), "t",
       "data_offsets"},
      {"offsets string", one(R"({"dtype": "F32", "shape": [2], "data_offsets": ["0", "8"]})", 8),
       "t", "data_offsets"},
      {"offsets huge float", one(R"({"dtype": "F32", "shape": [2], "data_offsets": [0, 1e30]})", 8),
       "t", "data_offsets"},
      {"begin after end", one(R"({"dtype": "F32", "shape": [2], "data_offsets": [8, 0]})", 8), "t",
       "after end"},
      {"end past file", one(R"({"dtype": "F32", "shape": [2], "data_offsets": [4, 12]})", 8), "t",
       "offset past end of file"},
      {"end past file, no data", one(good, 0), "t", "offset past end of file"},
      {"truncated data", one(good, 7), "t", "offset past end of file"},
      {"offsets 2^64-1",
       one(R"({"dtype": "U8", "shape": [1],)"
           R"( "data_offsets": [18446744073709551614, 18446744073709551615]})",
           8),
       "t", "past end"},
      {"empty tensor past end", one(R"({"dtype": "F32", "shape": [0], "data_offsets": [9, 9]})", 8),
       "t", "past end"},
      {"overlap",
       raw_safetensors(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                       R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                       12),
       "b", "overlaps tensor 'a'"},
      {"same range",
       raw_safetensors(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                       R"( "b": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]}})",
                       8),
       "", "overlaps"},
      {"contained",
       raw_safetensors(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},)"
                       R"( "b": {"dtype": "U8", "shape": [2], "data_offsets": [5, 7]}})",
                       16),
       "b", "overlaps tensor 'a'"},
      {"duplicate name",
       raw_safetensors(R"({"dup": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},)"
                       R"( "dup": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}})",
                       2),
       "dup", "twice"},
      {"metadata not object", raw_safetensors(R"({"__metadata__": "mlx"})", 0), "", "__metadata__"},
      {"metadata number value", raw_safetensors(R"({"__metadata__": {"format": 1}})", 0), "format",
       "must be a string"},
      {"metadata nested", raw_safetensors(R"({"__metadata__": {"format": {"a": "b"}}})", 0),
       "format", "must be a string"},
      {"second entry bad",
       raw_safetensors(R"({"ok": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},)"
                       R"( "zz.bad": {"dtype": "U8", "shape": [1], "data_offsets": [1, 3]}})",
                       3),
       "zz.bad", "needs 1 bytes"},
      {"nul in tensor name",
       raw_safetensors(
           R"({"bad\u0000name": {"dtype": "U8", "shape": [1], "data_offsets": [0, 9]}})", 1),
       "bad\\x00name", "past end"},
  };
  return c;
}

TEST(SafetensorsCorrupt, EveryVariantThrowsNamingFileAndTensor) {
  TempDir dir;
  const std::vector<Corrupt> all = cases();
  EXPECT_GE(all.size(), 60u);
  for (size_t i = 0; i < all.size(); ++i) {
    const Corrupt& c = all[i];
    const std::string name = "corrupt_" + std::to_string(i) + ".safetensors";
    const std::string path = dir.file(name);
    write_bytes(path, c.bytes);
    for (int from_memory = 0; from_memory < 2; ++from_memory) {
      SCOPED_TRACE(std::string(c.label) + (from_memory ? " (memory)" : " (file)"));
      try {
        if (from_memory) {
          // Exactly sized heap copy so ASan sees any read past the end.
          std::unique_ptr<uint8_t[]> buf(new uint8_t[c.bytes.size() + (c.bytes.empty() ? 1 : 0)]);
          std::copy(c.bytes.begin(), c.bytes.end(), buf.get());
          parse_safetensors_header(buf.get(), c.bytes.size(), name);
        } else {
          SafetensorsFile::open(path);
        }
        ADD_FAILURE() << "accepted";
      } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_EQ(msg.rfind("[safetensors] ", 0), 0u) << msg;
        EXPECT_NE(msg.find(name), std::string::npos) << msg;
        if (!c.tensor.empty()) {
          EXPECT_NE(msg.find("'" + c.tensor + "'"), std::string::npos) << msg;
        }
        if (!c.phrase.empty()) {
          EXPECT_NE(msg.find(c.phrase), std::string::npos) << msg;
        }
      }
    }
  }
}

TEST(SafetensorsCorrupt, FileErrorUsesThePath) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  write_bytes(path, one(R"({"dtype": "F32", "shape": [2], "data_offsets": [0, 8]})", 4));
  try {
    SafetensorsFile::open(path);
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "[safetensors] " + path +
                                         ": tensor 't' offset past end of file (end 8, data "
                                         "region 4 bytes)");
  }
}

}  // namespace
}  // namespace ollmlx::format
