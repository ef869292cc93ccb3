// libFuzzer target for the safetensors header parser: any byte string is a possible file. The
// parser must return a header whose tensors lie inside the input, or throw ollmlx::Error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "format/safetensors.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const ollmlx::format::SafetensorsHeader h =
        ollmlx::format::parse_safetensors_header(data, size, "fuzz.safetensors");
    // Check the parser's promise; reading the edge bytes lets ASan flag any view out of bounds.
    unsigned sum = 0;
    for (const auto& [name, e] : h.tensors) {
      if (e.begin > e.end || h.data_start + e.end > size) std::abort();
      if (e.end > e.begin) sum += data[h.data_start + e.begin] + data[h.data_start + e.end - 1];
    }
    volatile unsigned keep = sum;
    (void)keep;
  } catch (const ollmlx::Error&) {
    // Rejected cleanly: the expected outcome for most inputs.
  }
  return 0;
}
