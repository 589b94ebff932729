#pragma once
// A limits::Store that answers what the test scripts and records what it was asked.
#include <string>
#include <vector>

#include "tollgate/limits/store.hpp"

namespace tollgate::testing {

class FakeStore final : public limits::Store {
 public:
  limits::Admission next_admission;  // answered by admit()
  bool extend_answer = true;
  std::vector<limits::BudgetAlert> alerts_on_settle;  // returned by every settle
  std::vector<limits::AdmitRequest> admitted;
  std::vector<std::pair<std::string, limits::Settlement>> settled;  // request id, used
  std::vector<NanoUsd> extended;

  boost::asio::awaitable<limits::Admission> admit(const limits::AdmitRequest& request) override {
    admitted.push_back(request);
    co_return next_admission;
  }
  boost::asio::awaitable<bool> extend(std::string_view, std::string_view, const config::Limits&, NanoUsd more,
                                      std::chrono::seconds) override {
    extended.push_back(more);
    co_return extend_answer;
  }
  boost::asio::awaitable<Result<limits::SettleResult>> settle(std::string_view, std::string_view request_id,
                                                              const config::Limits&,
                                                              const limits::Settlement& used) override {
    settled.emplace_back(std::string(request_id), used);
    co_return limits::SettleResult{true, alerts_on_settle};
  }
  boost::asio::awaitable<Result<limits::TenantUsage>> usage(std::string_view) override {
    co_return limits::TenantUsage{};
  }
};

}  // namespace tollgate::testing
