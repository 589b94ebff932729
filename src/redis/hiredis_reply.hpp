#pragma once
// Private to src/redis (and its tests): the one place a hiredis reply becomes our Reply.
#include <hiredis/hiredis.h>

#include "tollgate/redis/reply.hpp"

namespace tollgate::redis {

// A deep copy of `reply`; hiredis keeps ownership of it.
Reply from_hiredis(const redisReply& reply);

}  // namespace tollgate::redis
