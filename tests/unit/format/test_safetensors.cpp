// Valid safetensors files: writer/reader round trip and the spec's legal corner cases
// (padding, zero-element tensors, any tensor order, metadata).
#include <gtest/gtest.h>

#include <cstring>

#include "format/safetensors.h"
#include "format_test_util.h"
#include "util/error.h"

namespace ollmlx::format {
namespace {

using testing::filled_tensor;
using testing::raw_safetensors;
using testing::read_bytes;
using testing::TempDir;
using testing::write_bytes;

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype == b.dtype && a.shape == b.shape && a.nbytes() == b.nbytes() &&
         (a.nbytes() == 0 || std::memcmp(a.data, b.data, a.nbytes()) == 0);
}

TEST(Safetensors, RoundTripSingleFile) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  std::vector<std::pair<std::string, Tensor>> tensors = {
      {"z.first", filled_tensor(DType::BF16, {3, 5}, 1)},  // odd byte count: 30
      {"a.second", filled_tensor(DType::F32, {4, 2}, 2)},
      {"m.u32", filled_tensor(DType::U32, {2, 8}, 3)},
      {"scalar", filled_tensor(DType::F16, {}, 4)},
      {"empty", filled_tensor(DType::F32, {0, 7}, 5)},
      {"u8", filled_tensor(DType::U8, {9}, 6)},
  };
  write_safetensors(path, tensors, {{"format", "mlx"}});

  auto f = SafetensorsFile::open(path);
  EXPECT_EQ(f->path(), path);
  EXPECT_EQ(f->header().metadata.at("format"), "mlx");
  EXPECT_EQ(f->header().data_start % 8, 0u);  // header padded like the reference writer
  ASSERT_EQ(f->header().tensors.size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    const TensorEntry* e = f->find(name);
    ASSERT_NE(e, nullptr) << name;
    EXPECT_EQ(e->name, name);
    Tensor v = f->view(*e);
    EXPECT_TRUE(same_bytes(v, t)) << name;
    EXPECT_TRUE(v.owner != nullptr);
  }
  EXPECT_EQ(f->find("nope"), nullptr);
  f->prefetch();

  // Data is packed in the given order.
  EXPECT_EQ(f->find("z.first")->begin, 0u);
  EXPECT_EQ(f->find("a.second")->begin, 30u);
}

TEST(Safetensors, ViewIsZeroCopyAndOutlivesFile) {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  Tensor t = filled_tensor(DType::F32, {16}, 9);
  write_safetensors(path, {{"w", t}});
  Tensor v;
  {
    auto f = SafetensorsFile::open(path);
    v = f->view(*f->find("w"));
    // The view points into the mapping, right after the header.
    const auto* base = static_cast<const uint8_t*>(v.data);
    EXPECT_EQ(std::memcmp(base, t.data, t.nbytes()), 0);
  }
  // The mapping stays alive through the view's owner.
  EXPECT_EQ(std::memcmp(v.data, t.data, t.nbytes()), 0);
}

TEST(Safetensors, WriterOutputParsesFromMemory) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  write_safetensors(path, {{"a", filled_tensor(DType::I64, {3}, 1)}});
  std::vector<uint8_t> bytes = read_bytes(path);
  SafetensorsHeader h = parse_safetensors_header(bytes.data(), bytes.size(), "mem");
  ASSERT_EQ(h.tensors.count("a"), 1u);
  EXPECT_EQ(h.tensors.at("a").dtype, DType::I64);
  EXPECT_EQ(h.tensors.at("a").shape, (Shape{3}));
  EXPECT_EQ(bytes.size(), h.data_start + 24);
}

TEST(Safetensors, EmptyHeaderObjectIsValid) {
  auto bytes = raw_safetensors("{}", 0);
  SafetensorsHeader h = parse_safetensors_header(bytes.data(), bytes.size(), "x");
  EXPECT_TRUE(h.tensors.empty());
  EXPECT_EQ(h.data_start, 10u);
}

TEST(Safetensors, SpecCornerCasesAreAccepted) {
  // Out-of-order entries, space padding, zero-element tensors at both ends, a hole between
  // tensors, and extra unknown fields.
  const std::string header =
      R"({"b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]},)"
      R"( "a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4], "extra": 1},)"
      R"( "e0": {"dtype": "BF16", "shape": [0, 3], "data_offsets": [0, 0]},)"
      R"( "e1": {"dtype": "I32", "shape": [5, 0], "data_offsets": [16, 16]},)"
      R"( "e2": {"dtype": "F32", "shape": [0], "data_offsets": [2, 2]},)"
      R"( "__metadata__": {"format": "mlx"}})"
      "        ";
  auto bytes = raw_safetensors(header, 16);
  TempDir dir;
  const std::string path = dir.file("c.safetensors");
  write_bytes(path, bytes);
  auto f = SafetensorsFile::open(path);
  EXPECT_EQ(f->header().tensors.size(), 5u);
  Tensor b = f->view(*f->find("b"));
  EXPECT_EQ(b.shape, (Shape{2}));
  EXPECT_EQ(static_cast<const uint8_t*>(b.data), f->view(*f->find("a")).ptr<uint8_t>() + 8);
  Tensor e1 = f->view(*f->find("e1"));
  EXPECT_EQ(e1.numel(), 0);
  EXPECT_EQ(e1.nbytes(), 0u);
  EXPECT_FALSE(e1.empty());  // a legal zero-element tensor, not a missing one
}

TEST(Safetensors, AllDtypesRoundTrip) {
  TempDir dir;
  const std::string path = dir.file("d.safetensors");
  const DType all[] = {DType::F32, DType::F16, DType::BF16, DType::F64,     DType::U8,
                       DType::I8,  DType::U16, DType::I16,  DType::U32,     DType::I32,
                       DType::U64, DType::I64, DType::Bool, DType::F8_E4M3, DType::F8_E5M2};
  std::vector<std::pair<std::string, Tensor>> tensors;
  uint32_t seed = 0;
  for (DType d : all)
    tensors.emplace_back(std::string(dtype_name(d)), filled_tensor(d, {3, 2}, seed++));
  write_safetensors(path, tensors);
  auto f = SafetensorsFile::open(path);
  for (const auto& [name, t] : tensors) EXPECT_TRUE(same_bytes(f->view(*f->find(name)), t)) << name;
}

TEST(Safetensors, WriterRejectsBadInput) {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  Tensor t = filled_tensor(DType::F32, {2}, 1);
  EXPECT_THROW(write_safetensors(path, {{"a", t}, {"a", t}}), Error);
  EXPECT_THROW(write_safetensors(path, {{"__metadata__", t}}), Error);
  Tensor no_data;
  no_data.shape = {4};
  EXPECT_THROW(write_safetensors(path, {{"x", no_data}}), Error);
  EXPECT_THROW(write_safetensors(dir.file("no/such/dir/x.safetensors"), {{"a", t}}), Error);
}

TEST(Safetensors, OpenMissingFileThrows) {
  TempDir dir;
  try {
    SafetensorsFile::open(dir.file("missing.safetensors"));
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.safetensors"), std::string::npos);
  }
}

}  // namespace
}  // namespace ollmlx::format
