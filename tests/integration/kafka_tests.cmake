# Integration tests of KafkaSink against librdkafka's mock cluster.
add_executable(kafka_sink_test kafka_sink_test.cpp)
tollgate_warnings(kafka_sink_test)
# The spool is private to the sink (src/usage); tests write spool files directly with it.
target_include_directories(kafka_sink_test PRIVATE ${PROJECT_SOURCE_DIR}/src/usage)
target_link_libraries(kafka_sink_test PRIVATE tollgate_usage tollgate_test_kafka PkgConfig::RDKAFKA
  GTest::gtest_main)
gtest_discover_tests(kafka_sink_test DISCOVERY_TIMEOUT 60 PROPERTIES LABELS integration TIMEOUT 120)

# The gateway end to end with `usage.sink: kafka` (mock cluster hosted by the test process).
tollgate_integration_test(kafka_gateway_test kafka_gateway_test.cpp)
target_link_libraries(kafka_gateway_test PRIVATE tollgate_test_kafka)
