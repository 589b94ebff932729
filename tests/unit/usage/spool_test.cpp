// Unit tests of the Kafka sink's disk spool (src/usage/spool.hpp): order, crash damage, cap.
#include "spool.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace tollgate::usage {
namespace {

namespace fs = std::filesystem;

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tollgate-spool-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  SpoolOptions options(std::uint64_t max_bytes = 1u << 20, std::uint64_t segment_bytes = 0) const {
    SpoolOptions o;
    o.dir = dir_;
    o.max_bytes = max_bytes;
    o.segment_bytes = segment_bytes;
    return o;
  }

  static Record make(int i) {
    Record r;
    r.key = "tenant-" + std::to_string(i % 3);
    r.event_id = "ev-" + std::to_string(i);
    r.payload = R"({"schema":1,"event_id":"ev-)" + std::to_string(i) + R"(","n":)" + std::to_string(i) + "}";
    return r;
  }

  std::vector<fs::path> segments() const {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir_)) {
      if (e.path().extension() == ".spool") out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // Reads every record, settling each, and returns their event ids in order.
  static std::vector<std::string> drain(Spool& spool) {
    std::vector<std::string> ids;
    while (auto rec = spool.next()) {
      ids.push_back(rec->record.event_id);
      spool.done(rec->segment);
    }
    return ids;
  }

  static std::vector<std::string> ids(std::initializer_list<int> which) {
    std::vector<std::string> out;
    for (int i : which) out.push_back("ev-" + std::to_string(i));
    return out;
  }

  std::string dir_;
};

TEST(Crc32c, KnownVector) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);  // the CRC-32C check value
  EXPECT_EQ(crc32c(""), 0u);
}

TEST_F(SpoolTest, ReplaysInAppendOrderAndDeletesSettledSegments) {
  Spool spool(options());
  for (int i = 0; i < 100; ++i) ASSERT_EQ(spool.append(make(i)), Spool::Append::ok);
  ASSERT_TRUE(spool.sync());
  EXPECT_GT(spool.bytes(), 0u);
  std::vector<std::string> got;
  while (auto rec = spool.next()) {
    const Record want = make(static_cast<int>(got.size()));
    EXPECT_EQ(rec->record.key, want.key);
    EXPECT_EQ(rec->record.event_id, want.event_id);
    EXPECT_EQ(rec->record.payload, want.payload);
    got.push_back(rec->record.event_id);
    spool.done(rec->segment);
  }
  EXPECT_EQ(got.size(), 100u);
  EXPECT_EQ(spool.bytes(), 0u);
  EXPECT_TRUE(segments().empty());
  EXPECT_EQ(spool.damage().torn + spool.damage().corrupt, 0u);
}

TEST_F(SpoolTest, UnsettledRecordsStayOnDiskAndComeBackAfterReopen) {
  {
    Spool spool(options());
    for (int i = 0; i < 10; ++i) ASSERT_EQ(spool.append(make(i)), Spool::Append::ok);
    ASSERT_TRUE(spool.sync());
    // Hand five out, settle only two: the segment must survive.
    for (int i = 0; i < 5; ++i) {
      auto rec = spool.next();
      ASSERT_TRUE(rec);
      if (i < 2) spool.done(rec->segment);
    }
    EXPECT_EQ(spool.outstanding(), 3u);
  }
  Spool reopened(options());
  EXPECT_GT(reopened.bytes(), 0u);
  EXPECT_EQ(drain(reopened), ids({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));  // at-least-once
  EXPECT_TRUE(segments().empty());
}

TEST_F(SpoolTest, AppendsAfterReopenGoToANewSegmentAndKeepOrder) {
  {
    Spool spool(options());
    for (int i = 0; i < 3; ++i) ASSERT_EQ(spool.append(make(i)), Spool::Append::ok);
  }
  Spool spool(options());
  for (int i = 3; i < 6; ++i) ASSERT_EQ(spool.append(make(i)), Spool::Append::ok);
  EXPECT_EQ(segments().size(), 2u);
  EXPECT_EQ(drain(spool), ids({0, 1, 2, 3, 4, 5}));
}

TEST_F(SpoolTest, RollsSegmentsAndReclaimsThemAsTheyAreSettled) {
  Spool spool(options(1u << 20, 1024));
  for (int i = 0; i < 200; ++i) ASSERT_EQ(spool.append(make(i)), Spool::Append::ok);
  const auto before = segments().size();
  EXPECT_GT(before, 5u);
  std::vector<std::string> got;
  for (int i = 0; i < 100; ++i) {
    auto rec = spool.next();
    ASSERT_TRUE(rec);
    got.push_back(rec->record.event_id);
    spool.done(rec->segment);
  }
  EXPECT_LT(segments().size(), before);
  for (auto& id : drain(spool)) got.push_back(id);
  ASSERT_EQ(got.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(got[i], "ev-" + std::to_string(i));
  EXPECT_EQ(spool.bytes(), 0u);
}

TEST_F(SpoolTest, TornLastRecordIsSkippedAndReported) {
  {
    Spool spool(options());
    for (int i = 0; i < 5; ++i) ASSERT_EQ(spool.append(make(i)), Spool::Append::ok);
  }
  const auto files = segments();
  ASSERT_EQ(files.size(), 1u);
  fs::resize_file(files[0], fs::file_size(files[0]) - 3);
  Spool spool(options());
  EXPECT_EQ(drain(spool), ids({0, 1, 2, 3}));
  EXPECT_EQ(spool.damage().torn, 1u);
  EXPECT_EQ(spool.damage().corrupt, 0u);
  EXPECT_TRUE(segments().empty());
}

TEST_F(SpoolTest, RecordTornInsideItsHeaderIsSkippedToo) {
  {
    Spool spool(options());
    for (int i = 0; i < 3; ++i) ASSERT_EQ(spool.append(make(i)), Spool::Append::ok);
  }
  const auto files = segments();
  const auto size = fs::file_size(files[0]);
  const auto last = 12 + 8 + make(2).key.size() + make(2).event_id.size() + make(2).payload.size();
  fs::resize_file(files[0], size - last + 5);  // 5 bytes of the last record's 12-byte header
  Spool spool(options());
  EXPECT_EQ(drain(spool), ids({0, 1}));
  EXPECT_EQ(spool.damage().torn, 1u);
}

TEST_F(SpoolTest, CorruptMiddleRecordIsSkippedAndTheRestReplayed) {
  {
    Spool spool(options());
    for (int i = 0; i < 5; ++i) ASSERT_EQ(spool.append(make(i)), Spool::Append::ok);
  }
  const auto files = segments();
  std::string bytes;
  {
    std::ifstream in(files[0], std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const auto at = bytes.find("\"n\":2}");
  ASSERT_NE(at, std::string::npos);
  bytes[at + 4] = '7';  // same length, wrong CRC
  {
    std::ofstream out(files[0], std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  Spool spool(options());
  EXPECT_EQ(drain(spool), ids({0, 1, 3, 4}));
  EXPECT_EQ(spool.damage().corrupt, 1u);
  EXPECT_EQ(spool.damage().torn, 0u);
}

TEST_F(SpoolTest, CorruptLengthFieldResynchronisesOnTheNextRecord) {
  {
    Spool spool(options());
    for (int i = 0; i < 4; ++i) ASSERT_EQ(spool.append(make(i)), Spool::Append::ok);
  }
  const auto files = segments();
  std::string bytes;
  {
    std::ifstream in(files[0], std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const auto first = 8 + 12 + 8 + make(0).key.size() + make(0).event_id.size() + make(0).payload.size();
  bytes[first + 6] = '\x7f';  // record 1's length now points far beyond the file
  {
    std::ofstream out(files[0], std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  Spool spool(options());
  EXPECT_EQ(drain(spool), ids({0, 2, 3}));
  EXPECT_EQ(spool.damage().corrupt, 1u);
}

TEST_F(SpoolTest, CapRefusesNewRecordsButKeepsOldOnes) {
  Spool spool(options(4096, 1024));
  int accepted = 0;
  int refused = 0;
  for (int i = 0; i < 200; ++i) {
    const auto r = spool.append(make(i));
    if (r == Spool::Append::ok) {
      ++accepted;
      EXPECT_EQ(refused, 0) << "a record was accepted after one was refused";
    } else {
      EXPECT_EQ(r, Spool::Append::full);
      ++refused;
    }
  }
  EXPECT_GT(accepted, 10);
  EXPECT_GT(refused, 0);
  EXPECT_LE(spool.bytes(), 4096u);
  std::uint64_t on_disk = 0;
  for (const auto& f : segments()) on_disk += fs::file_size(f);
  EXPECT_EQ(on_disk, spool.bytes());
  // Settling old records frees room again.
  const auto replayed = drain(spool);
  EXPECT_EQ(replayed.size(), static_cast<std::size_t>(accepted));
  EXPECT_EQ(spool.append(make(999)), Spool::Append::ok);
}

TEST_F(SpoolTest, SecondSpoolOnTheSameDirectoryIsRefused) {
  Spool first(options());
  EXPECT_THROW(Spool second(options()), std::runtime_error);
}

TEST_F(SpoolTest, RelativeDirectoryIsRefused) {
  SpoolOptions o;
  o.dir = "relative/spool";
  EXPECT_THROW(Spool spool(o), std::runtime_error);
}

// A process appending in a loop is SIGKILLed at an arbitrary moment: every record it finished
// writing comes back in order, and at most one torn record is reported.
TEST_F(SpoolTest, ReopenAfterSigkillReplaysEverythingWritten) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    Spool spool(options(64u << 20, 4096));
    for (int i = 0;; ++i) {
      if (spool.append(make(i)) != Spool::Append::ok) ::_exit(3);
      if (i % 7 == 0) spool.sync();
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    std::uint64_t total = 0;
    for (const auto& f : segments()) total += fs::file_size(f);
    if (total > 200'000 || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));

  Spool spool(options());
  const auto got = drain(spool);
  ASSERT_GT(got.size(), 100u);
  for (std::size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], "ev-" + std::to_string(i));
  EXPECT_LE(spool.damage().torn, 1u);
  EXPECT_EQ(spool.damage().corrupt, 0u);
}

}  // namespace
}  // namespace tollgate::usage
