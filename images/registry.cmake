# The registry client part of images/: references, registries.conf, the
# distribution API over libcurl, manifests, digests, streaming blobs.
# Interface for the rest of images/: registry.h.  libcurl's headers only:
# the library is loaded on demand with libarchive (pull_libs.c), so the
# daemon does not map it (nor the fifty libraries it brings) while no pull
# runs.
pkg_check_modules(CURL REQUIRED libcurl)
pkg_check_modules(OPENSSL REQUIRED IMPORTED_TARGET libcrypto libssl)
list(APPEND CRIO_IMAGES_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/pull_libs.c
  ${CMAKE_CURRENT_LIST_DIR}/reference.c
  ${CMAKE_CURRENT_LIST_DIR}/digest.c
  ${CMAKE_CURRENT_LIST_DIR}/registries_conf.c
  ${CMAKE_CURRENT_LIST_DIR}/client.c
  ${CMAKE_CURRENT_LIST_DIR}/http.c
  ${CMAKE_CURRENT_LIST_DIR}/auth.c
  ${CMAKE_CURRENT_LIST_DIR}/repo.c
  ${CMAKE_CURRENT_LIST_DIR}/manifest.c
  ${CMAKE_CURRENT_LIST_DIR}/platform.c
  ${CMAKE_CURRENT_LIST_DIR}/fetch.c)
list(APPEND CRIO_IMAGES_INCLUDES ${CURL_INCLUDE_DIRS})
list(APPEND CRIO_IMAGES_LIBS crio_toml ${CMAKE_DL_LIBS} PkgConfig::OPENSSL
  PkgConfig::CJSON Threads::Threads m)
