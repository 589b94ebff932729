// The `log:` section of the gateway file: defaults, every value, relative access paths, and the
// exact diagnostics (file:line:col) of each bad value.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "test_support.hpp"

namespace tollgate::config {
namespace {

using testing::load_text;
using testing::strings;

const LogConfig& expect_log(const LoadResult& r) {
  for (const auto& d : r.errors) ADD_FAILURE() << d.to_string();
  static const Config kEmpty;
  return r.config ? r.config->log : kEmpty.log;
}

std::vector<std::string> errors_of(const std::string& gateway) { return strings(load_text(gateway).errors); }

TEST(LogSection, AbsentGivesDefaults) {
  const LoadResult r = load_text("");
  const LogConfig& l = expect_log(r);
  EXPECT_EQ(l.level, log::Level::info);
  EXPECT_EQ(l.access, AccessLogTarget::stderr_stream);
  EXPECT_TRUE(l.access_path.empty());
  EXPECT_EQ(l.access_max_bytes, 104'857'600u);
}

TEST(LogSection, EmptyMappingGivesDefaults) {
  const LoadResult r = load_text("log: {}\n");
  const LogConfig& l = expect_log(r);
  EXPECT_EQ(l.level, log::Level::info);
  EXPECT_EQ(l.access, AccessLogTarget::stderr_stream);
  EXPECT_EQ(l.access_max_bytes, 104'857'600u);
}

TEST(LogSection, ReadsEveryLevel) {
  const std::pair<const char*, log::Level> cases[] = {{"debug", log::Level::debug},
                                                       {"info", log::Level::info},
                                                       {"warn", log::Level::warn},
                                                       {"error", log::Level::error}};
  for (const auto& [text, level] : cases) {
    const LoadResult r = load_text(std::string("log:\n  level: ") + text + "\n");
    EXPECT_EQ(expect_log(r).level, level) << text;
  }
}

TEST(LogSection, AccessStderrAndOff) {
  const LoadResult to_stderr = load_text("log: {access: stderr}\n");
  EXPECT_EQ(expect_log(to_stderr).access, AccessLogTarget::stderr_stream);
  EXPECT_TRUE(expect_log(to_stderr).access_path.empty());
  const LoadResult off = load_text("log: {access: off}\n");
  EXPECT_EQ(expect_log(off).access, AccessLogTarget::off);
  EXPECT_TRUE(expect_log(off).access_path.empty());
}

TEST(LogSection, AccessFileIsRelativeToTheGatewayFile) {
  const LoadResult r = load_text("log:\n  access: ../var/log/access.jsonl\n  access_max_bytes: 4096\n");
  const LogConfig& l = expect_log(r);
  EXPECT_EQ(l.access, AccessLogTarget::file);
  EXPECT_EQ(l.access_path, "/var/log/access.jsonl");
  EXPECT_EQ(l.access_max_bytes, 4096u);
  EXPECT_EQ(expect_log(load_text("log: {access: access.jsonl}\n")).access_path, "/cfg/access.jsonl");
}

TEST(LogSection, AccessFileMayBeAbsoluteOrNamedLikeAKeyword) {
  const LoadResult absolute = load_text("log: {access: /tmp/tollgate/access.log}\n");
  EXPECT_EQ(expect_log(absolute).access, AccessLogTarget::file);
  EXPECT_EQ(expect_log(absolute).access_path, "/tmp/tollgate/access.log");
  const LoadResult named_off = load_text("log: {access: ./off}\n");
  EXPECT_EQ(expect_log(named_off).access, AccessLogTarget::file);
  EXPECT_EQ(expect_log(named_off).access_path, "/cfg/off");
}

TEST(LogSection, BadLevelIsAnErrorNamingTheChoices) {
  EXPECT_EQ(errors_of("log:\n  level: verbose\n"),
            std::vector<std::string>{"/cfg/tollgate.yaml:2:10: log.level: expected one of debug, info, warn, error, "
                                     "got \"verbose\""});
  EXPECT_EQ(errors_of("log: {level: INFO}\n"),
            std::vector<std::string>{"/cfg/tollgate.yaml:1:14: log.level: expected one of debug, info, warn, error, "
                                     "got \"INFO\""});
}

TEST(LogSection, UnknownKeyIsAnError) {
  EXPECT_EQ(errors_of("log:\n  level: info\n  acces: off\n"),
            std::vector<std::string>{"/cfg/tollgate.yaml:3:3: unknown key \"log.acces\""});
}

TEST(LogSection, BadAccessValuesAreErrors) {
  EXPECT_EQ(errors_of("log:\n  access: \"\"\n"),
            std::vector<std::string>{"/cfg/tollgate.yaml:2:11: log.access: must not be empty"});
  EXPECT_EQ(errors_of("log:\n  access: [stderr]\n"),
            std::vector<std::string>{"/cfg/tollgate.yaml:2:11: log.access: expected a string, got a list"});
  EXPECT_EQ(errors_of("log:\n  access_max_bytes: 0\n"),
            std::vector<std::string>{"/cfg/tollgate.yaml:2:21: log.access_max_bytes: expected a positive integer, "
                                     "got \"0\""});
  EXPECT_EQ(errors_of("log: stderr\n"),
            std::vector<std::string>{"/cfg/tollgate.yaml:1:6: log: expected a mapping, got \"stderr\""});
}

}  // namespace
}  // namespace tollgate::config
