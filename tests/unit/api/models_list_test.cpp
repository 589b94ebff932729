#include "tollgate/api/models_list.hpp"

#include <vector>

#include <gtest/gtest.h>

#include "json_check.hpp"

namespace tollgate::api {
namespace {

TEST(ModelsList, OpenAiListFormat) {
  config::Model a;
  a.name = "gpt-4o";
  a.provider = "openai";
  config::Model b;
  b.name = "llama \"3\"";
  b.provider = "local";
  const std::vector<const config::Model*> models{&a, &b};
  const std::string json = models_list_json(models);
  EXPECT_EQ(json,
            R"({"object":"list","data":[{"id":"gpt-4o","object":"model","created":0,"owned_by":"openai"},)"
            R"({"id":"llama \"3\"","object":"model","created":0,"owned_by":"local"}]})");
  EXPECT_TRUE(test::is_valid_json(json));
}

TEST(ModelsList, Empty) {
  EXPECT_EQ(models_list_json({}), R"({"object":"list","data":[]})");
}

}  // namespace
}  // namespace tollgate::api
