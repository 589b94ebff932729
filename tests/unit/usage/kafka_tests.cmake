# Unit tests of the spool and KafkaSink (their own binary).
tollgate_unit_test(usage_kafka_test
  SOURCES spool_test.cpp kafka_sink_test.cpp
  LIBS tollgate_usage)
# The spool is private to the sink: its header lives in src/usage.
target_include_directories(usage_kafka_test PRIVATE ${PROJECT_SOURCE_DIR}/src/usage)
