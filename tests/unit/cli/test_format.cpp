#include <gtest/gtest.h>

#include "cli/format.h"

namespace ollmlx::cli {
namespace {

Instant at(int64_t sec, int32_t nsec = 0) {
  Instant t;
  t.sec = sec;
  t.nsec = nsec;
  return t;
}

TEST(HumanBytes, OllamaTable) {
  EXPECT_EQ(human_bytes(0), "0 B");
  EXPECT_EQ(human_bytes(999), "999 B");
  EXPECT_EQ(human_bytes(1000), "1 KB");
  EXPECT_EQ(human_bytes(1500), "1.5 KB");
  EXPECT_EQ(human_bytes(10'000), "10 KB");
  EXPECT_EQ(human_bytes(285'767), "285 KB");
  EXPECT_EQ(human_bytes(1'000'000), "1 MB");
  EXPECT_EQ(human_bytes(2'019'393'189), "2.0 GB");
  EXPECT_EQ(human_bytes(4'683'073'184), "4.7 GB");
  EXPECT_EQ(human_bytes(13'000'000'000), "13 GB");
  EXPECT_EQ(human_bytes(9'960'000'000), "10.0 GB");  // %.1f rounds up, as Go's does
  EXPECT_EQ(human_bytes(1'500'000'000'000), "1.5 TB");
  EXPECT_EQ(human_bytes(20'000'000'000'000), "20 TB");
}

TEST(HumanTime, Durations) {
  EXPECT_EQ(human_duration(0.5), "Less than a second");
  EXPECT_EQ(human_duration(1), "1 second");
  EXPECT_EQ(human_duration(59.9), "59 seconds");
  EXPECT_EQ(human_duration(60), "About a minute");
  EXPECT_EQ(human_duration(119), "About a minute");
  EXPECT_EQ(human_duration(299), "4 minutes");
  EXPECT_EQ(human_duration(59 * 60 + 59), "59 minutes");
  EXPECT_EQ(human_duration(3600 * 1.4), "About an hour");
  EXPECT_EQ(human_duration(3600 * 1.6), "2 hours");
  EXPECT_EQ(human_duration(3600 * 47), "47 hours");
  EXPECT_EQ(human_duration(86400 * 2), "2 days");
  EXPECT_EQ(human_duration(86400 * 13), "13 days");
  EXPECT_EQ(human_duration(86400 * 21), "3 weeks");
  EXPECT_EQ(human_duration(86400 * 70), "2 months");
  EXPECT_EQ(human_duration(86400 * 800), "2 years");
}

TEST(HumanTime, AgoFromNowNeverForever) {
  const Instant now = at(1'700'000'000);
  EXPECT_EQ(human_time(at(1'700'000'000 - 2 * 86400), "Never", now), "2 days ago");
  EXPECT_EQ(human_time(at(1'700'000'000 + 299, 500'000'000), "Never", now), "4 minutes from now");
  EXPECT_EQ(human_time(at(1'699'999'999, 600'000'000), "Never", now), "Less than a second ago");
  EXPECT_EQ(human_time(Instant{}, "Never", now), "Never");
  // keep_alive -1: expires in the year 2318.
  EXPECT_EQ(human_time(*parse_rfc3339("2318-03-11T07:06:46.107417-07:00"), "Never", now), "Forever");
  EXPECT_EQ(human_time(at(1'700'000'000 + 15LL * 365 * 86400), "Never", now), "15 years from now");
}

TEST(Rfc3339, Parses) {
  const auto t = parse_rfc3339("2025-05-04T17:37:44.706015396-07:00");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->sec, 1746405464);
  EXPECT_EQ(t->nsec, 706015396);
  const auto z = parse_rfc3339("1970-01-01T00:00:01Z");
  ASSERT_TRUE(z);
  EXPECT_EQ(z->sec, 1);
  EXPECT_EQ(z->nsec, 0);
  const auto frac = parse_rfc3339("2024-02-29T12:00:00.5+01:00");
  ASSERT_TRUE(frac);
  EXPECT_EQ(frac->sec, 1709204400);
  EXPECT_EQ(frac->nsec, 500000000);
  EXPECT_TRUE(parse_rfc3339("0001-01-01T00:00:00Z")->is_zero());
  EXPECT_FALSE(parse_rfc3339(""));
  EXPECT_FALSE(parse_rfc3339("2024-02-29 12:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("2024-02-29T12:00:00"));
}

TEST(GoDuration, String) {
  EXPECT_EQ(go_duration(0), "0s");
  EXPECT_EQ(go_duration(1), "1ns");
  EXPECT_EQ(go_duration(999), "999ns");
  EXPECT_EQ(go_duration(1500), "1.5µs");
  EXPECT_EQ(go_duration(20'000'000), "20ms");
  EXPECT_EQ(go_duration(130'123'456), "130.123456ms");
  EXPECT_EQ(go_duration(1'000'000'000), "1s");
  EXPECT_EQ(go_duration(1'234'567'891), "1.234567891s");
  EXPECT_EQ(go_duration(90'000'000'000), "1m30s");
  EXPECT_EQ(go_duration(3'600'000'000'000), "1h0m0s");
  EXPECT_EQ(go_duration(300'000'000'000), "5m0s");
  EXPECT_EQ(go_duration(-1'500'000), "-1.5ms");
}

TEST(Table, ListLayout) {
  const std::string t = render_table({"NAME", "ID", "SIZE", "MODIFIED"},
                                     {{"llama3.2:latest", "a80c4f17acd5", "2.0 GB", "2 days ago"},
                                      {"qwen3:14b", "bdbd181c33f2", "9.6 GB", "4 minutes ago"}});
  EXPECT_EQ(t,
            "NAME               ID              SIZE      MODIFIED         \n"
            "llama3.2:latest    a80c4f17acd5    2.0 GB    2 days ago       \n"
            "qwen3:14b          bdbd181c33f2    9.6 GB    4 minutes ago    \n");
}

TEST(Table, EmptyTableIsTheHeader) {
  EXPECT_EQ(render_table({"NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL"}, {}),
            "NAME    ID    SIZE    PROCESSOR    CONTEXT    UNTIL    \n");
}

TEST(Table, NoHeaderAndWrapping) {
  // Cells wider than the column limit wrap at word boundaries; long single words stay whole.
  const std::string t = render_table(
      {}, {{"", "a b c d e f g h i j k l m n o p q r s t u v w x y z"},
           {"", "mlx-community/Llama-3.2-1B-Instruct-4bit:latest"}},
      30);
  EXPECT_EQ(t,
            "    a b c d e f g h i j k l m n o                      \n"
            "    p q r s t u v w x y z                              \n"
            "    mlx-community/Llama-3.2-1B-Instruct-4bit:latest    \n");
}

TEST(Table, WideCharacters) {
  const std::string t = render_table({"A", "B"}, {{"日本", "x"}, {"abc", "y"}});
  EXPECT_EQ(t,
            "A       B    \n"
            "日本    x    \n"
            "abc     y    \n");
}

TEST(WrapWords, MinimumRaggedness) {
  EXPECT_EQ(wrap_words("hello world", 30), std::vector<std::string>({"hello world"}));
  EXPECT_EQ(wrap_words("aaa bb cc ddddd", 6), std::vector<std::string>({"aaa", "bb cc", "ddddd"}));
  EXPECT_EQ(wrap_words("averyveryverylongword x", 5),
            std::vector<std::string>({"averyveryverylongword", "x"}));
}

TEST(Processor, Strings) {
  EXPECT_EQ(processor_string(100, 0), "100% CPU");
  EXPECT_EQ(processor_string(100, 100), "100% GPU");
  EXPECT_EQ(processor_string(100, 52), "48%/52% CPU/GPU");
  EXPECT_EQ(processor_string(100, 200), "Unknown");
}

TEST(HumanNumber, Ollama) {
  EXPECT_EQ(human_number(134'520'000), "134.52M");
  EXPECT_EQ(human_number(1'000'000'000), "1B");
  EXPECT_EQ(human_number(3'210'000'000), "3.2B");
  EXPECT_EQ(human_number(2'000), "2K");
  EXPECT_EQ(human_number(999), "999");
}

TEST(DisplayWidth, Runes) {
  EXPECT_EQ(display_width("abc"), 3);
  EXPECT_EQ(display_width("日本語"), 6);
  EXPECT_EQ(display_width("e\xcc\x81"), 1);  // e + combining acute
  EXPECT_EQ(pad_right("ab", 4), "ab  ");
  EXPECT_EQ(format_float_plain(2048), "2048");
  EXPECT_EQ(format_float_plain(0.5), "0.5");
}

}  // namespace
}  // namespace ollmlx::cli
