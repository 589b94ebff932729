# FileSink and StdoutSink sources, and the line sinks of line_sink.hpp (the access log's):
# target_sources(tollgate_usage PRIVATE ...). All write lines from one writer thread
# (line_writer) fed through a lock-free hand-off.
find_package(Threads REQUIRED)
target_sources(tollgate_usage PRIVATE handoff.cpp line_writer.cpp file_sink.cpp stdout_sink.cpp)
target_link_libraries(tollgate_usage PRIVATE Threads::Threads)
