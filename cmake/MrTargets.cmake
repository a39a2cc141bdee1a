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
  # For the package config and the pkg-config files (cmake/MrInstall.cmake).
  set_property(GLOBAL APPEND PROPERTY MR_LAYERS ${name})
  set_property(GLOBAL PROPERTY MR_LAYER_DEPS_${name} ${ARG_DEPS} ${ARG_PRIVATE_DEPS})
  install(TARGETS ${target} EXPORT mrTargets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endfunction()

# mr_add_test(NAME SOURCES... LIBS target... [TIMEOUT s])
# One GoogleTest program, registered with ctest as one test per TEST().
function(mr_add_test name)
  cmake_parse_arguments(ARG "SERIAL" "TIMEOUT" "SOURCES;LIBS" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 60)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} mr_test_support GTest::gtest mr_warnings)
  set(serial FALSE)
  if(ARG_SERIAL)
    set(serial TRUE)
  endif()
  gtest_discover_tests(${name} PROPERTIES TIMEOUT ${ARG_TIMEOUT} RUN_SERIAL ${serial}
                       DISCOVERY_TIMEOUT 30)
endfunction()

# mr_add_tests_in_folder(LIBS target... [TIMEOUT s] [SERIAL name...])
# Every *_test.cc in the current folder becomes one test program of that name.
# Programs named in SERIAL never run beside another test (they create and
# sweep named /dev/shm segments, which every program can see).
function(mr_add_tests_in_folder)
  cmake_parse_arguments(ARG "" "TIMEOUT" "LIBS;SERIAL" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 60)
  endif()
  file(GLOB tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cc)
  foreach(src ${tests})
    get_filename_component(name ${src} NAME_WE)
    set(serial "")
    if(name IN_LIST ARG_SERIAL)
      set(serial SERIAL)
    endif()
    mr_add_test(${name} SOURCES ${src} LIBS ${ARG_LIBS} TIMEOUT ${ARG_TIMEOUT} ${serial})
  endforeach()
endfunction()

# mr_add_compile_fail_test(NAME SOURCE file KIND executable|module LIBS target...
#                          MESSAGE regex)
# A snippet that must not compile: a target left out of the build whose ctest
# test <folder>.compile_fail.NAME builds it and passes only when the compiler
# prints MESSAGE (a readable static_assert, checked as the user sees it).
function(mr_add_compile_fail_test name)
  cmake_parse_arguments(ARG "" "SOURCE;KIND;MESSAGE" "LIBS" ${ARGN})
  get_filename_component(folder ${CMAKE_CURRENT_SOURCE_DIR} NAME)
  set(target ${folder}_compile_fail_${name})
  if(ARG_KIND STREQUAL "module")
    add_library(${target} MODULE EXCLUDE_FROM_ALL ${ARG_SOURCE})
  else()
    add_executable(${target} EXCLUDE_FROM_ALL ${ARG_SOURCE})
  endif()
  target_link_libraries(${target} PRIVATE ${ARG_LIBS})
  add_test(NAME ${folder}.compile_fail.${name}
           COMMAND ${CMAKE_COMMAND} --build ${CMAKE_BINARY_DIR} --target ${target})
  set_tests_properties(${folder}.compile_fail.${name} PROPERTIES
    PASS_REGULAR_EXPRESSION "${ARG_MESSAGE}" RESOURCE_LOCK build_tree TIMEOUT 300)
endfunction()

# mr_add_examples_in_folder(LIBS target...)
# Every *.cc in the current folder becomes example_<stem>, also run as a
# smoke test (with no arguments) when tests are on. An example that needs
# arguments for its smoke run lists them in a first-line comment
# "// smoke-args: ...".
function(mr_add_examples_in_folder)
  cmake_parse_arguments(ARG "" "" "LIBS" ${ARGN})
  file(GLOB examples CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
  foreach(src ${examples})
    get_filename_component(stem ${src} NAME_WE)
    add_executable(example_${stem} ${src})
    target_link_libraries(example_${stem} PRIVATE ${ARG_LIBS} mr_warnings)
    if(MR_BUILD_TESTS)
      file(STRINGS ${src} first LIMIT_COUNT 1)
      set(args "")
      if(first MATCHES "^// smoke-args: (.*)$")
        separate_arguments(args UNIX_COMMAND "${CMAKE_MATCH_1}")
      endif()
      add_test(NAME example.${stem} COMMAND example_${stem} ${args})
      set_tests_properties(example.${stem} PROPERTIES TIMEOUT 60)
    endif()
  endforeach()
endfunction()

# mr_add_plugin(NAME SOURCES src...)
# A job plugin of this tree: mapreduce_add_plugin (cmake/mapreducePlugin.cmake,
# the function the package gives out-of-tree plugins), built into
# <build>/lib/mapreduce/jobs (where the mapreduce program looks,
# ../lib/mapreduce/jobs from its bin/) with our warnings.
include(mapreducePlugin)
function(mr_add_plugin name)
  mapreduce_add_plugin(${name} ${ARGN})
  set(target mr_job_${name})
  target_link_libraries(${target} PRIVATE mr_warnings)
  set_target_properties(${target} PROPERTIES
    LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/lib/mapreduce/jobs)
  set_property(GLOBAL APPEND PROPERTY MR_PLUGINS ${target})
endfunction()

# mr_add_backend(NAME DEPS target... [PRIVATE_DEPS target...])
# A backend (mr/mapreduce/backend.h): the module libmapreduce-<NAME>.so from
# src/*.cc, target mr_<NAME>, which the program dlopens only when asked for
# it (`--backend NAME`), so its libraries (libmpi) are never loaded
# otherwise. Built into <build>/lib/mapreduce (../lib/mapreduce from bin/),
# installed to <libdir>/mapreduce. DEPS are the layers it includes (checked
# by scripts/check-layers like a layer's); it uses their headers only, and
# --as-needed keeps their libraries out of the module.
function(mr_add_backend name)
  cmake_parse_arguments(ARG "" "" "DEPS;PRIVATE_DEPS" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/*.cc)
  set(target mr_${name})
  add_library(${target} MODULE ${sources})
  target_link_libraries(${target} PRIVATE ${ARG_DEPS} ${ARG_PRIVATE_DEPS} mr_warnings)
  target_link_options(${target} PRIVATE -Wl,--as-needed)
  set_target_properties(${target} PROPERTIES
    OUTPUT_NAME mapreduce-${name} PREFIX lib
    CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON
    LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/lib/mapreduce)
  set_property(GLOBAL APPEND PROPERTY MR_BACKENDS ${target})
  install(TARGETS ${target} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/mapreduce)
endfunction()

# mr_find_mpi(): find_package(MPI COMPONENTS CXX) for the C API (not the
# deprecated C++ bindings), Open MPI unless MPI_CXX_COMPILER names another
# (MPICH installed beside it may be the system's default mpicxx).
macro(mr_find_mpi)
  set(MPI_CXX_SKIP_MPICXX ON)
  if(NOT MPI_CXX_COMPILER)
    find_program(MPI_CXX_COMPILER NAMES mpicxx.openmpi mpicxx)
  endif()
  find_package(MPI COMPONENTS CXX)
endmacro()
