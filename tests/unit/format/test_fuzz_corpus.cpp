// Replays every file of the fuzz seed corpus (fuzz/corpus/safetensors) through
// parse_safetensors_header, so CI exercises it without clang/libFuzzer. Files that once crashed
// the parser belong in that corpus too; each must parse or throw ollmlx::Error.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>

#include "format/safetensors.h"
#include "format_test_util.h"
#include "util/error.h"

namespace ollmlx::format {
namespace {

TEST(FuzzCorpus, EveryFileParsesOrThrows) {
  namespace fs = std::filesystem;
  const fs::path dir = OLLMLX_FUZZ_CORPUS_DIR;
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  int files = 0, valid = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    ++files;
    const std::vector<uint8_t> bytes = testing::read_bytes(entry.path().string());
    std::unique_ptr<uint8_t[]> buf(new uint8_t[bytes.size() + 1]);  // exact size for ASan
    std::copy(bytes.begin(), bytes.end(), buf.get());
    const std::string name = entry.path().filename().string();
    try {
      SafetensorsHeader h = parse_safetensors_header(buf.get(), bytes.size(), name);
      for (const auto& [tensor, e] : h.tensors) EXPECT_LE(h.data_start + e.end, bytes.size());
      ++valid;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  }
  EXPECT_GE(files, 3);
  EXPECT_GE(valid, 3);  // the seeds are valid files
}

}  // namespace
}  // namespace ollmlx::format
