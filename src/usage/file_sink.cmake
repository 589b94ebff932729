# FileSink and StdoutSink sources: target_sources(tollgate_usage PRIVATE ...).
# Both write lines from one writer thread (line_writer) fed through a lock-free hand-off.
find_package(Threads REQUIRED)
target_sources(tollgate_usage PRIVATE handoff.cpp line_writer.cpp file_sink.cpp stdout_sink.cpp)
target_link_libraries(tollgate_usage PRIVATE Threads::Threads)
