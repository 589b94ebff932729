#include "tollgate/auth/authenticate.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fakes/manual_clock.hpp"
#include "tollgate/auth/key_format.hpp"
#include "tollgate/auth/key_hash.hpp"

namespace tollgate::auth {
namespace {

using namespace std::chrono;

constexpr std::string_view kActive = "tg_Act1ve00_0123456789abcdefghijABCDEFGHIJ01";
constexpr std::string_view kRevoked = "tg_Revoked0_0123456789abcdefghijABCDEFGHIJ02";
constexpr std::string_view kExpiring = "tg_Expires0_0123456789abcdefghijABCDEFGHIJ03";
constexpr std::string_view kSuspended = "tg_Suspend0_0123456789abcdefghijABCDEFGHIJ04";
constexpr std::string_view kRevokedSuspended = "tg_RevSusp0_0123456789abcdefghijABCDEFGHIJ05";
// Well formed, but in no tenant's key list.
constexpr std::string_view kUnknown = "tg_Unknown0_SECRETsecretSECRETsecretSECRETse";

constexpr sys_days kExpiresDay = year{2027} / June / 30;

config::Key make_key(std::string name, std::string_view key) {
  config::Key k;
  k.name = std::move(name);
  k.prefix = std::string(key_prefix(key));
  k.sha256 = sha256(key);
  return k;
}

config::Policy make_policy() {
  config::Policy policy;
  config::Tenant acme;
  acme.name = "acme";
  acme.plan = "free";
  acme.keys.push_back(make_key("prod", kActive));
  acme.keys.push_back(make_key("old", kRevoked));
  acme.keys.back().revoked = true;
  acme.keys.push_back(make_key("temp", kExpiring));
  acme.keys.back().expires = kExpiresDay;
  config::Tenant frozen;
  frozen.name = "frozen";
  frozen.plan = "free";
  frozen.suspended = true;
  frozen.keys.push_back(make_key("prod", kSuspended));
  frozen.keys.push_back(make_key("old", kRevokedSuspended));
  frozen.keys.back().revoked = true;
  policy.tenants = {acme, frozen};
  for (std::size_t t = 0; t < policy.tenants.size(); ++t) {
    for (std::size_t k = 0; k < policy.tenants[t].keys.size(); ++k) {
      policy.key_index.emplace(config::key_index_key(policy.tenants[t].keys[k].sha256), config::KeyRef{t, k});
    }
  }
  return policy;
}

class Authenticate : public ::testing::Test {
 protected:
  Result<Principal> auth(std::optional<std::string_view> key) {
    return authenticate(policy_, key, clock_.now());
  }
  void expect_failure(std::optional<std::string_view> key, Error code, std::string_view message) {
    const auto r = auth(key);
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().code, code);
    EXPECT_EQ(r.error().message, message);
    EXPECT_EQ(r.error().param, "");
  }

  config::Policy policy_ = make_policy();
  testing::ManualClock clock_{sys_days{year{2026} / November / 22} + 12h};
};

TEST_F(Authenticate, ActiveKey) {
  const auto r = auth(kActive);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->tenant, &policy_.tenants[0]);
  EXPECT_EQ(r->key, &policy_.tenants[0].keys[0]);
  EXPECT_EQ(r->key->name, "prod");
}

TEST_F(Authenticate, Missing) {
  constexpr std::string_view kMissing =
      "Missing API key. Pass it as 'Authorization: Bearer <key>' or 'x-api-key'.";
  expect_failure(std::nullopt, Error::invalid_api_key, kMissing);
  expect_failure(std::string_view{}, Error::invalid_api_key, kMissing);
}

TEST_F(Authenticate, Malformed) {
  for (std::string_view key : {"tg_", "sk-proj-abcdef", "tg_Act1ve00_0123456789abcdefghijABCDEFGHIJ0",
                               "tg_Act1ve00-0123456789abcdefghijABCDEFGHIJ01", "not a key at all"}) {
    expect_failure(key, Error::invalid_api_key, "Malformed API key.");
  }
}

TEST_F(Authenticate, Unknown) {
  expect_failure(kUnknown, Error::invalid_api_key, "Incorrect API key provided: tg_Unknown0...");
}

TEST_F(Authenticate, KnownPrefixWithWrongSecretIsUnknown) {
  std::string key(kActive);
  key.back() = 'Z';
  expect_failure(key, Error::invalid_api_key, "Incorrect API key provided: tg_Act1ve00...");
}

TEST_F(Authenticate, Revoked) {
  expect_failure(kRevoked, Error::invalid_api_key, "API key has been revoked.");
}

TEST_F(Authenticate, ExpiryBoundary) {
  clock_.set(kExpiresDay);
  EXPECT_TRUE(auth(kExpiring).has_value());
  clock_.set(kExpiresDay + 23h + 59min + 59s);
  EXPECT_TRUE(auth(kExpiring).has_value());
  clock_.set(kExpiresDay + 23h + 59min + 59s + 999ms);
  EXPECT_TRUE(auth(kExpiring).has_value());
  clock_.set(kExpiresDay + days{1});
  expect_failure(kExpiring, Error::invalid_api_key, "API key has expired.");
  clock_.advance(days{365});
  expect_failure(kExpiring, Error::invalid_api_key, "API key has expired.");
}

TEST_F(Authenticate, KeysWithoutExpiryNeverExpire) {
  clock_.set(sys_days{year{2200} / January / 1});
  EXPECT_TRUE(auth(kActive).has_value());
}

TEST_F(Authenticate, SuspendedTenant) {
  expect_failure(kSuspended, Error::tenant_suspended, "Tenant is suspended.");
}

TEST_F(Authenticate, KeyProblemsComeBeforeSuspension) {
  expect_failure(kRevokedSuspended, Error::invalid_api_key, "API key has been revoked.");
}

TEST_F(Authenticate, CorruptIndexIsUnknownNotACrash) {
  policy_.key_index[config::key_index_key(sha256(kUnknown))] = config::KeyRef{7, 0};
  expect_failure(kUnknown, Error::invalid_api_key, "Incorrect API key provided: tg_Unknown0...");
  policy_.key_index[config::key_index_key(sha256(kUnknown))] = config::KeyRef{0, 9};
  expect_failure(kUnknown, Error::invalid_api_key, "Incorrect API key provided: tg_Unknown0...");
}

// SPEC section 8: no failure may carry the secret part of a key (or its hash).
TEST_F(Authenticate, NoMessageContainsTheSecret) {
  clock_.set(kExpiresDay + days{2});
  std::string almost(kActive);
  almost.pop_back();  // malformed: one character short
  std::string wrong_secret(kActive);
  wrong_secret.back() = 'Z';
  const std::vector<std::string> keys = {std::string(kUnknown), std::string(kRevoked),
                                         std::string(kExpiring), std::string(kSuspended),
                                         almost, wrong_secret};
  for (const std::string& key : keys) {
    const auto r = auth(key);
    ASSERT_TRUE(r.has_error()) << key;
    const std::string& message = r.error().message;
    // Any 6 consecutive characters after the prefix would be a leak.
    for (std::size_t i = kPrefixLength; i + 6 <= key.size(); ++i) {
      EXPECT_EQ(message.find(key.substr(i, 6)), std::string::npos) << message;
    }
    EXPECT_EQ(message.find(to_hex(sha256(key)).substr(0, 8)), std::string::npos) << message;
    EXPECT_EQ(r.error().param.find(key.substr(kPrefixLength)), std::string::npos);
  }
}

}  // namespace
}  // namespace tollgate::auth
