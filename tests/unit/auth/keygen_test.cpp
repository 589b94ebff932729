#include "tollgate/auth/keygen.hpp"

#include <map>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "tollgate/auth/key_format.hpp"
#include "tollgate/auth/key_hash.hpp"

namespace tollgate::auth {
namespace {

TEST(Keygen, ThousandKeys) {
  std::set<std::string> keys;
  std::set<std::string> prefixes;
  std::set<char> seen;
  for (int i = 0; i < 1000; ++i) {
    const GeneratedKey k = generate_key();
    ASSERT_TRUE(is_well_formed(k.key)) << k.prefix;
    EXPECT_EQ(k.prefix, key_prefix(k.key));
    EXPECT_EQ(k.prefix.size(), kPrefixLength);
    EXPECT_EQ(k.sha256, sha256(k.key));
    keys.insert(k.key);
    prefixes.insert(k.prefix);
    for (std::size_t j = kKeyScheme.size(); j < k.key.size(); ++j) {
      if (j != kPrefixLength) seen.insert(k.key[j]);
    }
  }
  EXPECT_EQ(keys.size(), 1000u);
  // 62^8 prefixes: a collision among 1000 would mean the prefix is not random.
  EXPECT_EQ(prefixes.size(), 1000u);
  EXPECT_EQ(seen.size(), 62u);
  for (char c : kBase62Alphabet) EXPECT_TRUE(seen.contains(c)) << c;
}

// Catches modulo bias: plain `byte % 62` would make the first 8 characters 25% more likely
// (5/256 against 4/256). 200'000 draws put each count near 3226 with a sigma of about 56, so
// +-400 is over 7 sigma yet well inside the 800 that bias would add.
TEST(Keygen, CharactersAreUniform) {
  std::map<char, int> counts;
  int draws = 0;
  for (int i = 0; i < 5000; ++i) {
    const GeneratedKey k = generate_key();
    for (std::size_t j = kKeyScheme.size(); j < k.key.size(); ++j) {
      if (j == kPrefixLength) continue;
      ++counts[k.key[j]];
      ++draws;
    }
  }
  const int expected = draws / static_cast<int>(kBase62Alphabet.size());
  for (char c : kBase62Alphabet) {
    EXPECT_NEAR(counts[c], expected, 400) << c;
  }
}

GeneratedKey fixed_key() {
  GeneratedKey k;
  k.key = "tg_a1b2c3d4_0123456789abcdefghijABCDEFGHIJxy";
  k.prefix = "tg_a1b2c3d4";
  k.sha256 = sha256(k.key);
  return k;
}

TEST(Keygen, KeyEntryYaml) {
  const GeneratedKey k = fixed_key();
  EXPECT_EQ(key_entry_yaml(k, "prod"),
            "- name: prod\n"
            "  prefix: tg_a1b2c3d4\n"
            "  sha256: " + to_hex(k.sha256) + "\n"
            "  status: active\n");
}

TEST(Keygen, KeyEntryYamlNeverContainsTheSecret) {
  const GeneratedKey k = fixed_key();
  const std::string yaml = key_entry_yaml(k, "prod");
  EXPECT_EQ(yaml.find(k.key.substr(kPrefixLength + 1)), std::string::npos);
}

TEST(Keygen, KeyEntryYamlQuotesUnsafeNames) {
  const GeneratedKey k = fixed_key();
  auto first_line = [&](std::string_view name) {
    const std::string yaml = key_entry_yaml(k, name);
    return yaml.substr(0, yaml.find('\n'));
  };
  EXPECT_EQ(first_line("ci-runner_2.x"), "- name: ci-runner_2.x");
  EXPECT_EQ(first_line(""), "- name: \"\"");
  EXPECT_EQ(first_line("null"), "- name: \"null\"");
  EXPECT_EQ(first_line("Yes"), "- name: \"Yes\"");
  EXPECT_EQ(first_line("my key"), "- name: \"my key\"");
  EXPECT_EQ(first_line("a: b # c"), "- name: \"a: b # c\"");
  EXPECT_EQ(first_line("-x"), "- name: \"-x\"");
  EXPECT_EQ(first_line("say \"hi\"\\"), "- name: \"say \\\"hi\\\"\\\\\"");
  EXPECT_EQ(first_line("a\nb"), "- name: \"a\\x0Ab\"");
}

TEST(Keygen, HashKeyInputStripsOneLineEnding) {
  const std::string abc = to_hex(sha256("abc"));
  EXPECT_EQ(hash_key_input("abc"), abc);
  EXPECT_EQ(hash_key_input("abc\n"), abc);
  EXPECT_EQ(hash_key_input("abc\r\n"), abc);
  EXPECT_EQ(hash_key_input("abc\n\n"), to_hex(sha256("abc\n")));
  EXPECT_EQ(hash_key_input("abc\r\n\r\n"), to_hex(sha256("abc\r\n")));
  EXPECT_EQ(hash_key_input("abc\r"), to_hex(sha256("abc\r")));
  EXPECT_EQ(hash_key_input("abc \n"), to_hex(sha256("abc ")));
  EXPECT_EQ(hash_key_input(" abc\n"), to_hex(sha256(" abc")));
  EXPECT_EQ(hash_key_input("\n"), to_hex(sha256("")));
  EXPECT_EQ(hash_key_input(""), to_hex(sha256("")));
}

}  // namespace
}  // namespace tollgate::auth
