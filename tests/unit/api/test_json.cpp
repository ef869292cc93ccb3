// Go-compatible JSON: the reader's error messages and leniency (encoding/json Decoder), the
// writer's escaping and number format (json.Marshal), and %q quoting.
#include <gtest/gtest.h>

#include <cmath>

#include "api/go_json.h"
#include "api_test_util.h"

namespace ollmlx::api {
namespace {

TEST(GoJsonRead, EmptyBodyIsMissingRequestBody) {
  EXPECT_API_ERROR(parse_go_json(""), 400, "missing request body");
  EXPECT_API_ERROR(parse_go_json(" \n\t\r "), 400, "missing request body");
}

TEST(GoJsonRead, SyntaxErrorsUseGoMessages) {
  EXPECT_API_ERROR(parse_go_json("x"), 400, "invalid character 'x' looking for beginning of value");
  EXPECT_API_ERROR(parse_go_json("{\"a\":1,}"), 400,
                   "invalid character '}' looking for beginning of object key string");
  EXPECT_API_ERROR(parse_go_json("{\"a\" 1}"), 400, "invalid character '1' after object key");
  EXPECT_API_ERROR(parse_go_json("{\"a\":1 \"b\"}"), 400,
                   "invalid character '\"' after object key:value pair");
  EXPECT_API_ERROR(parse_go_json("[1 2]"), 400, "invalid character '2' after array element");
  EXPECT_API_ERROR(parse_go_json("[1,]"), 400,
                   "invalid character ']' looking for beginning of value");
  EXPECT_API_ERROR(parse_go_json("{'a':1}"), 400,
                   "invalid character '\\'' looking for beginning of object key string");
  EXPECT_API_ERROR(parse_go_json("tru "), 400,
                   "invalid character ' ' in literal true (expecting 'e')");
  EXPECT_API_ERROR(parse_go_json("nul!"), 400,
                   "invalid character '!' in literal null (expecting 'l')");
  EXPECT_API_ERROR(parse_go_json("-a"), 400, "invalid character 'a' in numeric literal");
  EXPECT_API_ERROR(parse_go_json("[1.x]"), 400,
                   "invalid character 'x' after decimal point in numeric literal");
  EXPECT_API_ERROR(parse_go_json("[1e+]"), 400,
                   "invalid character ']' in exponent of numeric literal");
  EXPECT_API_ERROR(parse_go_json("\"a\\qb\""), 400, "invalid character 'q' in string escape code");
  EXPECT_API_ERROR(parse_go_json("\"\\u12G4\""), 400,
                   "invalid character 'G' in \\u hexadecimal character escape");
  EXPECT_API_ERROR(parse_go_json("\"a\nb\""), 400, "invalid character '\\n' in string literal");
  EXPECT_API_ERROR(parse_go_json("\x01"), 400,
                   "invalid character '\\x01' looking for beginning of value");
  // A UTF-8 BOM is not skipped by Go either; its first byte prints as U+00EF.
  EXPECT_API_ERROR(parse_go_json("\xEF\xBB\xBF{}"), 400,
                   "invalid character '\xC3\xAF' looking for beginning of value");
}

TEST(GoJsonRead, TruncatedInputIsUnexpectedEof) {
  for (const char* s : {"{", "{\"a\"", "{\"a\":", "[1,", "\"abc", "tr", "{\"a\":1", "-", "1."}) {
    EXPECT_API_ERROR(parse_go_json(s), 400, "unexpected EOF");
  }
}

TEST(GoJsonRead, TrailingDataAfterTheFirstValueIsIgnored) {
  EXPECT_EQ(parse_go_json("{\"a\":1} garbage"), Json({{"a", 1}}));
  EXPECT_EQ(parse_go_json("{}{}"), Json::object());
  EXPECT_EQ(parse_go_json("12x"), Json(12));
  EXPECT_TRUE(parse_go_json("null").is_null());
}

TEST(GoJsonRead, StringsAreRepairedLikeGo) {
  // Invalid UTF-8 bytes become U+FFFD one by one; lone surrogates become U+FFFD.
  EXPECT_EQ(parse_go_json("\"a\xFF\xFE" "b\"").get<std::string>(),
            "a\xEF\xBF\xBD\xEF\xBF\xBD" "b");
  EXPECT_EQ(parse_go_json("\"\\ud800x\"").get<std::string>(), "\xEF\xBF\xBDx");
  EXPECT_EQ(parse_go_json("\"\\ud83d\\ude00\"").get<std::string>(), "\xF0\x9F\x98\x80");
  EXPECT_EQ(parse_go_json("\"\\ud83d\\u0041\"").get<std::string>(), "\xEF\xBF\xBD" "A");
  EXPECT_EQ(parse_go_json("\"\\u0000\"").get<std::string>(), std::string(1, '\0'));
  EXPECT_EQ(parse_go_json("\"\xE4\xB8\xAD\"").get<std::string>(), "\xE4\xB8\xAD");
}

TEST(GoJsonRead, NumbersKeepIntegersExact) {
  EXPECT_TRUE(parse_go_json("9223372036854775807").is_number_integer());
  EXPECT_EQ(parse_go_json("18446744073709551615").get<uint64_t>(), 18446744073709551615ull);
  EXPECT_TRUE(parse_go_json("1e2").is_number_float());
  EXPECT_DOUBLE_EQ(parse_go_json("-0.5e-3").get<double>(), -0.0005);
  EXPECT_DOUBLE_EQ(parse_go_json("1e-400").get<double>(), 0.0);
  EXPECT_EQ(go_json(parse_go_json("-0")), "-0");  // float64 in Go, sign kept
  EXPECT_EQ(go_json(parse_go_json("-0E0")), "-0");
  EXPECT_API_ERROR(parse_go_json("1e400"), 400,
                   "json: cannot unmarshal number 1e400 into Go value of type float64");
}

TEST(GoJsonRead, DuplicateKeysLastWins) {
  EXPECT_EQ(parse_go_json("{\"a\":1,\"b\":2,\"a\":3}").dump(), "{\"a\":3,\"b\":2}");
}

TEST(GoJsonRead, DepthIsLimited) {
  const std::string ok = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  EXPECT_NO_THROW(parse_go_json(ok));
  const std::string deep = std::string(kMaxJsonDepth + 1, '[');
  EXPECT_API_ERROR(parse_go_json(deep), 400, "exceeded max depth");
}

TEST(GoJsonWrite, EscapesLikeGo) {
  EXPECT_EQ(go_json(Json("<a href=\"x\">&</a>")),
            "\"\\u003ca href=\\\"x\\\"\\u003e\\u0026\\u003c/a\\u003e\"");
  EXPECT_EQ(go_json(Json("\b\f\n\r\t\x01\x1f\x7f\\")), "\"\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\\\\\"");
  EXPECT_EQ(go_json(Json("\xE2\x80\xA8\xE2\x80\xA9")), "\"\\u2028\\u2029\"");
  EXPECT_EQ(go_json(Json("ok\xFFz\xC3")), "\"ok\\ufffdz\\ufffd\"");
  EXPECT_EQ(go_json(Json("\xE4\xB8\xAD\xF0\x9F\x98\x80")), "\"\xE4\xB8\xAD\xF0\x9F\x98\x80\"");
  EXPECT_EQ(go_json(Json("/")), "\"/\"");
}

TEST(GoJsonWrite, CompactInInsertionOrder) {
  Json o = Json::object();
  o["z"] = 1;
  o["a"] = Json::array({true, nullptr, "s"});
  o["m"] = Json::object();
  EXPECT_EQ(go_json(o), "{\"z\":1,\"a\":[true,null,\"s\"],\"m\":{}}");
  EXPECT_EQ(go_json(sorted_keys(o)), "{\"a\":[true,null,\"s\"],\"m\":{},\"z\":1}");
}

TEST(GoJsonWrite, FloatsInGoFormat) {
  const auto f = [](double d) {
    std::string s;
    append_go_float(s, d);
    return s;
  };
  EXPECT_EQ(f(0), "0");
  EXPECT_EQ(f(-0.1), "-0.1");
  EXPECT_EQ(f(1.0), "1");
  EXPECT_EQ(f(123456789.5), "123456789.5");
  EXPECT_EQ(f(1e20), "100000000000000000000");
  EXPECT_EQ(f(1e21), "1e+21");
  EXPECT_EQ(f(1e-6), "0.000001");
  EXPECT_EQ(f(1e-7), "1e-7");
  EXPECT_EQ(f(-2.5e-10), "-2.5e-10");
  EXPECT_EQ(f(1.5e300), "1.5e+300");
  EXPECT_EQ(f(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(f(std::nan("")), "null");
}

TEST(GoQuote, MatchesStrconvQuote) {
  EXPECT_EQ(go_quote("abc"), "\"abc\"");
  EXPECT_EQ(go_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(go_quote("\n\t\x01\x7f"), "\"\\n\\t\\x01\\x7f\"");
  EXPECT_EQ(go_quote("\xE4\xB8\xAD"), "\"\xE4\xB8\xAD\"");
  EXPECT_EQ(go_quote("\xFF"), "\"\\xff\"");
  EXPECT_EQ(go_quote("\xC2\xA0\xC2\xAD"), "\"\\u00a0\\u00ad\"");
  EXPECT_EQ(go_quote("\xF3\xB0\x80\x80"), "\"\\U000f0000\"");
}

TEST(GoJsonRoundTrip, ReadThenWrite) {
  const std::string in = "{\"b\":[1,2.5,-3e-7,\"<x>\"],\"a\":{\"k\":null,\"t\":true}}";
  EXPECT_EQ(go_json(parse_go_json(in)),
            "{\"b\":[1,2.5,-3e-7,\"\\u003cx\\u003e\"],\"a\":{\"k\":null,\"t\":true}}");
}

}  // namespace
}  // namespace ollmlx::api
