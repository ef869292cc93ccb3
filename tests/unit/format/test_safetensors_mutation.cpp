// Randomized robustness test: mutate valid files (bit flips, byte overwrites, JSON-aware digit
// and token edits, truncation) thousands of times with a fixed seed. Parsing must either succeed
// with every tensor inside the buffer and consistent with its shape, or throw ollmlx::Error.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "format/safetensors.h"
#include "format_test_util.h"
#include "util/error.h"

namespace ollmlx::format {
namespace {

using testing::filled_tensor;
using testing::read_bytes;
using testing::TempDir;
using testing::write_bytes;

std::vector<uint8_t> valid_file(const TempDir& dir) {
  const std::string path = dir.file("seed.safetensors");
  write_safetensors(path,
                    {{"model.embed_tokens.weight", filled_tensor(DType::BF16, {4, 3}, 1)},
                     {"model.layers.0.q.weight", filled_tensor(DType::U32, {2, 2}, 2)},
                     {"model.layers.0.q.scales", filled_tensor(DType::F16, {2, 1}, 3)},
                     {"model.layers.0.q.biases", filled_tensor(DType::F16, {2, 1}, 4)},
                     {"model.norm.weight", filled_tensor(DType::F32, {3}, 5)},
                     {"empty", filled_tensor(DType::I8, {0}, 6)}},
                    {{"format", "mlx"}});
  return read_bytes(path);
}

// Checks what a successful parse promises, touching the first and last byte of every tensor so
// ASan reports any view outside the buffer.
void check_in_bounds(const SafetensorsHeader& h, const uint8_t* data, size_t size) {
  ASSERT_LE(h.data_start, size);
  uint32_t sink = 0;
  for (const auto& [name, e] : h.tensors) {
    ASSERT_EQ(name, e.name);
    ASSERT_LE(e.begin, e.end);
    ASSERT_LE(e.end, size - h.data_start);
    uint64_t n = dtype_size(e.dtype);
    for (int64_t d : e.shape) {
      ASSERT_GE(d, 0);
      n *= static_cast<uint64_t>(d);
    }
    ASSERT_EQ(n, e.end - e.begin);
    if (e.end > e.begin) sink += data[h.data_start + e.begin] + data[h.data_start + e.end - 1];
  }
  volatile uint32_t keep = sink;
  (void)keep;
}

std::vector<uint8_t> mutate(std::vector<uint8_t> b, std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng() % n); };
  static const std::string kTokens[] = {"0",
                                        "9",
                                        "18446744073709551615",
                                        "-1",
                                        "1e99",
                                        "[",
                                        "]",
                                        "{",
                                        "}",
                                        ",",
                                        ":",
                                        "\"",
                                        "null",
                                        "\"F32\"",
                                        "\"U8\"",
                                        "[0,0]",
                                        " ",
                                        "\xff",
                                        "\\u0000",
                                        "\"__metadata__\""};
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < edits && !b.empty(); ++i) {
    // Roughly where the header ends (the declared length's low 16 bits), for header-aimed edits.
    const size_t header_end =
        b.size() < 8 ? b.size() : std::min(b.size(), 8 + b[0] + (size_t{b[1]} << 8));
    switch (rng() % 7) {
      case 0:  // flip a bit anywhere
        b[pick(b.size())] ^= static_cast<uint8_t>(1u << (rng() % 8));
        break;
      case 1:  // overwrite a byte with a random value
        b[pick(b.size())] = static_cast<uint8_t>(rng());
        break;
      case 2: {  // change a digit in the header: offsets and shapes go out of range
        for (int tries = 0; tries < 50; ++tries) {
          size_t p = pick(header_end);
          if (b[p] >= '0' && b[p] <= '9') {
            b[p] = static_cast<uint8_t>('0' + rng() % 10);
            break;
          }
        }
        break;
      }
      case 3: {  // splice a JSON-ish token into the header
        const std::string& t = kTokens[pick(std::size(kTokens))];
        size_t p = 8 + pick(header_end > 8 ? header_end - 8 : 1);
        if (p > b.size()) p = b.size();
        if (rng() % 2) {
          b.insert(b.begin() + static_cast<std::ptrdiff_t>(p), t.begin(), t.end());
          // Keep the declared length in step half of the time so parsing goes deeper.
          if (rng() % 2 && b.size() >= 8) {
            uint64_t n = 0;
            for (int k = 7; k >= 0; --k) n = (n << 8) | b[k];
            n += t.size();
            for (int k = 0; k < 8; ++k) b[k] = static_cast<uint8_t>(n >> (8 * k));
          }
        } else {
          for (size_t k = 0; k < t.size() && p + k < b.size(); ++k) b[p + k] = t[k];
        }
        break;
      }
      case 4:  // truncate
        b.resize(pick(b.size() + 1));
        break;
      case 5:  // tweak the length prefix
        if (b.size() >= 8) {
          const size_t k = pick(3);
          b[k] = static_cast<uint8_t>(b[k] + rng() % 17 - 8);
        }
        break;
      case 6:  // append junk
        for (size_t k = pick(32); k > 0; --k) b.push_back(static_cast<uint8_t>(rng()));
        break;
    }
  }
  return b;
}

TEST(SafetensorsMutation, RandomMutationsNeverCrash) {
  TempDir dir;
  const std::vector<uint8_t> seed = valid_file(dir);
  std::mt19937_64 rng(0x0111a1c5);
  int accepted = 0, rejected = 0;
  constexpr int kIterations = 20000;
  for (int it = 0; it < kIterations; ++it) {
    const std::vector<uint8_t> m = mutate(seed, rng);
    // Exactly sized heap buffer so any overread is visible to ASan.
    std::unique_ptr<uint8_t[]> buf(new uint8_t[m.size() + 1]);
    std::copy(m.begin(), m.end(), buf.get());
    try {
      SafetensorsHeader h = parse_safetensors_header(buf.get(), m.size(), "mut.safetensors");
      check_in_bounds(h, buf.get(), m.size());
      ++accepted;
    } catch (const Error& e) {
      ASSERT_NE(std::string(e.what()).find("mut.safetensors"), std::string::npos) << e.what();
      ++rejected;
    }
    if (HasFatalFailure()) FAIL() << "iteration " << it;
  }
  // Both outcomes must be exercised for the test to mean anything.
  EXPECT_GT(accepted, 100);
  EXPECT_GT(rejected, 1000);
  std::printf("mutations: %d accepted, %d rejected\n", accepted, rejected);
}

// The same through real files and mappings, with views read end to end (fewer iterations).
TEST(SafetensorsMutation, MutatedFilesOpenOrThrow) {
  TempDir dir;
  const std::vector<uint8_t> seed = valid_file(dir);
  std::mt19937_64 rng(42);
  const std::string path = dir.file("mut.safetensors");
  for (int it = 0; it < 1000; ++it) {
    write_bytes(path, mutate(seed, rng));
    try {
      auto f = SafetensorsFile::open(path);
      for (const auto& [name, e] : f->header().tensors) {
        Tensor v = f->view(e);
        ASSERT_EQ(v.nbytes(), e.end - e.begin);
        const auto* p = static_cast<const uint8_t*>(v.data);
        uint32_t sum = 0;
        for (size_t k = 0; k < v.nbytes(); ++k) sum += p[k];
        volatile uint32_t keep = sum;
        (void)keep;
      }
    } catch (const Error& e) {
      ASSERT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace ollmlx::format
