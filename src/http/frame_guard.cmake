# FrameGuard alone (pure, no Asio): part of tollgate_http, and built by itself for its libFuzzer
# target (TOLLGATE_FUZZ). Its header is private to the http module.
add_library(tollgate_http_frame_guard STATIC ${CMAKE_CURRENT_LIST_DIR}/h2_frame_guard.cpp)
tollgate_warnings(tollgate_http_frame_guard)
target_include_directories(tollgate_http_frame_guard PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(tollgate_http_frame_guard PUBLIC tollgate_core)
