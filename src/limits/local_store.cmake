# LocalStore sources (target_sources(tollgate_limits PRIVATE ...)).
target_sources(tollgate_limits PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/windows.cpp
  ${CMAKE_CURRENT_LIST_DIR}/local_state.cpp
  ${CMAKE_CURRENT_LIST_DIR}/local_store.cpp)
