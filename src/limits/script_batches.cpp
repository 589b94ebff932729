#include "script_batches.hpp"

#include <algorithm>
#include <optional>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace tollgate::limits {

namespace asio = boost::asio;

// One call, parked in its caller's coroutine frame until its result is in. The frame outlives
// the batch that refers to it: the caller waits until `result` is set (or it leads a batch).
struct ScriptBatches::Waiter {
  Waiter(const asio::any_io_executor& executor, std::vector<std::string> call_args)
      : args(std::move(call_args)), wake(executor, asio::steady_timer::time_point::max()) {}

  std::vector<std::string> args;
  std::optional<Result<redis::Reply>> result;
  std::vector<Waiter*> batch;  // set when this call is to run the next batch (its own included)
  asio::steady_timer wake;     // cancelled when `result` or `batch` is set
};

namespace {

// Element `i` of a batch reply of `n` elements, or the whole batch's failure.
Result<redis::Reply> element(Result<redis::Reply>& reply, std::size_t i, std::size_t n) {
  if (!reply) return reply.error();
  if (reply->is_error()) return *reply;
  if (reply->type != redis::Reply::Type::array || reply->elements.size() != n) {
    redis::Reply wrong;
    wrong.type = redis::Reply::Type::error;
    wrong.text = "ERR batch script answered " + std::to_string(reply->elements.size()) + " elements for " +
                 std::to_string(n) + " calls";
    return wrong;
  }
  return std::move(reply->elements[i]);
}

}  // namespace

ScriptBatches::ScriptBatches(redis::Client& client, redis::Script script, Keys keys)
    : client_(client), script_(std::move(script)), keys_(keys) {}

asio::awaitable<Result<redis::Reply>> ScriptBatches::call(std::string_view tenant, std::vector<std::string> args) {
  ++calls_;
  const auto executor = co_await asio::this_coro::executor;
  Waiter me(executor, std::move(args));
  Queue& queue = queues_[std::string(tenant)];  // references into the map survive rehashing
  std::vector<Waiter*> batch;
  if (queue.busy) {
    queue.waiting.push_back(&me);
    while (!me.result && me.batch.empty()) co_await me.wake.async_wait(asio::as_tuple(asio::use_awaitable));
    if (me.result) co_return std::move(*me.result);
    batch = std::move(me.batch);
  } else {
    queue.busy = true;
    batch.push_back(&me);
  }
  co_await run(tenant, std::move(batch));
  hand_over(tenant);
  co_return std::move(*me.result);
}

// One EVALSHA for `batch`; sets every waiter's result and wakes the others.
asio::awaitable<void> ScriptBatches::run(std::string_view tenant, std::vector<Waiter*> batch) {
  ++batches_;
  std::size_t size = 0;
  for (const Waiter* waiter : batch) size += waiter->args.size();
  std::vector<std::string> args;
  args.reserve(size);
  for (Waiter* waiter : batch) {
    for (auto& arg : waiter->args) args.push_back(std::move(arg));
  }
  auto reply = co_await client_.eval(script_, keys_(tenant), std::move(args));
  for (std::size_t i = 0; i < batch.size(); ++i) {
    batch[i]->result = element(reply, i, batch.size());
    batch[i]->wake.cancel();  // the leader is not waiting on it: no effect there
  }
}

// The batch in flight is done: the calls that arrived meanwhile go next, led by the first of
// them; with none, the tenant's queue goes.
void ScriptBatches::hand_over(std::string_view tenant) {
  const auto it = queues_.find(std::string(tenant));
  Queue& queue = it->second;
  if (queue.waiting.empty()) {
    queues_.erase(it);
    return;
  }
  const auto take = static_cast<std::ptrdiff_t>(std::min(kMaxBatch, queue.waiting.size()));
  Waiter* next = queue.waiting.front();
  next->batch.assign(queue.waiting.begin(), queue.waiting.begin() + take);
  queue.waiting.erase(queue.waiting.begin(), queue.waiting.begin() + take);
  next->wake.cancel();
}

}  // namespace tollgate::limits
