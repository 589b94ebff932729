# Unit tests of FileSink / StdoutSink (their own binary), and of the hand-off and writer
# thread they share (private headers in src/usage).
tollgate_unit_test(usage_file_sink_test
  SOURCES file_sink_test.cpp file_line_writer_test.cpp handoff_test.cpp
  LIBS tollgate_usage)
target_include_directories(usage_file_sink_test PRIVATE ${PROJECT_SOURCE_DIR}/src/usage)
