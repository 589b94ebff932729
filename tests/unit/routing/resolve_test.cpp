#include "tollgate/routing/resolve.hpp"

#include <string>

#include <gtest/gtest.h>

namespace tollgate::routing {
namespace {

config::Config make_config() {
  config::Config c;
  c.providers["openai"].name = "openai";
  c.providers["local"].name = "local";
  auto add = [&](std::string name, std::string provider) {
    config::Model& m = c.models[name];
    m.name = name;
    m.provider = std::move(provider);
    m.upstream_model = name;
  };
  add("gpt-4o", "openai");
  add("gpt-4o-mini", "openai");
  add("o1", "openai");
  add("llama-3", "local");
  return c;
}

config::Tenant make_tenant(std::optional<std::set<std::string>> models,
                           std::map<std::string, std::string> downgrade = {}) {
  config::Tenant t;
  t.name = "acme";
  t.plan = "free";
  t.models = std::move(models);
  t.downgrade = std::move(downgrade);
  return t;
}

class Resolve : public ::testing::Test {
 protected:
  config::Config config_ = make_config();
};

TEST_F(Resolve, NoAllowListAllowsEveryConfiguredModel) {
  const config::Tenant t = make_tenant(std::nullopt);
  for (const auto& [name, model] : config_.models) {
    const auto r = resolve(config_, t, name);
    ASSERT_TRUE(r.has_value()) << name;
    EXPECT_EQ(r->model, &model);
    EXPECT_EQ(r->provider, &config_.providers.at(model.provider));
    EXPECT_FALSE(r->downgraded_from);
  }
}

TEST_F(Resolve, AllowedModel) {
  const config::Tenant t = make_tenant(std::set<std::string>{"gpt-4o-mini", "llama-3"});
  const auto r = resolve(config_, t, "llama-3");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->model, &config_.models.at("llama-3"));
  EXPECT_EQ(r->provider, &config_.providers.at("local"));
  EXPECT_FALSE(r->downgraded_from);
}

TEST_F(Resolve, AllowedModelIsNotDowngraded) {
  const config::Tenant t =
      make_tenant(std::set<std::string>{"gpt-4o", "gpt-4o-mini"}, {{"gpt-4o", "gpt-4o-mini"}});
  const auto r = resolve(config_, t, "gpt-4o");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->model->name, "gpt-4o");
  EXPECT_FALSE(r->downgraded_from);
}

TEST_F(Resolve, NotAllowedIs403) {
  const config::Tenant t = make_tenant(std::set<std::string>{"gpt-4o-mini"});
  const auto r = resolve(config_, t, "gpt-4o");
  ASSERT_TRUE(r.has_error());
  EXPECT_EQ(r.error().code, Error::model_not_allowed);
  EXPECT_EQ(r.error().message, "The model 'gpt-4o' is not allowed on plan 'free'.");
  EXPECT_EQ(r.error().param, "model");
}

TEST_F(Resolve, UnconfiguredIs404) {
  for (const config::Tenant& t :
       {make_tenant(std::nullopt), make_tenant(std::set<std::string>{"gpt-4o-mini"})}) {
    const auto r = resolve(config_, t, "gpt-5");
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().code, Error::model_not_found);
    EXPECT_EQ(r.error().message, "The model 'gpt-5' does not exist.");
    EXPECT_EQ(r.error().param, "model");
  }
}

TEST_F(Resolve, OnAllowListButUnconfiguredIs404) {
  const config::Tenant t = make_tenant(std::set<std::string>{"gpt-5"});
  const auto r = resolve(config_, t, "gpt-5");
  ASSERT_TRUE(r.has_error());
  EXPECT_EQ(r.error().code, Error::model_not_found);
}

TEST_F(Resolve, EmptyNameIs404) {
  const auto r = resolve(config_, make_tenant(std::nullopt), "");
  ASSERT_TRUE(r.has_error());
  EXPECT_EQ(r.error().code, Error::model_not_found);
  EXPECT_EQ(r.error().message, "The model '' does not exist.");
}

TEST_F(Resolve, DowngradesANotAllowedModel) {
  const config::Tenant t =
      make_tenant(std::set<std::string>{"gpt-4o-mini"}, {{"gpt-4o", "gpt-4o-mini"}});
  const auto r = resolve(config_, t, "gpt-4o");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->model, &config_.models.at("gpt-4o-mini"));
  EXPECT_EQ(r->provider, &config_.providers.at("openai"));
  EXPECT_EQ(r->downgraded_from, "gpt-4o");
}

TEST_F(Resolve, DowngradesAnUnconfiguredName) {
  const config::Tenant t = make_tenant(std::nullopt, {{"gpt-4-turbo", "gpt-4o"}});
  const auto r = resolve(config_, t, "gpt-4-turbo");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->model->name, "gpt-4o");
  EXPECT_EQ(r->downgraded_from, "gpt-4-turbo");
}

TEST_F(Resolve, DowngradeAcrossProviders) {
  const config::Tenant t = make_tenant(std::set<std::string>{"llama-3"}, {{"o1", "llama-3"}});
  const auto r = resolve(config_, t, "o1");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->model->name, "llama-3");
  EXPECT_EQ(r->provider, &config_.providers.at("local"));
  EXPECT_EQ(r->downgraded_from, "o1");
}

TEST_F(Resolve, DowngradeToUnconfiguredTargetFallsThrough) {
  const config::Tenant t = make_tenant(std::set<std::string>{"gpt-4o-mini", "ghost"},
                                       {{"gpt-4o", "ghost"}, {"gpt-5", "ghost"}});
  auto r = resolve(config_, t, "gpt-4o");  // configured, not allowed
  ASSERT_TRUE(r.has_error());
  EXPECT_EQ(r.error().code, Error::model_not_allowed);
  r = resolve(config_, t, "gpt-5");  // not configured
  ASSERT_TRUE(r.has_error());
  EXPECT_EQ(r.error().code, Error::model_not_found);
}

TEST_F(Resolve, DowngradeToNotAllowedTargetFallsThrough) {
  const config::Tenant t = make_tenant(std::set<std::string>{"gpt-4o-mini"},
                                       {{"gpt-4o", "o1"}, {"gpt-5", "o1"}});
  auto r = resolve(config_, t, "gpt-4o");
  ASSERT_TRUE(r.has_error());
  EXPECT_EQ(r.error().code, Error::model_not_allowed);
  r = resolve(config_, t, "gpt-5");
  ASSERT_TRUE(r.has_error());
  EXPECT_EQ(r.error().code, Error::model_not_found);
}

TEST_F(Resolve, DowngradeIsOneStepOnly) {
  const config::Tenant t = make_tenant(std::set<std::string>{"gpt-4o-mini"},
                                       {{"o1", "gpt-4o"}, {"gpt-4o", "gpt-4o-mini"}});
  const auto r = resolve(config_, t, "o1");
  ASSERT_TRUE(r.has_error());
  EXPECT_EQ(r.error().code, Error::model_not_allowed);
}

TEST_F(Resolve, MissingProviderIsAnErrorNotACrash) {
  config_.models.at("o1").provider = "nowhere";
  const auto r = resolve(config_, make_tenant(std::nullopt), "o1");
  ASSERT_TRUE(r.has_error());
  EXPECT_EQ(r.error().code, Error::upstream_error);
}

TEST_F(Resolve, LongNamesAreCappedInMessages) {
  const std::string long_name(10'000, 'x');
  const auto r = resolve(config_, make_tenant(std::nullopt), long_name);
  ASSERT_TRUE(r.has_error());
  EXPECT_EQ(r.error().message,
            "The model '" + std::string(256, 'x') + "...' does not exist.");

  const auto r403 = resolve(config_, make_tenant(std::set<std::string>{}), "gpt-4o");
  ASSERT_TRUE(r403.has_error());
  EXPECT_EQ(r403.error().code, Error::model_not_allowed);
}

TEST_F(Resolve, CapDoesNotSplitUtf8) {
  // 255 ASCII bytes, then a 2-byte character straddling the 256-byte cap.
  const std::string name = std::string(255, 'a') + "\xc3\xa9" + std::string(100, 'b');
  const auto r = resolve(config_, make_tenant(std::nullopt), name);
  ASSERT_TRUE(r.has_error());
  EXPECT_EQ(r.error().message, "The model '" + std::string(255, 'a') + "...' does not exist.");
}

TEST_F(Resolve, NameOfExactlyTheCapIsNotCut) {
  const std::string name(256, 'y');
  const auto r = resolve(config_, make_tenant(std::nullopt), name);
  ASSERT_TRUE(r.has_error());
  EXPECT_EQ(r.error().message, "The model '" + name + "' does not exist.");
}

std::vector<std::string> names(const std::vector<const config::Model*>& models) {
  std::vector<std::string> out;
  for (const config::Model* m : models) out.push_back(m->name);
  return out;
}

TEST_F(Resolve, VisibleModelsWithoutAllowListIsEverythingSorted) {
  const auto models = visible_models(config_, make_tenant(std::nullopt));
  EXPECT_EQ(names(models), (std::vector<std::string>{"gpt-4o", "gpt-4o-mini", "llama-3", "o1"}));
  EXPECT_EQ(models[0], &config_.models.at("gpt-4o"));
}

TEST_F(Resolve, VisibleModelsFiltersAndSorts) {
  const config::Tenant t = make_tenant(std::set<std::string>{"o1", "ghost", "gpt-4o-mini"},
                                       {{"gpt-4o", "llama-3"}});
  // "ghost" is not configured; the downgrade target llama-3 is not on the list.
  EXPECT_EQ(names(visible_models(config_, t)), (std::vector<std::string>{"gpt-4o-mini", "o1"}));
}

TEST_F(Resolve, VisibleModelsEmptyAllowList) {
  EXPECT_TRUE(visible_models(config_, make_tenant(std::set<std::string>{})).empty());
}

TEST_F(Resolve, SpendDowngradeNeedsDowngradeAtAndAnAllowedTarget) {
  config::Tenant t = make_tenant(std::nullopt, {{"gpt-4o", "gpt-4o-mini"}, {"o1", "ghost"}});
  const auto gpt4o = resolve(config_, t, "gpt-4o");
  ASSERT_TRUE(gpt4o.has_value());
  EXPECT_FALSE(spend_downgrade(config_, t, *gpt4o)) << "no downgrade_at: never on spend";

  t.limits.downgrade_at = 0.9;
  const auto down = spend_downgrade(config_, t, *gpt4o);
  ASSERT_TRUE(down);
  EXPECT_EQ(down->model, &config_.models.at("gpt-4o-mini"));
  EXPECT_EQ(down->downgraded_from, "gpt-4o");

  const auto o1 = resolve(config_, t, "o1");
  ASSERT_TRUE(o1.has_value());
  EXPECT_FALSE(spend_downgrade(config_, t, *o1)) << "target not configured";
  const auto mini = resolve(config_, t, "gpt-4o-mini");
  ASSERT_TRUE(mini.has_value());
  EXPECT_FALSE(spend_downgrade(config_, t, *mini)) << "no map entry";
}

TEST_F(Resolve, SpendDowngradeNeverTwiceNorToADisallowedTarget) {
  config::Tenant t = make_tenant(std::set<std::string>{"gpt-4o-mini"}, {{"gpt-4o", "gpt-4o-mini"}});
  t.limits.downgrade_at = 0.5;
  const auto already = resolve(config_, t, "gpt-4o");  // gpt-4o is not allowed: downgraded by plan
  ASSERT_TRUE(already.has_value());
  ASSERT_TRUE(already->downgraded_from);
  EXPECT_FALSE(spend_downgrade(config_, t, *already));

  config::Tenant u = make_tenant(std::set<std::string>{"gpt-4o"}, {{"gpt-4o", "gpt-4o-mini"}});
  u.limits.downgrade_at = 0.5;
  const auto route = resolve(config_, u, "gpt-4o");
  ASSERT_TRUE(route.has_value());
  EXPECT_FALSE(spend_downgrade(config_, u, *route)) << "target not on the allow-list";
}

}  // namespace
}  // namespace tollgate::routing
