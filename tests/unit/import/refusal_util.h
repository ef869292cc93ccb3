// The check every converter refusal test makes (test_gguf_convert, test_gguf_spm,
// test_gguf_phi3): the tiny model `t` must be refused with an error that names the file and
// contains `message`, before anything is written.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "gguf_builder.h"
#include "store/import/gguf.h"
#include "store/import/gguf_convert.h"
#include "util/error.h"

namespace ollmlx::test {

inline void expect_refused(const TinyLlama& t, const std::string& message) {
  namespace fs = std::filesystem;
  const fs::path work = temp_dir("gguf-refuse");
  write_bytes(work / "m.gguf", tiny_llama_gguf(t));
  fs::create_directories(work / "out");
  try {
    auto f = gguf::File::open((work / "m.gguf").string());
    gguf::convert_to_mlx(*f, work / "out");
    ADD_FAILURE() << "converted; expected: " << message;
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.rfind("[gguf] " + (work / "m.gguf").string() + ": ", 0), 0u) << m;
    EXPECT_NE(m.find(message), std::string::npos) << m;
  }
  EXPECT_TRUE(fs::is_empty(work / "out")) << "files written before the refusal";
  fs::remove_all(work);
}

}  // namespace ollmlx::test
