// ConfigWatch against real inotify in a temp directory, driven by an io_context on the test
// thread with bounded deadlines.
#include "config_watch.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>

#include "support/io_driver.hpp"
#include "support/temp_dir.hpp"

namespace tollgate::server {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

class ConfigWatchTest : public ::testing::Test {
 protected:
  static constexpr std::chrono::milliseconds kDebounce{40};

  ConfigWatchTest() {
    write_file(gateway(), "listen: 0.0.0.0:8080\n");
    fs::create_directory(dir_.file("tenants.d"));
    write_file(tenants("a.yaml"), "tenants: {}\n");
  }

  std::string gateway() const { return dir_.file("tollgate.yaml"); }
  std::string tenants_dir() const { return dir_.file("tenants.d"); }
  std::string tenants(const std::string& name) const { return dir_.file("tenants.d/" + name); }

  std::unique_ptr<ConfigWatch> make(std::chrono::milliseconds debounce = kDebounce) {
    return std::make_unique<ConfigWatch>(io_.get_executor(), debounce, [this] { ++calls_; });
  }

  // Runs the loop until a change fired (at most 1 s), then for a few more quiet periods so a
  // second call would show; returns the number of calls and resets it.
  int changes(std::chrono::milliseconds debounce = kDebounce) {
    testing::run_until(io_, [this] { return calls_ > 0; }, 1s);
    run_for(3 * debounce);
    return std::exchange(calls_, 0);
  }

  // For "nothing fires": runs the loop for several quiet periods (the events are read at once,
  // so a wrongly armed timer would have fired by then); returns the number of calls.
  int quiet_changes() {
    run_for(5 * kDebounce);
    return std::exchange(calls_, 0);
  }

  // Runs the loop for `d` (returns earlier when it has nothing left to wait for).
  void run_for(std::chrono::milliseconds d) {
    io_.restart();
    io_.run_for(d);
  }

  testing::TempDir dir_;
  boost::asio::io_context io_{1};
  int calls_ = 0;
};

TEST_F(ConfigWatchTest, WriteInPlace) {
  auto watch = make();
  watch->watch({gateway(), tenants_dir()});
  write_file(gateway(), "listen: 0.0.0.0:9090\n");
  EXPECT_EQ(changes(), 1);
  write_file(tenants("a.yaml"), "tenants: {x: {}}\n");
  EXPECT_EQ(changes(), 1);
}

TEST_F(ConfigWatchTest, TempFileRenamedOver) {
  auto watch = make();
  watch->watch({gateway()});
  write_file(gateway() + ".tmp", "listen: 0.0.0.0:9090\n");
  EXPECT_EQ(quiet_changes(), 0);  // the temp file's own name is not watched
  fs::rename(gateway() + ".tmp", gateway());
  EXPECT_EQ(changes(), 1);
}

TEST_F(ConfigWatchTest, DeletedAndRecreated) {
  auto watch = make();
  watch->watch({gateway()});
  fs::remove(gateway());
  write_file(gateway(), "listen: 0.0.0.0:9090\n");
  EXPECT_EQ(changes(), 1);
  write_file(gateway(), "listen: 0.0.0.0:9091\n");  // the new file is watched too
  EXPECT_EQ(changes(), 1);
}

// A Kubernetes ConfigMap volume: the visible names are symlinks through `..data`, which is
// replaced by renaming a new symlink over it.
TEST_F(ConfigWatchTest, ConfigMapSymlinkSwapInWatchedDirectory) {
  const std::string mount = dir_.file("configmap");
  fs::create_directories(mount + "/..2024_01");
  write_file(mount + "/..2024_01/a.yaml", "tenants: {}\n");
  fs::create_directory_symlink("..2024_01", mount + "/..data");
  fs::create_symlink("..data/a.yaml", mount + "/a.yaml");
  auto watch = make();
  watch->watch({mount});

  fs::create_directories(mount + "/..2024_02");
  write_file(mount + "/..2024_02/a.yaml", "tenants: {x: {}}\n");
  fs::create_directory_symlink("..2024_02", mount + "/..data_tmp");
  fs::rename(mount + "/..data_tmp", mount + "/..data");
  fs::remove_all(mount + "/..2024_01");
  EXPECT_EQ(changes(), 1);
}

TEST_F(ConfigWatchTest, ConfigMapSymlinkSwapBesideGatewayFile) {
  const std::string mount = dir_.file("etc");
  fs::create_directories(mount + "/..v1");
  write_file(mount + "/..v1/tollgate.yaml", "listen: 0.0.0.0:8080\n");
  fs::create_directory_symlink("..v1", mount + "/..data");
  fs::create_symlink("..data/tollgate.yaml", mount + "/tollgate.yaml");
  auto watch = make();
  watch->watch({mount + "/tollgate.yaml"});

  fs::create_directories(mount + "/..v2");
  write_file(mount + "/..v2/tollgate.yaml", "listen: 0.0.0.0:9090\n");
  fs::create_directory_symlink("..v2", mount + "/..data_tmp");
  fs::rename(mount + "/..data_tmp", mount + "/..data");
  EXPECT_EQ(changes(), 1);
}

// The tenants path itself is a symlink to a directory, switched atomically to another one.
TEST_F(ConfigWatchTest, SymlinkedDirectorySwapped) {
  fs::create_directory(dir_.file("tenants.v1"));
  fs::create_directory(dir_.file("tenants.v2"));
  write_file(dir_.file("tenants.v1/a.yaml"), "tenants: {}\n");
  write_file(dir_.file("tenants.v2/a.yaml"), "tenants: {}\n");
  fs::create_directory_symlink("tenants.v1", dir_.file("tenants"));
  auto watch = make();
  watch->watch({dir_.file("tenants")});

  fs::create_directory_symlink("tenants.v2", dir_.file("tenants.tmp"));
  fs::rename(dir_.file("tenants.tmp"), dir_.file("tenants"));
  EXPECT_EQ(changes(), 1);

  // After the reload the server watches again; then the new target counts, the old one not.
  watch->watch({dir_.file("tenants")});
  write_file(dir_.file("tenants.v1/a.yaml"), "tenants: {old: {}}\n");
  EXPECT_EQ(quiet_changes(), 0);
  write_file(dir_.file("tenants.v2/a.yaml"), "tenants: {new: {}}\n");
  EXPECT_EQ(changes(), 1);
}

TEST_F(ConfigWatchTest, NewYamlFileInTenantsDirectory) {
  auto watch = make();
  watch->watch({gateway(), tenants_dir()});
  write_file(tenants("b.yaml"), "tenants: {}\n");
  EXPECT_EQ(changes(), 1);
  write_file(tenants("c.yml"), "tenants: {}\n");
  EXPECT_EQ(changes(), 1);
  fs::remove(tenants("b.yaml"));
  EXPECT_EQ(changes(), 1);
}

TEST_F(ConfigWatchTest, NonYamlFilesInTenantsDirectoryAreIgnored) {
  auto watch = make();
  watch->watch({gateway(), tenants_dir()});
  write_file(tenants("notes.txt"), "hello\n");
  write_file(tenants(".a.yaml.swp"), "swap\n");  // an editor's swap file
  write_file(tenants("a.yaml~"), "backup\n");
  write_file(tenants(".hidden.yaml"), "the loader skips hidden files\n");
  fs::create_directory(tenants("sub.yaml"));
  EXPECT_EQ(quiet_changes(), 0);
}

TEST_F(ConfigWatchTest, UnrelatedFileBesideGatewayFileIsIgnored) {
  auto watch = make();
  watch->watch({gateway(), tenants_dir()});
  // The usage sink writing and rotating its file next to the configuration.
  write_file(dir_.file("usage.jsonl"), "{}\n");
  write_file(dir_.file("usage.jsonl"), "{}\n{}\n");
  fs::rename(dir_.file("usage.jsonl"), dir_.file("usage.jsonl.1"));
  write_file(dir_.file("other.yaml"), "not ours: the gateway file is watched by name\n");
  EXPECT_EQ(quiet_changes(), 0);
}

TEST_F(ConfigWatchTest, AppendsToAnOpenFileBesideTheConfigurationWakeNothing) {
  auto watch = make();
  watch->watch({gateway(), tenants_dir()});
  // The usage sink and the access log keep their files open and append a batch every few
  // milliseconds; each write must not cost the watch an inotify event.
  const int fd = ::open(dir_.file("usage.jsonl").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  run_for(kDebounce);  // the IN_CREATE, read and counted
  const auto before = watch->events_read();
  for (int i = 0; i < 100; ++i) ASSERT_EQ(::write(fd, "{}\n", 3), 3);
  EXPECT_EQ(quiet_changes(), 0);
  EXPECT_EQ(watch->events_read(), before);
  ::close(fd);  // one IN_CLOSE_WRITE, still not a change
  EXPECT_EQ(quiet_changes(), 0);
  EXPECT_EQ(watch->events_read(), before + 1);
}

TEST_F(ConfigWatchTest, QuickWritesGiveOneCall) {
  auto watch = make();
  watch->watch({gateway(), tenants_dir()});
  for (int i = 0; i < 5; ++i) write_file(gateway(), "listen: 0.0.0.0:" + std::to_string(9000 + i) + "\n");
  write_file(tenants("a.yaml"), "tenants: {x: {}}\n");
  EXPECT_EQ(changes(), 1);
}

TEST_F(ConfigWatchTest, EachEventRestartsTheQuietPeriod) {
  constexpr auto kLong = 300ms;
  auto watch = make(kLong);
  watch->watch({gateway()});
  for (int i = 0; i < 4; ++i) {
    write_file(gateway(), "listen: 0.0.0.0:" + std::to_string(9000 + i) + "\n");
    run_for(30ms);  // well within the quiet period: the events are read and the timer re-armed
  }
  EXPECT_EQ(calls_, 0);
  EXPECT_EQ(changes(kLong), 1);
}

TEST_F(ConfigWatchTest, StopPreventsCalls) {
  auto watch = make();
  watch->watch({gateway()});
  write_file(gateway(), "listen: 0.0.0.0:9090\n");
  run_for(10ms);  // the event is (most likely) read and the quiet period started
  watch->stop();
  watch->stop();  // idempotent
  write_file(gateway(), "listen: 0.0.0.0:9091\n");
  watch->watch({gateway()});  // no-op after stop()
  write_file(gateway(), "listen: 0.0.0.0:9092\n");
  EXPECT_EQ(quiet_changes(), 0);
}

TEST_F(ConfigWatchTest, DestroyedWithPendingEventsNeverCalls) {
  auto watch = make();
  watch->watch({gateway()});
  write_file(gateway(), "listen: 0.0.0.0:9090\n");
  run_for(10ms);
  watch.reset();
  EXPECT_EQ(quiet_changes(), 0);
}

TEST_F(ConfigWatchTest, WatchAgainReplacesTheSet) {
  fs::create_directory(dir_.file("other"));
  const std::string other = dir_.file("other/tollgate.yaml");
  write_file(other, "listen: 0.0.0.0:8080\n");
  auto watch = make();
  watch->watch({gateway(), tenants_dir()});
  watch->watch({other});
  write_file(gateway(), "listen: 0.0.0.0:9090\n");
  write_file(tenants("a.yaml"), "tenants: {x: {}}\n");
  EXPECT_EQ(quiet_changes(), 0);
  write_file(other, "listen: 0.0.0.0:9090\n");
  EXPECT_EQ(changes(), 1);
}

TEST_F(ConfigWatchTest, WatchAgainInSameDirectoryReplacesTheNames) {
  const std::string second = dir_.file("second.yaml");
  write_file(second, "listen: 0.0.0.0:8080\n");
  auto watch = make();
  watch->watch({gateway()});
  watch->watch({second});
  write_file(gateway(), "listen: 0.0.0.0:9090\n");
  EXPECT_EQ(quiet_changes(), 0);
  write_file(second, "listen: 0.0.0.0:9090\n");
  EXPECT_EQ(changes(), 1);
}

// How the server uses it: each change reloads and watches the new snapshot's paths again.
TEST_F(ConfigWatchTest, OnChangeMayWatchAgain) {
  std::unique_ptr<ConfigWatch> watch;
  watch = std::make_unique<ConfigWatch>(io_.get_executor(), kDebounce, [&] {
    ++calls_;
    watch->watch({gateway(), tenants_dir()});
  });
  watch->watch({gateway(), tenants_dir()});
  write_file(gateway(), "listen: 0.0.0.0:9090\n");
  EXPECT_EQ(changes(), 1);
  write_file(tenants("a.yaml"), "tenants: {x: {}}\n");
  EXPECT_EQ(changes(), 1);
}

TEST_F(ConfigWatchTest, MissingPathsAreSkippedAndTheRestWatched) {
  auto watch = make();
  EXPECT_NO_THROW(watch->watch({dir_.file("no/such/dir/tollgate.yaml"), dir_.file("absent.yaml"), gateway()}));
  write_file(gateway(), "listen: 0.0.0.0:9090\n");
  EXPECT_EQ(changes(), 1);
  write_file(dir_.file("absent.yaml"), "appears later\n");  // its directory exists: creation counts
  EXPECT_EQ(changes(), 1);
}

TEST_F(ConfigWatchTest, WatchedDirectoryDeletedAndRecreated) {
  auto watch = make();
  watch->watch({tenants_dir()});
  fs::remove_all(tenants_dir());
  fs::create_directory(tenants_dir());
  write_file(tenants("a.yaml"), "tenants: {}\n");
  EXPECT_EQ(changes(), 1);
  write_file(tenants("b.yaml"), "tenants: {}\n");  // the new directory is watched again
  EXPECT_EQ(changes(), 1);
}

TEST_F(ConfigWatchTest, QueueOverflowCountsAsChange) {
  int max_events = 0;
  std::ifstream("/proc/sys/fs/inotify/max_queued_events") >> max_events;
  if (max_events <= 0 || max_events > 200'000) GTEST_SKIP() << "max_queued_events is " << max_events;
  auto watch = make();
  watch->watch({gateway()});
  // Closes two unrelated files after writing, alternating so the kernel cannot merge the
  // events (IN_CLOSE_WRITE each; appends to a file kept open are not watched).
  for (int i = 0; i <= max_events / 2 + 10; ++i) {
    for (const char* name : {"noise-a", "noise-b"}) {
      const int fd = ::open(dir_.file(name).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
      ASSERT_GE(fd, 0);
      ::close(fd);
    }
  }
  EXPECT_EQ(changes(), 1);
}

TEST(WatchedPaths, GatewayFileAndTenantsPath) {
  config::Config config;
  config.source_file = "/etc/tollgate/tollgate.yaml";
  config.tenants_path = "/etc/tollgate/tenants.d";
  EXPECT_EQ(watched_paths(config), (std::vector<std::string>{"/etc/tollgate/tollgate.yaml", "/etc/tollgate/tenants.d"}));
}

}  // namespace
}  // namespace tollgate::server
