# Layer unpacking and the layer store (images/layers.h): libarchive for
# decompression and tar parsing (its headers only: the library is loaded
# on demand, pull_libs.c), OpenSSL for digests, cJSON for layer.json.
pkg_check_modules(IMG_LAYERS_ARCHIVE REQUIRED libarchive)
pkg_check_modules(IMG_LAYERS_CRYPTO REQUIRED IMPORTED_TARGET libcrypto)
list(APPEND CRIO_IMAGES_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/decompress.c
  ${CMAKE_CURRENT_LIST_DIR}/layer_digest.c
  ${CMAKE_CURRENT_LIST_DIR}/layer_extract.c
  ${CMAKE_CURRENT_LIST_DIR}/layer_fs.c
  ${CMAKE_CURRENT_LIST_DIR}/layer_meta.c
  ${CMAKE_CURRENT_LIST_DIR}/layer_store.c
  ${CMAKE_CURRENT_LIST_DIR}/layer_unpack.c
  ${CMAKE_CURRENT_LIST_DIR}/whiteout.c)
list(APPEND CRIO_IMAGES_INCLUDES ${IMG_LAYERS_ARCHIVE_INCLUDE_DIRS})
list(APPEND CRIO_IMAGES_LIBS PkgConfig::IMG_LAYERS_CRYPTO PkgConfig::CJSON Threads::Threads)
