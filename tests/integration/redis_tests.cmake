# Integration tests against a real redis-server (tests/support/redis_server.hpp starts one per
# test or per binary on a free loopback port): the redis adapter and RedisStore.
function(tollgate_redis_test name)
  add_executable(${name} ${ARGN})
  tollgate_warnings(${name})
  target_link_libraries(${name} PRIVATE tollgate_test_redis tollgate_redis GTest::gtest_main)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS integration TIMEOUT 120)
endfunction()

tollgate_redis_test(redis_client_test redis_client_test.cpp)

# RedisStore specifics: key layout and TTLs, lease expiry, outages, two gateways, latency.
tollgate_redis_test(redis_store_test redis_store_test.cpp)
target_link_libraries(redis_store_test PRIVATE tollgate_limits)

# The shared store behaviour suite (tests/limits_suite) on RedisStore.
tollgate_redis_test(redis_store_suite_test redis_store_suite_test.cpp)
target_link_libraries(redis_store_suite_test PRIVATE tollgate_limits tollgate_store_suite)
