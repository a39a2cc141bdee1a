# Installs the libraries, headers, a CMake package config
# (find_package(mapreduce [COMPONENTS layer...]), mapreduce_add_plugin) and
# one pkg-config file per layer (mapreduce-<layer>.pc), all written from the
# layers' declared dependencies (mr_add_layer's DEPS and PRIVATE_DEPS).
include(CMakePackageConfigHelpers)
install(EXPORT mrTargets NAMESPACE mr:: FILE mapreduceTargets.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mapreduce)

# A .pc file's paths, relative to the file itself so the install can move.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(mr_pc_prefix "${CMAKE_INSTALL_PREFIX}")
  set(mr_pc_libdir "${CMAKE_INSTALL_LIBDIR}")
else()
  file(RELATIVE_PATH up "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
  string(REGEX REPLACE "/$" "" up "${up}")
  set(mr_pc_prefix "\${pcfiledir}/${up}")
  set(mr_pc_libdir "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(mr_pc_includedir "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(mr_pc_includedir "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()

# Per layer: the layers it needs (MR_LAYER_GRAPH, read by the package config
# to find only what the requested components need) and a pkg-config file.
set(MR_LAYER_GRAPH "")
get_property(mr_layers GLOBAL PROPERTY MR_LAYERS)
foreach(layer ${mr_layers})
  get_property(deps GLOBAL PROPERTY MR_LAYER_DEPS_${layer})
  set(layers "")
  set(external "")
  set(requires "")
  set(libs "")
  foreach(dep ${deps})
    if(dep MATCHES "^mr::(.+)$")
      list(APPEND layers ${CMAKE_MATCH_1})
      list(APPEND requires mapreduce-${CMAKE_MATCH_1})
    elseif(dep STREQUAL "Threads::Threads")
      list(APPEND external Threads)
      list(APPEND libs -pthread)
    elseif(dep MATCHES "^PkgConfig::(.+)$")
      set(module ${${CMAKE_MATCH_1}_MODULE_NAME})
      list(APPEND external "pkg-config:${module}:${CMAKE_MATCH_1}")
      list(APPEND requires ${module})
    elseif(dep STREQUAL "ZLIB::ZLIB")
      list(APPEND external ZLIB)
      list(APPEND requires zlib)
    elseif(dep STREQUAL "${CMAKE_DL_LIBS}")
      list(APPEND libs -l${CMAKE_DL_LIBS})
    else()
      message(FATAL_ERROR "MrInstall: layer ${layer}: no package mapping for '${dep}'")
    endif()
  endforeach()
  string(APPEND MR_LAYER_GRAPH "set(_mr_layers_${layer} \"${layers}\")\n"
                               "set(_mr_external_${layer} \"${external}\")\n")

  get_target_property(type mr_${layer} TYPE)
  if(NOT type STREQUAL "INTERFACE_LIBRARY")
    list(PREPEND libs "-L\${libdir}" -lmr_${layer})
  endif()
  list(JOIN requires ", " requires)
  list(JOIN libs " " libs)
  file(GENERATE OUTPUT ${PROJECT_BINARY_DIR}/pkgconfig/mapreduce-${layer}.pc CONTENT
"prefix=${mr_pc_prefix}
libdir=${mr_pc_libdir}
includedir=${mr_pc_includedir}

Name: mapreduce-${layer}
Description: the ${layer} layer of mapreduce (static library, C++20)
Version: ${PROJECT_VERSION}
Requires: ${requires}
Libs: ${libs}
Cflags: -I\${includedir}
")
  install(FILES ${PROJECT_BINARY_DIR}/pkgconfig/mapreduce-${layer}.pc
          DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endforeach()
string(REPLACE ";" " " MR_ALL_LAYERS "${mr_layers}")

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/mapreduceConfig.cmake.in
  ${PROJECT_BINARY_DIR}/mapreduceConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mapreduce)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/mapreduceConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/mapreduceConfig.cmake
              ${PROJECT_BINARY_DIR}/mapreduceConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/mapreducePlugin.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mapreduce)
