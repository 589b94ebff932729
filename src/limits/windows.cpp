// UTC calendar windows for requests_per_day and budgets (declared in tollgate/limits/store.hpp),
// shared by every store so they all agree where a day and a month begin.
#include <chrono>
#include <string_view>

#include "tollgate/limits/store.hpp"

namespace tollgate::limits {

std::string_view window_name(BudgetWindow window) {
  switch (window) {
    case BudgetWindow::daily:
      return "daily";
    case BudgetWindow::monthly:
      return "monthly";
  }
  return "daily";
}

WindowBounds day_window(std::chrono::system_clock::time_point now) {
  const auto day = std::chrono::floor<std::chrono::days>(now);
  return WindowBounds{std::chrono::sys_seconds(day), std::chrono::sys_seconds(day + std::chrono::days(1))};
}

WindowBounds month_window(std::chrono::system_clock::time_point now) {
  using namespace std::chrono;
  const year_month_day date{floor<days>(now)};
  const year_month this_month = date.year() / date.month();
  const year_month next_month = this_month + months(1);
  return WindowBounds{sys_seconds(sys_days(this_month / 1)), sys_seconds(sys_days(next_month / 1))};
}

}  // namespace tollgate::limits
