// WeightSet: single file, sharded with model.safetensors.index.json, sharded without an index
// (mlx-lm's glob), and the ways an index or a set of shards can be wrong.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "format/model_dir.h"
#include "format_test_util.h"
#include "util/error.h"

namespace ollmlx::format {
namespace {

using testing::filled_tensor;
using testing::TempDir;
using testing::write_text;

// Runs `fn`, expecting an ollmlx::Error whose message contains every string in `parts`.
template <typename Fn>
void expect_error(Fn&& fn, std::initializer_list<std::string> parts) {
  try {
    fn();
    ADD_FAILURE() << "no exception";
  } catch (const Error& e) {
    for (const auto& p : parts)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos)
          << "'" << p << "' not in: " << e.what();
  }
}

void write_two_shards(const TempDir& dir) {
  write_safetensors(dir.file("model-00001-of-00002.safetensors"),
                    {{"a.weight", filled_tensor(DType::F32, {2, 3}, 1)},
                     {"b.weight", filled_tensor(DType::BF16, {4}, 2)}},
                    {{"format", "mlx"}});
  write_safetensors(dir.file("model-00002-of-00002.safetensors"),
                    {{"c.weight", filled_tensor(DType::U32, {5}, 3)}}, {{"format", "mlx"}});
}

const char* kGoodIndex = R"({"metadata": {"total_size": 52},
  "weight_map": {"a.weight": "model-00001-of-00002.safetensors",
                 "b.weight": "model-00001-of-00002.safetensors",
                 "c.weight": "model-00002-of-00002.safetensors"}})";

TEST(WeightSet, SingleFile) {
  TempDir dir;
  Tensor t = filled_tensor(DType::F16, {2, 2}, 7);
  write_safetensors(dir.file("model.safetensors"), {{"x", t}});
  WeightSet ws = WeightSet::open(dir.path());
  EXPECT_EQ(ws.dir(), dir.path());
  EXPECT_TRUE(ws.contains("x"));
  EXPECT_FALSE(ws.contains("y"));
  EXPECT_EQ(ws.names(), std::vector<std::string>{"x"});
  EXPECT_EQ(ws.total_bytes(), 8u);
  Tensor v = ws.get("x", {2, 2});
  EXPECT_EQ(std::memcmp(v.data, t.data, 8), 0);
  ws.prefetch();
}

TEST(WeightSet, ShardedWithIndex) {
  TempDir dir;
  write_two_shards(dir);
  write_text(dir.file("model.safetensors.index.json"), kGoodIndex);
  write_safetensors(dir.file("model-extra.safetensors"),  // not in the index: ignored
                    {{"a.weight", filled_tensor(DType::F32, {1}, 1)}});
  WeightSet ws = WeightSet::open(dir.path());
  EXPECT_EQ(ws.names(), (std::vector<std::string>{"a.weight", "b.weight", "c.weight"}));
  EXPECT_EQ(ws.total_bytes(), 24u + 8u + 20u);
  EXPECT_EQ(ws.get("c.weight").dtype, DType::U32);
  EXPECT_EQ(ws.get("a.weight", {2, 3}).dtype, DType::F32);
}

TEST(WeightSet, ShardedWithoutIndexGlobsModelFiles) {
  TempDir dir;
  write_two_shards(dir);
  // Not matched by model*.safetensors (mlx-lm would not load them either).
  write_safetensors(dir.file("consolidated.safetensors"),
                    {{"a.weight", filled_tensor(DType::F32, {1}, 1)}});
  write_safetensors(dir.file("weights.00.safetensors"),
                    {{"a.weight", filled_tensor(DType::F32, {1}, 1)}});
  write_text(dir.file("model.safetensors.bak"), "junk");
  std::filesystem::create_directory(dir.file("model-dir.safetensors"));
  WeightSet ws = WeightSet::open(dir.path());
  EXPECT_EQ(ws.names(), (std::vector<std::string>{"a.weight", "b.weight", "c.weight"}));
}

TEST(WeightSet, GetErrors) {
  TempDir dir;
  write_safetensors(dir.file("model.safetensors"),
                    {{"model.norm.weight", filled_tensor(DType::U32, {4}, 1)}});
  WeightSet ws = WeightSet::open(dir.path());
  expect_error([&] { ws.get("model.missing.weight"); },
               {"[weights] ", dir.path(), "missing tensor 'model.missing.weight'"});
  expect_error(
      [&] {
        ws.get("model.norm.weight", {4, 1});
      },
      {"model.safetensors", "'model.norm.weight'", "[4]", "[4, 1]"});
  EXPECT_NO_THROW(ws.get("model.norm.weight", {4}));
  expect_error([&] { ws.get_float("model.norm.weight", {4}); },
               {"model.safetensors", "'model.norm.weight'", "U32"});
}

TEST(WeightSet, DirectoryErrors) {
  TempDir dir;
  expect_error([&] { WeightSet::open(dir.path()); }, {dir.path(), "no model*.safetensors"});
  expect_error([&] { WeightSet::open(dir.file("nope")); }, {"nope", "not a directory"});
}

TEST(WeightSet, DuplicateTensorAcrossShards) {
  TempDir dir;
  write_two_shards(dir);
  write_safetensors(dir.file("model-00003.safetensors"),
                    {{"b.weight", filled_tensor(DType::BF16, {4}, 2)}});
  expect_error([&] { WeightSet::open(dir.path()); },
               {dir.path(), "'b.weight'", "model-00001-of-00002.safetensors", "model-00003"});
}

TEST(WeightSet, CorruptShardNamesTheShard) {
  TempDir dir;
  write_two_shards(dir);
  write_text(dir.file("model-00002-of-00002.safetensors"), "garbage!");
  expect_error([&] { WeightSet::open(dir.path()); }, {"model-00002-of-00002.safetensors"});
}

struct BadIndex {
  const char* label;
  std::string index;
  std::vector<std::string> parts;
};

TEST(WeightSet, BadIndexVariants) {
  const std::string s1 = "model-00001-of-00002.safetensors";
  const std::vector<BadIndex> cases = {
      {"not json", "{", {"model.safetensors.index.json", "invalid JSON"}},
      {"not object", "[1]", {"model.safetensors.index.json", "object"}},
      {"no weight_map", R"({"metadata": {}})", {"model.safetensors.index.json", "weight_map"}},
      {"weight_map array", R"({"weight_map": []})", {"weight_map", "object"}},
      {"weight_map empty", R"({"weight_map": {}})", {"weight_map", "empty"}},
      {"shard number", R"({"weight_map": {"a.weight": 1}})", {"'a.weight'", "string"}},
      {"dotdot",
       R"({"weight_map": {"a.weight": "../x.safetensors"}})",
       {"'a.weight'", "../x.safetensors", "inside"}},
      {"dotdot inner",
       R"({"weight_map": {"a.weight": "sub/../../x.safetensors"}})",
       {"'a.weight'", "inside"}},
      {"absolute",
       R"({"weight_map": {"a.weight": "/etc/passwd"}})",
       {"'a.weight'", "/etc/passwd", "inside"}},
      {"empty name", R"({"weight_map": {"a.weight": ""}})", {"'a.weight'", "inside"}},
      {"nul in name",
       "{\"weight_map\": {\"a.weight\": \"x\\u0000.safetensors\"}}",
       {"'a.weight'", "inside"}},
      {"missing file",
       R"({"weight_map": {"a.weight": "model-00009.safetensors"}})",
       {"model-00009.safetensors", "does not exist"}},
      {"tensor not in shard",
       R"({"weight_map": {"a.weight": "model-00002-of-00002.safetensors"}})",
       {"'a.weight'", "model-00002-of-00002.safetensors", "does not contain"}},
      {"tensor nowhere",
       R"({"weight_map": {"zz.weight": "model-00001-of-00002.safetensors"}})",
       {"'zz.weight'", s1, "does not contain"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    TempDir dir;
    write_two_shards(dir);
    write_text(dir.file("model.safetensors.index.json"), c.index);
    try {
      WeightSet::open(dir.path());
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.rfind("[weights] ", 0), 0u) << msg;
      for (const auto& p : c.parts) EXPECT_NE(msg.find(p), std::string::npos) << msg;
    }
  }
}

}  // namespace
}  // namespace ollmlx::format
