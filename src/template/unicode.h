// UTF-8 and code-point helpers for the template engine. Python strings are sequences of code
// points, so lengths, indices, slices and case mapping in templates work on code points while
// ollmlx stores UTF-8. Invalid bytes decode to U+FFFD and never crash.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ollmlx::tmpl {

// Decodes one code point at s[i] and advances i (invalid sequences yield U+FFFD, 1 byte).
char32_t utf8_next(std::string_view s, size_t& i);
void utf8_append(std::string& out, char32_t cp);
std::u32string utf8_decode(std::string_view s);
std::string utf8_encode(std::u32string_view s);
bool utf8_valid(std::string_view s);
bool is_ascii(std::string_view s);
// Number of code points.
size_t utf8_length(std::string_view s);

// Python's str.isspace() (also what `\s` matches in Python regexes).
bool py_isspace(char32_t c);
// Approximations of Python's character classes (exact for ASCII, Latin-1, Greek, Cyrillic).
bool py_isdigit(char32_t c);
bool py_isalpha(char32_t c);
bool py_isalnum(char32_t c);
bool py_isprintable(char32_t c);
bool py_isupper(char32_t c);
bool py_islower(char32_t c);
// Python's \w in a str regex: alphanumerics and underscore.
bool py_isword(char32_t c);

// Full case mapping of one code point (ß upper-cases to "SS").
void py_append_upper(std::u32string& out, char32_t c);
void py_append_lower(std::u32string& out, char32_t c);
std::string py_upper(std::string_view s);
std::string py_lower(std::string_view s);
// Appends the lower case of s[i], using the whole string for Python's Final_Sigma rule.
void py_append_lower_at(std::u32string& out, const std::u32string& s, size_t i);

}  // namespace ollmlx::tmpl
