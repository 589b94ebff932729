# RedisStore sources (target_sources(tollgate_limits PRIVATE ...)) and its link to tollgate_redis.
# The Lua scripts (lua/*.lua) are embedded as string constants in a generated source, rebuilt
# whenever a script changes; nothing reads them at run time.
set(TOLLGATE_LUA_SCRIPTS common limits extend usage)
set(tollgate_lua_inputs ${PROJECT_SOURCE_DIR}/lua/embed.cmake)
foreach(script IN LISTS TOLLGATE_LUA_SCRIPTS)
  list(APPEND tollgate_lua_inputs ${PROJECT_SOURCE_DIR}/lua/${script}.lua)
endforeach()
set(TOLLGATE_LUA_GENERATED_DIR ${CMAKE_CURRENT_BINARY_DIR}/lua)
file(MAKE_DIRECTORY ${TOLLGATE_LUA_GENERATED_DIR})
add_custom_command(
  OUTPUT ${TOLLGATE_LUA_GENERATED_DIR}/redis_store_lua.hpp ${TOLLGATE_LUA_GENERATED_DIR}/redis_store_lua.cpp
  COMMAND ${CMAKE_COMMAND} -DLUA_DIR=${PROJECT_SOURCE_DIR}/lua -DOUTPUT_DIR=${TOLLGATE_LUA_GENERATED_DIR}
          -P ${PROJECT_SOURCE_DIR}/lua/embed.cmake
  DEPENDS ${tollgate_lua_inputs}
  COMMENT "Embedding the Redis Lua scripts"
  VERBATIM)
target_sources(tollgate_limits PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/redis_store.cpp
  ${CMAKE_CURRENT_LIST_DIR}/script_batches.cpp
  ${TOLLGATE_LUA_GENERATED_DIR}/redis_store_lua.hpp
  ${TOLLGATE_LUA_GENERATED_DIR}/redis_store_lua.cpp)
# PUBLIC for the tests of the scripts' helpers (tests/integration/redis_*).
target_include_directories(tollgate_limits PUBLIC $<BUILD_INTERFACE:${TOLLGATE_LUA_GENERATED_DIR}>)
target_link_libraries(tollgate_limits PUBLIC tollgate_redis)
