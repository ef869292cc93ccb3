#include <gtest/gtest.h>

#include <cstdio>
#include <thread>

#include "cli/progress.h"

namespace ollmlx::cli {
namespace {

using namespace std::chrono_literals;

std::string bars(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += "█";
  return s;
}

TEST(Spinner, FramesAndStop) {
  const auto t0 = SteadyClock::now();
  Spinner s("pulling manifest", t0);
  EXPECT_EQ(s.render(80, t0), "pulling manifest ⠋ ");
  EXPECT_EQ(s.render(80, t0 + 250ms), "pulling manifest ⠹ ");
  EXPECT_EQ(s.render(80, t0 + 1000ms), "pulling manifest ⠋ ");
  s.stop();
  EXPECT_TRUE(s.finished());
  EXPECT_EQ(s.render(80, t0 + 250ms), "pulling manifest ");
  Spinner blank("", t0);
  EXPECT_EQ(blank.render(80, t0 + 100ms), "⠙ ");
}

TEST(Bar, CompleteLayer) {
  // A layer already present: the bar starts complete and shows only the total.
  const auto t0 = SteadyClock::now();
  Bar b("pulling 6a0746a1ec1a:", 4'683'073'184, 4'683'073'184, t0);
  EXPECT_TRUE(b.finished());
  // pre "pulling 6a0746a1ec1a: 100%" (26) + suffix 31 + 5 -> an 18-cell bar at width 80.
  EXPECT_EQ(b.render(80, t0), "pulling 6a0746a1ec1a: 100% ▕" + bars(18) + "▏ 4.7 GB" +
                                  std::string(7 + 10 + 8, ' '));
}

TEST(Bar, RunningWithRateAndEta) {
  const auto t0 = SteadyClock::now();
  Bar b("pulling 0123456789ab:", 1'000'000'000, 0, t0);
  b.set(250'000'000, t0 + 2s);
  EXPECT_FALSE(b.finished());
  EXPECT_DOUBLE_EQ(b.rate(), 125'000'000.0);
  // pre "pulling 0123456789ab:  25%" (26); suffix "250 MB/  1 GB  125 MB/s      6s" (31).
  const int f = 100 - 26 - 31 - 5;
  const int n = f / 4;
  EXPECT_EQ(b.render(100, t0 + 2s), "pulling 0123456789ab:  25% ▕" + bars(n) + std::string(f - n, ' ') +
                                        "▏ 250 MB/  1 GB  125 MB/s      6s");
  // Buckets: one per second at most; the rate is over the first and last of the last ten.
  b.set(500'000'000, t0 + 2500ms);  // same second: no new bucket
  EXPECT_DOUBLE_EQ(b.rate(), 125'000'000.0);
  b.set(750'000'000, t0 + 4s);
  EXPECT_DOUBLE_EQ(b.rate(), 250'000'000.0);
  b.set(1'000'000'000, t0 + 5s);
  EXPECT_TRUE(b.finished());
  EXPECT_DOUBLE_EQ(b.rate(), 200'000'000.0);  // complete: bytes over the whole time
  EXPECT_EQ(b.render(80, t0 + 5s).substr(0, 27), "pulling 0123456789ab: 100% ");
}

TEST(Bar, NoRateYet) {
  const auto t0 = SteadyClock::now();
  Bar b("x:", 2000, 0, t0);
  b.set(1000, t0);  // a bucket at the start: zero seconds, no rate
  EXPECT_EQ(b.rate(), 0);
  const std::string r = b.render(60, t0);
  EXPECT_EQ(r.substr(0, 8), "x:  50% ");
  EXPECT_EQ(r.substr(r.size() - 31), "  1 KB/  2 KB" + std::string(18, ' '));
}

TEST(Eta, Format) {
  EXPECT_EQ(format_eta(0), "0s");
  EXPECT_EQ(format_eta(90), "1m30s");
  EXPECT_EQ(format_eta(3599), "59m59s");
  EXPECT_EQ(format_eta(3600 + 30 * 60), "1h30m");
  EXPECT_EQ(format_eta(100 * 3600), "99h+");
}

std::string read_all(FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string s;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  return s;
}

TEST(Progress, PlainOutputWritesFinalLinesOnce) {
  FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    Progress p(f, /*tty=*/false);
    Spinner* s = p.add_spinner("pulling manifest");
    {
      auto lock = p.lock();
      s->stop();
    }
    Bar* b = p.add_bar("pulling abc:", 10, 10);
    (void)b;
    p.add_spinner("success");
    p.stop();
  }
  const std::string out = read_all(f);
  std::fclose(f);
  EXPECT_EQ(out, "pulling manifest\npulling abc: 100% ▕" + bars(27) + "▏   10 B\nsuccess\n");
}

TEST(Progress, TtyRedrawsInPlaceAndClears) {
  FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    Progress p(f, /*tty=*/true);
    p.add_spinner("");
    std::this_thread::sleep_for(250ms);  // at least one frame drawn
    p.stop_and_clear();
  }
  const std::string out = read_all(f);
  std::fclose(f);
  EXPECT_NE(out.find("\033[?25l"), std::string::npos);
  EXPECT_NE(out.find(" \033[K"), std::string::npos);  // a spinner frame, then clear to the end
  EXPECT_NE(out.find("\033[2K\033[1G"), std::string::npos);  // the line erased
}

}  // namespace
}  // namespace ollmlx::cli
