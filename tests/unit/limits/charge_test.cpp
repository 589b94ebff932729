#include "tollgate/limits/charge.hpp"

#include <gtest/gtest.h>

namespace tollgate::limits {
namespace {

config::Model model() {
  config::Model m;
  m.name = "gpt-4o";
  m.input_price = PricePerMTok{2'500'000'000};    // $2.50 / Mtok
  m.output_price = PricePerMTok{10'000'000'000};  // $10.00 / Mtok
  m.max_output_tokens = Tokens{16'384};
  return m;
}

api::RequestFields fields(std::int64_t prompt_bound) {
  api::RequestFields f;
  f.model = "gpt-4o";
  f.prompt_bound = Tokens{prompt_bound};
  return f;
}

TEST(PlanCharge, ClientMaxTokensIsTheAllowanceAndIsNotRewritten) {
  auto f = fields(100);
  f.max_tokens = 50;
  const auto plan = plan_charge(api::Endpoint::chat_completions, f, model(), {});
  ASSERT_TRUE(plan.has_value());
  EXPECT_EQ(plan->allowance, Tokens{50});
  EXPECT_FALSE(plan->write_allowance);
  EXPECT_EQ(plan->charge.tokens, Tokens{150});
  EXPECT_EQ(plan->charge.cost, NanoUsd{100 * 2'500 + 50 * 10'000});
}

TEST(PlanCharge, TheLargerOfMaxTokensAndMaxCompletionTokensIsReserved) {
  auto f = fields(10);
  f.max_tokens = 50;
  f.max_completion_tokens = 70;
  EXPECT_EQ(plan_charge(api::Endpoint::chat_completions, f, model(), {})->allowance, Tokens{70});
  f.max_completion_tokens = 20;
  EXPECT_EQ(plan_charge(api::Endpoint::chat_completions, f, model(), {})->allowance, Tokens{50});
}

TEST(PlanCharge, WithoutClientLimitTheAllowanceIsTheCeilingMinusThePromptBound) {
  config::Limits limits;
  limits.max_tokens_per_request = 2000;
  const auto plan = plan_charge(api::Endpoint::chat_completions, fields(300), model(), limits);
  ASSERT_TRUE(plan.has_value());
  EXPECT_EQ(plan->allowance, Tokens{1700});
  EXPECT_TRUE(plan->write_allowance);
}

TEST(PlanCharge, TheModelsMaxOutputCapsTheAllowance) {
  config::Limits limits;
  limits.max_tokens_per_request = 100'000;
  EXPECT_EQ(plan_charge(api::Endpoint::completions, fields(300), model(), limits)->allowance, Tokens{16'384});
  EXPECT_EQ(plan_charge(api::Endpoint::completions, fields(300), model(), {})->allowance, Tokens{16'384});
}

TEST(PlanCharge, OverTheCeilingIs400) {
  config::Limits limits;
  limits.max_tokens_per_request = 2000;
  auto f = fields(10);
  f.max_completion_tokens = 2001;
  const auto over = plan_charge(api::Endpoint::chat_completions, f, model(), limits);
  ASSERT_TRUE(over.has_error());
  EXPECT_EQ(over.error().code, Error::max_tokens_exceeded);
  EXPECT_EQ(over.error().param, "max_completion_tokens");

  const auto no_room = plan_charge(api::Endpoint::chat_completions, fields(2000), model(), limits);
  ASSERT_TRUE(no_room.has_error());
  EXPECT_EQ(no_room.error().code, Error::max_tokens_exceeded);
  EXPECT_EQ(no_room.error().param, "messages");
  EXPECT_EQ(plan_charge(api::Endpoint::chat_completions, fields(1999), model(), limits)->allowance, Tokens{1});
}

TEST(PlanCharge, EmbeddingsReserveOnlyTheirInput) {
  config::Limits limits;
  limits.max_tokens_per_request = 10;
  const auto plan = plan_charge(api::Endpoint::embeddings, fields(300), model(), limits);
  ASSERT_TRUE(plan.has_value());
  EXPECT_EQ(plan->allowance, Tokens{0});
  EXPECT_FALSE(plan->write_allowance);
  EXPECT_EQ(plan->charge, (Charge{Tokens{300}, NanoUsd{300 * 2'500}}));
}

TEST(PlanCharge, CostsRoundUpToAWholeNanoUsd) {
  config::Model cheap = model();
  cheap.input_price = PricePerMTok{1};  // a millionth of a nano-USD per token
  cheap.output_price = PricePerMTok{3};
  auto f = fields(1);
  f.max_tokens = 1;
  EXPECT_EQ(plan_charge(api::Endpoint::chat_completions, f, cheap, {})->charge.cost, NanoUsd{2});
}

}  // namespace
}  // namespace tollgate::limits
