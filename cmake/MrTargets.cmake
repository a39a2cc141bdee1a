# Helpers shared by every target of the project.

# Warnings live in an INTERFACE target that only our own targets link
# privately: they are never pushed onto users of the installed package.
add_library(mr_warnings INTERFACE)
target_compile_options(mr_warnings INTERFACE -Wall -Wextra -Wpedantic)

# mr_add_layer(NAME [DEPS target...] [PRIVATE_DEPS target...])
# Declares one framework layer: target mr_<NAME>, alias mr::<NAME>, public
# headers in include/, sources in src/. A header-only layer (no src/*.cc)
# becomes an INTERFACE library.
function(mr_add_layer name)
  cmake_parse_arguments(ARG "" "" "DEPS;PRIVATE_DEPS" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/*.cc)
  set(target mr_${name})
  if(sources)
    add_library(${target} ${sources})
    target_include_directories(${target}
      PUBLIC $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
             $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
      PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
    target_link_libraries(${target} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS} $<BUILD_INTERFACE:mr_warnings>)
    set_target_properties(${target} PROPERTIES EXPORT_NAME ${name} OUTPUT_NAME mr_${name})
  else()
    add_library(${target} INTERFACE)
    target_include_directories(${target} INTERFACE
      $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
      $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
    target_link_libraries(${target} INTERFACE ${ARG_DEPS})
    set_target_properties(${target} PROPERTIES EXPORT_NAME ${name})
  endif()
  target_compile_features(${target} INTERFACE cxx_std_20)
  add_library(mr::${name} ALIAS ${target})
  install(TARGETS ${target} EXPORT mrTargets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endfunction()

# mr_add_test(NAME SOURCES... LIBS target... [TIMEOUT s])
# One GoogleTest program, registered with ctest as one test per TEST().
function(mr_add_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;LIBS" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 60)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} mr_test_support GTest::gtest mr_warnings)
  gtest_discover_tests(${name} PROPERTIES TIMEOUT ${ARG_TIMEOUT} DISCOVERY_TIMEOUT 30)
endfunction()
