// GPT-2's byte-level alphabet: every byte maps to a printable character (space -> 'Ġ', ...), so
// byte-level BPE vocabularies are plain strings. Shared by the ByteLevel normalizer,
// pre-tokenizer and decoder.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ollmlx::tok::byte_level {

// GPT-2's pre-tokenization regex (ByteLevel with use_regex).
inline constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// UTF-8 of the character byte `b` maps to.
std::string_view char_of(uint8_t b);
// Appends the mapped form of every byte of `in` to `out`.
void map_bytes(std::string_view in, std::string& out);
// The byte a code point stands for, or -1 if it is not in the alphabet.
int byte_of(uint32_t cp);

}  // namespace ollmlx::tok::byte_level
