# Installs the libraries, headers and a CMake package config, so that another
# project can do find_package(mapreduce) and link mr::pool and friends.
include(CMakePackageConfigHelpers)
install(EXPORT mrTargets NAMESPACE mr:: FILE mapreduceTargets.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mapreduce)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/mapreduceConfig.cmake.in
  ${PROJECT_BINARY_DIR}/mapreduceConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mapreduce)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/mapreduceConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/mapreduceConfig.cmake
              ${PROJECT_BINARY_DIR}/mapreduceConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mapreduce)
