# KafkaSink and the spool: target_sources(tollgate_usage PRIVATE ...) and librdkafka.
# GLOBAL so tests (the mock cluster, a real consumer) can link PkgConfig::RDKAFKA too.
pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET GLOBAL rdkafka)
target_sources(tollgate_usage PRIVATE kafka_sink.cpp spool.cpp)
target_link_libraries(tollgate_usage PRIVATE PkgConfig::RDKAFKA)
