# Test support: librdkafka's mock Kafka cluster and a consumer to read topics back
# (MockKafkaCluster), for KafkaSink's integration tests and the gateway's end-to-end tests.
add_library(tollgate_test_kafka STATIC kafka_cluster.cpp)
tollgate_warnings(tollgate_test_kafka)
target_include_directories(tollgate_test_kafka PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(tollgate_test_kafka PUBLIC PkgConfig::RDKAFKA)
