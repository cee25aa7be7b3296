# The registry client part of images/: references, registries.conf, the
# distribution API over libcurl, manifests, digests, streaming blobs.
# Interface for the rest of images/: registry.h.
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
pkg_check_modules(OPENSSL REQUIRED IMPORTED_TARGET libcrypto libssl)
list(APPEND CRIO_IMAGES_SOURCES
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
list(APPEND CRIO_IMAGES_LIBS crio_toml PkgConfig::CURL PkgConfig::OPENSSL
  PkgConfig::CJSON Threads::Threads m)
