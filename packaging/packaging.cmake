# Install rules and the Debian package (CPack DEB): `cpack -G DEB` in a build directory makes
# tollgate_<version>_<arch>.deb. What the package holds and does: packaging/README.md.
#
# Only the gateway binary and its packaging files are installed; tests, benchmarks and the mock
# upstream have no install rules. Configuration, environment file and unit go to the absolute
# paths Debian uses (/etc, /lib/systemd/system), so `cmake --install` writes there too (under
# DESTDIR when set); the binary and docs follow the prefix (/usr in the package).
include_guard(GLOBAL)

set(TOLLGATE_PACKAGING_DIR ${CMAKE_CURRENT_LIST_DIR})
set(CMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
  OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

install(TARGETS tollgate RUNTIME DESTINATION bin)
# No secrets in these two (provider keys come from the environment), so they are world-readable.
install(FILES ${TOLLGATE_PACKAGING_DIR}/etc/tollgate.yaml ${TOLLGATE_PACKAGING_DIR}/etc/tenants.yaml
  DESTINATION /etc/tollgate)
# The environment file holds provider secrets: root only (systemd reads it before dropping root).
install(FILES ${TOLLGATE_PACKAGING_DIR}/default/tollgate DESTINATION /etc/default
  PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
install(FILES ${TOLLGATE_PACKAGING_DIR}/tollgate.service DESTINATION /lib/systemd/system)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION share/doc/tollgate)
install(FILES ${TOLLGATE_PACKAGING_DIR}/README.md DESTINATION share/doc/tollgate RENAME README.packaging.md)

set(TOLLGATE_PACKAGE_MAINTAINER "Tollgate maintainers <root@localhost>" CACHE STRING
  "Maintainer field of the Debian package")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tollgate)
set(CPACK_PACKAGE_VENDOR Tollgate)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "LLM gateway with per-tenant keys, rate limits and budgets")
set(CPACK_PACKAGE_DESCRIPTION
  "Tollgate is an asynchronous reverse proxy between OpenAI-SDK clients and OpenAI-compatible
providers. It authenticates hashed API keys, routes models per plan, enforces rate limits and
dollar budgets inline, relays streams while counting tokens and emits one usage event per request.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${TOLLGATE_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# adduser: postinst creates the tollgate user. ca-certificates: providers' certificates are
# verified against the system trust store.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, ca-certificates")
# The shared libraries come from dpkg-shlibdeps (CPack needs `file` for it). Without those
# tools, the list below is what ldd shows on Debian 12 (kept in step by hand).
find_program(TOLLGATE_DPKG_SHLIBDEPS dpkg-shlibdeps)
find_program(TOLLGATE_FILE_PROGRAM file)
mark_as_advanced(TOLLGATE_DPKG_SHLIBDEPS TOLLGATE_FILE_PROGRAM)
if(TOLLGATE_DPKG_SHLIBDEPS AND TOLLGATE_FILE_PROGRAM)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  message(STATUS "packaging: dpkg-shlibdeps or file not found; the .deb lists its libraries by hand")
  string(APPEND CPACK_DEBIAN_PACKAGE_DEPENDS ", libc6, libgcc-s1, libstdc++6, libssl3, libsimdjson14, "
    "libyaml-cpp0.7, libhiredis0.14, librdkafka1")
endif()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${TOLLGATE_PACKAGING_DIR}/debian/conffiles
  ${TOLLGATE_PACKAGING_DIR}/debian/postinst
  ${TOLLGATE_PACKAGING_DIR}/debian/prerm
  ${TOLLGATE_PACKAGING_DIR}/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
